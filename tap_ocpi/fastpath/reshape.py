"""Reshaped versions (2.1.1): the ``mapping`` transforms done on the decoded object.

``Plan.pre`` renames and reshapes a 2.1.1 object before its fields are fixed. Here the
projected type decodes the object as sent: each old name or embedded object is a hidden
field, typed as what the general path would make of it (so anything the fixers would
change still fails the decode), and the struct's ``__post_init__`` moves the values where
the transforms of ``mapping`` put them, then unsets the hidden field (UNSET fields are
never output). Transforms without a counterpart here leave the object to the general path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from tap_ocpi.fastpath import projected
from tap_ocpi.fastpath.leaves import DROPPED, FAST_LEAF, keep_of
from tap_ocpi.normalize import fixers as fx
from tap_ocpi.normalize.mapping import (
    CDR_LOCATION_SOURCES,
    SCALAR_TO_OBJECT,
    SESSION_LOCATION_IDS,
    Plan,
    auth_id_to_cdr_token,
    cdr_location_from_location,
    session_location_ids,
)
from tap_ocpi.schemas import Schema

#: One transform on a decoded struct, in place.
Step = Callable[[Any], None]
#: The field specs of one struct, as ``msgspec.defstruct`` takes them.
_Fields = list[Any]
_UNSET: Any = msgspec.UNSET


@dataclass(frozen=True)
class _Decoded:
    """An object type being projected: its schema, what privacy keeps of it, the plan, and
    its fields so far (the counterparts type a moved value as its destination field)."""

    schema: Schema
    keep: Any
    plan: Plan
    fields: _Fields


#: A counterpart's hidden fields and the step that moves their values.
_Reshape = tuple[_Fields, Step]


def post_init_of(steps: tuple[Step, ...]) -> Callable[[Any], None]:
    def post_init(obj: Any) -> None:
        for step in steps:
            step(obj)

    return post_init


def _field_types(fields: _Fields) -> dict[str, Any]:
    return {spec[0]: spec[1] for spec in fields}


def _is_unset_or_none(value: Any) -> bool:
    return value is None or value is _UNSET


def reshape_on_decode(
    schema: Schema, keep: Any, plan: Plan, fields: _Fields, steps: list[Step]
) -> bool:
    """Add the hidden fields and steps of the object's ``pre`` transforms; False if one of
    them has no counterpart on the decoded object."""
    title = schema["title"]
    properties = schema["properties"]
    for old, new in plan.renames.get(title, {}).items():
        if old in properties or new not in properties:
            return False
        kept = keep_of(keep, new) is not False
        fields.append((old, _field_types(fields)[new] if kept else DROPPED, _UNSET))
        steps.append(_renamed(old, new, kept))
    for transform in plan.reshapes.get(title, ()):
        build = _DECODED_RESHAPES.get(transform)
        made = None if build is None else build(_Decoded(schema, keep, plan, fields))
        if made is None:
            return False
        hidden, step = made
        if any(spec[0] in properties for spec in hidden):
            return False
        fields += hidden
        steps.append(step)
    return True


def _renamed(old: str, new: str, kept: bool) -> Step:
    """``mapping._renamer``: the old name's value wins where the new name is absent or null."""

    def rename(obj: Any) -> None:
        value = getattr(obj, old)
        if value is _UNSET:
            return
        setattr(obj, old, _UNSET)
        current = getattr(obj, new)
        if kept:
            if _is_unset_or_none(current):
                setattr(obj, new, value)
        elif current is _UNSET:
            setattr(obj, new, None)  # dropped by privacy: present, so null

    return rename


def scalar_object(name: str, schema: Schema, keep: Any, kind: Any, steps: list[Step]) -> Any:
    """A bare number where a Price is expected (``SCALAR_TO_OBJECT``, as 2.1.1 sends every
    amount): the object holding it as its main field. Only where that field is kept."""
    scalar_key = SCALAR_TO_OBJECT.get(schema.get("title", ""))
    if scalar_key is None or "object" not in fx.schema_types(schema):
        return kind
    leaf = schema["properties"].get(scalar_key)
    if leaf is None or keep_of(keep, scalar_key) is not True:
        return kind
    fixer = fx.leaf_fixer(scalar_key, leaf, root=False)
    if fixer is not fx.number:
        return kind  # only numbers: a str in the union would also take what fixers change
    object_type = kind

    def wrap(obj: Any) -> None:
        value = getattr(obj, name)
        if type(value) is int or type(value) is float:
            setattr(obj, name, object_type(**{scalar_key: value}))

    steps.append(wrap)
    return kind | FAST_LEAF[fixer]


def _source_type(fields: _Fields, target: str, keep: Any) -> Any:
    """How a value bound for ``target`` is decoded where it is sent: as the target's own
    type where privacy keeps it (the fixers would change anything else), any JSON otherwise
    (only whether it is null matters then)."""
    if keep_of(keep, target) is False:
        return Any
    return _field_types(fields)[target]


def _only_item(items: Any) -> Any:
    """``mapping._only``: the single item of a list, or None."""
    return items[0] if type(items) is list and len(items) == 1 else None


_CDR_TOKEN_FIELDS = ("country_code", "party_id", "uid", "type", "contract_id")


def _decoded_auth_id(decoded: _Decoded) -> _Reshape | None:
    """``mapping.auth_id_to_cdr_token`` on the decoded object."""
    token_schema = decoded.schema["properties"].get("cdr_token")
    if token_schema is None:
        return None
    token_keep = keep_of(decoded.keep, "cdr_token")
    if token_keep is False:
        auth_type: Any = Any

        def fill(obj: Any, auth_id: Any) -> None:
            del auth_id  # its value is dropped: only that it was sent matters
            if obj.cdr_token is _UNSET:
                obj.cdr_token = None  # dropped by privacy: present, so null

    else:
        if set(_CDR_TOKEN_FIELDS) - set(token_schema["properties"]):
            return None
        token_type = projected.project(token_schema, token_keep, decoded.plan)
        if token_type is None:
            return None
        contract_kept = keep_of(token_keep, "contract_id") is not False
        contract = _field_types(_struct_fields(token_type))["contract_id"]
        auth_type = contract if contract_kept else Any

        def fill(obj: Any, auth_id: Any) -> None:
            if _is_unset_or_none(obj.cdr_token):
                obj.cdr_token = token_type(
                    country_code=None,
                    party_id=None,
                    uid=None,
                    type=None,
                    contract_id=auth_id if contract_kept else None,
                )

    def step(obj: Any) -> None:
        auth_id = obj.auth_id
        if auth_id is _UNSET:
            return
        obj.auth_id = _UNSET
        if auth_id is not None:
            fill(obj, auth_id)

    return [("auth_id", auth_type, _UNSET)], step


def _struct_fields(kind: Any) -> _Fields:
    """The (name, type) specs of a projected struct type (``kind | None | UNSET`` too)."""
    return [(f.name, f.type) for f in msgspec.structs.fields(_struct_of(kind))]


def _struct_of(kind: Any) -> Any:
    """The struct type of a projected object field (``kind | None | UNSET``)."""
    args = getattr(kind, "__args__", (kind,))
    return next(arg for arg in args if isinstance(arg, type) and issubclass(arg, msgspec.Struct))


def _parts_type(name: str, sources: dict[str, Any], below: Any = None) -> Any:
    """An embedded part (location, EVSE, connector) as decoded: only the fields read from
    it; its other fields are skipped (the transform ignores them)."""
    fields: _Fields = [(source, kind, _UNSET) for source, kind in sources.items()]
    if below is not None:
        key = "evses" if name == "EmbeddedLocation" else "connectors"
        fields.append((key, list[below] | None | msgspec.UnsetType, _UNSET))
    return msgspec.defstruct(name, fields, kw_only=True, gc=False)


def _embedded_location(sources: dict[str, dict[str, Any]]) -> Any:
    """The embedded 2.1.1 Location, decoded into just the ``sources`` of each part."""
    connector = _parts_type("EmbeddedConnector", sources["connector"])
    evse = _parts_type("EmbeddedEVSE", sources["evse"], connector)
    location = _parts_type("EmbeddedLocation", sources["location"], evse)
    return location | None | msgspec.UnsetType


def _parts(location: Any) -> dict[str, Any]:
    """``mapping._pop_embedded_location``'s location, EVSE and connector (or None)."""
    evse = _only_item(location.evses)
    connector = _only_item(evse.connectors) if evse is not None else None
    return {"location": location, "evse": evse, "connector": connector}


def _value(part: Any, source: str) -> Any:
    value = getattr(part, source) if part is not None else None
    return None if value is _UNSET else value


def _decoded_session_location(decoded: _Decoded) -> _Reshape | None:
    """``mapping.session_location_ids`` on the decoded object."""
    schema, keep, fields = decoded.schema, decoded.keep, decoded.fields
    sources: dict[str, dict[str, Any]] = {"location": {}, "evse": {}, "connector": {}}
    targets: list[tuple[str, str, str, bool]] = []
    for target, (part, source) in SESSION_LOCATION_IDS.items():
        if target not in schema["properties"]:
            return None
        sources[part][source] = _source_type(fields, target, keep)
        targets.append((target, part, source, keep_of(keep, target) is not False))

    def step(obj: Any) -> None:
        location = obj.location
        if location is _UNSET:
            return
        obj.location = _UNSET
        if location is None:
            return
        parts = _parts(location)
        for target, part, source, kept in targets:
            value = _value(parts[part], source)
            if value is None:
                continue
            current = getattr(obj, target)
            if kept:
                if _is_unset_or_none(current):
                    setattr(obj, target, value)
            elif current is _UNSET:
                setattr(obj, target, None)  # dropped by privacy: present, so null

    return [("location", _embedded_location(sources), _UNSET)], step


def _decoded_cdr_location(decoded: _Decoded) -> _Reshape | None:
    """``mapping.cdr_location_from_location`` on the decoded object."""
    location_keep = keep_of(decoded.keep, "cdr_location")
    if location_keep is False:
        # Only whether an embedded location was sent matters: cdr_location is then null.
        embedded = msgspec.defstruct("EmbeddedLocation", [], gc=False)

        def step(obj: Any) -> None:
            location = obj.location
            if location is _UNSET:
                return
            obj.location = _UNSET
            if location is not None and obj.cdr_location is _UNSET:
                obj.cdr_location = None

        return [("location", embedded | None | msgspec.UnsetType, _UNSET)], step
    cdr_location = _field_types(decoded.fields).get("cdr_location")
    if cdr_location is None:
        return None
    target_fields = _struct_fields(cdr_location)
    location_type = _struct_of(cdr_location)
    names = {name for name, _ in target_fields}
    sources: dict[str, dict[str, Any]] = {}
    targets: list[tuple[str, str, str, bool]] = []
    for part, pairs in CDR_LOCATION_SOURCES.items():
        sources[part] = {}
        for target, source in pairs.items():
            if target not in names:
                return None
            kept = keep_of(location_keep, target) is not False
            sources[part][source] = _source_type(target_fields, target, location_keep)
            targets.append((target, part, source, kept))

    def build(obj: Any) -> None:
        location = obj.location
        if location is _UNSET:
            return
        obj.location = _UNSET
        if location is None or not _is_unset_or_none(obj.cdr_location):
            return
        parts = _parts(location)
        values = {
            target: _value(parts[part], source) if kept else None
            for target, part, source, kept in targets
        }
        obj.cdr_location = location_type(**values)

    return [("location", _embedded_location(sources), _UNSET)], build


_Builder = Callable[[_Decoded], "_Reshape | None"]
#: The counterpart of each ``mapping.RESHAPES`` transform on a decoded object.
_DECODED_RESHAPES: dict[Any, _Builder] = {
    auth_id_to_cdr_token: _decoded_auth_id,
    session_location_ids: _decoded_session_location,
    cdr_location_from_location: _decoded_cdr_location,
}
