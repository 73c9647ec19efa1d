"""The tap: settings, the stream list, startup checks, and the command line entry point."""

from __future__ import annotations

import gc
import sys
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

import click
import requests
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_ocpi import redaction
from tap_ocpi.auth import TokenAuth
from tap_ocpi.client import OCPIStream
from tap_ocpi.diagnose import run_diagnosis
from tap_ocpi.errors import OCPIError
from tap_ocpi.output import SingerOutput
from tap_ocpi.privacy import PrivacyPolicy
from tap_ocpi.schemas import STREAM_SCHEMAS
from tap_ocpi.sdk import TapInternals
from tap_ocpi.streams import STREAM_TYPES
from tap_ocpi.timestamps import parse_utc, utc_text
from tap_ocpi.transport import OCPIClient, describe
from tap_ocpi.versions import Platform, negotiate

_PATHS = th.ObjectType(additional_properties=th.ArrayType(th.StringType()))

SETTINGS = th.PropertiesList(
    th.Property(
        "versions_url",
        th.URIType(),
        required=True,
        title="Versions URL",
        description="The platform's OCPI versions endpoint (a version-details URL works too).",
    ),
    th.Property(
        "token",
        th.StringType(),
        secret=True,
        title="Credentials token",
        description="The OCPI credentials token as issued (not encoded). Leave empty for "
        "open-data endpoints: then no Authorization header is sent.",
    ),
    th.Property(
        "token_encoding",
        th.StringType(),
        default="auto",
        allowed_values=["auto", "base64", "plain"],
        description="How the token goes into `Authorization: Token …`. auto: plain for 2.1.1, "
        "Base64 for 2.2+, and on rejection the other form once, kept for the whole run.",
    ),
    th.Property(
        "ocpi_version",
        th.StringType(),
        allowed_values=["2.1.1", "2.2", "2.2.1", "2.3.0"],
        description="Pin an OCPI version. Default: the highest both sides support.",
    ),
    th.Property(
        "from_country_code",
        th.StringType(),
        description="Our country code (OCPI-from-country-code header, 2.2+ functional modules).",
    ),
    th.Property(
        "from_party_id", th.StringType(), description="Our party id (OCPI-from-party-id header)."
    ),
    th.Property(
        "to_country_code",
        th.StringType(),
        description="Country code of the addressed "
        "party (OCPI-to-country-code; hubs). For 2.1.1 also the owner of the objects.",
    ),
    th.Property(
        "to_party_id",
        th.StringType(),
        description="Party id of the addressed party "
        "(OCPI-to-party-id; hubs). For 2.1.1 also the owner of the objects.",
    ),
    th.Property(
        "start_date",
        th.DateTimeType(),
        description="Earliest `last_updated` to extract. Saved state wins when it is later.",
    ),
    th.Property(
        "end_date",
        th.DateTimeType(),
        description="Optional upper bound (exclusive) "
        "on `last_updated`; default: the run's start time.",
    ),
    th.Property(
        "page_size",
        th.IntegerType(),
        default=1000,
        description="`limit` sent on the "
        "first request of each list (servers may cap it; X-Limit is respected).",
    ),
    th.Property(
        "lookback_minutes",
        th.IntegerType(),
        default=15,
        description="How far before "
        "the bookmark the next run starts, for late or clock-skewed updates.",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(),
        default=60,
        description="Seconds for a whole request: connecting, headers and body.",
    ),
    th.Property(
        "max_response_mb",
        th.IntegerType(),
        default=256,
        description="Cap in MB on one response, on the wire and after decompression.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(),
        default=5,
        description="Tries per request "
        "for 5xx, 429, timeouts, dropped connections and invalid JSON.",
    ),
    th.Property(
        "retry_max_wait",
        th.IntegerType(),
        default=60,
        description="Cap in seconds on one wait between tries (also caps Retry-After).",
    ),
    th.Property(
        "max_requests_per_second",
        th.NumberType(),
        default=0,
        description="Throttle for all requests of a run; 0 means unlimited.",
    ),
    th.Property(
        "skip_bad_records",
        th.BooleanType(),
        default=False,
        description="Accept objects that cannot be read: finish with exit status 0 and "
        "move the bookmark (they are still reported by stream and key). Otherwise their "
        "stream keeps its bookmark and the run exits 1.",
    ),
    th.Property(
        "ca_bundle",
        th.StringType(),
        description="Path to a CA bundle for platforms "
        "with a private certificate authority. Certificates are always verified.",
    ),
    th.Property(
        "privacy_pass",
        _PATHS,
        description="Allow-list: stream name → field paths "
        "(dotted, arrays ignored) to pass unblanked; `.` passes the whole record.",
    ),
    th.Property(
        "privacy_hash",
        _PATHS,
        description="Stream name → field paths to pseudonymise "
        "with HMAC-SHA256 instead of blanking.",
    ),
    th.Property(
        "privacy_salt",
        th.StringType(),
        secret=True,
        description="Key for "
        "pseudonymisation; needed when any field is hashed (tokens.uid is by default).",
    ),
).to_dict()


class TapOCPI(TapInternals):
    """Singer tap for OCPI platforms (2.1.1, 2.2.1, 2.3.0)."""

    name = "tap-ocpi"
    config_jsonschema = SETTINGS
    message_writer_class = SingerOutput
    message_writer: SingerOutput

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        end = self.config.get("end_date")
        now = datetime.now(timezone.utc)
        #: `date_to` of every list this run, and the cap of every bookmark.
        self.window_end = utc_text(min(parse_utc(str(end), "end_date"), now) if end else now)

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
    def invoke(cls, *, diagnose: bool = False, **kwargs: Any) -> None:
        if not diagnose:
            super().invoke(**kwargs)
            return
        config = kwargs.get("config")
        tap = cls(
            config=getattr(config, "config", None),
            parse_env_config=bool(getattr(config, "parse_env", False)),
            validate_config=True,
        )
        sys.exit(run_diagnosis(tap, kwargs.get("about_format")))

    def discover_streams(self) -> list[OCPIStream]:
        return [stream_type(self) for stream_type in STREAM_TYPES]

    @cached_property
    def privacy(self) -> PrivacyPolicy:
        return PrivacyPolicy.from_config(self.config, STREAM_SCHEMAS)

    @cached_property
    def client(self) -> OCPIClient:
        auth = TokenAuth(self.config.get("token"), str(self.config.get("token_encoding", "auto")))
        return OCPIClient(dict(self.config), auth, self.logger)

    @cached_property
    def platform(self) -> Platform:
        platform = negotiate(self.client, dict(self.config))
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
        policy = PrivacyPolicy.from_config(self.config, STREAM_SCHEMAS, selected)  # salt, paths
        for name in selected:
            self.logger.info("%s", policy.describe(name))
        platform = self.platform
        for name in selected:
            module = self.streams[name].module  # type: ignore[attr-defined]
            if module not in platform.modules:
                self.logger.warning(
                    "%s: skipped, the platform does not offer the %s module", name, module
                )

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
            if stream.bad_records and not self.config.get("skip_bad_records"):
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


def main() -> None:
    """Console entry point: the SDK's command line, with one-line errors for user mistakes."""
    redaction.install(None)  # every log line capped and without queries; the token: client
    _tune_for_streaming()
    try:
        TapOCPI.cli()
    except (OCPIError, FatalAPIError, RetriableAPIError, requests.RequestException) as exc:
        sys.stderr.write(f"tap-ocpi: error: {_one_line(exc)}\n")
        sys.exit(1)


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
    # TLS failures are not retried (client.py), so they must not claim to be.
    retried = not isinstance(exc, requests.exceptions.SSLError)
    if retried and isinstance(exc, (requests.RequestException, RetriableAPIError)):
        text = f"giving up after retries: {text}"
    return text.replace("\n", " ")
