"""Pages decoded straight into output records: what privacy keeps (``Projection``) and the
page decoder (``PageDecoder``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from tap_ocpi.errors import OCPIError
from tap_ocpi.fastpath.leaves import Record
from tap_ocpi.fastpath.projected import as_null, has_drops, null_dropped, projected_type
from tap_ocpi.privacy import PrivacyPolicy, is_private
from tap_ocpi.privacy.rules import HASHED, Keep
from tap_ocpi.privacy.settings import FieldPath


@dataclass(frozen=True)
class Projection:
    """What privacy keeps of public places' records, the object fields that are nulled in
    private places' records on top of that, and the scalar fields replaced by their
    pseudonym (``projection_for``)."""

    keep: Keep
    private_drops: tuple[FieldPath, ...]
    hashed: tuple[FieldPath, ...] = ()
    #: The filters' own pseudonym function (PrivacyPolicy.pseudonym), where ``hashed``.
    pseudonym: Callable[[Any], Any] | None = None

    def drop_private(self, record: Record) -> None:
        """Null ``private_drops`` in a projected record (arrays are transparent)."""
        _apply_in(record, self._drop_tree, as_null)

    def hash_values(self, record: Record) -> None:
        """Replace the ``hashed`` fields of a projected record by their pseudonym."""
        assert self.pseudonym is not None  # projection_for sets it with `hashed`
        _apply_in(record, self._hash_tree, self.pseudonym)

    @functools.cached_property
    def _drop_tree(self) -> _PathTree:
        return _path_tree(self.private_drops)

    @functools.cached_property
    def _hash_tree(self) -> _PathTree:
        return _path_tree(self.hashed)


#: Field name -> the tree below it, or None: the field itself.
_PathTree = dict[str, "_PathTree | None"]


def _path_tree(paths: tuple[FieldPath, ...]) -> _PathTree:
    """The paths as one tree, so each object on the way is visited once per record."""
    tree: _PathTree = {}
    for path in paths:
        node = tree
        for name in path[:-1]:
            node = node.setdefault(name, {})  # type: ignore[assignment]
        node[path[-1]] = None
    return tree


def _apply_in(value: Any, tree: _PathTree, change: Callable[[Any], Any]) -> None:
    """``change`` the value of every field the tree leads to (arrays are transparent), in a
    projected record (Structs) or its dict form."""
    if type(value) is list:
        for item in value:
            _apply_in(item, tree, change)
    elif type(value) is dict:
        for name, below in tree.items():
            if name in value:  # absent stays absent, as in the filter
                if below is None:
                    value[name] = change(value[name])
                else:
                    _apply_in(value[name], below, change)
    elif isinstance(value, msgspec.Struct):
        for name, below in tree.items():
            field = getattr(value, name)
            if field is msgspec.UNSET:
                continue  # absent stays absent
            if below is None:
                setattr(value, name, change(field))
            else:
                _apply_in(field, below, change)


def projection_for(policy: PrivacyPolicy, stream: str) -> Projection | None:
    """What the filter keeps of a stream's records, when that alone decides its output.

    Then a record that decodes into ``projected_type`` of ``keep``, which forbids unknown
    fields, equals ``filter(normalize(record))`` once ``private_drops`` are nulled in the
    records of private places (``is_private``). None where the rules are not of that form.
    """
    keeps = policy.keeps(stream)
    if keeps is None:
        return None
    drops = _drops(*keeps, ())
    if drops is None:
        return None
    hashed = tuple(_hashed(keeps[0], ()))
    if hashed:
        try:
            policy.check_salt([stream])
        except OCPIError:
            return None  # no salt: the general path stops the run with the one-line error
    pseudonym = policy.pseudonym() if hashed else None
    return Projection(keeps[0], tuple(drops), hashed, pseudonym)


def _hashed(keep: Keep, at: FieldPath) -> list[FieldPath]:
    """The fields ``keep`` pseudonymises."""
    if keep == HASHED:
        return [at]
    if isinstance(keep, dict):
        return [path for name, sub in keep.items() for path in _hashed(sub, (*at, name))]
    return []


def page_decoder(
    policy: PrivacyPolicy, stream: str, version: str, owner: tuple[str, str] | None
) -> PageDecoder | None:
    """The stream's page decoder, where privacy and version allow one."""
    projection = projection_for(policy, stream)
    if projection is None:
        return None
    kind = projected_type(stream, version, owner, projection.keep)
    return None if kind is None else PageDecoder(stream, kind, projection)


def _drops(public: Keep, private: Keep, at: FieldPath) -> list[FieldPath] | None:
    """The fields kept for public places and dropped for private ones; None when the two
    differ in any other way (private keeping more, or less within a value kept whole)."""
    if public == private:
        return []
    if private is False and public is not False:
        return [at]
    if isinstance(public, dict) and isinstance(private, dict) and public.keys() == private.keys():
        drops: list[FieldPath] = []
        for name, sub in public.items():
            below = _drops(sub, private[name], (*at, name))
            if below is None:
                return None
            drops += below
        return drops
    return None


class PageDecoder:
    """Decodes a page of canonical records straight into the stream's output records.

    A page it cannot take is decoded as usual, record by record. After a few such pages and
    none taken, it stops trying: a platform whose records always need fixing would pay for a
    failed decode per page.
    """

    GIVE_UP_AFTER = 3

    def __init__(self, stream: str, record_type: Any, projection: Projection) -> None:
        self.stream = stream
        self.projection = projection
        envelope_type = msgspec.defstruct(
            "Envelope",
            [("status_code", int), ("data", list[record_type])],
        )
        self._decode: Callable[[bytes], Any] = msgspec.json.Decoder(envelope_type).decode
        self._drops = has_drops(record_type)
        self.taken = self.refused = 0

    def decode(self, content: bytes) -> list[Any] | None:
        """The page's output records (Structs: ``to_record`` gives their dicts), or None
        when the page must take the general path."""
        if self.refused >= self.GIVE_UP_AFTER and not self.taken:
            return None
        try:
            page = self._decode(content)
        except (msgspec.DecodeError, RecursionError):  # ValidationError included
            self.refused += 1
            return None
        if not 1000 <= page.status_code < 2000:
            return None
        records: list[Any] = page.data
        if self._drops:
            for record in records:
                null_dropped(record)
        projection = self.projection
        if projection.private_drops or projection.hashed:
            for record in records:
                # Decided on the values as decoded, as the filter decides on the record as
                # normalised: before any pseudonym replaces them.
                private = bool(projection.private_drops) and is_private(self.stream, record)
                if projection.hashed:
                    projection.hash_values(record)
                if private:
                    projection.drop_private(record)
        self.taken += 1
        return records
