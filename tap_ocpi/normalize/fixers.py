"""Fixers: one value of a schema type, read leniently into the one shape.

Each fixer returns its input untouched when it already has the right type and form, and
None for what it cannot read. An object or list where a single value belongs is unreadable
(as JSON text it would pass privacy as a value): null, its field noted in ``NULLED``.
Date-times: every one becomes RFC 3339 UTC with ``Z`` (``timestamps.py``); ``last_updated``
always has whole seconds (bookmarks compare as strings), and the "unknown time" sentinel
``1970-1-1T00:00:00Z`` (any spelling of the epoch) becomes null, except in ``last_updated``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from tap_ocpi.errors import BadRecord
from tap_ocpi.schemas import REPLICATION_KEY, Schema
from tap_ocpi.timestamps import EPOCH as _EPOCH
from tap_ocpi.timestamps import is_canonical_seconds, normalize_timestamp

Fixer = Callable[[Any], Any]

# --- timestamps ------------------------------------------------------------------------------


def date_time(value: Any) -> str | None:
    """Fixer for date-times other than last_updated: keeps the fraction, epoch -> null."""
    if type(value) is str and is_canonical_seconds(value):
        return None if value == _EPOCH else value
    text = normalize_timestamp(value)
    return None if text == _EPOCH else text


def last_updated(value: Any) -> str | None:
    """Fixer for nested last_updated (EVSE, connector, embedded tariff)."""
    if type(value) is str and is_canonical_seconds(value):
        return value
    return normalize_timestamp(value, fraction=False)


def root_last_updated(value: Any) -> str:
    text = last_updated(value)
    if text is None:
        raise BadRecord(f"'{REPLICATION_KEY}' is not a readable date-time")
    return text


# --- scalar coercion -------------------------------------------------------------------------

_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _number_slow(value: Any) -> int | float | Decimal | None:
    if isinstance(value, bool):
        return None  # a boolean in a number field is not a number we can trust
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def number(value: Any) -> int | float | Decimal | None:
    kind = type(value)
    if kind is int:
        return value
    if kind is float and math.isfinite(value):
        return value
    return _number_slow(value)


def integer(value: Any) -> int | None:
    if type(value) is int:
        return value
    number = _number_slow(value)
    if number is None or isinstance(number, int):
        return number
    return round(number)  # 230.0 -> 230; a fractional value is rounded, not dropped


def boolean(value: Any) -> bool | None:
    if value is True or value is False:
        return value
    if isinstance(value, str):
        return _BOOL_WORDS.get(value.strip().lower())
    if type(value) is int and value in (0, 1):
        return bool(value)
    return None


def string_slow(value: Any) -> str | None:
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float, Decimal)):
        return str(value)  # floor_level -1 -> "-1", latitude 51.0476 -> "51.0476"
    if isinstance(value, (dict, list, tuple, Mapping)):
        # Not text: turned into JSON text it would pass privacy as a value of the field
        # (a status object holding a driver's name), so it is unreadable: null.
        return None
    return str(value)


def string(value: Any) -> str | None:
    if type(value) is str:
        return value
    return string_slow(value)


#: Containers nulled in scalar fields since the normalizer last looked: field paths (no
#: values). The tap normalizes in one thread; ``normalizer`` drains this after each record.
NULLED: list[str] = []
CONTAINERS = (dict, list)


READY_TYPE: dict[Fixer, type] = {string: str, integer: int, boolean: bool}

#: Fixers of single values: an object or list there is unreadable (null, reported).
SCALAR_FIXERS: frozenset[Fixer] = frozenset(
    {string, number, integer, boolean, date_time, last_updated}
)

LEAF_FIXERS: dict[str, Fixer] = {
    "string": string,
    "number": number,
    "integer": integer,
    "boolean": boolean,
}


def identity(value: Any) -> Any:
    """The fixer of a field whose schema names no type: anything is kept."""
    return value


def schema_types(schema: Schema) -> tuple[str, ...]:
    kind = schema.get("type", ())
    return (kind,) if isinstance(kind, str) else tuple(kind)


def leaf_fixer(name: str, schema: Schema, root: bool) -> Fixer:
    """The fixer of a field that is neither an object nor an array."""
    if schema.get("format") == "date-time":
        if name == REPLICATION_KEY:
            return root_last_updated if root else last_updated
        return date_time
    for kind in schema_types(schema):
        if kind in LEAF_FIXERS:
            return LEAF_FIXERS[kind]
    return identity
