"""The fast path: records already in the one shape skip the general path's work.

Most platforms send records that are already canonical (every known field of the right
JSON type, every date-time canonical, no null array items, no NaN): the fixers of
``normalize`` would leave them unchanged. Two shortcuts, both checked in C by msgspec, both
falling back to the general path for anything else, so the output is the same either way
(tests/platform/test_fast_paths.py and tests/unit/test_normalize.py compare them record by record):

- ``record_normalizer``: a record its stream's ``record_type`` accepts is only copied
  instead of being fixed field by field.
- ``PageDecoder``: where every privacy rule of a stream keeps a field whole, nulls it or
  pseudonymises a scalar (``projection_for``), a page is decoded straight into output
  records with a type that holds only what is kept (``projected_type``): dropped fields are
  skipped by the decoder, never built, and become null; pseudonymised ones get the filter's
  own pseudonym of the decoded value (tokens.uid by default); unknown fields, anything the
  fixers would change, or an error status make the decode fail, and the page takes the
  general path. The output records stay msgspec Structs: the Singer writer encodes them as
  they are (``to_record`` makes dicts where something else needs them), which spares
  building a dict per object, the largest cost left once a stream keeps most fields.
  2.1.1 objects are decoded as sent and reshaped as they are decoded (each struct's
  ``__post_init__`` does what ``mapping``'s transforms do: see "reshaped versions" below).

The types are derived from the very fixer each field gets (``FAST_LEAF``), so the two paths
cannot disagree about a field. (msgspec would also accept a tuple for a list or another
mapping for an object, which JSON never produces.)
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from tap_ocpi.errors import OCPIError
from tap_ocpi.normalize import fixers as fx
from tap_ocpi.normalize import normalizer, rules_version
from tap_ocpi.normalize.mapping import (
    CDR_LOCATION_SOURCES,
    SCALAR_TO_OBJECT,
    SESSION_LOCATION_IDS,
    Plan,
    auth_id_to_cdr_token,
    cdr_location_from_location,
    session_location_ids,
)
from tap_ocpi.normalize.records import TOP_LEVEL_STREAMS, stream_schema, top_level_names
from tap_ocpi.privacy import PrivacyPolicy, is_private
from tap_ocpi.privacy.rules import HASHED, Keep
from tap_ocpi.privacy.settings import FieldPath
from tap_ocpi.schemas import PRIMARY_KEYS, REPLICATION_KEY, STREAM_SCHEMAS, Schema
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


def _required(schema: Schema, plan: Plan, root_keys: tuple[str, ...] | None) -> set[str]:
    """Fields the fixers would fill or reject when null: non-null in the fast types."""
    required = set(root_keys or ()) | ({REPLICATION_KEY} if root_keys is not None else set())
    if plan.post(schema.get("title", "")):
        required |= {"country_code", "party_id"}  # the owner fill
    return required


# --- records checked against their canonical type --------------------------------------------


def _record_object(schema: Schema, plan: Plan, root_keys: tuple[str, ...] | None = None) -> Any:
    """The msgspec type of the objects the fixers of ``schema`` leave as they are."""
    required = _required(schema, plan, root_keys)
    fields: list[Any] = []
    for name, prop in schema["properties"].items():
        kind = _record_property(name, prop, plan, root_keys is not None)
        fields.append((name, kind) if name in required else (name, kind | None, None))
    fields += [(name, str) for name in sorted(required - set(schema["properties"]))]
    # gc=False: checked and dropped at once, never in a cycle (see _project).
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


# --- pages decoded straight into output records ------------------------------------------------

#: A field privacy drops: any JSON value, skipped; absent stays absent.
_DROPPED: Any = msgspec.Raw | msgspec.UnsetType


def _null(_value: Any) -> None:
    return None


def to_record(obj: Any) -> Any:
    """Decoded projected object(s) -> plain dicts; dropped fields null, absent ones absent."""
    return msgspec.to_builtins(obj, enc_hook=_null)


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
    return _project(STREAM_SCHEMAS[stream], keep, plan, root_keys=PRIMARY_KEYS[stream])


def _project(
    schema: Schema, keep: Any, plan: Plan, root_keys: tuple[str, ...] | None = None
) -> Any | None:
    """The projected type of an object schema (None: not expressible)."""
    if keep == HASHED:
        return None  # every leaf pseudonymised: left to the filter
    title = schema.get("title", "")
    required = _required(schema, plan, root_keys)
    if not required <= set(schema["properties"]):
        return None
    owner = plan.owner_defaults(title)  # absent owner fields: filled (2.1.1), as post does
    fields: list[Any] = []
    steps: list[_Step] = []  # the pre transforms first: a moved bare amount is wrapped after
    wraps: list[_Step] = []
    for name, prop in schema["properties"].items():
        sub = _keep_of(keep, name)
        if sub is False:
            if name in required:
                return None  # a key or last_updated dropped: leave it to the general path
            fields.append((name, _DROPPED, msgspec.UNSET))
            continue
        kind = _project_property(name, prop, sub, plan, root_keys is not None)
        if kind is None:
            return None
        if plan.pre:
            kind = _scalar_object(name, prop, sub, kind, wraps)
        if name in owner:
            fields.append((name, kind, owner[name]))
        elif name in required:
            fields.append((name, kind))
        else:
            fields.append((name, kind | None | msgspec.UnsetType, msgspec.UNSET))
    if title in plan.pre and not _reshape_on_decode(schema, keep, plan, fields, steps):
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
        namespace={"__post_init__": _post_init(tuple(steps))} if steps else None,
    )
    dropped = tuple(f[0] for f in fields if f[1] is _DROPPED)
    nested = tuple(f[0] for f in fields if _has_drops(f[1]))
    _DROP_PLANS[kind] = (dropped, nested)
    return kind


def _has_drops(kind: Any) -> bool:
    """Whether values of a field type are projected objects with dropped fields below."""
    for arg in getattr(kind, "__args__", ()):  # X | None | UnsetType, list[X]
        if _has_drops(arg):
            return True
    plan = _DROP_PLANS.get(kind) if isinstance(kind, type) else None
    return plan is not None and bool(plan[0] or plan[1])


def _keep_of(keep: Any, name: str) -> Any:
    return keep if isinstance(keep, bool) else keep.get(name, False)


def _project_property(name: str, schema: Schema, keep: Any, plan: Plan, root: bool) -> Any:
    kinds = fx.schema_types(schema)
    if keep == HASHED and ("object" in kinds or "array" in kinds):
        return None  # pseudonyms of every leaf below: left to the filter
    if "object" in kinds:
        return _project(schema, keep, plan)
    if "array" in kinds:
        item = _project_property("", schema["items"], keep, plan, root=False)
        return None if item is None else list[item]  # type: ignore[valid-type]
    if not isinstance(keep, bool) and keep != HASHED:
        return None  # per-field rules for a leaf: not a schema this code knows
    return FAST_LEAF[fx.leaf_fixer(name, schema, root)]  # a pseudonym is made of the value


# --- reshaped versions (2.1.1): the reshape done on the decoded object ------------------------
#
# ``Plan.pre`` renames and reshapes a 2.1.1 object before its fields are fixed. Here the
# projected type decodes the object as sent: each old name or embedded object is a hidden
# field, typed as what the general path would make of it (so anything the fixers would
# change still fails the decode), and the struct's ``__post_init__`` moves the values where
# the transforms of ``mapping`` put them, then unsets the hidden field (UNSET fields are
# never output). Transforms without a counterpart here leave the object to the general path.

#: One transform on a decoded struct, in place.
_Step = Callable[[Any], None]
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
_Reshape = tuple[_Fields, _Step]


def _post_init(steps: tuple[_Step, ...]) -> Callable[[Any], None]:
    def post_init(obj: Any) -> None:
        for step in steps:
            step(obj)

    return post_init


def _field_types(fields: _Fields) -> dict[str, Any]:
    return {spec[0]: spec[1] for spec in fields}


def _is_unset_or_none(value: Any) -> bool:
    return value is None or value is _UNSET


def _reshape_on_decode(
    schema: Schema, keep: Any, plan: Plan, fields: _Fields, steps: list[_Step]
) -> bool:
    """Add the hidden fields and steps of the object's ``pre`` transforms; False if one of
    them has no counterpart on the decoded object."""
    title = schema["title"]
    properties = schema["properties"]
    for old, new in plan.renames.get(title, {}).items():
        if old in properties or new not in properties:
            return False
        kept = _keep_of(keep, new) is not False
        fields.append((old, _field_types(fields)[new] if kept else _DROPPED, _UNSET))
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


def _renamed(old: str, new: str, kept: bool) -> _Step:
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


def _scalar_object(name: str, schema: Schema, keep: Any, kind: Any, steps: list[_Step]) -> Any:
    """A bare number where a Price is expected (``SCALAR_TO_OBJECT``, as 2.1.1 sends every
    amount): the object holding it as its main field. Only where that field is kept."""
    scalar_key = SCALAR_TO_OBJECT.get(schema.get("title", ""))
    if scalar_key is None or "object" not in fx.schema_types(schema):
        return kind
    leaf = schema["properties"].get(scalar_key)
    if leaf is None or _keep_of(keep, scalar_key) is not True:
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
    if _keep_of(keep, target) is False:
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
    token_keep = _keep_of(decoded.keep, "cdr_token")
    if token_keep is False:
        auth_type: Any = Any

        def fill(obj: Any, auth_id: Any) -> None:
            del auth_id  # its value is dropped: only that it was sent matters
            if obj.cdr_token is _UNSET:
                obj.cdr_token = None  # dropped by privacy: present, so null

    else:
        if set(_CDR_TOKEN_FIELDS) - set(token_schema["properties"]):
            return None
        token_type = _project(token_schema, token_keep, decoded.plan)
        if token_type is None:
            return None
        contract_kept = _keep_of(token_keep, "contract_id") is not False
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
        targets.append((target, part, source, _keep_of(keep, target) is not False))

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
    location_keep = _keep_of(decoded.keep, "cdr_location")
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
            kept = _keep_of(location_keep, target) is not False
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
        _apply_in(record, self._drop_tree, _null)

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
        self._drops = _has_drops(record_type)
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
