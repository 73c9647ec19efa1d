"""One JSON Schema per stream, the same whatever the platform's OCPI version.

Field names are those of OCPI 2.2.1 plus the 2.3.0 additions; ``normalize`` maps 2.1.1
objects onto them. The schemas are written for typed targets (Postgres, BigQuery):

* every property allows null, except the primary keys and ``last_updated`` (the privacy
  filter blanks fields to null and keeps the key, anywhere in the record);
* enums are plain strings (OCPI 2.3.0 makes many enums open, custom values exist);
* no ``anyOf``/``oneOf``/``allOf`` (loaders cannot map unions to columns);
* money is always one object, whichever of Price 2.2.1, Price 2.3.0 or PriceLimit it was;
* nested objects allow unknown keys (they land in JSON columns); the top level does not,
  so a table's columns are exactly these properties and vendor extensions never create
  columns (the SDK drops unknown top-level keys with one warning).

Every object schema carries a ``title`` (a JSON Schema annotation that targets ignore);
``normalize`` keys its per-version mapping tables by it. The nested objects are in
``objects.py``; the stream schemas, keys and replication key are here.
"""

from __future__ import annotations

from tap_ocpi.schemas.objects import (
    Schema,
    additional_geo_location,
    array,
    boolean,
    business_details,
    cdr_location,
    cdr_token,
    charging_period,
    date_time,
    display_text,
    energy_contract,
    energy_mix,
    evse_parking,
    geo_location,
    hours,
    image,
    integer,
    number,
    parking,
    price,
    publish_token,
    signed_data,
    status_schedule,
    string,
    strings,
    tariff,
    tariff_properties,
)

REPLICATION_KEY = "last_updated"

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "locations": ("country_code", "party_id", "id"),
    "evses": ("country_code", "party_id", "location_id", "uid"),
    "connectors": ("country_code", "party_id", "location_id", "evse_uid", "id"),
    "sessions": ("country_code", "party_id", "id"),
    "cdrs": ("country_code", "party_id", "id"),
    "tariffs": ("country_code", "party_id", "id"),
    "tokens": ("country_code", "party_id", "uid", "type"),
    "hubclientinfo": ("country_code", "party_id"),
}


# --- streams -------------------------------------------------------------------------------


def stream_schema(name: str, title: str, properties: dict[str, Schema]) -> Schema:
    """Top level: keys and last_updated non-null and required, the rest nullable."""
    required = (*PRIMARY_KEYS[name], REPLICATION_KEY)
    props = dict(properties)
    for key in required:
        props[key] = {**props[key], "type": "string"}
    return {
        "title": title,
        "type": "object",
        "properties": props,
        "required": list(required),
        "additionalProperties": False,
    }


def _owner() -> dict[str, Schema]:
    return {"country_code": string(), "party_id": string()}


def location_properties() -> dict[str, Schema]:
    return {
        **_owner(),
        "id": string(),
        "publish": boolean(),
        "publish_allowed_to": array(publish_token()),
        "name": string(),
        "address": string(),
        "city": string(),
        "postal_code": string(),
        "state": string(),
        "country": string(),
        "coordinates": geo_location(),
        "related_locations": array(additional_geo_location()),
        "parking_type": string(),
        "parking_places": array(parking()),
        "directions": array(display_text()),
        "operator": business_details(),
        "suboperator": business_details(),
        "owner": business_details(),
        "facilities": strings(),
        "time_zone": string(),
        "opening_times": hours(),
        "charging_when_closed": boolean(),
        "images": array(image()),
        "energy_mix": energy_mix(),
        "help_phone": string(),
        "last_updated": date_time(),
    }


def evse_properties() -> dict[str, Schema]:
    return {
        **_owner(),
        "location_id": string(),
        "uid": string(),
        "evse_id": string(),
        "status": string(),
        "status_schedule": array(status_schedule()),
        "capabilities": strings(),
        "floor_level": string(),
        "coordinates": geo_location(),
        "physical_reference": string(),
        "directions": array(display_text()),
        "parking_restrictions": strings(),
        "parking": array(evse_parking()),
        "images": array(image()),
        "accepted_service_providers": strings(),
        "last_updated": date_time(),
    }


def connector_properties() -> dict[str, Schema]:
    return {
        **_owner(),
        "location_id": string(),
        "evse_uid": string(),
        "id": string(),
        "standard": string(),
        "format": string(),
        "power_type": string(),
        "max_voltage": integer(),
        "max_amperage": integer(),
        "max_electric_power": integer(),
        "tariff_ids": strings(),
        "terms_and_conditions": string(),
        "capabilities": strings(),
        "last_updated": date_time(),
    }


def session_properties() -> dict[str, Schema]:
    return {
        **_owner(),
        "id": string(),
        "start_date_time": date_time(),
        "end_date_time": date_time(),
        "kwh": number(),
        "cdr_token": cdr_token(),
        "auth_method": string(),
        "authorization_reference": string(),
        "location_id": string(),
        "evse_uid": string(),
        "connector_id": string(),
        "meter_id": string(),
        "currency": string(),
        "charging_periods": array(charging_period()),
        "total_cost": price(),
        "status": string(),
        "last_updated": date_time(),
    }


def cdr_properties() -> dict[str, Schema]:
    return {
        **_owner(),
        "id": string(),
        "start_date_time": date_time(),
        "end_date_time": date_time(),
        "session_id": string(),
        "cdr_token": cdr_token(),
        "auth_method": string(),
        "authorization_reference": string(),
        "cdr_location": cdr_location(),
        "meter_id": string(),
        "currency": string(),
        "tariffs": array(tariff()),
        "charging_periods": array(charging_period()),
        "signed_data": signed_data(),
        "total_cost": price(),
        "total_fixed_cost": price(),
        "total_energy": number(),
        "total_energy_cost": price(),
        "total_time": number(),
        "total_time_cost": price(),
        "total_parking_time": number(),
        "total_parking_cost": price(),
        "total_reservation_cost": price(),
        "remark": string(),
        "invoice_reference_id": string(),
        "credit": boolean(),
        "credit_reference_id": string(),
        "home_charging_compensation": boolean(),
        "last_updated": date_time(),
    }


def token_properties() -> dict[str, Schema]:
    return {
        **_owner(),
        "uid": string(),
        "type": string(),
        "contract_id": string(),
        "visual_number": string(),
        "issuer": string(),
        "group_id": string(),
        "valid": boolean(),
        "whitelist": string(),
        "language": string(),
        "default_profile_type": string(),
        "energy_contract": energy_contract(),
        "last_updated": date_time(),
    }


def client_info_properties() -> dict[str, Schema]:
    return {
        **_owner(),
        "role": string(),
        "status": string(),
        "last_updated": date_time(),
    }


def build_stream_schemas() -> dict[str, Schema]:
    """Fresh schemas (callers may mutate theirs without affecting other streams)."""
    return {
        "locations": stream_schema("locations", "Location", location_properties()),
        "evses": stream_schema("evses", "EVSE", evse_properties()),
        "connectors": stream_schema("connectors", "Connector", connector_properties()),
        "sessions": stream_schema("sessions", "Session", session_properties()),
        "cdrs": stream_schema("cdrs", "CDR", cdr_properties()),
        "tariffs": stream_schema("tariffs", "Tariff", tariff_properties()),
        "tokens": stream_schema("tokens", "Token", token_properties()),
        "hubclientinfo": stream_schema("hubclientinfo", "ClientInfo", client_info_properties()),
    }


STREAM_SCHEMAS: dict[str, Schema] = build_stream_schemas()
