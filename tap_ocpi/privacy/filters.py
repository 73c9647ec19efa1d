"""Rules -> closures: the per-record filter, built once per stream and place context."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from tap_ocpi.errors import OCPIError
from tap_ocpi.privacy.rules import BLANK, HASH, OBJECT, PASS, VERBATIM, Rule

Transform = Callable[[Any], Any]

SCALARS = frozenset({str, int, float, bool, type(None), Decimal})


def _blank(_value: Any) -> None:
    return None


def _verbatim(value: Any) -> Any:
    return value


def _pass_scalar(value: Any) -> Any:
    """A passed field that should be a scalar: lists are walked, objects are unknown data."""
    if value.__class__ in SCALARS:
        return value
    if isinstance(value, list):
        return [_pass_scalar(item) for item in value]
    return None if isinstance(value, Mapping) else value


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return str(value)


def pseudonymiser(key: bytes) -> Transform:
    """HMAC-SHA256 hex of every leaf; keys and nulls stay, numbers are hashed as JSON text."""
    inner, outer = _hmac_sha256_pads(key)

    @functools.lru_cache(maxsize=16384)  # the same token uid recurs across many sessions
    def text_pseudonym(text: str) -> str:
        state = inner.copy()
        state.update(text.encode("utf-8", "surrogatepass"))
        final = outer.copy()
        final.update(state.digest())
        return final.hexdigest()

    def pseudonym(value: Any) -> Any:
        if value.__class__ is str:
            return text_pseudonym(value)
        if value is None:
            return None
        if isinstance(value, Mapping):
            return {name: pseudonym(item) for name, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [pseudonym(item) for item in value]
        return text_pseudonym(_json_text(value))

    return pseudonym


def _hmac_sha256_pads(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256 (RFC 2104) as two SHA-256 states keyed once, to be copied per value:
    the same digests as ``hmac``, whose keyed-object copy costs about as much again."""
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer


def no_salt(_value: Any) -> Any:
    raise OCPIError("privacy_salt is not set")  # unreachable: filter_for checks first


def build(rule: Rule, pseudonym: Transform) -> Transform:
    if rule.kind is OBJECT:
        return _build_object(rule, pseudonym)
    if rule.kind is PASS:
        return _verbatim if rule.opaque else _pass_scalar
    return {BLANK: _blank, VERBATIM: _verbatim, HASH: pseudonym}[rule.kind]


def _build_object(rule: Rule, pseudonym: Transform) -> Transform:
    # One dict comprehension over the record's own keys: key order and unknown keys are kept,
    # and the common cases (a passed scalar, a blanked field) cost no function call.
    scalars = frozenset(n for n, c in rule.children if c.kind is PASS and not c.opaque)
    blanks = frozenset(n for n, c in rule.children if c.kind is BLANK)
    special = {
        name: build(child, pseudonym)
        for name, child in rule.children
        if name not in scalars and name not in blanks
    }
    unknown = build(Rule(rule.unknown), pseudonym)
    on_scalar = build(Rule(rule.scalar), pseudonym)
    scalar_types = SCALARS

    def apply(value: Any) -> Any:
        if value.__class__ is dict:
            # Fast path: every key is a passed scalar field and every value a scalar.
            if scalars.issuperset(value) and scalar_types.issuperset(map(type, value.values())):
                return value.copy()
            return {
                name: (item if item.__class__ in scalar_types else _pass_scalar(item))
                if name in scalars
                else None
                if name in blanks
                else special[name](item)
                if name in special
                else unknown(item)
                for name, item in value.items()
            }
        if isinstance(value, list):  # arrays are transparent: the rule applies to each item
            return [apply(item) for item in value]
        if isinstance(value, Mapping):
            return apply(dict(value))
        return on_scalar(value)

    return apply
