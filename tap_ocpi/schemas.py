"""One JSON Schema per stream, the same whatever the platform's OCPI version.

Field names are those of OCPI 2.2.1 plus the 2.3.0 additions; ``normalize.py`` maps 2.1.1
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
``normalize.py`` keys its per-version mapping tables by it.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

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


# --- leaf builders -------------------------------------------------------------------------


def string() -> Schema:
    return {"type": ["string", "null"]}


def number() -> Schema:
    return {"type": ["number", "null"]}


def integer() -> Schema:
    return {"type": ["integer", "null"]}


def boolean() -> Schema:
    return {"type": ["boolean", "null"]}


def date_time() -> Schema:
    return {"type": ["string", "null"], "format": "date-time"}


def array(items: Schema) -> Schema:
    return {"type": ["array", "null"], "items": items}


def obj(title: str, properties: dict[str, Schema]) -> Schema:
    """A nested object: nullable, unknown keys allowed (they pass into JSON columns)."""
    return {
        "title": title,
        "type": ["object", "null"],
        "properties": properties,
        "additionalProperties": True,
    }


def strings() -> Schema:
    return array(string())


# --- shared fragments (each defined once, a fresh dict per use) ----------------------------


def display_text() -> Schema:
    return obj("DisplayText", {"language": string(), "text": string()})


def image() -> Schema:
    return obj(
        "Image",
        {
            "url": string(),
            "thumbnail": string(),
            "category": string(),
            "type": string(),
            "width": integer(),
            "height": integer(),
        },
    )


def business_details() -> Schema:
    return obj("BusinessDetails", {"name": string(), "website": string(), "logo": image()})


def geo_location() -> Schema:
    # Coordinates are decimal strings in OCPI, not numbers.
    return obj("GeoLocation", {"latitude": string(), "longitude": string()})


def additional_geo_location() -> Schema:
    return obj(
        "AdditionalGeoLocation",
        {"latitude": string(), "longitude": string(), "name": display_text()},
    )


def exceptional_period() -> Schema:
    return obj("ExceptionalPeriod", {"period_begin": date_time(), "period_end": date_time()})


def hours() -> Schema:
    regular = obj(
        "RegularHours",
        {"weekday": integer(), "period_begin": string(), "period_end": string()},
    )
    return obj(
        "Hours",
        {
            "twentyfourseven": boolean(),
            "regular_hours": array(regular),
            "exceptional_openings": array(exceptional_period()),
            "exceptional_closings": array(exceptional_period()),
        },
    )


def energy_mix() -> Schema:
    source = obj("EnergySource", {"source": string(), "percentage": number()})
    impact = obj("EnvironmentalImpact", {"category": string(), "amount": number()})
    return obj(
        "EnergyMix",
        {
            "is_green_energy": boolean(),
            "energy_sources": array(source),
            "environ_impact": array(impact),
            "supplier_name": string(),
            "energy_product_name": string(),
        },
    )


def tax_amount() -> Schema:
    return obj(
        "TaxAmount",
        {
            "name": string(),
            "account_number": string(),
            "percentage": number(),
            "amount": number(),
        },
    )


def price() -> Schema:
    """Money: Price 2.2.1 (excl/incl VAT), Price 2.3.0 (before_taxes, taxes) and PriceLimit
    2.3.0 (before/after taxes) all fit this one object, so no union type is needed."""
    return obj(
        "Price",
        {
            "excl_vat": number(),
            "incl_vat": number(),
            "before_taxes": number(),
            "after_taxes": number(),
            "taxes": array(tax_amount()),
        },
    )


def cdr_token() -> Schema:
    return obj(
        "CdrToken",
        {
            "country_code": string(),
            "party_id": string(),
            "uid": string(),
            "type": string(),
            "contract_id": string(),
        },
    )


def cdr_location() -> Schema:
    return obj(
        "CdrLocation",
        {
            "id": string(),
            "name": string(),
            "address": string(),
            "city": string(),
            "postal_code": string(),
            "state": string(),
            "country": string(),
            "coordinates": geo_location(),
            "evse_uid": string(),
            "evse_id": string(),
            "connector_id": string(),
            "connector_standard": string(),
            "connector_format": string(),
            "connector_power_type": string(),
        },
    )


def charging_period() -> Schema:
    dimension = obj("CdrDimension", {"type": string(), "volume": number()})
    return obj(
        "ChargingPeriod",
        {
            "start_date_time": date_time(),
            "dimensions": array(dimension),
            "tariff_id": string(),
        },
    )


def signed_data() -> Schema:
    value = obj(
        "SignedValue",
        {"nature": string(), "plain_data": string(), "signed_data": string()},
    )
    return obj(
        "SignedData",
        {
            "encoding_method": string(),
            "encoding_method_version": integer(),
            "public_key": string(),
            "signed_values": array(value),
            "url": string(),
        },
    )


def tariff_element() -> Schema:
    component = obj(
        "PriceComponent",
        {"type": string(), "price": number(), "vat": number(), "step_size": integer()},
    )
    restrictions = obj(
        "TariffRestrictions",
        {
            "start_time": string(),
            "end_time": string(),
            "start_date": string(),
            "end_date": string(),
            "min_kwh": number(),
            "max_kwh": number(),
            "min_current": number(),
            "max_current": number(),
            "min_power": number(),
            "max_power": number(),
            "min_duration": integer(),
            "max_duration": integer(),
            "day_of_week": strings(),
            "reservation": string(),
        },
    )
    return obj(
        "TariffElement",
        {"price_components": array(component), "restrictions": restrictions},
    )


def tariff_properties() -> dict[str, Schema]:
    """Tariff fields; shared by the tariffs stream and the tariffs embedded in CDRs."""
    return {
        "country_code": string(),
        "party_id": string(),
        "id": string(),
        "currency": string(),
        "type": string(),
        "tariff_alt_text": array(display_text()),
        "tariff_alt_url": string(),
        "min_price": price(),
        "max_price": price(),
        "preauthorize_amount": number(),
        "elements": array(tariff_element()),
        "tax_included": string(),
        "start_date_time": date_time(),
        "end_date_time": date_time(),
        "energy_mix": energy_mix(),
        "last_updated": date_time(),
    }


def tariff() -> Schema:
    return obj("Tariff", tariff_properties())


def publish_token() -> Schema:
    return obj(
        "PublishTokenType",
        {
            "uid": string(),
            "type": string(),
            "visual_number": string(),
            "issuer": string(),
            "group_id": string(),
        },
    )


def parking() -> Schema:
    return obj(
        "Parking",
        {
            "id": string(),
            "physical_reference": string(),
            "vehicle_types": strings(),
            "max_vehicle_weight": number(),
            "max_vehicle_height": number(),
            "max_vehicle_length": number(),
            "max_vehicle_width": number(),
            "parking_space_length": number(),
            "parking_space_width": number(),
            "dangerous_goods_allowed": boolean(),
            "direction": string(),
            "drive_through": boolean(),
            "restricted_to_type": boolean(),
            "reservation_required": boolean(),
            "time_limit": number(),
            "roofed": boolean(),
            "images": array(image()),
            "lighting": boolean(),
            "refrigeration_outlet": boolean(),
            "standards": strings(),
            "apds_reference": string(),
        },
    )


def status_schedule() -> Schema:
    return obj(
        "StatusSchedule",
        {"period_begin": date_time(), "period_end": date_time(), "status": string()},
    )


def evse_parking() -> Schema:
    return obj("EVSEParking", {"parking_id": string(), "evse_position": string()})


def energy_contract() -> Schema:
    return obj("EnergyContract", {"supplier_name": string(), "contract_id": string()})


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
