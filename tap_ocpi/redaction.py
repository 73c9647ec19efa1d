"""What a log line may show: never the token, never a URL's query, never megabytes.

urllib3 logs every request line at DEBUG with its full query (a keyset cursor carrying a
token uid, a next link carrying `access_token=…`), and a hostile link can be megabytes
long. Every log record of the process passes through one record factory that renders its
message, removes the token (in each form it travels in), drops query strings and cuts the
line: whatever the logger, handler or formatter (a Meltano logging config included).
"""

from __future__ import annotations

import base64
import logging
import re
from typing import Any
from urllib.parse import quote, quote_plus

from singer_sdk.metrics import Point

#: Characters of one logged message; longer ones are cut (after the token is removed, so a
#: cut never leaves part of one behind).
MAX_MESSAGE = 2000
_REDACTED = "***"
# A `?` right after a path character, then `name=`, starts a query: dropped up to the next
# space or quote (a `?` in prose stays). One pass, no backtracking: linear in the line.
_QUERY = re.compile(r"(?<=[\w/.~%-])\?[^\s\"'<>=]*=[^\s\"'<>]*")


class Redactor:
    """Removes secrets and queries from text; the secrets are set once the token is known."""

    def __init__(self) -> None:
        self.secrets: tuple[str, ...] = ()

    def set_token(self, token: str | None) -> None:
        if not token or len(token) < 4:  # a shorter one would blank ordinary words
            self.secrets = ()
            return
        encoded = base64.b64encode(token.encode("utf-8")).decode("ascii")
        forms = {token, encoded}
        forms |= {quote(f, safe="") for f in forms} | {quote_plus(f) for f in forms}
        # Longest first: a form that contains another is replaced whole.
        self.secrets = tuple(sorted(forms, key=len, reverse=True))

    def __call__(self, text: str, limit: int | None = MAX_MESSAGE) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, _REDACTED)
        if limit is not None and len(text) > limit:
            text = f"{text[:limit]}… ({len(text) - limit} characters cut)"
        return _QUERY.sub("", text)


REDACTOR = Redactor()


def _name_stream(record: logging.LogRecord) -> None:
    """Give structured log lines their stream: Meltano shows a JSON line's `stream_name`,
    and the SDK's METRIC lines (and the stream loggers' own) carry none by themselves."""
    if hasattr(record, "stream_name"):
        return
    args = record.args
    if isinstance(args, tuple) and args and isinstance(args[0], Point):
        stream = args[0].tags.get("stream")
        if isinstance(stream, str):
            record.stream_name = stream
    elif record.name.startswith(_STREAM_LOGGER):
        record.stream_name = record.name[len(_STREAM_LOGGER) :]


def install(token: str | None) -> None:
    """Make every log record of the process safe (idempotent; the token may change)."""
    REDACTOR.set_token(token)
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacting", False):
        return

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        _clean(record)
        return record

    make_record.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)


#: The tap's stream loggers are named `tap-ocpi.<stream>` by the SDK.
_STREAM_LOGGER = "tap-ocpi."


def _clean(record: logging.LogRecord) -> None:
    _name_stream(record)
    args = record.args
    if isinstance(args, tuple) and args and isinstance(args[0], Point):
        return  # the SDK's metrics: tags name the stream and endpoint, and stay structured
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: show the template alone
        message = str(record.msg)
    record.msg, record.args = REDACTOR(message), None
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = "\n".join(REDACTOR(line) for line in text.splitlines())
    if record.stack_info:
        record.stack_info = REDACTOR(record.stack_info, limit=None)
