"""The tap: settings, the stream list, startup checks, and the command line entry point."""

from __future__ import annotations

import contextlib
import copy
import gc
import io
import json
import logging
import os
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from functools import cached_property
from typing import IO, Any, NoReturn

import click
import requests
from singer_sdk.exceptions import (
    AbortedSyncFailedException,
    AbortedSyncPausedException,
    FatalAPIError,
    RetriableAPIError,
)
from singer_sdk.logging import StructuredFormatter

from tap_ocpi import redaction
from tap_ocpi.auth import TokenAuth
from tap_ocpi.client import OCPIStream
from tap_ocpi.diagnose import run_diagnosis
from tap_ocpi.errors import OCPIError, OutputClosedError
from tap_ocpi.output import SingerOutput
from tap_ocpi.privacy import PrivacyPolicy
from tap_ocpi.schemas import STREAM_SCHEMAS
from tap_ocpi.sdk import TapInternals
from tap_ocpi.settings import SETTINGS_SCHEMA, Settings, privacy_settings
from tap_ocpi.streams import STREAM_TYPES
from tap_ocpi.timestamps import parse_timestamp, utc_text
from tap_ocpi.transport import OCPIClient, describe
from tap_ocpi.versions import Platform, negotiate

#: The settings schema (kept under its old name for scripts and tests that import it).
SETTINGS = SETTINGS_SCHEMA


class TapOCPI(TapInternals):
    """Singer tap for OCPI platforms (2.1.1, 2.2.1, 2.3.0)."""

    name = "tap-ocpi"
    # A copy: the SDK adds its built-in settings to the tap's schema in place.
    config_jsonschema = copy.deepcopy(SETTINGS_SCHEMA)
    message_writer_class = SingerOutput
    message_writer: SingerOutput

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not kwargs.get("validate_config", True):
            return  # discovery: the SDK does not validate it, and it needs no platform
        start = self.settings.start_date
        if start is not None and utc_text(start) >= self.window_end:
            raise OCPIError(
                f"start_date is not before this run's end ({self.window_end}): nothing "
                f"would be read"
            )

    @cached_property
    def settings(self) -> Settings:
        """The run's settings, read once (the SDK validated the config against the schema)."""
        return Settings.from_config(self.config)

    @cached_property
    def window_end(self) -> str:
        """`date_to` of every list this run, and the cap of every bookmark."""
        end, now = self.settings.end_date, datetime.now(timezone.utc)
        return utc_text(min(end, now) if end else now)

    def load_state(self, state: dict[str, Any]) -> None:
        """Refuse a state the tap cannot resume from before anything is read or written."""
        if state:  # (discovery passes none)
            check_state(state, self.window_end, STREAM_SCHEMAS)
        super().load_state(state)

    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> Any:
        """--config files: a missing or unreadable file is one line, not a stack trace."""
        for path in value:
            if path != "ENV":
                with _opened("--config", path) as file:
                    read_json_object("--config", file)
        return super().cb_config(ctx, param, value)

    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command line, plus `--diagnose` (diagnose.py)."""
        command = super().get_singer_command()
        command.params.append(
            click.Option(
                ["--diagnose"],
                is_flag=True,
                help="Probe the platform in a few requests and report what it does and what "
                "the tap will do about it (--format json for tickets and CI). Writes no "
                "RECORD or STATE.",
            )
        )
        return command

    @classmethod
    def invoke(
        cls,
        *,
        diagnose: bool = False,
        state: IO[str] | None = None,
        catalog: IO[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """The SDK's run, or `--diagnose`. --state and --catalog: invalid JSON is one line
        naming the option (the SDK would show a stack trace); the SDK then reads the text
        we read."""
        if diagnose:
            config = kwargs.get("config")
            tap = cls(
                config=getattr(config, "config", None),
                # the catalog says which streams the run reads: those are diagnosed
                catalog=None if catalog is None else read_json_object("--catalog", catalog),
                parse_env_config=bool(getattr(config, "parse_env", False)),
                validate_config=True,
            )
            sys.exit(run_diagnosis(tap, kwargs.get("about_format")))
        if state is not None:
            state = io.StringIO(json.dumps(read_json_object("--state", state)))
        if catalog is not None:
            catalog = io.StringIO(json.dumps(read_json_object("--catalog", catalog)))
        super().invoke(state=state, catalog=catalog, **kwargs)

    def discover_streams(self) -> list[OCPIStream]:
        streams = [stream_type(self) for stream_type in STREAM_TYPES]
        for stream in streams:
            stream.logger.addFilter(_REPORTED_ELSEWHERE)
        return streams

    @cached_property
    def privacy(self) -> PrivacyPolicy:
        """The privacy rules of the run, compiled once (the paths are checked here)."""
        return PrivacyPolicy.from_config(privacy_settings(self.config), STREAM_SCHEMAS)

    @cached_property
    def client(self) -> OCPIClient:
        auth = TokenAuth(self.settings.token, self.settings.token_encoding)
        return OCPIClient(self.settings, auth, self.logger)

    @cached_property
    def platform(self) -> Platform:
        platform = negotiate(self.client, self.settings)
        self.logger.info(
            "Connected: OCPI %s, modules offered: %s",
            platform.wire_version,
            ", ".join(sorted(platform.modules)),
        )
        return platform

    def selected_stream_names(self) -> list[str]:
        return [name for name, stream in self.streams.items() if stream.selected]

    def before_sync(self) -> None:
        """Check everything that can be checked before the first record."""
        selected = self.selected_stream_names()
        for name in selected:
            self.logger.info("%s", self.privacy.describe(name))
        platform, offered = self.platform, []
        for name in selected:
            module = self.streams[name].module  # type: ignore[attr-defined]
            if module in platform.modules:
                offered.append(name)
            else:
                self.logger.warning(
                    "%s: skipped, the platform does not offer the %s module", name, module
                )
        # Only streams that will be read need a salt: open data (locations only) needs none.
        self.privacy.check_salt(offered)

    def after_sync(self) -> None:
        """After every stream ran: fail the run when one was not read completely."""
        self.fail_on_incomplete_streams()

    def fail_on_incomplete_streams(self) -> None:
        """After every stream ran: fail the run when one was not read completely.

        Such a stream kept its previous bookmark (`OCPIStream._hold_bookmark`), so nothing
        is lost; the non-zero exit says the export is partial. Unreadable objects are
        accepted with skip_bad_records (they were reported by stream and key).
        """
        problems, skippable = [], False
        for name, stream in self.streams.items():
            if not isinstance(stream, OCPIStream):
                continue
            if stream.incomplete:
                problems.append(f"{name}: {stream.incomplete}")
            if stream.bad_records and not self.settings.skip_bad_records:
                problems.append(f"{name}: {stream.bad_records} unreadable (see the log)")
                skippable = True
            elif stream.bad_records:  # accepted, but never silently
                self.logger.warning(
                    "%s: %d objects could not be read and were skipped (skip_bad_records)",
                    name,
                    stream.bad_records,
                )
        if problems:
            hint = "; set skip_bad_records to accept unreadable objects" if skippable else ""
            raise OCPIError(
                f"not every object was read, so these streams kept their bookmark: "
                f"{'; '.join(problems)}{hint}"
            )


#: Failures reported as one line (`fatal`); anything else is a defect and keeps its trace.
REPORTED = (OCPIError, FatalAPIError, RetriableAPIError, requests.RequestException)


def main() -> None:
    """Console entry point: the SDK's command line, with one-line errors for user mistakes."""
    redaction.install(None)  # every log line capped and without queries; the token: client
    _tune_for_streaming()
    try:
        TapOCPI.cli()
    except REPORTED as exc:
        if isinstance(exc, OutputClosedError):
            _silence_stdout()
        fatal(_one_line(exc))


def fatal(reason: str) -> NoReturn:
    """End the run with one line on stderr and exit status 1.

    Under Meltano (structured logging: its `SINGER_SDK_LOG_CONFIG` installs the SDK's JSON
    formatter), the line goes out as a log record at ERROR level, which Meltano shows at
    that level: a plain stderr line would reach its log at INFO, hidden at
    `--log-level=warning`. Otherwise it is written as is.
    """
    line = f"tap-ocpi: error: {redaction.REDACTOR(reason)}"
    if any(isinstance(h.formatter, StructuredFormatter) for h in logging.getLogger().handlers):
        logging.getLogger(TapOCPI.name).error("%s", line)
    else:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    sys.exit(1)


def check_state(state: Any, window_end: str, streams: Iterable[str]) -> None:
    """Raise `OCPIError` for a state that is not a tap state, a bookmark that is not a
    date-time, or one later than this run's end (a clock that was ahead: reading from there
    would read nothing and move the bookmark back to now, skipping everything between)."""
    if not isinstance(state, dict):
        raise OCPIError("state: must be a JSON object")
    bookmarks = state.get("bookmarks") or {}
    if not isinstance(bookmarks, dict):
        raise OCPIError("state: `bookmarks` must be an object of stream name to bookmark")
    known = set(streams)
    for name, entry in bookmarks.items():
        partitions = entry.get("partitions", []) if isinstance(entry, dict) else None
        if not isinstance(partitions, list) or not all(isinstance(p, dict) for p in partitions):
            raise OCPIError(f"state: the bookmark of {name} is not an object as tap-ocpi writes")
        if name not in known:
            continue
        for item in (entry, *partitions):
            value = item.get("replication_key_value")
            if value is None:
                continue
            moment = parse_timestamp(value) if len(str(value)) <= 64 else None
            if moment is None:
                raise OCPIError(f"state: the bookmark of {name} is not a date-time")
            if utc_text(moment) > window_end:
                raise OCPIError(
                    f"state: the bookmark of {name} ({utc_text(moment)}) is later than this "
                    f"run's end ({window_end}); was a clock ahead? Nothing would be read: "
                    f"correct or clear the state"
                )


def read_json_object(option: str, file: IO[str]) -> dict[str, Any]:
    """The JSON object in a file given on the command line, or one line naming the option."""
    try:
        data = json.loads(file.read())
    except UnicodeDecodeError:
        raise OCPIError(f"{option}: the file is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise OCPIError(
            f"{option}: the file is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise OCPIError(f"{option}: the file must hold a JSON object")
    return data


@contextlib.contextmanager
def _opened(option: str, path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as file:
            yield file
    except OSError as exc:
        raise OCPIError(f"{option}: cannot read {path} ({exc.strerror or 'unreadable'})") from None


class _ReportedElsewhere(logging.Filter):
    """Drops the SDK's "An unhandled error occurred while syncing" for what is no error:
    `--test` stopping a stream after one record (AbortedSync…), and failures the tap
    reports itself in one line (`fatal`), where it would only repeat them without a reason.
    """

    MESSAGE = "An unhandled error occurred while syncing '%s'"
    #: The line as logged: redaction.py renders every message before filters see it.
    PREFIX = MESSAGE.split("'", 1)[0]

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self.PREFIX):
            return True
        handled = (AbortedSyncFailedException, AbortedSyncPausedException, BrokenPipeError)
        return not isinstance(sys.exc_info()[1], (*handled, *REPORTED))


_REPORTED_ELSEWHERE = _ReportedElsewhere()


def _silence_stdout() -> None:
    """The reader is gone: later writes (the interpreter's flush at exit) go nowhere instead
    of raising again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _tune_for_streaming() -> None:
    """Process-wide settings for a long stream of short-lived records (the CLI only).

    Each page's body is read in one piece instead of 10 KiB chunks (the fetch thread then
    takes the GIL a few times per page, not ~100). The garbage collector skips the objects
    that live for the whole run and runs young collections less often: records are freed
    by reference counting, so frequent collections only cost time. (No collection before
    the freeze: the imports leave next to no garbage, and a full collection of everything
    they loaded costs 20-30 ms of every run's start-up.)
    """
    requests.models.CONTENT_CHUNK_SIZE = 4 << 20
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def _one_line(exc: BaseException) -> str:
    text = describe(exc)
    # TLS failures are not retried (transport.py), so they must not claim to be.
    retried = not isinstance(exc, requests.exceptions.SSLError)
    if retried and isinstance(exc, (requests.RequestException, RetriableAPIError)):
        text = f"giving up after retries: {text}"
    return text.replace("\n", " ")
