"""Records the filter would return unchanged: checked in C instead of rebuilt in Python.

A rule tree (rules.py) maps to a msgspec type that accepts exactly the values its filter
(filters.py) leaves as they are: known fields only (an unknown one would become null),
scalars (or lists of scalars) where a scalar is passed, null where a field is blanked.
``msgspec.convert`` (strict) checks a record against that type without building any
Python object per field; a record that passes is its own output, once the fields the
rules blank at the top level are nulled. Anything else (a Decimal, nested lists, an object
where a scalar belongs, a pseudonymised field) fails the check and takes the filter, so
the output is the same either way (tests/unit/test_privacy_unchanged.py compares them).

Used for the EVSEs and connectors of locations (streams.py): about eight per location,
small, and nearly always passed as they are.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import msgspec

from tap_ocpi.privacy.rules import BLANK, OBJECT, PASS, VERBATIM, Rule

Record = dict[str, Any]

#: What a passed scalar field leaves unchanged (filters._pass_scalar): JSON scalars, and
#: lists of them. Decimal, nested lists and objects are left to the filter.
_SCALAR: Any = str | int | float | bool | None
_PASSED_LEAF: Any = _SCALAR | list[_SCALAR]


class _NotExpressibleError(Exception):
    """The rule does something the check cannot express (a pseudonym): no shortcut."""


@dataclass(frozen=True)
class Unchanged:
    """The check of one stream and place context: a record that converts to ``kind`` is
    the filter's output once its fields in ``nulls`` (blanked whole) are null."""

    kind: Any
    nulls: frozenset[str]

    @functools.cached_property
    def _list_kind(self) -> Any:
        return list[self.kind]  # type: ignore[name-defined]

    def outputs(self, records: list[Record]) -> list[Record] | None:
        """The filter's outputs for all of ``records``, or None unless each passes the check
        (then ask ``output`` record by record). The records themselves where no field is
        nulled: for a caller that only encodes them. One call for a location's children."""
        try:
            msgspec.convert(records, self._list_kind)
        except Exception:  # as in output
            return None
        nulls = self.nulls
        if not nulls:
            return records
        return [
            record
            if nulls.isdisjoint(record)
            else {name: None if name in nulls else value for name, value in record.items()}
            for record in records
        ]

    def output(self, record: Record, *, copy: bool = True) -> Record | None:
        """The filter's output for ``record``, or None when the filter must decide. Without
        ``copy`` it may be ``record`` itself (for a caller that only encodes it)."""
        try:
            msgspec.convert(record, self.kind)
        except Exception:  # ValidationError (something would change), or the unforeseen
            return None
        nulls = self.nulls
        if nulls.isdisjoint(record):
            return record.copy() if copy else record  # the filter returns a new dict
        return {name: None if name in nulls else value for name, value in record.items()}


def unchanged_check(rule: Rule) -> Unchanged | None:
    """The check for a record's root rule, or None where the rules cannot be checked so."""
    if rule.kind is not OBJECT:
        return None
    try:
        nulls = frozenset(name for name, child in rule.children if child.kind is BLANK)
        fields = [
            (name, Any if name in nulls else _value_type(child), None)
            for name, child in rule.children
        ]
        kind = _struct("Record", fields, forbid=rule.unknown is BLANK, unknown=rule.unknown)
    except _NotExpressibleError:
        return None
    return Unchanged(kind, nulls)


def _value_type(rule: Rule) -> Any:
    """The type of the values of a field that ``rule`` leaves as they are."""
    if rule.kind is BLANK:
        return None  # only null stays null
    if rule.kind is VERBATIM or (rule.kind is PASS and rule.opaque):
        return Any
    if rule.kind is PASS:
        return _PASSED_LEAF
    if rule.kind is OBJECT:
        return _object_type(rule)
    raise _NotExpressibleError  # HASH: a pseudonym replaces the value


def _object_type(rule: Rule) -> Any:
    # filters._build_object: a dict by its fields' rules, a list item by item (arrays are
    # transparent), anything else by the `scalar` rule.
    fields = [(name, _value_type(child), None) for name, child in rule.children]
    struct = _struct("Object", fields, forbid=rule.unknown is BLANK, unknown=rule.unknown)
    if rule.scalar is BLANK:
        item: Any = struct | None
    elif rule.scalar is PASS or rule.scalar is VERBATIM:
        item = struct | _SCALAR
    else:
        raise _NotExpressibleError
    return item | list[item]


def _struct(title: str, fields: list[Any], *, forbid: bool, unknown: Any) -> Any:
    if not forbid and unknown is not VERBATIM:
        raise _NotExpressibleError  # unknown fields pseudonymised
    if not all(name.isidentifier() for name, *_ in fields):
        raise _NotExpressibleError
    # gc=False: checked and dropped at once, never in a cycle.
    return msgspec.defstruct(title, fields, kw_only=True, forbid_unknown_fields=forbid, gc=False)
