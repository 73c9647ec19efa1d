"""The one-shape stream schemas: loadable into typed targets, same for every OCPI version."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from support.config import STREAMS
from tap_ocpi.schemas import (
    PRIMARY_KEYS,
    REPLICATION_KEY,
    STREAM_SCHEMAS,
    build_stream_schemas,
)

BIGQUERY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def walk_properties(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, str, dict]]:
    """(path, name, schema) of every property at any depth, through arrays."""
    for name, prop in schema.get("properties", {}).items():
        here = f"{path}.{name}" if path else name
        yield here, name, prop
        yield from walk_nested(prop, here)


def walk_nested(prop: dict[str, Any], path: str) -> Iterator[tuple[str, str, dict]]:
    if "items" in prop:
        yield from walk_nested(prop["items"], f"{path}[]")
    if "properties" in prop:
        yield from walk_properties(prop, path)


def walk_schemas(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk_schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_schemas(value)


def types_of(prop: dict) -> set[str]:
    kind = prop["type"]
    return {kind} if isinstance(kind, str) else set(kind)


def test_exactly_the_eight_streams() -> None:
    assert len(STREAMS) == len(set(STREAMS)) == 8
    assert set(STREAM_SCHEMAS) == set(STREAMS)
    assert set(PRIMARY_KEYS) == set(STREAMS)
    assert REPLICATION_KEY == "last_updated"


@pytest.mark.parametrize("stream", STREAMS)
def test_schema_is_valid_draft_2020_12(stream: str) -> None:
    Draft202012Validator.check_schema(STREAM_SCHEMAS[stream])


@pytest.mark.parametrize("stream", STREAMS)
def test_no_union_keywords_and_no_enums(stream: str) -> None:
    for node in walk_schemas(STREAM_SCHEMAS[stream]):
        assert not {"anyOf", "oneOf", "allOf", "enum", "const", "$ref"} & set(node)


@pytest.mark.parametrize("stream", STREAMS)
def test_property_names_are_bigquery_safe(stream: str) -> None:
    for path, name, _ in walk_properties(STREAM_SCHEMAS[stream]):
        assert BIGQUERY_NAME.match(name), path


@pytest.mark.parametrize("stream", STREAMS)
def test_every_non_key_property_allows_null_at_any_depth(stream: str) -> None:
    schema = STREAM_SCHEMAS[stream]
    not_null = {*PRIMARY_KEYS[stream], REPLICATION_KEY}
    for path, _, prop in walk_properties(schema):
        if path in not_null:
            assert types_of(prop) == {"string"}, path
        else:
            assert "null" in types_of(prop), path
        if "items" in prop:  # array items too (privacy may blank a whole item's leaves)
            assert "null" in types_of(prop["items"]), path


@pytest.mark.parametrize("stream", STREAMS)
def test_keys_and_replication_key_are_required(stream: str) -> None:
    schema = STREAM_SCHEMAS[stream]
    assert schema["required"] == [*PRIMARY_KEYS[stream], REPLICATION_KEY]
    for key in schema["required"]:
        assert key in schema["properties"]
    assert schema["properties"][REPLICATION_KEY]["format"] == "date-time"


@pytest.mark.parametrize("stream", STREAMS)
def test_every_property_has_one_scalar_or_container_type(stream: str) -> None:
    allowed = {"string", "number", "integer", "boolean", "object", "array"}
    for path, _, prop in walk_properties(STREAM_SCHEMAS[stream]):
        assert len(types_of(prop) - {"null"}) == 1, path
        assert types_of(prop) - {"null"} <= allowed, path


@pytest.mark.parametrize("stream", STREAMS)
def test_additional_properties_closed_at_top_open_when_nested(stream: str) -> None:
    schema = STREAM_SCHEMAS[stream]
    assert schema["additionalProperties"] is False
    for path, _, prop in walk_properties(schema):
        for node in (prop, prop.get("items", {})):
            if "properties" in node:
                assert node["additionalProperties"] is True, path
                assert node.get("title"), path  # normalize.py keys its tables by title


@pytest.mark.parametrize("stream", STREAMS)
def test_date_times_are_nullable_strings_with_format(stream: str) -> None:
    for path, name, prop in walk_properties(STREAM_SCHEMAS[stream]):
        if prop.get("format") == "date-time":
            assert "string" in types_of(prop), path
        timestamp_name = name.endswith(("_date_time", "period_begin", "period_end"))
        if "regular_hours" in path:  # RegularHours periods are local "HH:MM", not date-times
            assert "format" not in prop, path
        elif timestamp_name or name == REPLICATION_KEY:
            assert prop.get("format") == "date-time", path


def test_children_are_separate_streams() -> None:
    assert "evses" not in STREAM_SCHEMAS["locations"]["properties"]
    assert "connectors" not in STREAM_SCHEMAS["evses"]["properties"]
    assert PRIMARY_KEYS["evses"] == ("country_code", "party_id", "location_id", "uid")
    assert PRIMARY_KEYS["connectors"] == (
        "country_code",
        "party_id",
        "location_id",
        "evse_uid",
        "id",
    )


def test_primary_keys() -> None:
    for stream in ("locations", "sessions", "cdrs", "tariffs"):
        assert PRIMARY_KEYS[stream] == ("country_code", "party_id", "id")
    assert PRIMARY_KEYS["tokens"] == ("country_code", "party_id", "uid", "type")
    assert PRIMARY_KEYS["hubclientinfo"] == ("country_code", "party_id")


@pytest.mark.parametrize(
    ("stream", "field"),
    [
        ("locations", "parking_places"),
        ("locations", "help_phone"),
        ("locations", "publish_allowed_to"),
        ("locations", "parking_type"),
        ("evses", "parking"),
        ("evses", "accepted_service_providers"),
        ("connectors", "capabilities"),
        ("connectors", "max_electric_power"),
        ("connectors", "tariff_ids"),
        ("tariffs", "tax_included"),
        ("tariffs", "preauthorize_amount"),
        ("cdrs", "home_charging_compensation"),
        ("cdrs", "signed_data"),
        ("sessions", "cdr_token"),
        ("tokens", "energy_contract"),
    ],
)
def test_2_2_1_and_2_3_0_fields_present(stream: str, field: str) -> None:
    assert field in STREAM_SCHEMAS[stream]["properties"]


@pytest.mark.parametrize(
    ("stream", "field"),
    [
        ("sessions", "start_datetime"),
        ("sessions", "auth_id"),
        ("sessions", "location"),
        ("cdrs", "stop_date_time"),
        ("cdrs", "location"),
        ("tokens", "auth_id"),
        ("connectors", "voltage"),
        ("connectors", "tariff_id"),
        ("locations", "type"),
    ],
)
def test_2_1_1_only_names_absent(stream: str, field: str) -> None:
    assert field not in STREAM_SCHEMAS[stream]["properties"]


def money_fields() -> Iterator[tuple[str, dict]]:
    for stream in STREAMS:
        for path, _, prop in walk_properties(STREAM_SCHEMAS[stream]):
            if prop.get("title") == "Price":
                yield f"{stream}.{path}", prop


def test_money_is_one_object_for_price_and_price_limit() -> None:
    paths = {path for path, _ in money_fields()}
    assert {
        "sessions.total_cost",
        "cdrs.total_cost",
        "cdrs.total_reservation_cost",
        "tariffs.min_price",
        "tariffs.max_price",
        "cdrs.tariffs[].max_price",
    } <= paths
    for path, prop in money_fields():
        props = prop["properties"]
        assert set(props) == {"excl_vat", "incl_vat", "before_taxes", "after_taxes", "taxes"}
        for name in ("excl_vat", "incl_vat", "before_taxes", "after_taxes"):
            assert types_of(props[name]) == {"number", "null"}, path
        taxes = props["taxes"]["items"]["properties"]
        assert set(taxes) == {"name", "account_number", "percentage", "amount"}


def test_cdrs_embed_full_tariffs() -> None:
    embedded = STREAM_SCHEMAS["cdrs"]["properties"]["tariffs"]["items"]["properties"]
    own = STREAM_SCHEMAS["tariffs"]["properties"]
    assert set(embedded) == set(own)


def test_coordinates_are_strings() -> None:
    coords = STREAM_SCHEMAS["locations"]["properties"]["coordinates"]["properties"]
    assert types_of(coords["latitude"]) == {"string", "null"}
    evse = STREAM_SCHEMAS["evses"]["properties"]
    for name in ("floor_level", "physical_reference"):
        assert types_of(evse[name]) == {"string", "null"}


def test_built_schemas_do_not_share_objects() -> None:
    first, second = build_stream_schemas(), build_stream_schemas()
    first["cdrs"]["properties"]["total_cost"]["properties"].pop("excl_vat")
    assert "excl_vat" in second["cdrs"]["properties"]["total_cost"]["properties"]
    assert "excl_vat" in first["cdrs"]["properties"]["total_time_cost"]["properties"]
    assert "excl_vat" in STREAM_SCHEMAS["cdrs"]["properties"]["total_cost"]["properties"]
