"""Projected types: a stream's records decoded as privacy keeps them (``projected_type``),
and turned into output records (``null_dropped``, ``to_record``).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import msgspec

from tap_ocpi.fastpath.leaves import DROPPED, FAST_LEAF, keep_of, required_fields
from tap_ocpi.fastpath.reshape import Step, post_init_of, reshape_on_decode, scalar_object
from tap_ocpi.normalize import fixers as fx
from tap_ocpi.normalize import rules_version
from tap_ocpi.normalize.mapping import Plan
from tap_ocpi.normalize.records import TOP_LEVEL_STREAMS
from tap_ocpi.privacy.rules import HASHED, Keep
from tap_ocpi.schemas import PRIMARY_KEYS, STREAM_SCHEMAS, Schema

# --- pages decoded straight into output records ------------------------------------------------


def as_null(_value: Any) -> None:
    return None


def to_record(obj: Any) -> Any:
    """Decoded projected object(s) -> plain dicts; dropped fields null, absent ones absent."""
    return msgspec.to_builtins(obj, enc_hook=as_null)


#: Per projected type: its dropped fields, and its fields holding objects with dropped fields
#: below (objects or lists of them): what ``null_dropped`` visits.
_DROP_PLANS: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def null_dropped(obj: Any) -> None:
    """Null the dropped fields an object arrived with (decoded as ``Raw``), as ``to_record``
    does, so that the Struct itself is the output record; absent ones stay absent."""
    unset = msgspec.UNSET
    dropped, nested = _DROP_PLANS[type(obj)]
    for name in dropped:
        if getattr(obj, name) is not unset:
            setattr(obj, name, None)
    for name in nested:
        value = getattr(obj, name)
        if type(value) is list:
            for item in value:
                null_dropped(item)
        elif value is not None and value is not unset:
            null_dropped(value)


def projected_type(
    stream: str, version: str, owner: tuple[str, str] | None, keep: Keep
) -> Any | None:
    """The msgspec type of the stream's canonical records as privacy ``keep``s them, or
    None where no such type exists (``projection_for`` gives ``keep``)."""
    owner_key = (str(owner[0]), str(owner[1])) if owner else None
    return _projected(stream, rules_version(version), owner_key, json.dumps(keep, sort_keys=True))


@functools.cache
def _projected(stream: str, version: str, owner: Any, keep_json: str) -> Any:
    plan = Plan(version, owner)
    if stream not in TOP_LEVEL_STREAMS or stream == "locations":
        return None  # locations split into child streams
    keep = json.loads(keep_json)
    return project(STREAM_SCHEMAS[stream], keep, plan, root_keys=PRIMARY_KEYS[stream])


def project(
    schema: Schema, keep: Any, plan: Plan, root_keys: tuple[str, ...] | None = None
) -> Any | None:
    """The projected type of an object schema (None: not expressible)."""
    if keep == HASHED:
        return None  # every leaf pseudonymised: left to the filter
    title = schema.get("title", "")
    required = required_fields(schema, plan, root_keys)
    if not required <= set(schema["properties"]):
        return None
    owner = plan.owner_defaults(title)  # absent owner fields: filled (2.1.1), as post does
    fields: list[Any] = []
    steps: list[Step] = []  # the pre transforms first: a moved bare amount is wrapped after
    wraps: list[Step] = []
    for name, prop in schema["properties"].items():
        sub = keep_of(keep, name)
        if sub is False:
            if name in required:
                return None  # a key or last_updated dropped: leave it to the general path
            fields.append((name, DROPPED, msgspec.UNSET))
            continue
        kind = _project_property(name, prop, sub, plan, root_keys is not None)
        if kind is None:
            return None
        if plan.pre:
            kind = scalar_object(name, prop, sub, kind, wraps)
        if name in owner:
            fields.append((name, kind, owner[name]))
        elif name in required:
            fields.append((name, kind))
        else:
            fields.append((name, kind | None | msgspec.UnsetType, msgspec.UNSET))
    if title in plan.pre and not reshape_on_decode(schema, keep, plan, fields, steps):
        return None
    steps += wraps
    # gc=False: decoded objects hold only JSON values, never a cycle, and live for one page;
    # untracked, they cost the collector nothing (a quarter of the decode, measured).
    kind = msgspec.defstruct(
        title or "Object",
        fields,
        kw_only=True,
        forbid_unknown_fields=True,
        gc=False,
        namespace={"__post_init__": post_init_of(tuple(steps))} if steps else None,
    )
    dropped = tuple(f[0] for f in fields if f[1] is DROPPED)
    nested = tuple(f[0] for f in fields if has_drops(f[1]))
    _DROP_PLANS[kind] = (dropped, nested)
    return kind


def has_drops(kind: Any) -> bool:
    """Whether values of a field type are projected objects with dropped fields below."""
    for arg in getattr(kind, "__args__", ()):  # X | None | UnsetType, list[X]
        if has_drops(arg):
            return True
    plan = _DROP_PLANS.get(kind) if isinstance(kind, type) else None
    return plan is not None and bool(plan[0] or plan[1])


def _project_property(name: str, schema: Schema, keep: Any, plan: Plan, root: bool) -> Any:
    kinds = fx.schema_types(schema)
    if keep == HASHED and ("object" in kinds or "array" in kinds):
        return None  # pseudonyms of every leaf below: left to the filter
    if "object" in kinds:
        return project(schema, keep, plan)
    if "array" in kinds:
        item = _project_property("", schema["items"], keep, plan, root=False)
        return None if item is None else list[item]  # type: ignore[valid-type]
    if not isinstance(keep, bool) and keep != HASHED:
        return None  # per-field rules for a leaf: not a schema this code knows
    return FAST_LEAF[fx.leaf_fixer(name, schema, root)]  # a pseudonym is made of the value
