"""Privacy filter: which values leave the tap, and which become null or a pseudonym.

The promise: a field keeps its value only when

* it is on the built-in safe list of its stream (it can never identify or locate a person),
* it is a public-place field (address, coordinates, ...) of a record that is not private, or
* the user allow-listed it (``privacy_pass``).

Everything else becomes null with its key kept, including keys the tap does not know (vendor
extensions, fields of later OCPI versions), at any depth, so nothing leaks by surprise.
Fields in ``privacy_hash``, and personal fields that are part of a primary key (``tokens.uid``),
become keyed pseudonyms: lowercase hex HMAC-SHA256(privacy_salt, value).

Paths are dotted field names that skip arrays: ``charging_periods.dimensions.volume`` reaches
every dimension of every period; a path may name a subtree; ``.`` is the whole record.

The rules are compiled once per stream (and per place context, public or private) from the
stream's JSON Schema into a tree of small closures, because the filter runs on every record.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from tap_ocpi.errors import OCPIError
from tap_ocpi.schemas import PRIMARY_KEYS

LOGGER = logging.getLogger(__name__)

Record = dict[str, Any]
#: ``(record, private) -> record``: ``private`` is the place context (see ``is_private``).
RecordFilter = Callable[[Record, bool], Record]
#: What a stream's privacy rules keep of a record, as ``normalize.projected_type`` reads it:
#: True keeps the whole value, False drops it (null), a dict says it per field.
Keep = bool | dict[str, "Keep"]
Transform = Callable[[Any], Any]

# --- default classification -----------------------------------------------------------------
# stream -> path -> one-line reason. Paths name schema fields (2.2.1 names plus 2.3.0
# additions); a path naming an object passes the fields the schema lists below it, not
# unknown ones. These tables are rendered into the README by ``safe_fields_markdown``.

_KEY = "part of the primary key: an opaque id chosen by a company"
_PARTY = "the company (CPO, eMSP or hub) that owns the record; part of the key"
_CHANGED = "when the platform last changed the record (drives incremental sync)"
_MONEY = "a price or cost: business data, not a person's"
_HARDWARE = "a property of the charging hardware"
_SITE = "a fact about the site, the same for every visitor"
_TARIFF = "tariff structure and prices: published business data"
_COMPANY = "business details of a company"
_ISSUER = "the eMSP that issued the token: a company"
_CARD_KIND = "the kind of token (RFID, app, ...), shared by millions of people"

SAFE_FIELDS: dict[str, dict[str, str]] = {
    "locations": {
        "country_code": _PARTY,
        "party_id": _PARTY,
        "id": _KEY,
        "publish": "whether the CPO publishes the place; decides the place context",
        "parking_type": "the kind of parking (street, garage, driveway); decides the context",
        "country": "a country: too coarse to locate anyone",
        "time_zone": "an IANA time zone: too coarse to locate anyone",
        "facilities": _SITE,
        "charging_when_closed": _SITE,
        "opening_times": _SITE,
        "operator": _COMPANY,
        "suboperator": _COMPANY,
        "help_phone": "the CPO's support line (OCPI 2.3.0)",
        "energy_mix": "the energy supplied: sources, environmental impact, green or not",
        "parking_places": "AFIR parking facts: dimensions and rules of the parking bays",
        "last_updated": _CHANGED,
    },
    "evses": {
        "country_code": _PARTY,
        "party_id": _PARTY,
        "location_id": _KEY,
        "uid": _KEY,
        "capabilities": _HARDWARE,
        "floor_level": _HARDWARE,
        "physical_reference": "the label on the charger (e.g. '1'), local to the site",
        "parking_restrictions": _SITE,
        "parking": _SITE,
        "accepted_service_providers": "eMSPs accepted at the charger: companies",
        "last_updated": _CHANGED,
    },
    "connectors": {
        "country_code": _PARTY,
        "party_id": _PARTY,
        "location_id": _KEY,
        "evse_uid": _KEY,
        "id": _KEY,
        "standard": _HARDWARE,
        "format": _HARDWARE,
        "power_type": _HARDWARE,
        "max_voltage": _HARDWARE,
        "max_amperage": _HARDWARE,
        "max_electric_power": _HARDWARE,
        "capabilities": _HARDWARE,
        "tariff_ids": "which tariffs apply: published business data",
        "terms_and_conditions": "a link to the CPO's terms",
        "last_updated": _CHANGED,
    },
    "sessions": {
        "country_code": _PARTY,
        "party_id": _PARTY,
        "id": _KEY,
        "cdr_token.country_code": _ISSUER,
        "cdr_token.party_id": _ISSUER,
        "cdr_token.type": _CARD_KIND,
        "auth_method": "how the session was authorised (whitelist, request, command)",
        "currency": _MONEY,
        "total_cost": _MONEY,
        "status": "the state of the session (active, completed, ...)",
        "last_updated": _CHANGED,
    },
    "cdrs": {
        "country_code": _PARTY,
        "party_id": _PARTY,
        "id": _KEY,
        "session_id": "an opaque id chosen by the CPO",
        "cdr_token.country_code": _ISSUER,
        "cdr_token.party_id": _ISSUER,
        "cdr_token.type": _CARD_KIND,
        "auth_method": "how the session was authorised (whitelist, request, command)",
        "cdr_location.country": "a country: too coarse to locate anyone",
        "cdr_location.connector_standard": _HARDWARE,
        "cdr_location.connector_format": _HARDWARE,
        "cdr_location.connector_power_type": _HARDWARE,
        "currency": _MONEY,
        "tariffs": _TARIFF,
        "total_cost": _MONEY,
        "total_fixed_cost": _MONEY,
        "total_energy_cost": _MONEY,
        "total_time_cost": _MONEY,
        "total_parking_cost": _MONEY,
        "total_reservation_cost": _MONEY,
        "credit": "whether this CDR credits an earlier one",
        "credit_reference_id": "the id of the credited CDR: an opaque id chosen by the CPO",
        "home_charging_compensation": "says whether the CDR is about a driver's home; "
        "decides the context",
        "last_updated": _CHANGED,
    },
    "tariffs": {
        "country_code": _PARTY,
        "party_id": _PARTY,
        "id": _KEY,
        "currency": _TARIFF,
        "type": _TARIFF,
        "tariff_alt_text": _TARIFF,
        "tariff_alt_url": _TARIFF,
        "min_price": _TARIFF,
        "max_price": _TARIFF,
        "preauthorize_amount": _TARIFF,
        "elements": _TARIFF,
        "tax_included": _TARIFF,
        "start_date_time": _TARIFF,
        "end_date_time": _TARIFF,
        "energy_mix": _TARIFF,
        "last_updated": _CHANGED,
    },
    "tokens": {
        "country_code": _PARTY,
        "party_id": _PARTY,
        "type": _CARD_KIND,
        "valid": "whether the token may be used: account state, not identity",
        "whitelist": "the eMSP's authorisation policy for the token",
        "last_updated": _CHANGED,
    },
    "hubclientinfo": {
        "country_code": _PARTY,
        "party_id": _PARTY,
        "role": "the role of a company connected to the hub",
        "status": "the connection status of a company connected to the hub",
        "last_updated": _CHANGED,
    },
}

_ADDRESS = "public data for a published charge point (EU AFIR); a private place's address"
_SEES = "shows a published charge point; for a private place it may show a home"
_PLACE_ID = "names a published charger; for a private one it names a household's device"

#: Passed only when the record is not private (``is_private`` / the parent's flag).
PUBLIC_PLACE_FIELDS: dict[str, dict[str, str]] = {
    "locations": {
        "name": _ADDRESS,
        "address": _ADDRESS,
        "city": _ADDRESS,
        "postal_code": _ADDRESS,
        "state": _ADDRESS,
        "coordinates": _ADDRESS,
        "related_locations": _ADDRESS,
        "directions": "how to find a published charge point; for a private one, free text "
        "about a home",
        "owner": "a company for a published charge point; for a private one, maybe a person",
        "images": _SEES,
        "parking_places.images": _SEES,
        "energy_mix.supplier_name": "a published site's supplier; for a private place, "
        "the household's energy contract",
        "energy_mix.energy_product_name": "a published site's supplier; for a private place, "
        "the household's energy contract",
    },
    "evses": {
        "evse_id": _PLACE_ID,
        "status": "live status of a published charger; for a private one it shows when "
        "someone is home",
        "status_schedule": "live status of a published charger; for a private one it shows "
        "when someone is home",
        "coordinates": _ADDRESS,
        "directions": "how to find a published charge point; for a private one, free text "
        "about a home",
        "images": _SEES,
    },
    "cdrs": {
        "cdr_location.id": _PLACE_ID,
        "cdr_location.evse_uid": _PLACE_ID,
        "cdr_location.evse_id": _PLACE_ID,
        "cdr_location.connector_id": _PLACE_ID,
        "cdr_location.name": _ADDRESS,
        "cdr_location.address": _ADDRESS,
        "cdr_location.city": _ADDRESS,
        "cdr_location.postal_code": _ADDRESS,
        "cdr_location.state": _ADDRESS,
        "cdr_location.coordinates": _ADDRESS,
    },
}

#: Personal fields that are part of a primary key: pseudonymised, so keys stay unique.
DEFAULT_HASH_FIELDS: dict[str, dict[str, str]] = {
    "tokens": {
        "uid": "the token's RFID/app id is personal but part of the key: pseudonymised so "
        "rows stay unique and joinable",
    },
}

#: Minimum length of privacy_salt: a short key can be guessed from one known pseudonym.
MIN_SALT_LENGTH = 16


# --- place context ---------------------------------------------------------------------------


def is_private(stream: str, record: Mapping[str, Any]) -> bool:
    """Whether a top-level record describes a non-public place (its address fields blank).

    When the record cannot say, it is private: the address of a home must not leak because a
    platform speaks an old OCPI version. Locations: ``publish`` is not true (2.1.1 has no
    flag, and serves home chargers like any other), or ``parking_type`` (read without case
    and surrounding whitespace) is ``ON_DRIVEWAY`` or any value OCPI does not define.
    CDRs: ``home_charging_compensation`` is not explicitly false (2.1.1 and 2.2 have no such
    flag). EVSEs and connectors take their location's flag from the stream layer; asked
    directly they answer True, because a child record alone cannot tell. Other streams have
    no place context.
    """
    if not isinstance(record, Mapping):
        return True
    if stream == "locations":
        if record.get("publish") is not True:
            return True
        parking = record.get("parking_type")
        return parking is not None and enum_text(parking) not in PUBLIC_PARKING_TYPES
    if stream == "cdrs":
        return record.get("home_charging_compensation") is not False
    return stream in _PLACE_CHILDREN


_PLACE_CHILDREN = frozenset({"evses", "connectors"})

#: OCPI ParkingType values of places open to the public (ON_DRIVEWAY is a home's driveway).
PUBLIC_PARKING_TYPES = frozenset(
    {"ALONG_MOTORWAY", "PARKING_GARAGE", "PARKING_LOT", "ON_STREET", "UNDERGROUND_GARAGE"}
)


def enum_text(value: Any) -> str | None:
    """An enum value as compared in privacy decisions: stripped, upper case; None if not text."""
    return value.strip().upper() if isinstance(value, str) else None


# --- schema shapes ---------------------------------------------------------------------------
# Arrays are transparent (in paths and at run time), so a shape is a leaf or an object.


@dataclass(frozen=True)
class _Leaf:
    opaque: bool  # the schema allows any object here: a passed value is kept whole


@dataclass(frozen=True)
class _Object:
    props: Mapping[str, _Shape]


_Shape = _Leaf | _Object
_MAX_SCHEMA_DEPTH = 32  # guards against recursive $refs


def _shape(schema: Any, root: Mapping[str, Any], depth: int = 0) -> _Shape:
    if not isinstance(schema, Mapping):
        return _Leaf(opaque=schema is not False)  # the `true` schema allows anything
    if depth > _MAX_SCHEMA_DEPTH:
        return _Leaf(opaque=False)  # nothing below this depth can pass, except by "."
    base = _deref(schema, root)
    branches = [base]
    for combiner in ("allOf", "anyOf", "oneOf"):
        branches += [_deref(b, root) for b in base.get(combiner) or () if isinstance(b, Mapping)]
    shape: _Shape | None = None
    for branch in branches:
        shape = _merge(shape, _branch_shape(branch, root, depth))
    return shape if shape is not None else _Leaf(opaque=True)


def _branch_shape(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> _Shape | None:
    props = schema.get("properties")
    if isinstance(props, Mapping) and props:
        return _Object({str(k): _shape(v, root, depth + 1) for k, v in props.items()})
    items = schema.get("items")
    if isinstance(items, Mapping):
        return _shape(items, root, depth + 1)
    if isinstance(items, Sequence) and items:  # tuple validation: merge the positions
        merged: _Shape | None = None
        for item in items:
            merged = _merge(merged, _shape(item, root, depth + 1))
        return merged
    if any(k in schema for k in ("allOf", "anyOf", "oneOf")) and "type" not in schema:
        return None  # a pure combiner: its branches carry the shape
    types = schema.get("type")
    kinds = {types} if isinstance(types, str) else set(types or ())
    return _Leaf(opaque=not kinds or bool(kinds & {"object", "array"}))


def _merge(a: _Shape | None, b: _Shape | None) -> _Shape | None:
    if a is None or b is None:
        return a if b is None else b
    if isinstance(a, _Object) and isinstance(b, _Object):
        props = dict(a.props)
        for name, sub in b.props.items():
            props[name] = _merge(props.get(name), sub) or sub
        return _Object(props)
    if isinstance(a, _Object) or isinstance(b, _Object):
        return a if isinstance(a, _Object) else b
    return _Leaf(opaque=a.opaque or b.opaque)


def _deref(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = root
    for part in ref[2:].split("/"):
        node = (
            node.get(part.replace("~1", "/").replace("~0", "~"))
            if isinstance(node, Mapping)
            else None
        )
    return node if isinstance(node, Mapping) else {}


# --- config: paths -------------------------------------------------------------------------


FieldPath = tuple[str, ...]  # () is the whole record


def _read_setting(
    config: Mapping[str, Any], setting: str, shapes: Mapping[str, _Shape]
) -> dict[str, list[FieldPath]]:
    raw = config.get(setting)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise OCPIError(
            f'{setting} must be an object of stream name to field paths, e.g. {{"sessions": '
            f'["kwh"]}}'
        )
    paths: dict[str, list[FieldPath]] = {}
    for stream, entries in raw.items():
        if stream not in shapes:
            raise OCPIError(
                f"{setting}: unknown stream {_quote(stream)}; the streams are "
                f"{', '.join(sorted(shapes))}"
            )
        where = f"{setting}.{stream}"
        paths[stream] = [
            _parse_path(where, text, shapes[stream], shapes) for text in _entries(where, entries)
        ]
    return paths


def _entries(where: str, entries: Any) -> list[str]:
    if entries is None:
        return []
    if isinstance(entries, str):  # a comma-separated list, as ocpi-tool's --privacy-pass
        return entries.split(",")
    if not isinstance(entries, Sequence):
        raise OCPIError(f"{where} must be a list of field paths")
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, str):
            raise OCPIError(f"{where}: entry {number} is not a string")
    return list(entries)


def _parse_path(where: str, text: str, shape: _Shape, streams: Mapping[str, _Shape]) -> FieldPath:
    path = text.strip()
    if not path:
        raise OCPIError(f"{where}: empty path (a trailing or doubled comma?)")
    if path == ".":
        return ()
    parts = tuple(path.split("."))
    if "" in parts:
        raise OCPIError(
            f"{where}: {_quote(path)} has an empty part (stray '.'); write paths like "
            f"charging_periods.dimensions.volume"
        )
    if any(_ARRAY_MARKS.search(part) for part in parts):
        fixed = ".".join(_ARRAY_MARKS.sub("", part) for part in parts)
        raise OCPIError(f"{where}: {_quote(path)}: paths skip arrays, write {_quote(fixed)}")
    problem = _resolve(shape, parts, streams)
    if problem:
        raise OCPIError(f"{where}: {_quote(path)} {problem}")
    return parts


_ARRAY_MARKS = re.compile(r"\[[^\]]*\]|\*")


def _resolve(shape: _Shape, parts: FieldPath, streams: Mapping[str, _Shape]) -> str | None:
    """Why the path names no field of the schema (None when it does)."""
    node = shape
    for depth, part in enumerate(parts):
        if isinstance(node, _Leaf):
            return f"goes below {_quote('.'.join(parts[:depth]))}, which has no fields"
        child = node.props.get(part)
        if child is None:
            return f"matches no field: {_suggest(part, node.props, streams, depth)}"
        node = child
    return None


def _suggest(part: str, props: Mapping[str, _Shape], streams: Mapping[str, Any], depth: int) -> str:
    if depth == 0 and part in streams:
        return f"{part} is a stream of its own (give its paths under that stream)"
    same = [name for name in props if name.lower() == part.lower()]
    close = same or difflib.get_close_matches(part, list(props), n=1, cutoff=0.6)
    if close:
        return f"did you mean {_quote(close[0])}?"
    return f"{_quote(part)} is not a field here (names are case-sensitive)"


def _quote(text: Any) -> str:
    text = str(text)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _split(path: str) -> FieldPath:
    return () if path == "." else tuple(path.split("."))


# --- rules -------------------------------------------------------------------------------------
# Each path marks a node of a trie with a strength; the strongest mark on the way down wins:
# an explicit hash beats an explicit pass, which beats the default key hash, which beats a
# public-place field of a private record (blank, even inside a safe subtree), which beats the
# safe lists. Nothing marked is blank.


class _Kind(Enum):
    BLANK = "blank"  # null
    PASS = "pass"  # noqa: S105 (scalars pass; an object where a scalar belongs is blank)
    VERBATIM = "verbatim"  # anything passes (only from ".": the user accepts unknown fields)
    HASH = "hash"  # every leaf below becomes a pseudonym
    OBJECT = "object"  # known keys by their own rule, unknown keys by `unknown`


_BLANK, _PASS, _VERBATIM, _HASH, _OBJECT = _Kind
_SAFE, _PRIVATE_PLACE, _DEFAULT_HASH, _USER_PASS, _USER_PASS_ALL, _USER_HASH = range(1, 7)
_KIND_OF = {
    0: _BLANK,
    _SAFE: _PASS,
    _PRIVATE_PLACE: _BLANK,
    _DEFAULT_HASH: _HASH,
    _USER_PASS: _PASS,
    _USER_PASS_ALL: _VERBATIM,
    _USER_HASH: _HASH,
}


class _Trie:
    __slots__ = ("children", "mark")

    def __init__(self) -> None:
        self.mark = 0
        self.children: dict[str, _Trie] = {}

    def add(self, path: FieldPath, mark: int) -> None:
        node = self
        for part in path:
            node = node.children.setdefault(part, _Trie())
        node.mark = max(node.mark, mark)


@dataclass(frozen=True)
class _Rule:
    kind: _Kind
    children: tuple[tuple[str, _Rule], ...] = ()  # OBJECT: schema order
    unknown: _Kind = _BLANK  # OBJECT: keys the schema does not list (BLANK/VERBATIM/HASH)
    scalar: _Kind = _BLANK  # OBJECT: a scalar found where an object was expected
    opaque: bool = False  # PASS: an object value passes whole (the schema allows any)


_UNIFORM = {kind: _Rule(kind) for kind in (_BLANK, _VERBATIM, _HASH)}


def _compile(shape: _Shape, trie: _Trie | None, inherited: int) -> _Rule:
    strength = max(inherited, trie.mark if trie else 0)
    kind = _KIND_OF[strength]
    if isinstance(shape, _Leaf):
        return _Rule(_PASS, opaque=shape.opaque) if kind is _PASS else _UNIFORM[kind]
    deeper = trie.children if trie else {}
    children = tuple(
        (name, _compile(sub, deeper.get(name), strength)) for name, sub in shape.props.items()
    )
    unknown = _BLANK if kind is _PASS else kind
    if unknown is not _BLANK or not all(_passes_whole(rule) for _, rule in children):
        scalar = unknown
    else:
        scalar = _PASS  # every known field passes: so does a scalar in its place (2.1.1 money)
    if scalar is unknown and all(rule == _UNIFORM[unknown] for _, rule in children):
        return _UNIFORM[unknown]  # nothing below differs: one null / copy / hash
    return _Rule(_OBJECT, children, unknown, scalar)


def _compile_marks(shape: _Shape, marks: list[tuple[FieldPath, int]]) -> _Rule:
    trie = _Trie()
    for path, strength in marks:
        trie.add(path, strength)
    return _root(_compile(shape, trie, 0))


def _passes_whole(rule: _Rule) -> bool:
    if rule.kind is _OBJECT:
        return all(_passes_whole(child) for _, child in rule.children)
    return rule.kind in (_PASS, _VERBATIM)


def _root(rule: _Rule) -> _Rule:
    """A record stays an object with its keys, even when every field is blank."""
    if rule.kind in (_BLANK, _PASS):
        return _Rule(_OBJECT, (), _BLANK, _BLANK)
    return rule


def _uses_hash(rule: _Rule) -> bool:
    if rule.kind is _OBJECT:
        return _HASH in (rule.unknown, rule.scalar) or any(
            _uses_hash(child) for _, child in rule.children
        )
    return rule.kind is _HASH


def _leaf_paths(rule: _Rule, kinds: tuple[_Kind, ...], prefix: str = "") -> list[str]:
    """The largest subtrees whose rule is one of ``kinds`` (for reports and docs)."""
    if rule.kind in kinds:
        return [prefix or "."]
    paths: list[str] = []
    for name, child in rule.children:
        paths += _leaf_paths(child, kinds, f"{prefix}.{name}" if prefix else name)
    return paths


@dataclass(frozen=True)
class Projection:
    """``PrivacyPolicy.projection``: what is kept of public places' records, and the object
    fields that are nulled in private places' records on top of that."""

    keep: Keep
    private_drops: tuple[FieldPath, ...]

    def drop_private(self, record: Record) -> None:
        """Null ``private_drops`` in a projected record (arrays are transparent)."""
        _null_in(record, self._drop_tree)

    @functools.cached_property
    def _drop_tree(self) -> _DropTree:
        """The paths as one tree, so each object on the way is visited once per record."""
        tree: _DropTree = {}
        for path in self.private_drops:
            node = tree
            for name in path[:-1]:
                node = node.setdefault(name, {})  # type: ignore[assignment]
            node[path[-1]] = None
        return tree


#: Field name -> the tree below it, or None: null the field.
_DropTree = dict[str, "_DropTree | None"]


def _null_in(value: Any, tree: _DropTree) -> None:
    if type(value) is list:
        for item in value:
            _null_in(item, tree)
    elif type(value) is dict:
        for name, below in tree.items():
            if name in value:  # absent stays absent, as in the filter
                if below is None:
                    value[name] = None
                else:
                    _null_in(value[name], below)


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


def _keep(rule: _Rule) -> Keep | None:
    """``PrivacyPolicy.projection`` of one rule; None where the output needs more than
    keep-or-null (pseudonyms, or a passed leaf that could hold an object)."""
    if rule.kind is _BLANK:
        return False
    if rule.kind is _VERBATIM or (rule.kind is _PASS and rule.opaque):
        return True
    if rule.kind is _PASS:
        return True  # a scalar leaf: normalize.projected_type accepts scalars only there
    if rule.kind is _OBJECT:
        keep: dict[str, Keep] = {}
        for name, child in rule.children:
            sub = _keep(child)
            if sub is None:
                return None
            keep[name] = sub
        return keep
    return None  # _HASH


# --- closures ----------------------------------------------------------------------------------

_SCALARS = frozenset({str, int, float, bool, type(None), Decimal})


def _blank(_value: Any) -> None:
    return None


def _verbatim(value: Any) -> Any:
    return value


def _pass_scalar(value: Any) -> Any:
    """A passed field that should be a scalar: lists are walked, objects are unknown data."""
    if value.__class__ in _SCALARS:
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


def _pseudonymiser(key: bytes) -> Transform:
    """HMAC-SHA256 hex of every leaf; keys and nulls stay, numbers are hashed as JSON text."""
    keyed = hmac.new(key, digestmod=hashlib.sha256)  # copying the keyed state saves half

    @functools.lru_cache(maxsize=16384)  # the same token uid recurs across many sessions
    def text_pseudonym(text: str) -> str:
        state = keyed.copy()
        state.update(text.encode("utf-8", "surrogatepass"))
        return state.hexdigest()

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


def _no_salt(_value: Any) -> Any:
    raise OCPIError("privacy_salt is not set")  # unreachable: filter_for checks first


def _build(rule: _Rule, pseudonym: Transform) -> Transform:
    if rule.kind is _OBJECT:
        return _build_object(rule, pseudonym)
    if rule.kind is _PASS:
        return _verbatim if rule.opaque else _pass_scalar
    return {_BLANK: _blank, _VERBATIM: _verbatim, _HASH: pseudonym}[rule.kind]


def _build_object(rule: _Rule, pseudonym: Transform) -> Transform:
    # One dict comprehension over the record's own keys: key order and unknown keys are kept,
    # and the common cases (a passed scalar, a blanked field) cost no function call.
    scalars = frozenset(n for n, c in rule.children if c.kind is _PASS and not c.opaque)
    blanks = frozenset(n for n, c in rule.children if c.kind is _BLANK)
    special = {
        name: _build(child, pseudonym)
        for name, child in rule.children
        if name not in scalars and name not in blanks
    }
    unknown = _build(_Rule(rule.unknown), pseudonym)
    on_scalar = _build(_Rule(rule.scalar), pseudonym)
    scalar_types = _SCALARS

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


# --- the policy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StreamRules:
    public: _Rule
    private: _Rule

    @property
    def rules(self) -> tuple[_Rule, ...]:
        return (self.public,) if self.public == self.private else (self.public, self.private)


class PrivacyPolicy:
    """Compiled privacy rules for every stream. Build it with ``from_config``."""

    def __init__(
        self,
        rules: Mapping[str, _StreamRules],
        salt: str | None,
        primary_keys: Mapping[str, Sequence[str]],
    ) -> None:
        self._rules = dict(rules)
        self._salt = salt
        self._keys = primary_keys
        self._filters: dict[str, RecordFilter] = {}

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        schemas: Mapping[str, Mapping[str, Any]],
        selected_streams: Iterable[str] | None = None,
        *,
        safe: Mapping[str, Mapping[str, str]] = SAFE_FIELDS,
        public: Mapping[str, Mapping[str, str]] = PUBLIC_PLACE_FIELDS,
        default_hash: Mapping[str, Mapping[str, str]] = DEFAULT_HASH_FIELDS,
        primary_keys: Mapping[str, Sequence[str]] = PRIMARY_KEYS,
    ) -> PrivacyPolicy:
        """Validate ``privacy_pass``, ``privacy_hash`` and ``privacy_salt``; compile the rules.

        Raises ``OCPIError`` (one line, no values) for a bad setting. With
        ``selected_streams`` it also checks that a salt is set when any of those streams
        pseudonymises a field, so the tap stops before extracting; without it that check
        waits for ``filter_for``. ``safe``, ``public`` and ``default_hash`` replace the
        built-in tables (tests, other schemas); ``primary_keys`` names the fields a record
        that cannot be filtered keeps (see ``filter_for``).
        """
        shapes = {name: _shape(schema, schema) for name, schema in schemas.items()}
        user_pass = _read_setting(config, "privacy_pass", shapes)
        user_hash = _read_setting(config, "privacy_hash", shapes)
        salt = _read_salt(config)
        rules = {}
        for stream, shape in shapes.items():
            marks = [(_split(path), _SAFE) for path in safe.get(stream, {})]
            marks += [(_split(path), _DEFAULT_HASH) for path in default_hash.get(stream, {})]
            marks += [(p, _USER_PASS if p else _USER_PASS_ALL) for p in user_pass.get(stream, [])]
            marks += [(parts, _USER_HASH) for parts in user_hash.get(stream, [])]
            places = [_split(path) for path in public.get(stream, {})]
            rules[stream] = _StreamRules(
                public=_compile_marks(shape, marks + [(p, _SAFE) for p in places]),
                private=_compile_marks(shape, marks + [(p, _PRIVATE_PLACE) for p in places]),
            )
        policy = cls(rules, salt, primary_keys)
        if selected_streams is not None:
            policy.check_salt(selected_streams)
        return policy

    # -- checks ---------------------------------------------------------------------------------

    def needs_salt(self, streams: Iterable[str]) -> bool:
        """Whether any of these streams pseudonymises a field (so needs ``privacy_salt``)."""
        return bool(self._hashing(streams))

    def check_salt(self, streams: Iterable[str]) -> None:
        """Raise ``OCPIError`` when these streams need a salt and none is set."""
        hashing = self._hashing(streams)
        if hashing and self._salt is None:
            stream, paths = hashing[0]
            raise OCPIError(
                f"privacy_salt is not set, but {stream} pseudonymises {', '.join(paths)}; set "
                f"privacy_salt to a long random secret (e.g. openssl rand -hex 32) and keep it"
            )

    def _hashing(self, streams: Iterable[str]) -> list[tuple[str, list[str]]]:
        found = []
        for stream in streams:
            rules = self._rules.get(stream)
            if rules and any(_uses_hash(rule) for rule in rules.rules):
                found.append((stream, _leaf_paths(rules.public, (_HASH,))))
        return found

    # -- filtering ------------------------------------------------------------------------------

    def filter_for(self, stream: str) -> RecordFilter:
        """The compiled ``(record, private) -> record`` function of a stream.

        The result is a new dict, or the record itself when ``.`` passes everything. A record
        the rules cannot process (e.g. nested too deeply) is still emitted, every field null
        except the key, with a warning naming the stream and key only.
        """
        cached = self._filters.get(stream)
        if cached is None:
            cached = self._filters[stream] = self._make_filter(stream)
        return cached

    def projection(self, stream: str) -> Projection | None:
        """What the filter keeps of a record, when that alone decides its output.

        That is: no pseudonyms, and only rules a decoder can reproduce (fields kept whole
        or null). Then a record that decodes into ``normalize.projected_type`` of
        ``keep``, which forbids unknown fields, equals ``filter(normalize(record))`` once
        ``private_drops`` are nulled in the records of private places (``is_private``).
        None where the rules are not of that form.
        """
        rules = self._rules.get(stream)
        if rules is None:
            return None
        public, private = _keep(rules.public), _keep(rules.private)
        if public is None or private is None:
            return None
        drops = _drops(public, private, ())
        return None if drops is None else Projection(public, tuple(drops))

    def _make_filter(self, stream: str) -> RecordFilter:
        rules = self._rules.get(stream)
        if rules is None:
            raise OCPIError(f"privacy: no schema for stream {_quote(stream)}")
        self.check_salt([stream])
        pseudonym = _pseudonymiser(self._salt.encode()) if self._salt else _no_salt
        public = _build(rules.public, pseudonym)
        private = public if rules.public == rules.private else _build(rules.private, pseudonym)
        rescue = self._rescue(stream, rules.private, pseudonym)

        def apply(record: Record, is_private_place: bool) -> Record:
            try:
                return private(record) if is_private_place else public(record)
            except Exception:  # the rules handle every JSON shape; this is for the unforeseen
                return rescue(record)

        return apply

    def _rescue(self, stream: str, rule: _Rule, pseudonym: Transform) -> Callable[[Record], Record]:
        """Every field null but the key (by its own rule), with a warning without values."""
        by_name = dict(rule.children)
        other = _UNIFORM[rule.unknown] if rule.kind is _OBJECT else rule
        key_rules = [
            (name, _build(by_name.get(name, other), pseudonym))
            for name in self._keys.get(stream, ())
        ]

        def rescue(record: Record) -> Record:
            if not isinstance(record, Mapping):
                raise OCPIError(f"privacy: a {stream} record is not a JSON object")
            out = dict.fromkeys(record)
            for name, transform in key_rules:
                if name in record and record[name].__class__ in _SCALARS:
                    out[name] = transform(record[name])
            key = ", ".join(f"{name}={out.get(name)}" for name, _ in key_rules)
            LOGGER.warning(
                "privacy: a %s record could not be filtered field by field; emitted with "
                "every non-key field null (key: %s)",
                stream,
                key or "unknown",
            )
            return out

        return rescue

    # -- reports ----------------------------------------------------------------------------------

    def describe(self, stream: str) -> str:
        """One line for the log: what this stream lets through (field paths, no values)."""
        rules = self._rules[stream]
        passed = _leaf_paths(rules.public, (_PASS, _VERBATIM))
        hashed = _leaf_paths(rules.public, (_HASH,))
        only_public = sorted(set(passed) - set(_leaf_paths(rules.private, (_PASS, _VERBATIM))))
        text = f"privacy {stream}: {len(passed)} field(s) passed"
        if only_public:
            text += f" ({len(only_public)} only for public places)"
        if hashed:
            text += f", pseudonymised: {', '.join(hashed)}"
        return text + "; everything else, unknown fields included, is null"

    def schema_for(self, stream: str, schema: Mapping[str, Any]) -> dict[str, Any]:
        """``schema`` adjusted to what the filter emits: pseudonymised leaves become strings."""
        rules = self._rules[stream]
        return _schema_for(schema, [rules.public, rules.private], schema)


def _read_salt(config: Mapping[str, Any]) -> str | None:
    salt = config.get("privacy_salt")
    if salt is None or (isinstance(salt, str) and not salt.strip()):
        return None
    if not isinstance(salt, str):
        raise OCPIError("privacy_salt must be a string")
    if len(salt) < MIN_SALT_LENGTH:
        raise OCPIError(
            f"privacy_salt is too short: use at least {MIN_SALT_LENGTH} random characters "
            f"(e.g. openssl rand -hex 32)"
        )
    return salt


_CONSTRAINTS = (
    "format",
    "enum",
    "const",
    "pattern",
    "maxLength",
    "minLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
)


def _schema_for(schema: Any, rules: list[_Rule], root: Mapping[str, Any]) -> Any:
    if not isinstance(schema, Mapping):
        return schema
    out = dict(_deref(schema, root))
    if any(rule.kind is _HASH for rule in rules):
        return _as_pseudonym(out, root)
    objects = [rule for rule in rules if rule.kind is _OBJECT]
    if isinstance(out.get("items"), Mapping):  # arrays are transparent to rules
        out["items"] = _schema_for(out["items"], rules, root)
    elif isinstance(out.get("properties"), Mapping) and objects:
        out["properties"] = {
            name: _schema_for(
                sub,
                [dict(rule.children).get(name, _UNIFORM[rule.unknown]) for rule in objects],
                root,
            )
            for name, sub in out["properties"].items()
        }
    return out


def _as_pseudonym(schema: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in schema.items() if k not in _CONSTRAINTS}
    if isinstance(out.get("properties"), Mapping):
        out["properties"] = {
            name: _as_pseudonym(_deref(sub, root), root) for name, sub in out["properties"].items()
        }
        return out
    if isinstance(out.get("items"), Mapping):
        out["items"] = _as_pseudonym(_deref(out["items"], root), root)
        return out
    types = out.get("type")
    kinds = [types] if isinstance(types, str) else list(types or ["string", "null"])
    out["type"] = ["string", "null"] if "null" in kinds else "string"
    return out


# --- documentation -----------------------------------------------------------------------------


def safe_fields_markdown(schemas: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The README tables: per stream, what passes (and why), what is pseudonymised.

    With ``schemas`` each table is followed by the fields that are always null by default.
    """
    streams = list(schemas) if schemas else list(SAFE_FIELDS)
    policy = PrivacyPolicy.from_config({}, schemas) if schemas else None
    sections = []
    for stream in streams:
        rows = [(path, "passed", why) for path, why in SAFE_FIELDS.get(stream, {}).items()]
        rows += [
            (path, "passed for public places", why)
            for path, why in PUBLIC_PLACE_FIELDS.get(stream, {}).items()
        ]
        rows += [
            (path, "pseudonymised", why)
            for path, why in DEFAULT_HASH_FIELDS.get(stream, {}).items()
        ]
        lines = [f"#### `{stream}`", "", "| field | default | why |", "|---|---|---|"]
        lines += [
            f"| {', '.join(f'`{p}`' for p in paths)} | {default} | {why} |"
            for paths, default, why in _group(rows)
        ]
        if policy is not None:
            blanked = _leaf_paths(policy._rules[stream].public, (_BLANK,))
            listed = "".join(f"`{path}`, " for path in blanked)
            lines += ["", f"Always null: {listed}and every field the tap does not know."]
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def _group(rows: list[tuple[str, str, str]]) -> list[tuple[list[str], str, str]]:
    """Merge consecutive rows with the same default and reason into one row."""
    grouped: list[tuple[list[str], str, str]] = []
    for path, default, why in rows:
        if grouped and grouped[-1][1:] == (default, why):
            grouped[-1][0].append(path)
        else:
            grouped.append(([path], default, why))
    return grouped
