"""The leaf types of the fast path: the values each fixer returns unchanged."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import msgspec

from tap_ocpi.normalize import fixers as fx
from tap_ocpi.normalize.mapping import Plan
from tap_ocpi.schemas import REPLICATION_KEY, Schema
from tap_ocpi.timestamps import EPOCH

Record = dict[str, Any]

# [0-9], not \d: msgspec compiles patterns without re.ASCII (\d matches any digits).
_DATE = (
    r"(?!0000)[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"  # 29 Feb: the fixers
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
)
#: What ``last_updated`` returns unchanged: whole seconds, ``Z``.
_SECONDS_TYPE: Any = Annotated[str, msgspec.Meta(pattern=rf"\A{_DATE}Z\Z")]
#: What ``date_time`` returns unchanged: a fraction without trailing zeros, not the epoch.
_DATE_TIME_TYPE: Any = Annotated[
    str, msgspec.Meta(pattern=rf"\A(?!{EPOCH}){_DATE}(?:\.[0-9]{{0,5}}[1-9])?Z\Z")
]
_FINITE: Any = Annotated[float, msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
#: The msgspec type of the values each leaf fixer returns unchanged (strict: no bool as int).
FAST_LEAF: dict[fx.Fixer, Any] = {
    fx.string: str,
    fx.number: int | _FINITE,
    fx.integer: int,
    fx.boolean: bool,
    fx.identity: Any,
    fx.date_time: _DATE_TIME_TYPE,
    fx.last_updated: _SECONDS_TYPE,
    fx.root_last_updated: _SECONDS_TYPE,
}


def required_fields(schema: Schema, plan: Plan, root_keys: tuple[str, ...] | None) -> set[str]:
    """Fields the fixers would fill or reject when null: non-null in the fast types."""
    required = set(root_keys or ()) | ({REPLICATION_KEY} if root_keys is not None else set())
    if plan.post(schema.get("title", "")):
        required |= {"country_code", "party_id"}  # the owner fill
    return required


#: A field privacy drops: any JSON value, skipped; absent stays absent.
DROPPED: Any = msgspec.Raw | msgspec.UnsetType


def keep_of(keep: Any, name: str) -> Any:
    """What privacy keeps of field ``name`` of an object it keeps as ``keep``."""
    return keep if isinstance(keep, bool) else keep.get(name, False)
