"""OCPI date-times: read leniently, written in one canonical UTC form.

Every date-time the tap writes is RFC 3339 UTC with ``Z``. Bookmarks and ``last_updated``
use whole seconds (``utc_text``): they are compared as strings, so they need one
fixed-width form. Reading is lenient (see ``parse_timestamp``) but bounded: a value longer
than ``MAX_LENGTH`` is unreadable before any pattern looks at it, and the pattern itself
has no adjacent repeats, so parsing is linear in the length of the value.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from tap_ocpi.errors import OCPIError

EPOCH = "1970-01-01T00:00:00Z"
#: The longest text read as a date-time (surrounding whitespace included). The longest
#: sensible form, ``2020-01-01T00:00:00.123456789+01:00``, has 35 characters.
MAX_LENGTH = 64
_UTC = timezone.utc
_fromiso = datetime.fromisoformat
# Applied to the stripped text: no leading or trailing whitespace to match, so no two
# adjacent repeats can trade characters (a 150 KB run of spaces once took a minute).
_DT_RE = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[Tt ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?",
    re.ASCII,  # only ASCII digits: int() would accept other scripts' digits
)


if sys.version_info >= (3, 11):
    _fromiso_z: Callable[[str], datetime] = _fromiso
else:  # pragma: no cover - Python 3.10's fromisoformat does not accept "Z"

    def _fromiso_z(value: str) -> datetime:
        return _fromiso(value[:19])


def is_canonical_seconds(value: str) -> bool:
    """True for a valid ``YYYY-MM-DDTHH:MM:SSZ`` (the common case, checked cheaply)."""
    if not (
        len(value) == 20
        and value[19] == "Z"
        and value[10] == "T"
        and value[13] == ":"
        and value[16] == ":"
        and value[4] == "-"
        and value[7] == "-"
    ):
        return False
    try:
        _fromiso_z(value)  # ASCII digits and ranges (month 13, 25:00, ...) checked in C
    except ValueError:
        return False
    return True


def parse_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from an OCPI DateTime (lenient), or None if unreadable.

    Accepts no zone (= UTC, as OCPI says), ``Z``, offsets ``+01:00``/``+0100``/``+01``, a
    space instead of ``T``, unpadded month/day, any number of fraction digits (truncated to
    microseconds; the whole text at most ``MAX_LENGTH`` characters), a date without time
    (midnight) and ``datetime`` objects (naive = UTC).
    """
    if isinstance(value, datetime):
        return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    if not isinstance(value, str) or len(value) > MAX_LENGTH:
        return None
    match = _DT_RE.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = match.groups()
    micro = int((fraction + "000000")[:6]) if fraction else 0
    try:
        parsed = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            min(int(second or 0), 59),  # RFC 3339 leap second 60
            micro,
            tzinfo=_UTC,
        )
        if sign:
            if int(off_h) > 23 or int(off_m or 0) > 59:
                return None
            offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
            parsed = parsed - offset if sign == "+" else parsed + offset
    except (ValueError, OverflowError):
        return None
    return parsed


def format_timestamp(moment: datetime, *, fraction: bool = True) -> str:
    """``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` (UTC); fraction digits without trailing zeros."""
    moment = moment.astimezone(_UTC) if moment.tzinfo else moment
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if fraction and moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def normalize_timestamp(value: Any, *, fraction: bool = True) -> str | None:
    """Canonical UTC ``Z`` form of any readable timestamp, or None.

    ``fraction=False`` gives the ``last_updated``/bookmark form (seconds, floored); use it for
    anything compared with bookmarks (``start_date``, signposts).
    """
    if type(value) is str and is_canonical_seconds(value):
        return value
    parsed = parse_timestamp(value)
    return None if parsed is None else format_timestamp(parsed, fraction=fraction)


def utc_text(moment: datetime) -> str:
    """Canonical bookmark form: UTC, whole seconds, ``Z`` (bookmarks compare as strings)."""
    return format_timestamp(moment, fraction=False)


def parse_utc(text: str, what: str = "timestamp") -> datetime:
    """Parse a configured or saved timestamp leniently (no zone = UTC); one-line error."""
    moment = parse_timestamp(text)
    if moment is None:
        raise OCPIError(f"{what} is not a date-time")
    return moment
