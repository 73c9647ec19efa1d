"""Version differences as data: renames and reshapes per version and object title.

``RENAMES`` and ``RESHAPES`` are keyed by version and by the ``title`` of the object schema
they apply to (Session, CDR, Connector, ...); they run on a copy before the fields are
fixed. ``Plan`` is what applies for one (version, owner). See docs/versions.md, "One shape for
every OCPI version".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tap_ocpi.versions import traits

Record = dict[str, Any]
Transform = Callable[[Record], None]  # edits a private copy of one object in place

# --- version mapping tables (data) -----------------------------------------------------------

#: Field renames per version, keyed by the ``title`` of the object schema they apply to.
#: The old name is removed; its value wins only where the new name is absent or null.
RENAMES: dict[str, dict[str, dict[str, str]]] = {
    "2.1.1": {
        "Session": {"start_datetime": "start_date_time", "end_datetime": "end_date_time"},
        "CDR": {"stop_date_time": "end_date_time"},
        "Token": {"auth_id": "contract_id"},
        "Connector": {"voltage": "max_voltage", "amperage": "max_amperage"},
        "EnvironmentalImpact": {"source": "category"},
    },
    "2.2.1": {},
    "2.3.0": {},  # Price/PriceLimit 2.3.0 fields fit the one money object as they are
}

#: 2.1.1 LocationType -> 2.2 ParkingType. OTHER and UNKNOWN have no ParkingType: null.
LOCATION_TYPE_TO_PARKING_TYPE: dict[str, str] = {
    "ON_STREET": "ON_STREET",
    "PARKING_GARAGE": "PARKING_GARAGE",
    "UNDERGROUND_GARAGE": "UNDERGROUND_GARAGE",
    "PARKING_LOT": "PARKING_LOT",
}

#: 2.1.1 CDR: CdrLocation field <- field of the embedded Location / its EVSE / its connector.
CDR_LOCATION_SOURCES: dict[str, dict[str, str]] = {
    "location": {
        "id": "id",
        "name": "name",
        "address": "address",
        "city": "city",
        "postal_code": "postal_code",
        "state": "state",
        "country": "country",
        "coordinates": "coordinates",
    },
    "evse": {"evse_uid": "uid", "evse_id": "evse_id"},
    "connector": {
        "connector_id": "id",
        "connector_standard": "standard",
        "connector_format": "format",
        "connector_power_type": "power_type",
    },
}

#: 2.1.1 Session: id field <- (part of the embedded Location, field of that part).
SESSION_LOCATION_IDS: dict[str, tuple[str, str]] = {
    "location_id": ("location", "id"),
    "evse_uid": ("evse", "uid"),
    "connector_id": ("connector", "id"),
}

#: Any version: a bare scalar where one of these objects is expected is its main field
#: (2.1.1 money numbers are amounts excl. VAT; 2.3.0 ed1 EVSE parking was a list of ids).
SCALAR_TO_OBJECT: dict[str, str] = {"Price": "excl_vat", "EVSEParking": "parking_id"}

#: Objects whose country_code/party_id is the data owner, filled from ``owner`` when absent
#: (ClientInfo names a connected party and CdrToken the token's eMSP: never filled).
OWNED_OBJECTS = frozenset({"Location", "Session", "CDR", "Tariff", "Token"})


def _set_if_null(obj: Record, key: str, value: Any) -> None:
    if obj.get(key) is None and value is not None:
        obj[key] = value


def _only(items: Any) -> Record | None:
    """The single object of a list; None when absent or ambiguous (several)."""
    if type(items) is list and len(items) == 1 and type(items[0]) is dict:
        return items[0]
    return None


def _pop_embedded_location(obj: Record) -> dict[str, Record | None] | None:
    """Remove a 2.1.1 embedded Location; return it with its single EVSE and connector."""
    location = obj.pop("location", None)
    if type(location) is not dict:
        return None
    evse = _only(location.get("evses"))
    connector = _only(evse.get("connectors")) if evse else None
    return {"location": location, "evse": evse, "connector": connector}


def auth_id_to_cdr_token(obj: Record) -> None:
    """2.1.1 auth_id is the contract id (Token.auth_id); uid and type are unknown (null)."""
    if "auth_id" not in obj:
        return
    auth_id = obj.pop("auth_id")
    if obj.get("cdr_token") is None and auth_id is not None:
        obj["cdr_token"] = {
            "country_code": None,
            "party_id": None,
            "uid": None,
            "type": None,
            "contract_id": auth_id,
        }


def session_location_ids(obj: Record) -> None:
    parts = _pop_embedded_location(obj)
    if parts is None:
        return
    for field, (part, source) in SESSION_LOCATION_IDS.items():
        found = parts[part]
        _set_if_null(obj, field, found.get(source) if found else None)


def cdr_location_from_location(obj: Record) -> None:
    parts = _pop_embedded_location(obj)
    if parts is None or obj.get("cdr_location") is not None:
        return
    cdr_location: Record = {}
    for part, fields in CDR_LOCATION_SOURCES.items():
        found = parts[part]
        for field, source in fields.items():
            cdr_location[field] = found.get(source) if found else None
    obj["cdr_location"] = cdr_location


def _tariff_id_to_ids(obj: Record) -> None:
    if "tariff_id" not in obj:
        return
    tariff_id = obj.pop("tariff_id")
    if tariff_id is not None:
        _set_if_null(obj, "tariff_ids", [tariff_id])


def _location_type_to_parking_type(obj: Record) -> None:
    if "type" not in obj:
        return
    location_type = obj.pop("type")
    if isinstance(location_type, str):
        parking_type = LOCATION_TYPE_TO_PARKING_TYPE.get(location_type.strip().upper())
        _set_if_null(obj, "parking_type", parking_type)


def _infer_twentyfourseven(obj: Record) -> None:
    """2.1.1 Hours is either regular_hours or twentyfourseven: hours given => not 24/7."""
    regular = obj.get("regular_hours")
    if obj.get("twentyfourseven") is None and type(regular) is list and regular:
        obj["twentyfourseven"] = False


#: Structural changes per version and object title, run after RENAMES.
RESHAPES: dict[str, dict[str, tuple[Transform, ...]]] = {
    "2.1.1": {
        "Session": (auth_id_to_cdr_token, session_location_ids),
        "CDR": (auth_id_to_cdr_token, cdr_location_from_location),
        "Connector": (_tariff_id_to_ids,),
        "Location": (_location_type_to_parking_type,),
        "Hours": (_infer_twentyfourseven,),
    },
    "2.2.1": {},
    "2.3.0": {},
}


def rules_version(version: str) -> str:
    """The mapping table that applies to a version string as sent on the wire."""
    return traits(version).mapping


def _renamer(pairs: Mapping[str, str]) -> Transform:
    items = tuple(pairs.items())

    def rename(obj: Record) -> None:
        for old, new in items:
            if old in obj:
                value = obj.pop(old)
                if obj.get(new) is None:
                    obj[new] = value

    return rename


def _owner_filler(owner: tuple[str, str]) -> Transform:
    country_code, party_id = owner

    def fill(obj: Record) -> None:
        if obj.get("country_code") is None:
            obj["country_code"] = country_code
        if obj.get("party_id") is None:
            obj["party_id"] = party_id

    return fill


class Plan:
    """What to apply for one (version, owner): transforms per object title."""

    def __init__(self, version: str, owner: tuple[str, str] | None) -> None:
        renames = RENAMES[version]
        reshapes = RESHAPES[version]
        #: The renames (old -> new) and reshapes of ``pre``, apart (fastpath decodes them).
        self.renames = renames
        self.reshapes = reshapes
        self.pre: dict[str, tuple[Transform, ...]] = {}
        for title in set(renames) | set(reshapes):
            rename = (_renamer(renames[title]),) if title in renames else ()
            self.pre[title] = rename + reshapes.get(title, ())
        self.owner = owner
        self.owner_fill = _owner_filler(owner) if owner else None

    def post(self, title: str) -> tuple[Transform, ...]:
        if self.owner_fill is not None and title in OWNED_OBJECTS:
            return (self.owner_fill,)
        return ()

    def owner_defaults(self, title: str) -> dict[str, str]:
        """What the owner fill puts into an object of ``title`` that has no owner fields."""
        if self.owner is None or title not in OWNED_OBJECTS:
            return {}
        return {"country_code": self.owner[0], "party_id": self.owner[1]}
