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


#: Field name -> the fields below it to null, or None: null the field itself.
NullTree = dict[str, "NullTree | None"]


@dataclass(frozen=True)
class Unchanged:
    """The check of one stream and place context: a record that converts to ``kind`` is
    the filter's output once the fields the rules blank whole (``nulls``: any value there
    becomes null) are null. ``nested``: whether some of them are inside objects."""

    kind: Any
    nulls: NullTree
    nested: bool

    @functools.cached_property
    def _list_kind(self) -> Any:
        return list[self.kind]  # type: ignore[name-defined]

    @functools.cached_property
    def _top(self) -> frozenset[str]:
        return frozenset(self.nulls)

    def outputs(self, records: list[Record]) -> list[Record] | None:
        """The filter's outputs for all of ``records``, or None unless each passes the check
        (then ask ``output`` record by record). The records themselves where no field is
        nulled: for a caller that only encodes them. One call for a location's children."""
        try:
            msgspec.convert(records, self._list_kind)
        except Exception:  # as in output
            return None
        if not self.nulls:
            return records
        return [self._nulled(record, copy=False) for record in records]

    def output(self, record: Record, *, copy: bool = True) -> Record | None:
        """The filter's output for ``record``, or None when the filter must decide. Without
        ``copy`` it may be ``record`` itself (for a caller that only encodes it)."""
        try:
            msgspec.convert(record, self.kind)
        except Exception:  # ValidationError (something would change), or the unforeseen
            return None
        return self._nulled(record, copy=copy)

    def _nulled(self, record: Record, *, copy: bool) -> Record:
        if self.nested:
            return _null_in(record, self.nulls)
        top = self._top
        if top.isdisjoint(record):
            return record.copy() if copy else record  # the filter returns a new dict
        return {name: None if name in top else value for name, value in record.items()}


def _null_in(value: Any, tree: NullTree) -> Any:
    """A copy of the objects on the tree's paths, their fields on it null (arrays are
    transparent); what is off the paths is shared, not copied."""
    if type(value) is dict:
        out = value.copy()
        for name, below in tree.items():
            if name in out:  # absent stays absent, as in the filter
                out[name] = None if below is None else _null_in(out[name], below)
        return out
    if type(value) is list:
        return [_null_in(item, tree) for item in value]
    return value


def unchanged_check(rule: Rule) -> Unchanged | None:
    """The check for a record's root rule, or None where the rules cannot be checked so."""
    if rule.kind is not OBJECT:
        return None
    nulls: NullTree = {}
    try:
        kind = _struct(
            "Record", _fields(rule, nulls), forbid=rule.unknown is BLANK, unknown=rule.unknown
        )
    except _NotExpressibleError:
        return None
    nested = any(below is not None for below in nulls.values())
    return Unchanged(kind, nulls, nested)


def _fields(rule: Rule, nulls: NullTree) -> list[Any]:
    """The struct fields of an object rule; its fields blanked whole (any value: null) go
    into ``nulls``, with those of the objects below."""
    fields = []
    for name, child in rule.children:
        if child.kind is BLANK:
            nulls[name] = None
            fields.append((name, Any, None))
        elif child.kind is OBJECT:
            below: NullTree = {}
            fields.append((name, _object_type(child, below), None))
            if below:
                nulls[name] = below
        else:
            fields.append((name, _value_type(child), None))
    return fields


def _value_type(rule: Rule) -> Any:
    """The type of the values of a leaf field that ``rule`` leaves as they are."""
    if rule.kind is VERBATIM or (rule.kind is PASS and rule.opaque):
        return Any
    if rule.kind is PASS:
        return _PASSED_LEAF
    raise _NotExpressibleError  # HASH: a pseudonym replaces the value


def _object_type(rule: Rule, nulls: NullTree) -> Any:
    # filters._build_object: a dict by its fields' rules, a list item by item (arrays are
    # transparent), anything else by the `scalar` rule.
    fields = _fields(rule, nulls)
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
