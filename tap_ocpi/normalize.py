"""Map OCPI 2.1.1 / 2.2.1 / 2.3.0 objects onto the one shape of ``schemas.py``.

How it works. For each (stream, version, owner), ``normalizer`` compiles the stream's
schema once into nested closures: one per object schema, holding a ``field -> fixer`` dict.
Per record, each object's fields are looped over once, calling a fixer only for fields the
schema knows (unknown fields are kept as they are, the privacy filter handles them) whose
value's Python type is not already right; an object is copied on its first change only.
Fixers return their input untouched when it already has the right type and form.

The fast path. Most platforms send records that are already in the one shape. Alongside
the fixers, the same compilation builds a msgspec type accepting exactly the records the
fixers would leave unchanged; ``msgspec.convert`` checks a record against it in C, and a
record that passes is just copied (about 2-2.5x faster than the fixers on canonical data,
see the README, Performance). Records it rejects take the fixers, so the result is the same
either way (tests/test_normalize.py checks that implication field by field).

Version differences are data, not code paths: ``RENAMES`` and ``RESHAPES`` are keyed by
version and by the ``title`` of the object schema they apply to (Session, CDR, Connector,
...); they run on the copy before the fields are fixed. See the README, "One shape for every
OCPI version".

Timestamps: every date-time becomes RFC 3339 UTC with ``Z``. ``last_updated`` (anywhere in a
record) always has the form ``YYYY-MM-DDTHH:MM:SSZ`` -- fractional seconds are floored --
because bookmarks are compared as strings and must have one fixed-width format; the floor
can only make the next ``date_from`` earlier, never skip an object. Other date-times keep
their fraction (up to microseconds, trailing zeros stripped). The "unknown time" sentinel
``1970-1-1T00:00:00Z`` (any spelling of the epoch) becomes null, except in ``last_updated``.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from operator import is_
from typing import Annotated, Any

import msgspec

from tap_ocpi.schemas import PRIMARY_KEYS, REPLICATION_KEY, STREAM_SCHEMAS, Schema
from tap_ocpi.versions import traits

Record = dict[str, Any]
Fixer = Callable[[Any], Any]
Transform = Callable[[Record], None]  # edits a private copy of one object in place

LOGGER = logging.getLogger(__name__)


class BadRecord(ValueError):  # noqa: N818 -- name fixed by the module contract
    """A record that cannot be read at all. The message names fields, never values."""


# --- timestamps ------------------------------------------------------------------------------

_EPOCH = "1970-01-01T00:00:00Z"
_UTC = timezone.utc
_fromiso = datetime.fromisoformat
_DT_RE = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[Tt ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?\s*",
    re.ASCII,  # only ASCII digits: int() would accept other scripts' digits
)


if sys.version_info >= (3, 11):
    _fromiso_z: Callable[[str], datetime] = _fromiso
else:  # pragma: no cover - Python 3.10's fromisoformat does not accept "Z"

    def _fromiso_z(value: str) -> datetime:
        return _fromiso(value[:19])


def _is_canonical_seconds(value: str) -> bool:
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
    microseconds), a date without time (midnight) and ``datetime`` objects (naive = UTC).
    """
    if isinstance(value, datetime):
        return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
    if not isinstance(value, str):
        return None
    match = _DT_RE.fullmatch(value)
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
    if type(value) is str and _is_canonical_seconds(value):
        return value
    parsed = parse_timestamp(value)
    return None if parsed is None else format_timestamp(parsed, fraction=fraction)


def _date_time(value: Any) -> str | None:
    """Fixer for date-times other than last_updated: keeps the fraction, epoch -> null."""
    if type(value) is str and _is_canonical_seconds(value):
        return None if value == _EPOCH else value
    text = normalize_timestamp(value)
    return None if text == _EPOCH else text


def _last_updated(value: Any) -> str | None:
    """Fixer for nested last_updated (EVSE, connector, embedded tariff)."""
    if type(value) is str and _is_canonical_seconds(value):
        return value
    return normalize_timestamp(value, fraction=False)


def _root_last_updated(value: Any) -> str:
    text = _last_updated(value)
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


def _number(value: Any) -> int | float | Decimal | None:
    kind = type(value)
    if kind is int:
        return value
    if kind is float and math.isfinite(value):
        return value
    return _number_slow(value)


def _integer(value: Any) -> int | None:
    if type(value) is int:
        return value
    number = _number_slow(value)
    if number is None or isinstance(number, int):
        return number
    return round(number)  # 230.0 -> 230; a fractional value is rounded, not dropped


def _boolean(value: Any) -> bool | None:
    if value is True or value is False:
        return value
    if isinstance(value, str):
        return _BOOL_WORDS.get(value.strip().lower())
    if type(value) is int and value in (0, 1):
        return bool(value)
    return None


def _string_slow(value: Any) -> str | None:
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float, Decimal)):
        return str(value)  # floor_level -1 -> "-1", latitude 51.0476 -> "51.0476"
    if isinstance(value, (dict, list)):
        # Keep the data and keep the column loadable.
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return str(value)


def _string(value: Any) -> str | None:
    if type(value) is str:
        return value
    return _string_slow(value)


_READY_TYPE: dict[Fixer, type] = {_string: str, _integer: int, _boolean: bool}

_LEAF_FIXERS: dict[str, Fixer] = {
    "string": _string,
    "number": _number,
    "integer": _integer,
    "boolean": _boolean,
}


# --- version mapping tables (data) -----------------------------------------------------------

#: Field renames per version, keyed by the ``title`` of the object schema they apply to.
#: The old name is removed; its value wins only where the new name is absent or null.
RENAMES: dict[str, dict[str, dict[str, str]]] = {
    "2.1.1": {
        "Session": {"start_datetime": "start_date_time", "end_datetime": "end_date_time"},
        "CDR": {"stop_date_time": "end_date_time"},
        "Token": {"auth_id": "contract_id"},
        "Connector": {"voltage": "max_voltage", "amperage": "max_amperage"},
        "EnvironmentalImpact": {"source": "category"},
    },
    "2.2.1": {},
    "2.3.0": {},  # Price/PriceLimit 2.3.0 fields fit the one money object as they are
}

#: 2.1.1 LocationType -> 2.2 ParkingType. OTHER and UNKNOWN have no ParkingType: null.
LOCATION_TYPE_TO_PARKING_TYPE: dict[str, str] = {
    "ON_STREET": "ON_STREET",
    "PARKING_GARAGE": "PARKING_GARAGE",
    "UNDERGROUND_GARAGE": "UNDERGROUND_GARAGE",
    "PARKING_LOT": "PARKING_LOT",
}

#: 2.1.1 CDR: CdrLocation field <- field of the embedded Location / its EVSE / its connector.
CDR_LOCATION_SOURCES: dict[str, dict[str, str]] = {
    "location": {
        "id": "id",
        "name": "name",
        "address": "address",
        "city": "city",
        "postal_code": "postal_code",
        "state": "state",
        "country": "country",
        "coordinates": "coordinates",
    },
    "evse": {"evse_uid": "uid", "evse_id": "evse_id"},
    "connector": {
        "connector_id": "id",
        "connector_standard": "standard",
        "connector_format": "format",
        "connector_power_type": "power_type",
    },
}

#: 2.1.1 Session: id field <- (part of the embedded Location, field of that part).
SESSION_LOCATION_IDS: dict[str, tuple[str, str]] = {
    "location_id": ("location", "id"),
    "evse_uid": ("evse", "uid"),
    "connector_id": ("connector", "id"),
}

#: Any version: a bare scalar where one of these objects is expected is its main field
#: (2.1.1 money numbers are amounts excl. VAT; 2.3.0 ed1 EVSE parking was a list of ids).
SCALAR_TO_OBJECT: dict[str, str] = {"Price": "excl_vat", "EVSEParking": "parking_id"}

#: Objects whose country_code/party_id is the data owner, filled from ``owner`` when absent
#: (ClientInfo names a connected party and CdrToken the token's eMSP: never filled).
OWNED_OBJECTS = frozenset({"Location", "Session", "CDR", "Tariff", "Token"})


def _set_if_null(obj: Record, key: str, value: Any) -> None:
    if obj.get(key) is None and value is not None:
        obj[key] = value


def _only(items: Any) -> Record | None:
    """The single object of a list; None when absent or ambiguous (several)."""
    if type(items) is list and len(items) == 1 and type(items[0]) is dict:
        return items[0]
    return None


def _pop_embedded_location(obj: Record) -> dict[str, Record | None] | None:
    """Remove a 2.1.1 embedded Location; return it with its single EVSE and connector."""
    location = obj.pop("location", None)
    if type(location) is not dict:
        return None
    evse = _only(location.get("evses"))
    connector = _only(evse.get("connectors")) if evse else None
    return {"location": location, "evse": evse, "connector": connector}


def _auth_id_to_cdr_token(obj: Record) -> None:
    """2.1.1 auth_id is the contract id (Token.auth_id); uid and type are unknown (null)."""
    if "auth_id" not in obj:
        return
    auth_id = obj.pop("auth_id")
    if obj.get("cdr_token") is None and auth_id is not None:
        obj["cdr_token"] = {
            "country_code": None,
            "party_id": None,
            "uid": None,
            "type": None,
            "contract_id": auth_id,
        }


def _session_location_ids(obj: Record) -> None:
    parts = _pop_embedded_location(obj)
    if parts is None:
        return
    for field, (part, source) in SESSION_LOCATION_IDS.items():
        found = parts[part]
        _set_if_null(obj, field, found.get(source) if found else None)


def _cdr_location_from_location(obj: Record) -> None:
    parts = _pop_embedded_location(obj)
    if parts is None or obj.get("cdr_location") is not None:
        return
    cdr_location: Record = {}
    for part, fields in CDR_LOCATION_SOURCES.items():
        found = parts[part]
        for field, source in fields.items():
            cdr_location[field] = found.get(source) if found else None
    obj["cdr_location"] = cdr_location


def _tariff_id_to_ids(obj: Record) -> None:
    if "tariff_id" not in obj:
        return
    tariff_id = obj.pop("tariff_id")
    if tariff_id is not None:
        _set_if_null(obj, "tariff_ids", [tariff_id])


def _location_type_to_parking_type(obj: Record) -> None:
    if "type" not in obj:
        return
    location_type = obj.pop("type")
    if isinstance(location_type, str):
        _set_if_null(obj, "parking_type", LOCATION_TYPE_TO_PARKING_TYPE.get(location_type))


def _infer_twentyfourseven(obj: Record) -> None:
    """2.1.1 Hours is either regular_hours or twentyfourseven: hours given => not 24/7."""
    regular = obj.get("regular_hours")
    if obj.get("twentyfourseven") is None and type(regular) is list and regular:
        obj["twentyfourseven"] = False


#: Structural changes per version and object title, run after RENAMES.
RESHAPES: dict[str, dict[str, tuple[Transform, ...]]] = {
    "2.1.1": {
        "Session": (_auth_id_to_cdr_token, _session_location_ids),
        "CDR": (_auth_id_to_cdr_token, _cdr_location_from_location),
        "Connector": (_tariff_id_to_ids,),
        "Location": (_location_type_to_parking_type,),
        "Hours": (_infer_twentyfourseven,),
    },
    "2.2.1": {},
    "2.3.0": {},
}


def rules_version(version: str) -> str:
    """The mapping table that applies to a version string as sent on the wire."""
    return traits(version).mapping


# --- compiling a schema into fixers ----------------------------------------------------------


def _renamer(pairs: Mapping[str, str]) -> Transform:
    items = tuple(pairs.items())

    def rename(obj: Record) -> None:
        for old, new in items:
            if old in obj:
                value = obj.pop(old)
                if obj.get(new) is None:
                    obj[new] = value

    return rename


def _owner_filler(owner: tuple[str, str]) -> Transform:
    country_code, party_id = owner

    def fill(obj: Record) -> None:
        if obj.get("country_code") is None:
            obj["country_code"] = country_code
        if obj.get("party_id") is None:
            obj["party_id"] = party_id

    return fill


def _key_checker(keys: tuple[str, ...]) -> Transform:
    required = (*keys, REPLICATION_KEY)

    def check(obj: Record) -> None:
        for key in required:
            if obj.get(key) is None:
                raise BadRecord(f"'{key}' is missing or null")

    return check


class _Plan:
    """What to apply for one (version, owner): transforms per object title."""

    def __init__(self, version: str, owner: tuple[str, str] | None) -> None:
        renames = RENAMES[version]
        reshapes = RESHAPES[version]
        self.pre: dict[str, tuple[Transform, ...]] = {}
        for title in set(renames) | set(reshapes):
            rename = (_renamer(renames[title]),) if title in renames else ()
            self.pre[title] = rename + reshapes.get(title, ())
        self.owner_fill = _owner_filler(owner) if owner else None

    def post(self, title: str) -> tuple[Transform, ...]:
        if self.owner_fill is not None and title in OWNED_OBJECTS:
            return (self.owner_fill,)
        return ()


def _as_object(value: Any, scalar_key: str | None) -> Record | None:
    """A non-dict where an object is expected: a mapping, a bare main field, or unreadable."""
    if isinstance(value, dict):
        return dict(value)
    if scalar_key is not None and value is not None and not isinstance(value, (list, bool)):
        return {scalar_key: value}
    return None


def _object_fixer(
    fixers: dict[str, Fixer],
    pre: tuple[Transform, ...],
    post: tuple[Transform, ...],
    scalar_key: str | None = None,
    root: bool = False,
) -> Fixer:
    """One object: fix the fields the schema knows, keep the others as they are.

    Called for every object of every record, so it is one closure with a plain loop (no
    comprehension frame), and values whose Python type already fits are skipped inline.
    The object is copied on its first change only: a nested object that needs nothing is
    shared with the input, not copied (nothing in the tap mutates nested objects; the
    privacy filter builds new ones). A record (``root``) is always a new dict, because
    the stream edits records at the top level.
    """
    get = fixers.get
    # Values of these Python types in these fields are already right: skip the call. Ints
    # are right in number fields too; floats there only need the finiteness check (NaN and
    # Infinity become null), done inline.
    ready = {name: _READY_TYPE[fix] for name, fix in fixers.items() if fix in _READY_TYPE}
    ready.update((name, int) for name, fix in fixers.items() if fix is _number)
    ready_type = ready.get
    isfinite = math.isfinite
    copy_always = root or bool(pre) or bool(post)

    def fix(value: Any) -> Record | None:
        if type(value) is not dict:
            value = _as_object(value, scalar_key)
            if value is None:
                return None
        if pre:
            value = dict(value)
            for transform in pre:
                transform(value)
        out = value.copy() if copy_always else None
        for key, item in value.items():
            kind = type(item)
            if item is None or kind is ready_type(key):
                continue
            fixer = get(key)
            if fixer is not None:
                if kind is float and fixer is _number and isfinite(item):
                    continue
                fixed = fixer(item)
                if fixed is not item:
                    if out is None:
                        out = value.copy()
                    out[key] = fixed
        if out is None:
            return value
        for transform in post:
            transform(out)
        return out

    return fix


def _array_fixer(item: Fixer) -> Fixer:
    """A list: each item fixed, null items dropped; the input list itself when unchanged."""
    if item is _string:

        def fix_strings(value: Any) -> list[Any] | None:
            if type(value) is list:
                if _STR.issuperset(map(type, value)):
                    return value
                out = [x if type(x) is str else _string_slow(x) for x in value if x is not None]
                return [x for x in out if x is not None] if None in out else out
            single = _string_slow(value)  # one string where a list is expected: wrap it
            return None if single is None else [single]

        return fix_strings

    def fix(value: Any) -> list[Any] | None:
        if type(value) is not list:
            single = item(value)  # one item where a list is expected: wrap it
            return None if single is None else [single]
        out = list(map(item, value))  # every fixer maps None to None
        if None in out:  # no null items: BigQuery arrays cannot hold them
            return [x for x in out if x is not None]
        return value if all(map(is_, out, value)) else out

    return fix


_STR = frozenset({str})


def _types(schema: Schema) -> tuple[str, ...]:
    kind = schema.get("type", ())
    return (kind,) if isinstance(kind, str) else tuple(kind)


def _identity(value: Any) -> Any:
    return value


# --- the fast path: already-canonical records, checked in C ----------------------------------
# A record that is already in the one shape (every known field of the right JSON type, every
# date-time canonical, no null array items, no NaN) comes out of the fixers unchanged. Most
# platforms send nothing else, so each compiled object schema also gets a msgspec type that
# accepts exactly such values; ``msgspec.convert`` checks a whole record against it in C, and
# a record that passes is only copied. Anything it rejects takes the fixers. The type is
# derived from the very fixer each field gets, so the two cannot disagree about a field.
# (Records are JSON-decoded. msgspec would also accept a tuple for a list or another mapping
# for an object, which JSON never produces; such values are kept as they are.)

# [0-9], not \d: msgspec compiles patterns without re.ASCII (\d matches any digits).
_DATE = (
    r"(?!0000)[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"  # 29 Feb: the fixers
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
)
#: What ``_last_updated`` returns unchanged: whole seconds, ``Z``.
_SECONDS_TYPE: Any = Annotated[str, msgspec.Meta(pattern=rf"\A{_DATE}Z\Z")]
#: What ``_date_time`` returns unchanged: a fraction without trailing zeros, not the epoch.
_DATE_TIME_TYPE: Any = Annotated[
    str, msgspec.Meta(pattern=rf"\A(?!{_EPOCH}){_DATE}(?:\.[0-9]{{0,5}}[1-9])?Z\Z")
]
_FINITE: Any = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
#: The msgspec type of the values each leaf fixer returns unchanged (strict: no bool as int).
_FAST_LEAF: dict[Fixer, Any] = {
    _string: str,
    _number: int | _FINITE,
    _integer: int,
    _boolean: bool,
    _identity: Any,
    _date_time: _DATE_TIME_TYPE,
    _last_updated: _SECONDS_TYPE,
    _root_last_updated: _SECONDS_TYPE,
}


def _property_fixer(name: str, schema: Schema, plan: _Plan, root: bool) -> tuple[Fixer, Any]:
    """The fixer of one field, and the msgspec type of the values it leaves unchanged."""
    kinds = _types(schema)
    if "object" in kinds:
        return _compile_object(schema, plan)
    if "array" in kinds:
        item, item_type = _property_fixer("", schema["items"], plan, root=False)
        return _array_fixer(item), list[item_type]  # type: ignore[valid-type]
    if schema.get("format") == "date-time":
        if name == REPLICATION_KEY:
            fixer = _root_last_updated if root else _last_updated
        else:
            fixer = _date_time
        return fixer, _FAST_LEAF[fixer]
    for kind in kinds:
        if kind in _LEAF_FIXERS:
            return _LEAF_FIXERS[kind], _FAST_LEAF[_LEAF_FIXERS[kind]]
    return _identity, Any


def _compile_object(
    schema: Schema, plan: _Plan, root_keys: tuple[str, ...] | None = None
) -> tuple[Fixer, Any]:
    """The fixer of an object schema, and the msgspec type of the objects it leaves as is."""
    root = root_keys is not None
    compiled = {
        name: _property_fixer(name, prop, plan, root) for name, prop in schema["properties"].items()
    }
    fixers = {name: fixer for name, (fixer, _) in compiled.items()}
    title = schema.get("title", "")
    post = plan.post(title)
    # Fields the fixers would fill or reject when null: required (non-null) in the fast type.
    required = set(root_keys or ()) | ({REPLICATION_KEY} if root else set())
    if post:
        required |= {"country_code", "party_id"}  # the owner fill
    if root_keys is not None:
        post = (*post, _key_checker(root_keys))
    scalar_key = None if root else SCALAR_TO_OBJECT.get(title)
    fix = _object_fixer(fixers, plan.pre.get(title, ()), post, scalar_key, root)
    fields = [
        (name, kind) if name in required else (name, kind | None, None)
        for name, (_, kind) in compiled.items()
    ]
    fields += [(name, str) for name in sorted(required - set(compiled))]
    fast = msgspec.defstruct(title or "Object", fields, kw_only=True)
    return fix, fast


_EVSE_PARENT_KEYS = ("country_code", "party_id", "location_id")
_CONNECTOR_PARENT_KEYS = (*_EVSE_PARENT_KEYS, "evse_uid")


def _child_items(stream: str, parent_keys: tuple[str, ...]) -> Schema:
    """A child stream's schema as it is nested in its parent (without the parent's keys)."""
    schema = STREAM_SCHEMAS[stream]
    properties = {k: v for k, v in schema["properties"].items() if k not in parent_keys}
    return {**schema, "properties": properties, "additionalProperties": True}


def _location_tree() -> Schema:
    """The locations schema with its EVSEs and their connectors nested, as OCPI sends it."""
    connector = _child_items("connectors", _CONNECTOR_PARENT_KEYS)
    evse = _child_items("evses", _EVSE_PARENT_KEYS)
    evse["properties"] = {**evse["properties"], "connectors": {"type": "array", "items": connector}}
    location = STREAM_SCHEMAS["locations"]
    evses = {"type": "array", "items": evse}
    return {**location, "properties": {**location["properties"], "evses": evses}}


_TOP_LEVEL_STREAMS = ("locations", "sessions", "cdrs", "tariffs", "tokens", "hubclientinfo")


@cache
def _compile(stream: str, version: str, owner: tuple[str, str] | None) -> tuple[Fixer, Any]:
    schema = _location_tree() if stream == "locations" else STREAM_SCHEMAS[stream]
    plan = _Plan(version, owner)
    fix, fast = _compile_object(schema, plan, root_keys=PRIMARY_KEYS[stream])
    # Transforms that run before the fixers (2.1.1) change records the fast type accepts.
    return fix, None if plan.pre else fast


# --- the projected fast path: canonical records decoded straight into their output ---------
# When privacy keeps each field either whole or not at all (``PrivacyPolicy.projection``), a
# page of canonical records can be decoded with a type that holds only what is kept: kept
# fields get the fast types above, dropped ones are skipped by the decoder (``Raw``: never
# built as Python objects) and become null. ``to_record`` turns one decoded object into the
# dict ``filter(normalize(raw))`` would give (tests/test_projection.py checks it against
# that path). Unknown fields make the decode fail (``forbid_unknown_fields``), as does
# anything the fixers would change, and the page takes the normal path.

#: A field privacy drops: any JSON value, skipped; absent stays absent.
_DROPPED: Any = msgspec.Raw | msgspec.UnsetType


def _null(_value: Any) -> None:
    return None


def to_record(obj: Any) -> Any:
    """Decoded projected object(s) -> plain dicts; dropped fields null, absent ones absent."""
    return msgspec.to_builtins(obj, enc_hook=_null)


@cache
def _projected_cached(stream: str, version: str, owner: Any, keep_json: str) -> Any:
    plan = _Plan(version, owner)
    if plan.pre or stream not in _TOP_LEVEL_STREAMS or stream == "locations":
        return None  # records reshaped before fixing; locations split into child streams
    keep = json.loads(keep_json)
    return _project(STREAM_SCHEMAS[stream], keep, plan, root_keys=PRIMARY_KEYS[stream])


def projected_type(
    stream: str, version: str, owner: tuple[str, str] | None, keep: Any
) -> Any | None:
    """The msgspec type of the stream's canonical records as privacy ``keep``s them, or
    None where no such type exists (see above; ``PrivacyPolicy.projection`` gives ``keep``).
    """
    owner_key = (str(owner[0]), str(owner[1])) if owner else None
    return _projected_cached(
        stream, rules_version(version), owner_key, json.dumps(keep, sort_keys=True)
    )


def _project(
    schema: Schema, keep: Any, plan: _Plan, root_keys: tuple[str, ...] | None = None
) -> Any | None:
    """The projected type of an object schema (None: not expressible)."""
    root = root_keys is not None
    title = schema.get("title", "")
    if plan.pre.get(title):
        return None
    required = set(root_keys or ()) | ({REPLICATION_KEY} if root else set())
    if plan.post(title):
        required |= {"country_code", "party_id"}
    if not required <= set(schema["properties"]):
        return None
    fields: list[Any] = []
    for name, prop in schema["properties"].items():
        sub = keep if isinstance(keep, bool) else keep.get(name, False)
        if sub is False:
            if name in required:
                return None  # a key or last_updated dropped: leave it to the normal path
            fields.append((name, _DROPPED, msgspec.UNSET))
            continue
        kind = _project_property(name, prop, sub, plan, root)
        if kind is None:
            return None
        if name in required:
            fields.append((name, kind))
        else:
            fields.append((name, kind | None | msgspec.UnsetType, msgspec.UNSET))
    return msgspec.defstruct(title or "Object", fields, kw_only=True, forbid_unknown_fields=True)


def _project_property(name: str, schema: Schema, keep: Any, plan: _Plan, root: bool) -> Any:
    kinds = _types(schema)
    if "object" in kinds:
        return _project(schema, keep, plan)
    if "array" in kinds:
        item = _project_property("", schema["items"], keep, plan, root=False)
        return None if item is None else list[item]  # type: ignore[valid-type]
    if not isinstance(keep, bool):
        return None  # per-field rules for a leaf: not a schema this code knows
    return _property_fixer(name, schema, plan, root)[1]


#: After this many records, the fast path is dropped for a stream whose records mostly miss
#: it (a platform that sends numbers as strings, say): a miss costs a partial check.
FAST_PATH_TRIAL = 64


def normalizer(stream: str, version: str, owner: tuple[str, str] | None) -> Callable[[Any], Record]:
    """The function mapping one raw OCPI object of ``version`` to the stream's one shape.

    ``owner`` is the platform's (country_code, party_id), used where an object has none
    (2.1.1). For ``locations`` the result keeps a normalized ``evses`` list (each with its
    ``connectors``); split them off with ``split_location``. The input is not modified; the
    result is a new dict, whose nested objects and lists may be the input's own when they
    needed no change. Raises ``BadRecord`` only for an unreadable record: not an object, a
    primary key missing or null, ``last_updated`` missing or unreadable.
    """
    if stream not in _TOP_LEVEL_STREAMS:
        raise ValueError(f"no normalizer for stream {stream!r}")
    owner_key = (str(owner[0]), str(owner[1])) if owner else None
    normalize_object, fast = _compile(stream, rules_version(version), owner_key)
    convert = msgspec.convert
    hits = misses = 0

    def normalize(record: Any) -> Record:
        nonlocal fast, hits, misses
        if type(record) is not dict:
            if not isinstance(record, dict):
                raise BadRecord("the record is not a JSON object")
            record = dict(record)
        if fast is not None:
            try:
                convert(record, fast)  # strict: raises unless nothing needs fixing
            except Exception:  # ValidationError: something to fix; anything else: the same
                misses += 1
                if misses >= FAST_PATH_TRIAL and misses > hits:
                    fast = None
            else:
                hits += 1
                return record.copy()
        return normalize_object(record)

    return normalize


# --- child records ---------------------------------------------------------------------------


def split_location(location: Record) -> tuple[Record, list[Record], list[Record]]:
    """(location without evses, EVSE records, connector records) of a normalized location.

    Children get their parents' keys. A child without ``last_updated`` inherits its parent's
    (a change to a child must bump the parent's, so that is an upper bound). Children without
    their own key (EVSE ``uid``, connector ``id``) cannot be keyed and are skipped (logged).
    """
    parent = dict(location)
    evses = parent.pop("evses", None)
    evse_records: list[Record] = []
    connector_records: list[Record] = []
    if type(evses) is not list:
        return parent, evse_records, connector_records
    base = {
        "country_code": parent["country_code"],
        "party_id": parent["party_id"],
        "location_id": parent["id"],
    }
    for evse in evses:
        if type(evse) is not dict:
            continue
        if evse.get("uid") is None:
            LOGGER.warning("Skipped an EVSE without 'uid' in a location.")
            continue
        record = {**base, **evse}
        record.update(base)
        connectors = record.pop("connectors", None)
        _set_if_null(record, REPLICATION_KEY, parent[REPLICATION_KEY])
        evse_records.append(record)
        connector_records.extend(_connector_records(record, connectors))
    return parent, evse_records, connector_records


def _connector_records(evse: Record, connectors: Any) -> list[Record]:
    if type(connectors) is not list:
        return []
    base = {
        "country_code": evse["country_code"],
        "party_id": evse["party_id"],
        "location_id": evse["location_id"],
        "evse_uid": evse["uid"],
    }
    records = []
    for connector in connectors:
        if type(connector) is not dict:
            continue
        if connector.get("id") is None:
            LOGGER.warning("Skipped a connector without 'id' in an EVSE.")
            continue
        record = {**base, **connector}
        record.update(base)
        _set_if_null(record, REPLICATION_KEY, evse[REPLICATION_KEY])
        records.append(record)
    return records
