"""The field tables people review: what each stream passes, and why.

stream -> path -> one-line reason. Paths name schema fields (2.2.1 names plus 2.3.0
additions); a path naming an object passes the fields the schema lists below it, not
unknown ones. These tables are rendered into docs/privacy.md by ``docs.safe_fields_markdown``;
the rule compiler (``rules.py``) reads them, and nothing else decides what passes.
"""

from __future__ import annotations

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
