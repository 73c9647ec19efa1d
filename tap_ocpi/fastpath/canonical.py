"""Records checked against their canonical type: a record the fixers would leave as it is
is only copied (``record_normalizer``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import msgspec

from tap_ocpi.fastpath.leaves import FAST_LEAF, Record, required_fields
from tap_ocpi.normalize import fixers as fx
from tap_ocpi.normalize import normalizer, rules_version
from tap_ocpi.normalize.mapping import Plan
from tap_ocpi.normalize.records import stream_schema, top_level_names
from tap_ocpi.schemas import PRIMARY_KEYS, Schema

# --- records checked against their canonical type --------------------------------------------


def _record_object(schema: Schema, plan: Plan, root_keys: tuple[str, ...] | None = None) -> Any:
    """The msgspec type of the objects the fixers of ``schema`` leave as they are."""
    required = required_fields(schema, plan, root_keys)
    fields: list[Any] = []
    for name, prop in schema["properties"].items():
        kind = _record_property(name, prop, plan, root_keys is not None)
        fields.append((name, kind) if name in required else (name, kind | None, None))
    fields += [(name, str) for name in sorted(required - set(schema["properties"]))]
    # gc=False: checked and dropped at once, never in a cycle (see project).
    return msgspec.defstruct(schema.get("title") or "Object", fields, kw_only=True, gc=False)


def _record_property(name: str, schema: Schema, plan: Plan, root: bool) -> Any:
    kinds = fx.schema_types(schema)
    if "object" in kinds:
        return _record_object(schema, plan)
    if "array" in kinds:
        return list[_record_property("", schema["items"], plan, root=False)]  # type: ignore[misc]
    return FAST_LEAF[fx.leaf_fixer(name, schema, root)]


@functools.cache
def record_type(stream: str, version: str, owner: tuple[str, str] | None) -> Any | None:
    """The msgspec type of a stream's canonical records; None where every record is
    reshaped before it is fixed (2.1.1)."""
    plan = Plan(rules_version(version), owner)
    if plan.pre:
        return None
    return _record_object(stream_schema(stream), plan, PRIMARY_KEYS[stream])


#: After this many records, the fast check is dropped for a stream whose records mostly miss
#: it (a platform that sends numbers as strings, say): a miss costs a partial check.
FAST_PATH_TRIAL = 64


def record_normalizer(
    stream: str, version: str, owner: tuple[str, str] | None
) -> Callable[[Any], Record]:
    """``normalize.normalizer``, with canonical records only copied (same results)."""
    general = normalizer(stream, version, owner)
    owner_key = (str(owner[0]), str(owner[1])) if owner else None
    fast = record_type(stream, version, owner_key)
    if fast is None:
        return general
    known = top_level_names(stream)
    folded = {name.lower() for name in known}
    convert = msgspec.convert
    hits = misses = 0

    def normalize(record: Any) -> Record:
        nonlocal fast, hits, misses
        if fast is None or type(record) is not dict:
            return general(record)
        if not known.issuperset(record) and any(
            type(k) is str and k.lower() in folded for k in record.keys() - known
        ):
            return general(record)  # a name in another letter case: read by the general path
        try:
            convert(record, fast)  # strict: raises unless nothing needs fixing
        except Exception:  # ValidationError: something to fix; anything else: the same
            misses += 1
            if misses >= FAST_PATH_TRIAL and misses > hits:
                fast = None
            return general(record)
        hits += 1
        return record.copy()

    return normalize
