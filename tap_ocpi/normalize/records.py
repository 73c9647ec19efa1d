"""Records: a stream's schema compiled into fixers, and the normalizer of one stream.

For each (stream, version, owner), ``normalizer`` compiles the stream's schema once into
nested closures: one per object schema, holding a ``field -> fixer`` dict. Per record, each
object's fields are looped over once, calling a fixer only for fields the schema knows
(unknown fields are kept as they are, the privacy filter handles them) whose value's Python
type is not already right; an object is copied on its first change only.

This is the general path: every record can take it. Records already in the one shape can
skip it (``fastpath.record_normalizer``); the tests check both give the same records.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from functools import cache
from operator import is_
from typing import Any

from tap_ocpi.errors import BadRecord
from tap_ocpi.normalize.fixers import (
    CONTAINERS,
    NULLED,
    READY_TYPE,
    SCALAR_FIXERS,
    Fixer,
    leaf_fixer,
    number,
    schema_types,
    string,
    string_slow,
)
from tap_ocpi.normalize.mapping import SCALAR_TO_OBJECT, Plan, Transform, rules_version
from tap_ocpi.schemas import PRIMARY_KEYS, REPLICATION_KEY, STREAM_SCHEMAS, Schema

Record = dict[str, Any]

LOGGER = logging.getLogger("tap_ocpi.normalize")


def _key_checker(keys: tuple[str, ...]) -> Transform:
    required = (*keys, REPLICATION_KEY)

    def check(obj: Record) -> None:
        for key in required:
            if obj.get(key) is None:
                raise BadRecord(f"'{key}' is missing or null")

    return check


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
    *,
    root_keys: tuple[str, ...] | None = None,
    where: str = "",
    unknown_context: Mapping[str, str] | None = None,
) -> Fixer:
    """One object: fix the fields the schema knows, keep the others as they are.

    Called for every object of every record, so it is one closure with a plain loop (no
    comprehension frame), and values whose Python type already fits are skipped inline.
    The object is copied on its first change only: a nested object that needs nothing is
    shared with the input, not copied (nothing in the tap mutates nested objects; the
    privacy filter builds new ones). A record (``root_keys`` given) is always a new dict,
    because the stream edits records at the top level. An object or list in a scalar field
    is null (its path noted in ``NULLED``); in a key field the record is unreadable; in a
    field of ``unknown_context`` it also nulls the flag named there.
    """
    get = fixers.get
    # Values of these Python types in these fields are already right: skip the call. Ints
    # are right in number fields too; floats there only need the finiteness check (NaN and
    # Infinity become null), done inline.
    ready = {name: READY_TYPE[fix] for name, fix in fixers.items() if fix in READY_TYPE}
    ready.update((name, int) for name, fix in fixers.items() if fix is number)
    ready_type = ready.get
    isfinite = math.isfinite
    root = root_keys is not None
    keys = frozenset(root_keys or ())
    scalars = {name for name, fix in fixers.items() if fix in SCALAR_FIXERS}
    copy_always = root or bool(pre) or bool(post)
    context = dict(unknown_context or {})

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
        unknown: str | None = None
        for key, item in value.items():
            kind = type(item)
            if item is None or kind is ready_type(key):
                continue
            fixer = get(key)
            if fixer is not None:
                if kind is float and fixer is number and isfinite(item):
                    continue
                fixed = fixer(item)
                if fixed is not item:
                    if fixed is None and kind in CONTAINERS and key in scalars:
                        if key in keys:
                            raise BadRecord(f"'{key}' is an object or list, not a value")
                        NULLED.append(where + key)
                        unknown = context.get(key, unknown)
                    if out is None:
                        out = value.copy()
                    out[key] = fixed
        if out is None:
            return value
        if unknown is not None:
            out[unknown] = None  # the place context is unknown: the place counts as private
        for transform in post:
            transform(out)
        return out

    return fix


def _array_fixer(item: Fixer, where: str) -> Fixer:
    """A list: each item fixed, null items dropped; the input list itself when unchanged.
    Objects or lists among scalar items are dropped too (their path noted in ``NULLED``)."""
    scalar = item in SCALAR_FIXERS

    def note(value: Any) -> None:
        items = value if type(value) is list else [value]
        if scalar and any(type(x) in CONTAINERS for x in items):
            NULLED.append(where)

    if item is string:

        def fix_strings(value: Any) -> list[Any] | None:
            if type(value) is list:
                if _STR.issuperset(map(type, value)):
                    return value
                out = [x if type(x) is str else string_slow(x) for x in value if x is not None]
                if None in out:
                    note(value)
                    return [x for x in out if x is not None]
                return out
            single = string_slow(value)  # one string where a list is expected: wrap it
            if single is None:
                note(value)
                return None
            return [single]

        return fix_strings

    def fix(value: Any) -> list[Any] | None:
        if type(value) is not list:
            single = item(value)  # one item where a list is expected: wrap it
            if single is None:
                note(value)
                return None
            return [single]
        out = list(map(item, value))  # every fixer maps None to None
        if None in out:  # no null items: BigQuery arrays cannot hold them
            note(value)
            return [x for x in out if x is not None]
        return value if all(map(is_, out, value)) else out

    return fix


_STR = frozenset({str})


#: Per record title: a top-level field whose value decides the place context
#: (privacy.is_private) -> the flag that becomes null when that field holds an object or
#: list: the context is then unknown, so the place counts as private.
UNKNOWN_CONTEXT: dict[str, dict[str, str]] = {"Location": {"parking_type": "publish"}}


def _property_fixer(name: str, schema: Schema, plan: Plan, root: bool, where: str = "") -> Fixer:
    """The fixer of one field; ``where`` is its dotted path (arrays skipped), for reports."""
    kinds = schema_types(schema)
    if "object" in kinds:
        return _compile_object(schema, plan, where=where + ".")
    if "array" in kinds:
        item = _property_fixer("", schema["items"], plan, root=False, where=where)
        return _array_fixer(item, where)
    return leaf_fixer(name, schema, root)


def _compile_object(
    schema: Schema, plan: Plan, root_keys: tuple[str, ...] | None = None, where: str = ""
) -> Fixer:
    """The fixer of an object schema."""
    root = root_keys is not None
    fixers = {
        name: _property_fixer(name, prop, plan, root, where + name)
        for name, prop in schema["properties"].items()
    }
    title = schema.get("title", "")
    post = plan.post(title)
    if root_keys is not None:
        post = (*post, _key_checker(root_keys))
    scalar_key = None if root else SCALAR_TO_OBJECT.get(title)
    pre = plan.pre.get(title, ())
    context = UNKNOWN_CONTEXT.get(title) if root else None
    return _object_fixer(
        fixers, pre, post, scalar_key, root_keys=root_keys, where=where, unknown_context=context
    )


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


TOP_LEVEL_STREAMS = ("locations", "sessions", "cdrs", "tariffs", "tokens", "hubclientinfo")


def stream_schema(stream: str) -> Schema:
    """The schema records of a stream are normalized against (locations: with children)."""
    return _location_tree() if stream == "locations" else STREAM_SCHEMAS[stream]


@cache
def _compile(stream: str, version: str, owner: tuple[str, str] | None) -> Fixer:
    plan = Plan(version, owner)
    return _compile_object(stream_schema(stream), plan, root_keys=PRIMARY_KEYS[stream])


def top_level_names(stream: str) -> frozenset[str]:
    """The names a stream's records have at the top level, as sent (locations: evses)."""
    return frozenset(stream_schema(stream)["properties"])


def normalizer(stream: str, version: str, owner: tuple[str, str] | None) -> Callable[[Any], Record]:
    """The function mapping one raw OCPI object of ``version`` to the stream's one shape.

    ``owner`` is the platform's (country_code, party_id), used where an object has none
    (2.1.1). For ``locations`` the result keeps a normalized ``evses`` list (each with its
    ``connectors``); split them off with ``split_location``. The input is not modified; the
    result is a new dict, whose nested objects and lists may be the input's own when they
    needed no change. Top-level names that differ from the schema's only in letter case are
    read into the schema's field; an object or list where a single value belongs is null
    (warned once per field). Raises ``BadRecord`` only for an unreadable record: not an
    object, a primary key missing, null or not a single value, ``last_updated`` missing or
    unreadable, or nested too deeply to be read.
    """
    if stream not in TOP_LEVEL_STREAMS:
        raise ValueError(f"no normalizer for stream {stream!r}")
    owner_key = (str(owner[0]), str(owner[1])) if owner else None
    normalize_object = _compile(stream, rules_version(version), owner_key)
    known = top_level_names(stream)
    read_names = _case_folder(stream, known)
    report = _null_reporter(stream)

    def normalize(record: Any) -> Record:
        if type(record) is not dict:
            if not isinstance(record, dict):
                raise BadRecord("the record is not a JSON object")
            record = dict(record)
        if not known.issuperset(record):
            record = read_names(record)
        NULLED.clear()
        try:
            out = normalize_object(record)
        except RecursionError:
            raise BadRecord("the record is nested too deeply to be read") from None
        if NULLED:
            report(NULLED)
        return out

    return normalize


def _case_folder(stream: str, known: frozenset[str]) -> Callable[[Record], Record]:
    """Top-level names that differ from the schema's only in letter case (``kWh``) are read
    into the schema's field; an exact name wins, then the first variant. Warns once per
    field (names only)."""
    folded = {name.lower(): name for name in known}
    warned: set[str] = set()

    def read_names(record: Record) -> Record:
        out: Record | None = None
        for key in list(record):
            if key in known or type(key) is not str:
                continue
            name = folded.get(key.lower())
            if name is None or name in (out if out is not None else record):
                continue
            if out is None:
                out = dict(record)
            out[name] = out.pop(key)
            if name not in warned:
                warned.add(name)
                LOGGER.warning(
                    "%s: field %r read as %r (the names differ only in letter case)",
                    stream,
                    key[:60],
                    name,
                )
        return record if out is None else out

    return read_names


def _null_reporter(stream: str) -> Callable[[list[str]], None]:
    """Warns once per field (path, never the value) that held an object or list where a
    single value belongs, and was read as null."""
    warned: set[str] = set()

    def report(paths: list[str]) -> None:
        for path in paths:
            if path not in warned:
                warned.add(path)
                LOGGER.warning(
                    "%s: '%s' held an object or list where a single value belongs; read as "
                    "null (reported once per field)",
                    stream,
                    path,
                )
        paths.clear()

    return report
