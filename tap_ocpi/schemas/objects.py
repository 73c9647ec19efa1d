"""The OCPI objects nested in records, as JSON Schema fragments (a fresh dict per use).

Leaf builders first (every property nullable), then the shared objects, each defined once.
Every object schema carries a ``title``; ``normalize`` keys its per-version mapping tables
by it. The stream schemas built from these are in ``tap_ocpi.schemas``.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


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
