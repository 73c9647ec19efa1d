"""normalize.py: every spec example maps onto the one shape; timestamps; coercion; errors.

The spec examples in shared/ocpi-examples are used unchanged (CC BY-ND): fragments
(an EVSE PUT body, Hours, EnergyMix, DisplayText) are embedded in memory into the same
version's Location example, never edited.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel

from support.config import TOP_LEVEL
from support.spec_examples import AVAILABLE, EXAMPLES, needs_examples, require_examples
from tap_ocpi import fastpath
from tap_ocpi.errors import BadRecord
from tap_ocpi.normalize import normalizer, rules_version, split_location
from tap_ocpi.normalize import records as records_module
from tap_ocpi.normalize.mapping import LOCATION_TYPE_TO_PARKING_TYPE
from tap_ocpi.schemas import PRIMARY_KEYS, REPLICATION_KEY, STREAM_SCHEMAS
from tap_ocpi.timestamps import normalize_timestamp, parse_timestamp

VERSIONS = ("2.1.1", "2.2.1", "2.3.0")
OWNER = ("BE", "BEC")  # the platform's party, needed for 2.1.1 objects

# --- which example files are covered, and why the others are skipped ------------------------

#: file-name pattern -> how the file is used. First match wins; every file must match one.
COVERED: list[tuple[str, str]] = [
    (r"mod_cdrs_\d+_example_of_a_cdr|cdr_example", "cdrs"),
    (r"mod_locations_06_example|location_example.*", "locations"),
    (r"mod_locations_04_example_add_an_evse|location_put_example_add_evse", "evse_put"),
    (r"location_energymix_example_.*|location_regularhours_example", "location_fragment"),
    (r"location_hours_.*", "hours"),
    (r"type_displaytext_example", "display_text"),
    (r"mod_sessions_0[23]_.*|session_example_\d_.*", "sessions"),
    (r"mod_tariffs_01_.*|tariff_put_example", "bad_no_last_updated"),
    (r"mod_tariffs_0[3-7]_.*|tariff_\d+_.*|tariffrestriction_example_.*", "tariffs"),
    (r"mod_tokens_0[13]_.*|token_example_\d_.*|token_put_example", "tokens"),
    (
        r"transport_and_format_0[34]_example_tokens_.*|transport_and_format_get_token.*",
        "tokens_envelope",
    ),
]

#: file-name pattern -> reason it is not a test object.
SKIPPED: list[tuple[str, str]] = [
    (
        r"mod_locations_0[1235]_.*|location_patch_.*",
        "PATCH fragment: a partial Location/EVSE/Connector (no keys)",
    ),
    (r"mod_sessions_01_.*|session_patch_.*", "PATCH fragment: a partial Session"),
    (r"mod_tariffs_02_.*", "PATCH fragment: a partial Tariff (only elements)"),
    (r"mod_tokens_02_.*|token_patch_example", "PATCH fragment: a partial Token"),
    (r"credentials.*", "credentials document, not a module object"),
    (
        r"version.*|transport_and_format_0[12]_.*|transport_and_format_version_.*",
        "versions / version details document",
    ),
    (r"transport_and_format_05_.*", "error envelope without data"),
    (r"payment_.*", "2.3.0 Payments module object: no stream in this tap"),
]

# ClientInfo has no spec example in any version; these are our own fixtures.
CLIENT_INFOS = [
    {
        "party_id": "EXA",
        "country_code": "NL",
        "role": "CPO",
        "status": "CONNECTED",
        "last_updated": "2019-02-03T17:00:11Z",
    },
    {
        "party_id": "ABC",
        "country_code": "DE",
        "role": "EMSP",
        "status": "SUSPENDED",
        "last_updated": "2021-07-01T10:00:00.123+02:00",
    },
]


def classify(name: str) -> tuple[str, str]:
    stem = name.removesuffix(".json")
    for pattern, kind in COVERED:
        if re.fullmatch(pattern, stem):
            return "covered", kind
    for pattern, reason in SKIPPED:
        if re.fullmatch(pattern, stem):
            return "skipped", reason
    return "unknown", ""


def example_files() -> list[tuple[str, Path]]:
    return [(v, p) for v in VERSIONS for p in sorted((EXAMPLES / v).glob("*.json"))]


def load(path: Path) -> Any:
    require_examples()  # skips the test when shared/ is absent
    return json.loads(path.read_text(encoding="utf-8"))


def base_location(version: str) -> dict[str, Any]:
    name = "mod_locations_06_example.json" if version == "2.1.1" else "location_example.json"
    return load(EXAMPLES / version / name)


@needs_examples
def test_every_example_file_is_classified() -> None:
    unknown = [f"{v}/{p.name}" for v, p in example_files() if classify(p.name)[0] == "unknown"]
    assert unknown == []
    assert len(example_files()) == 28 + 59 + 72


@needs_examples
def test_skipped_files_really_are_not_full_objects() -> None:
    """Shape check behind the name rules: a skipped file has no object keys + timestamp."""
    for version, path in example_files():
        if classify(path.name)[0] != "skipped":
            continue
        data = load(path)
        if path.name.startswith("payment_"):
            continue  # full objects, but of a module the tap does not have
        objects = data if isinstance(data, list) else [data]
        for obj in objects:
            keyed = "id" in obj or "uid" in obj
            assert not (keyed and "last_updated" in obj), f"{version}/{path.name}"


# --- building test objects from the examples --------------------------------------------------


def objects_for(version: str, path: Path, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(stream, raw object) pairs a covered example file contributes."""
    data = load(path)
    if kind in {"cdrs", "locations", "sessions", "tariffs", "tokens"}:
        yield kind, data
    elif kind == "tokens_envelope":
        payload = data["data"]
        for token in payload if isinstance(payload, list) else [payload]:
            yield "tokens", token
    elif kind == "evse_put":
        location = base_location(version)
        location["evses"] = [data]
        yield "locations", location
    elif kind == "location_fragment":
        yield "locations", {**base_location(version), **data}
    elif kind == "hours":
        yield "locations", {**base_location(version), "opening_times": data}
    elif kind == "display_text":
        yield "locations", {**base_location(version), "directions": [data]}


def covered_cases() -> list[Any]:
    cases = []
    for version, path in example_files():
        status, kind = classify(path.name)
        if status != "covered" or kind == "bad_no_last_updated":
            continue
        for index, (stream, raw) in enumerate(objects_for(version, path, kind)):
            case_id = f"{version}/{path.stem}#{index}"
            cases.append(pytest.param(version, stream, raw, id=case_id))
    for index, info in enumerate(CLIENT_INFOS):
        for version in ("2.2.1", "2.3.0"):
            cases.append(pytest.param(version, "hubclientinfo", info, id=f"{version}/ci#{index}"))
    if not AVAILABLE:  # one visible skip stands for the examples that are not there
        cases.append(pytest.param(None, None, None, id="spec-examples", marks=needs_examples))
    return cases


CANONICAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")
FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def is_canonical_date_time(value: object) -> bool:
    """Stricter than RFC 3339: UTC with Z, our canonical spelling (no trailing zeros)."""
    if not isinstance(value, str):
        return True
    if not CANONICAL_TIME.fullmatch(value) or (value.endswith("0Z") and "." in value):
        return False
    datetime.fromisoformat(value[:19])
    return True


VALIDATORS = {
    stream: Draft202012Validator(schema, format_checker=FORMATS)
    for stream, schema in STREAM_SCHEMAS.items()
}


def as_emitted(stream: str, record: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The record as the SDK writes it: unknown top-level keys dropped (additionalProperties
    is false at the top). Returns it and the dropped names."""
    known = STREAM_SCHEMAS[stream]["properties"]
    return {k: v for k, v in record.items() if k in known}, set(record) - set(known)


def assert_valid(stream: str, record: dict[str, Any]) -> None:
    errors = sorted(VALIDATORS[stream].iter_errors(record), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    for key in PRIMARY_KEYS[stream]:
        assert isinstance(record[key], str), key
    assert len(record[REPLICATION_KEY]) == 20  # the one bookmark format


def owner_for(version: str) -> tuple[str, str] | None:
    return OWNER if version == "2.1.1" else None


# Unknown top-level fields present in the examples (dropped by the SDK, by design).
EXPECTED_DROPPED = {"floor"}  # 2.2.1/2.3.0 location_put_example_add_evse.json (sic)


@pytest.mark.parametrize(("version", "stream", "raw"), covered_cases())
def test_example_normalizes_and_validates(version: str, stream: str, raw: dict) -> None:
    before = copy.deepcopy(raw)
    record = normalizer(stream, version, owner_for(version))(raw)
    assert raw == before  # the input is not modified
    records = [(stream, record)]
    if stream == "locations":
        location, evses, connectors = split_location(record)
        assert "evses" not in location
        assert evses, "every location example has EVSEs"
        assert connectors, "every EVSE example has connectors"
        records = [("locations", location)]
        records += [("evses", e) for e in evses] + [("connectors", c) for c in connectors]
    for name, rec in records:
        emitted, dropped = as_emitted(name, rec)
        assert dropped <= EXPECTED_DROPPED, (name, dropped)
        assert_valid(name, emitted)


@pytest.mark.parametrize(("version", "stream", "raw"), covered_cases())
def test_example_normalization_is_idempotent(version: str, stream: str, raw: dict) -> None:
    normalize = normalizer(stream, version, owner_for(version))
    once = normalize(raw)
    assert normalize(once) == once
    if version == "2.1.1":  # the one shape read as 2.2.1 is unchanged too
        assert normalizer(stream, "2.2.1", None)(once) == once


@pytest.mark.parametrize(
    ("version", "name"),
    [
        ("2.1.1", "mod_tariffs_01_example_new_tariff_2_euro_per_hour.json"),
        ("2.2.1", "tariff_put_example.json"),
        ("2.3.0", "tariff_put_example.json"),
    ],
)
def test_put_body_without_last_updated_is_a_bad_record(version: str, name: str) -> None:
    with pytest.raises(BadRecord, match="last_updated"):
        normalizer("tariffs", version, OWNER)(load(EXAMPLES / version / name))


# --- 2.1.1 mapping -----------------------------------------------------------------------------


def example(version: str, name: str) -> dict[str, Any]:
    return load(EXAMPLES / version / name)


def test_2_1_1_session() -> None:
    raw = example(
        "2.1.1", "mod_sessions_03_simple_session_example_of_a_short_finished_session.json"
    )
    record = normalizer("sessions", "2.1.1", OWNER)(raw)
    assert record["country_code"] == "BE"
    assert record["party_id"] == "BEC"
    assert record["start_date_time"] == "2015-06-29T22:39:09Z"
    assert record["end_date_time"] == "2015-06-29T23:50:16Z"
    assert record["cdr_token"] == {
        "country_code": None,
        "party_id": None,
        "uid": None,
        "type": None,
        "contract_id": "DE8ACC12E46L89",
    }
    assert (record["location_id"], record["evse_uid"], record["connector_id"]) == (
        "LOC1",
        "3256",
        "1",
    )
    assert record["total_cost"] == {"excl_vat": 8.5}
    for old in ("start_datetime", "end_datetime", "auth_id", "location"):
        assert old not in record


def test_2_1_1_cdr() -> None:
    record = normalizer("cdrs", "2.1.1", OWNER)(
        example("2.1.1", "mod_cdrs_01_example_of_a_cdr.json")
    )
    assert record["end_date_time"] == "2015-06-29T23:37:32Z"
    assert record["cdr_token"]["contract_id"] == "DE8ACC12E46L89"
    assert record["cdr_location"] == {
        "id": "LOC1",
        "name": "Gent Zuid",
        "address": "F.Rooseveltlaan 3A",
        "city": "Gent",
        "postal_code": "9000",
        "state": None,
        "country": "BE",
        "coordinates": {"latitude": "3.729944", "longitude": "51.047599"},
        "evse_uid": "3256",
        "evse_id": "BE-BEC-E041503003",
        "connector_id": "1",
        "connector_standard": "IEC_62196_T2",
        "connector_format": "SOCKET",
        "connector_power_type": "AC_1_PHASE",
    }
    assert record["total_cost"] == {"excl_vat": 4.0}
    tariff = record["tariffs"][0]
    assert tariff["elements"][0]["price_components"][0]["price"] == 2.0  # was "2.00"
    assert (tariff["country_code"], tariff["party_id"]) == OWNER  # embedded tariffs too
    for old in ("stop_date_time", "auth_id", "location"):
        assert old not in record


def test_2_1_1_location_connectors_and_type() -> None:
    record = normalizer("locations", "2.1.1", OWNER)(
        example("2.1.1", "mod_locations_06_example.json")
    )
    assert record["parking_type"] == "ON_STREET"
    assert "type" not in record
    connector = record["evses"][0]["connectors"][0]
    assert connector["max_voltage"] == 220
    assert connector["max_amperage"] == 16
    assert connector["tariff_ids"] == ["11"]
    assert not {"voltage", "amperage", "tariff_id"} & set(connector)


@pytest.mark.parametrize(
    ("location_type", "parking_type"),
    [
        ("ON_STREET", "ON_STREET"),
        ("PARKING_GARAGE", "PARKING_GARAGE"),
        ("UNDERGROUND_GARAGE", "UNDERGROUND_GARAGE"),
        ("PARKING_LOT", "PARKING_LOT"),
        ("OTHER", None),
        ("UNKNOWN", None),
        ("SOMETHING_CUSTOM", None),
    ],
)
def test_2_1_1_location_type_to_parking_type(location_type: str, parking_type: str) -> None:
    raw = {**example("2.1.1", "mod_locations_06_example.json"), "type": location_type}
    record = normalizer("locations", "2.1.1", OWNER)(raw)
    assert record.get("parking_type") == parking_type
    assert LOCATION_TYPE_TO_PARKING_TYPE.get(location_type) == parking_type


def test_2_1_1_evse_put_body_numbers_become_strings() -> None:
    location = example("2.1.1", "mod_locations_06_example.json")
    location["evses"] = [example("2.1.1", "mod_locations_04_example_add_an_evse.json")]
    _, evses, connectors = split_location(normalizer("locations", "2.1.1", OWNER)(location))
    assert evses[0]["physical_reference"] == "3"
    assert evses[0]["floor_level"] == "-1"
    # Neither the EVSE nor its connector has last_updated: inherited from the location.
    assert evses[0]["last_updated"] == connectors[0]["last_updated"] == "2015-06-29T20:39:09Z"
    assert connectors[0]["tariff_ids"] == ["14"]


def test_2_1_1_token() -> None:
    record = normalizer("tokens", "2.1.1", OWNER)(example("2.1.1", "mod_tokens_03_example.json"))
    assert record["contract_id"] == "DE8ACC12E46L89"
    assert "auth_id" not in record
    assert (record["country_code"], record["party_id"]) == OWNER


def test_2_1_1_energy_mix_and_hours() -> None:
    raw = {
        **example("2.1.1", "mod_locations_06_example.json"),
        "energy_mix": {
            "is_green_energy": False,
            "environ_impact": [{"source": "CARBON_DIOXIDE", "amount": 372}],
        },
        "opening_times": {
            "regular_hours": [{"weekday": 1, "period_begin": "08:00", "period_end": "20:00"}],
            "exceptional_closings": [
                {"period_begin": "2014-06-24T00:00:00", "period_end": "2014-06-25T00:00:00"}
            ],
        },
    }
    record = normalizer("locations", "2.1.1", OWNER)(raw)
    assert record["energy_mix"]["environ_impact"] == [{"category": "CARBON_DIOXIDE", "amount": 372}]
    hours = record["opening_times"]
    assert hours["twentyfourseven"] is False  # regular hours given => not 24/7
    assert hours["exceptional_closings"][0]["period_begin"] == "2014-06-24T00:00:00Z"
    only_flag = {**raw, "opening_times": {"twentyfourseven": True}}
    assert normalizer("locations", "2.1.1", OWNER)(only_flag)["opening_times"] == {
        "twentyfourseven": True
    }


def test_2_1_1_needs_an_owner() -> None:
    with pytest.raises(BadRecord, match="country_code"):
        normalizer("sessions", "2.1.1", None)(
            example(
                "2.1.1", "mod_sessions_02_simple_session_example_of_a_just_starting_session.json"
            )
        )


def test_owner_never_overrides_and_is_not_used_for_other_parties() -> None:
    session = example("2.2.1", "session_example_1_simple_start.json")
    record = normalizer("sessions", "2.2.1", ("XX", "YYY"))(session)
    assert (record["country_code"], record["party_id"]) == ("NL", "STK")
    # ClientInfo names the connected party and CdrToken the eMSP: never filled from owner.
    with pytest.raises(BadRecord, match="country_code"):
        normalizer("hubclientinfo", "2.2.1", ("XX", "YYY"))(
            {**CLIENT_INFOS[0], "country_code": None}
        )
    token_less = normalizer("sessions", "2.1.1", ("XX", "YYY"))(
        example("2.1.1", "mod_sessions_02_simple_session_example_of_a_just_starting_session.json")
    )
    assert token_less["cdr_token"]["country_code"] is None


def test_2_1_1_embedded_location_with_several_evses_leaves_ids_null() -> None:
    raw = example("2.1.1", "mod_sessions_02_simple_session_example_of_a_just_starting_session.json")
    raw["location"]["evses"] = raw["location"]["evses"] * 2
    record = normalizer("sessions", "2.1.1", OWNER)(raw)
    assert record["location_id"] == "LOC1"
    assert "evse_uid" not in record
    assert "connector_id" not in record


# --- 2.3.0 ---------------------------------------------------------------------------------


def test_2_3_0_price_and_price_limit_kept() -> None:
    cdr = normalizer("cdrs", "2.3.0", None)(example("2.3.0", "cdr_example.json"))
    assert cdr["total_cost"] == {"before_taxes": 4.0, "taxes": [{"name": "VAT", "amount": 0.4}]}
    tariff = normalizer("tariffs", "2.3.0", None)(
        example("2.3.0", "tariff_6_025kwh_start_max_price.json")
    )
    assert tariff["max_price"] == {"before_taxes": 10.0, "after_taxes": 11.0}
    assert tariff["tax_included"] == "NO"


def test_2_3_0_parking_places_and_evse_parking() -> None:
    location = normalizer("locations", "2.3.0", None)(example("2.3.0", "location_example.json"))
    assert [p["id"] for p in location["parking_places"]] == ["1", "2", "3"]
    _, evses, _ = split_location(location)
    assert evses[0]["parking"] == [
        {"parking_id": "1", "evse_position": "LEFT"},
        {"parking_id": "2", "evse_position": "RIGHT"},
    ]


def test_2_3_0_edition_1_evse_parking_strings_become_objects() -> None:
    location = example("2.3.0", "location_example.json")
    location["evses"][0]["parking"] = ["1", 2]
    record = normalizer("locations", "2.3.0", None)(location)
    assert record["evses"][0]["parking"] == [{"parking_id": "1"}, {"parking_id": "2"}]


# --- generic tolerance ---------------------------------------------------------------------


def minimal_session(**fields: Any) -> dict[str, Any]:
    base = {
        "country_code": "NL",
        "party_id": "STK",
        "id": "S1",
        "last_updated": "2020-03-09T10:17:09Z",
    }
    return {**base, **fields}


NORMALIZE_SESSION = normalizer("sessions", "2.2.1", None)
NORMALIZE_LOCATION = normalizer("locations", "2.2.1", None)
NORMALIZE_TARIFF = normalizer("tariffs", "2.2.1", None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("41.12", 41.12),
        ("42", 42),
        (" 7.5 ", 7.5),
        (3, 3),
        (2.5, 2.5),
        (Decimal("1.25"), Decimal("1.25")),
        ("abc", None),
        ("NaN", None),
        (float("inf"), None),
        (float("nan"), None),
        (True, None),
        ([1], None),
        ({"a": 1}, None),
    ],
)
def test_number_coercion(raw: Any, expected: Any) -> None:
    assert NORMALIZE_SESSION(minimal_session(kwh=raw))["kwh"] == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("300", 300), (300.0, 300), ("300.0", 300), (299.6, 300), ("x", None), (False, None)],
)
def test_integer_coercion(raw: Any, expected: Any) -> None:
    tariff = {
        "country_code": "DE",
        "party_id": "ALL",
        "id": "1",
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "TIME", "price": 1, "step_size": raw}]}],
        "last_updated": "2018-12-05T12:01:09Z",
    }
    component = NORMALIZE_TARIFF(tariff)["elements"][0]["price_components"][0]
    assert component["step_size"] == expected
    assert type(component["step_size"]) is type(expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (-1, "-1"),
        (3, "3"),
        (51.047599, "51.047599"),
        (Decimal("4.5"), "4.5"),
        (True, "true"),
        ("B1", "B1"),
        # Issue 13: an object or list is not text; as JSON text it would pass privacy.
        ({"x": 1}, None),
        (["B1"], None),
    ],
)
def test_string_coercion(raw: Any, expected: str | None) -> None:
    location = base_location("2.2.1")
    location["evses"][0]["floor_level"] = raw
    location["coordinates"] = {"latitude": raw, "longitude": "3.729944"}
    record = NORMALIZE_LOCATION(location)
    assert record["evses"][0]["floor_level"] == expected
    assert record["coordinates"]["latitude"] == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        ("false", False),
        ("TRUE", True),
        ("0", False),
        (1, True),
        ("maybe", None),
        (2, None),
    ],
)
def test_boolean_coercion(raw: Any, expected: Any) -> None:
    location = {**base_location("2.2.1"), "publish": raw}
    assert NORMALIZE_LOCATION(location)["publish"] is expected


def test_ids_sent_as_numbers_become_strings() -> None:
    record = NORMALIZE_SESSION(minimal_session(id=101, connector_id=1))
    assert record["id"] == "101"
    assert record["connector_id"] == "1"


def test_lists_and_objects_tolerate_odd_shapes() -> None:
    location = base_location("2.2.1")
    connector = location["evses"][0]["connectors"][0]
    connector["tariff_ids"] = "11"  # one id instead of a list
    location["facilities"] = ["CAFE", None, 7]  # null item dropped, number -> string
    location["images"] = [None, "not an image", {"url": "u", "width": "512"}]
    location["operator"] = "BeCharged"  # not an object: unreadable -> null
    record = NORMALIZE_LOCATION(location)
    assert record["evses"][0]["connectors"][0]["tariff_ids"] == ["11"]
    assert record["facilities"] == ["CAFE", "7"]
    assert record["images"] == [{"url": "u", "width": 512}]
    assert record["operator"] is None


def test_money_number_in_any_version_is_excl_vat() -> None:
    for version in VERSIONS:
        record = normalizer("sessions", version, OWNER)(minimal_session(total_cost="2.50"))
        assert record["total_cost"] == {"excl_vat": 2.5}


def test_unknown_fields_are_kept_at_every_level() -> None:
    session = minimal_session(
        x_vendor={"a": 1},
        cdr_token={"uid": "u", "x_extra": "kept"},
        charging_periods=[{"start_date_time": "2020-03-09T10:17:09Z", "x_period": 1}],
    )
    record = NORMALIZE_SESSION(session)
    assert record["x_vendor"] == {"a": 1}
    assert record["cdr_token"]["x_extra"] == "kept"
    assert record["charging_periods"][0]["x_period"] == 1


def test_nulls_are_kept_as_nulls() -> None:
    record = NORMALIZE_SESSION(minimal_session(kwh=None, cdr_token=None, end_date_time=None))
    assert record["kwh"] is None
    assert record["cdr_token"] is None
    assert record["end_date_time"] is None


# --- errors ------------------------------------------------------------------------------------

SECRET = "VALUE-THAT-MUST-NOT-LEAK"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([SECRET], "not a JSON object"),
        (SECRET, "not a JSON object"),
        (None, "not a JSON object"),
        ({"party_id": "STK", "id": SECRET, "last_updated": "2020-03-09T10:17:09Z"}, "country_code"),
        (minimal_session(id=None, meter_id=SECRET), "'id'"),
        (minimal_session(last_updated=SECRET), "last_updated"),
        (minimal_session(last_updated=None, meter_id=SECRET), "last_updated"),
        (
            {k: v for k, v in minimal_session(meter_id=SECRET).items() if k != "last_updated"},
            "last_updated",
        ),
        (minimal_session(last_updated="2020-13-45T10:17:09Z", meter_id=SECRET), "last_updated"),
    ],
)
def test_bad_records_name_fields_never_values(raw: Any, field: str) -> None:
    with pytest.raises(BadRecord) as caught:
        NORMALIZE_SESSION(raw)
    assert field in str(caught.value)
    assert SECRET not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_tokens_need_uid_and_type() -> None:
    token = example("2.2.1", "token_example_1_app_user.json")
    with pytest.raises(BadRecord, match="'type'"):
        normalizer("tokens", "2.2.1", None)({**token, "type": None})


def test_unknown_stream_or_version() -> None:
    with pytest.raises(ValueError, match="stream"):
        normalizer("evses", "2.2.1", None)
    with pytest.raises(ValueError, match="version"):
        normalizer("sessions", "3.0", None)
    with pytest.raises(ValueError, match="version"):
        normalizer("sessions", "latest", None)


@pytest.mark.parametrize(
    ("version", "rules"),
    [
        ("2.0", "2.1.1"),
        ("2.1", "2.1.1"),
        ("2.1.1", "2.1.1"),
        ("2.2", "2.2.1"),
        ("2.2.1", "2.2.1"),
        ("2.3.0", "2.3.0"),
        ("2.3", "2.3.0"),
    ],
)
def test_rules_version(version: str, rules: str) -> None:
    assert rules_version(version) == rules


# --- split_location ----------------------------------------------------------------------------


def test_split_location_keys_and_order() -> None:
    location = NORMALIZE_LOCATION(base_location("2.2.1"))
    parent, evses, connectors = split_location(location)
    assert "evses" in location  # the normalized location itself is not modified
    assert [e["uid"] for e in evses] == ["3256", "3257"]
    assert [(c["evse_uid"], c["id"]) for c in connectors] == [
        ("3256", "1"),
        ("3256", "2"),
        ("3257", "1"),
    ]
    for evse in evses:
        assert list(evse)[:3] == ["country_code", "party_id", "location_id"]
        assert evse["location_id"] == parent["id"] == "LOC1"
        assert "connectors" not in evse
    for connector in connectors:
        assert (connector["country_code"], connector["party_id"]) == ("BE", "BEC")
        assert connector["location_id"] == "LOC1"
    assert connectors[0]["last_updated"] == "2015-03-16T10:10:02Z"  # own value kept


def test_split_location_skips_children_without_keys(caplog: pytest.LogCaptureFixture) -> None:
    raw = base_location("2.2.1")
    raw["evses"].append({"status": "AVAILABLE", "connectors": [{"id": "1"}]})
    raw["evses"][0]["connectors"].append({"standard": "CHADEMO"})
    _, evses, connectors = split_location(NORMALIZE_LOCATION(raw))
    assert len(evses) == 2
    assert len(connectors) == 3
    assert "without 'uid'" in caplog.text
    assert "without 'id'" in caplog.text


def test_split_location_without_evses() -> None:
    raw = {k: v for k, v in base_location("2.2.1").items() if k != "evses"}
    parent, evses, connectors = split_location(NORMALIZE_LOCATION(raw))
    assert (evses, connectors) == ([], [])
    assert parent["id"] == "LOC1"


def test_normalized_records_pass_sdk_conformance_unchanged() -> None:
    """The SDK's own record conformance (private helper, SDK pinned <0.55) keeps every
    field of a normalized record: nothing is dropped or retyped."""
    cdr = normalizer("cdrs", "2.2.1", None)(example("2.2.1", "cdr_example.json"))
    level = TypeConformanceLevel.RECURSIVE
    logger = logging.getLogger("test")
    assert conform_record_data_types("cdrs", cdr, STREAM_SCHEMAS["cdrs"], level, logger) == cdr
    location = NORMALIZE_LOCATION(base_location("2.3.0"))
    parent, evses, _ = split_location(location)
    schema = STREAM_SCHEMAS["locations"]
    assert conform_record_data_types("locations", parent, schema, level, logger) == parent
    schema = STREAM_SCHEMAS["evses"]
    assert conform_record_data_types("evses", evses[0], schema, level, logger) == evses[0]


# --- timestamps ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value", "last_updated"),
    [
        ("2015-06-29T20:39:09Z", "2015-06-29T20:39:09Z", "2015-06-29T20:39:09Z"),
        ("2015-06-29T20:39:09", "2015-06-29T20:39:09Z", "2015-06-29T20:39:09Z"),
        ("2015-06-29T20:39:09z", "2015-06-29T20:39:09Z", "2015-06-29T20:39:09Z"),
        ("2015-06-29 20:39:09", "2015-06-29T20:39:09Z", "2015-06-29T20:39:09Z"),
        ("2015-06-29T21:39:09+01:00", "2015-06-29T20:39:09Z", "2015-06-29T20:39:09Z"),
        ("2015-06-29T21:39:09+0100", "2015-06-29T20:39:09Z", "2015-06-29T20:39:09Z"),
        ("2015-06-29T18:39:09-02", "2015-06-29T20:39:09Z", "2015-06-29T20:39:09Z"),
        ("2015-06-30T00:09:09+03:30", "2015-06-29T20:39:09Z", "2015-06-29T20:39:09Z"),
        ("2015-06-29T20:39:09+00:00", "2015-06-29T20:39:09Z", "2015-06-29T20:39:09Z"),
        ("2016-12-29T17:45:09.2Z", "2016-12-29T17:45:09.2Z", "2016-12-29T17:45:09Z"),
        ("2018-01-01T01:08:01.123", "2018-01-01T01:08:01.123Z", "2018-01-01T01:08:01Z"),
        ("2018-01-01T01:08:01.1234567Z", "2018-01-01T01:08:01.123456Z", "2018-01-01T01:08:01Z"),
        ("2018-01-01T01:08:01.000Z", "2018-01-01T01:08:01Z", "2018-01-01T01:08:01Z"),
        ("2018-01-01T00:30:00.5+01:00", "2017-12-31T23:30:00.5Z", "2017-12-31T23:30:00Z"),
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59Z", "2016-12-31T23:59:59Z"),
        ("2015-6-9T1:02:03Z", "2015-06-09T01:02:03Z", "2015-06-09T01:02:03Z"),
        ("2015-06-29", "2015-06-29T00:00:00Z", "2015-06-29T00:00:00Z"),
        ("1970-1-1T00:00:00Z", None, "1970-01-01T00:00:00Z"),
        ("1970-01-01T00:00:00Z", None, "1970-01-01T00:00:00Z"),
        ("1970-01-01T01:00:00+01:00", None, "1970-01-01T00:00:00Z"),
        (datetime(2015, 6, 29, 20, 39, 9), "2015-06-29T20:39:09Z", "2015-06-29T20:39:09Z"),
        ("", None, None),
        ("yesterday", None, None),
        ("\uff12\uff10\uff11\uff15-06-29T20:39:09Z", None, None),  # fullwidth digits
        ("2015-13-29T20:39:09Z", None, None),
        ("2015-06-29T24:39:09Z", None, None),
        ("2015-02-30T20:39:09Z", None, None),
        ("2015-06-29T20:39:09+25:00", None, None),
        (1435610349, None, None),
    ],
)
def test_timestamp_forms(raw: Any, value: str | None, last_updated: str | None) -> None:
    record = NORMALIZE_SESSION(minimal_session(start_date_time=raw, end_date_time=raw))
    assert record["start_date_time"] == value
    location = NORMALIZE_LOCATION(
        base_location("2.2.1") | {"evses": [{"uid": "1", "last_updated": raw}]}
    )
    assert location["evses"][0]["last_updated"] == last_updated
    if last_updated is None:
        with pytest.raises(BadRecord):
            NORMALIZE_SESSION(minimal_session(last_updated=raw))
    else:
        assert NORMALIZE_SESSION(minimal_session(last_updated=raw))["last_updated"] == last_updated


def test_timestamps_everywhere_in_records() -> None:
    location = base_location("2.2.1")
    location["last_updated"] = "2015-06-29T22:39:09+02:00"
    location["evses"][0]["status_schedule"] = [
        {"period_begin": "2015-07-01T10:00:00", "period_end": "2015-07-01T12:00:00.50+02:00"}
    ]
    location["opening_times"] = {
        "twentyfourseven": True,
        "exceptional_closings": [{"period_begin": "2018-12-25T03:00:00", "period_end": None}],
    }
    record = NORMALIZE_LOCATION(location)
    assert record["last_updated"] == "2015-06-29T20:39:09Z"
    assert record["evses"][0]["status_schedule"][0] == {
        "period_begin": "2015-07-01T10:00:00Z",
        "period_end": "2015-07-01T10:00:00.5Z",
    }
    assert record["opening_times"]["exceptional_closings"][0]["period_begin"] == (
        "2018-12-25T03:00:00Z"
    )
    cdr = example("2.2.1", "cdr_example.json")
    cdr["charging_periods"][0]["start_date_time"] = "2015-06-29T23:39:09+02:00"
    cdr["tariffs"][0]["start_date_time"] = "2015-01-01T00:00:00.000"
    cdr["tariffs"][0]["last_updated"] = "2015-02-02T14:15:01.999Z"
    record = normalizer("cdrs", "2.2.1", None)(cdr)
    assert record["charging_periods"][0]["start_date_time"] == "2015-06-29T21:39:09Z"
    assert record["tariffs"][0]["start_date_time"] == "2015-01-01T00:00:00Z"
    assert record["tariffs"][0]["last_updated"] == "2015-02-02T14:15:01Z"


OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timedelta(minutes=m))
MOMENTS = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)
)


def render(moment: datetime, offset: timedelta, digits: int, zone: str) -> tuple[str, datetime]:
    """Write ``moment`` in a zone, with ``digits`` fraction digits; also return the instant
    that text really denotes (fraction truncated to what was written)."""
    local = moment.astimezone(timezone(offset)) if zone == "offset" else moment
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{local.microsecond:06d}{'7' * 3}"[:digits]
    if digits:
        text += "." + fraction
    if zone == "offset":
        sign = "-" if offset < timedelta(0) else "+"
        minutes = abs(int(offset.total_seconds())) // 60
        text += f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    elif zone == "Z":
        text += "Z"
    micro = int((fraction + "000000")[:6]) if digits else 0
    return text, moment.replace(microsecond=micro)


@settings(max_examples=300, deadline=None)
@given(
    moment=MOMENTS,
    offset=OFFSETS,
    digits=st.integers(min_value=0, max_value=9),
    zone=st.sampled_from(["Z", "", "offset"]),
)
def test_timestamp_roundtrip_property(
    moment: datetime, offset: timedelta, digits: int, zone: str
) -> None:
    text, instant = render(moment, offset, digits, zone)
    value = normalize_timestamp(text)
    assert value is not None
    assert CANONICAL_TIME.fullmatch(value)
    assert parse_timestamp(value) == instant
    assert normalize_timestamp(value) == value  # idempotent
    bookmark = normalize_timestamp(text, fraction=False)
    assert bookmark == instant.strftime("%Y-%m-%dT%H:%M:%SZ")  # floored to the second


@settings(max_examples=300, deadline=None)
@given(first=MOMENTS, second=MOMENTS, offsets=st.tuples(OFFSETS, OFFSETS), digits=st.integers(0, 9))
def test_last_updated_string_order_is_time_order(
    first: datetime, second: datetime, offsets: tuple[timedelta, timedelta], digits: int
) -> None:
    """Bookmarks compare as strings: the canonical form must sort like the instants."""
    text_a, instant_a = render(first, offsets[0], digits, "offset")
    text_b, instant_b = render(second, offsets[1], 0, "Z")
    a = normalize_timestamp(text_a, fraction=False)
    b = normalize_timestamp(text_b, fraction=False)
    assert a is not None
    assert b is not None
    floor_a = instant_a.replace(microsecond=0)
    floor_b = instant_b.replace(microsecond=0)
    assert (a < b) == (floor_a < floor_b)
    assert (a == b) == (floor_a == floor_b)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=30))
def test_timestamp_parser_is_total(text: str) -> None:
    value = normalize_timestamp(text)
    assert value is None or CANONICAL_TIME.fullmatch(value)


@settings(max_examples=200, deadline=None)
@given(
    kwh=st.one_of(st.none(), st.floats(), st.integers(), st.text(max_size=8), st.booleans()),
    meter=st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8)),
)
def test_coercion_is_total_and_valid(kwh: Any, meter: Any) -> None:
    record = NORMALIZE_SESSION(minimal_session(kwh=kwh, meter_id=meter, total_cost=kwh))
    assert_valid("sessions", record)


def test_normalizer_is_compiled_once_per_stream_and_version() -> None:
    """Versions that share a mapping table ("2.2" and "2.2.1") share one compiled plan."""
    records_module._compile.cache_clear()
    normalizer("cdrs", "2.2.1", None)
    normalizer("cdrs", "2.2", None)
    normalizer("cdrs", "2.2.1", None)
    info = records_module._compile.cache_info()
    assert (info.misses, info.hits) == (1, 2)


# --- the fast path: msgspec's check accepts only records the fixers leave unchanged ----------
# normalize() returns a copy of any record its compiled msgspec type accepts, without running
# the fixers. That is only right if every accepted record is one the fixers would return
# unchanged, value for value and type for type. These tests check exactly that implication.


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 == 1.0 == True in Python)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def fast_accepts(fast: Any, record: dict[str, Any]) -> bool:
    import msgspec  # noqa: PLC0415

    try:
        msgspec.convert(record, fast)
    except msgspec.ValidationError:
        return False
    return True


def check_fast_path(stream: str, version: str, owner: Any, record: dict[str, Any]) -> bool:
    """Fast type accepts => the fixers return an equal record. Returns whether it accepted."""
    fix = records_module._compile(stream, rules_version(version), owner)
    fast = fastpath.record_type(stream, version, owner)
    if fast is None or not fast_accepts(fast, record):
        return False
    before = copy.deepcopy(record)
    assert same(fix(record), before), "the fast path would pass a record the fixers change"
    assert same(fastpath.record_normalizer(stream, version, owner)(record), before)
    return True


def platform_records() -> list[tuple[str, str, dict[str, Any]]]:
    from tap_ocpi.mock_platform import MockPlatform, PlatformConfig  # noqa: PLC0415

    platform = MockPlatform(PlatformConfig(sessions=60, locations=12, tokens=20, clients=4))
    out = []
    for version in ("2.2.1", "2.3.0"):
        for stream in TOP_LEVEL:
            out += [(version, stream, r) for r in platform.expected(stream, version)]
    return out


PLATFORM_RECORDS = platform_records()


def test_fast_path_takes_every_canonical_platform_record() -> None:
    """The test platform sends canonical 2.2.1/2.3.0 data: every record takes the fast path."""
    for version, stream, record in PLATFORM_RECORDS:
        assert check_fast_path(stream, version, None, record), (version, stream, record["id"])


@pytest.mark.parametrize(("version", "stream", "raw"), covered_cases())
def test_fast_path_agrees_on_spec_examples(version: str, stream: str, raw: dict) -> None:
    check_fast_path(stream, version, owner_for(version), raw)
    normalized = normalizer(stream, version, owner_for(version))(raw)
    if version != "2.1.1":  # normalized records are canonical: all of them take it
        assert check_fast_path(stream, version, owner_for(version), normalized)


def test_fast_path_is_off_for_2_1_1() -> None:
    """2.1.1 renames and reshapes before the fixers: no fast path there."""
    assert fastpath.record_type("sessions", "2.1.1", OWNER) is None


#: Values that sit on the edges of what the fixers leave alone.
EDGE_TIMES = [
    "2024-02-28T23:59:59Z",
    "2024-02-29T12:00:00Z",  # leap day: left to the fixers
    "2023-02-29T12:00:00Z",  # no such day
    "2024-04-31T00:00:00Z",
    "2024-12-31T24:00:00Z",
    "2024-12-31T23:59:60Z",
    "1970-01-01T00:00:00Z",
    "1970-01-01T00:00:00.5Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "2024-01-01T00:00:00.5Z",
    "2024-01-01T00:00:00.50Z",
    "2024-01-01T00:00:00.000000Z",
    "2024-01-01T00:00:00.123456Z",
    "2024-01-01T00:00:00.1234567Z",
    "2024-01-01T00:00:00z",
    "2024-01-01t00:00:00Z",
    "2024-01-01 00:00:00Z",
    "2024-01-01T00:00:00+00:00",
    "2024-01-01T00:00:00Z\n",
    " 2024-01-01T00:00:00Z",
    "2024-1-01T00:00:00Z",
    "\uff12\uff10\uff12\uff14-01-01T00:00:00Z",
    "2024-01-01",
]
EDGE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, float("inf"), float("nan"), 230.0]),
    st.text(max_size=6),
    st.sampled_from(["", "true", "1", "12.5", "NaN", *EDGE_TIMES]),
    st.lists(st.one_of(st.none(), st.text(max_size=3), st.integers()), max_size=3),
    st.dictionaries(
        st.sampled_from(["excl_vat", "incl_vat", "id", "x"]), st.integers(), max_size=2
    ),
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every dict key and list index below a record, as a path."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from paths(item, (*prefix, index))


def mutate(record: dict[str, Any], path: tuple[Any, ...], value: Any, how: str) -> dict[str, Any]:
    out = copy.deepcopy(record)
    node: Any = out
    for part in path[:-1]:
        node = node[part]
    last = path[-1]
    if how == "delete":
        del node[last]
    elif how == "add" and isinstance(node, dict):
        node[f"{last}_extra"] = value
    else:
        node[last] = value
    return out


@settings(max_examples=600, deadline=None)
@given(
    data=st.data(),
    index=st.integers(0, len(PLATFORM_RECORDS) - 1),
    value=EDGE_VALUES,
    how=st.sampled_from(["set", "set", "set", "delete", "add"]),
)
def test_fast_path_only_accepts_records_the_fixers_leave_unchanged(
    data: Any, index: int, value: Any, how: str
) -> None:
    version, stream, record = PLATFORM_RECORDS[index]
    path = data.draw(st.sampled_from(list(paths(record))))
    changed = mutate(record, path, value, how)
    check_fast_path(stream, version, None, changed)
    check_fast_path(stream, version, ("DE", "VLT"), changed)
    # Whatever path it takes, normalize agrees with the fixers alone.
    fix = records_module._compile(stream, rules_version(version), None)
    try:
        expected = fix(copy.deepcopy(changed))
    except BadRecord:
        with pytest.raises(BadRecord):
            fastpath.record_normalizer(stream, version, None)(changed)
        return
    assert same(fastpath.record_normalizer(stream, version, None)(changed), expected)
    assert same(normalizer(stream, version, None)(changed), expected)


EDGE_SCALARS = [
    None, True, False, 0, 1, -1, 2**70, 0.0, -0.0, 230.0, 1.5, 1e308,
    float("inf"), float("-inf"), float("nan"), "", "1", "true", "x", "2024-01-01T00:00:00Z",
    [], {}, ["a"], [None], [1], {"excl_vat": 1},
]  # fmt: skip


@pytest.mark.parametrize("stream", TOP_LEVEL)
def test_fast_path_every_field_every_edge_value(stream: str) -> None:
    """Exhaustive over one record per stream: each field (at any depth) set to each value."""
    version, _, record = next(r for r in PLATFORM_RECORDS if r[1] == stream)
    for path in paths(record):
        for value in EDGE_SCALARS:
            check_fast_path(stream, version, None, mutate(record, path, value, "set"))


@pytest.mark.parametrize("value", EDGE_TIMES)
@pytest.mark.parametrize("field", ["start_date_time", "last_updated"])
def test_fast_path_timestamps(field: str, value: str) -> None:
    version, stream, record = next(r for r in PLATFORM_RECORDS if r[1] == "sessions")
    check_fast_path(stream, version, None, {**record, field: value})
    period = {**record["charging_periods"][0], "start_date_time": value}
    check_fast_path(stream, version, None, {**record, "charging_periods": [period]})


def test_fast_path_gives_up_on_a_platform_it_never_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Records that all miss the fast path stop paying for the check after a trial."""
    import msgspec  # noqa: PLC0415

    calls = 0
    real = msgspec.convert

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(msgspec, "convert", counting)
    normalize = fastpath.record_normalizer("sessions", "2.2.1", None)
    record = minimal_session(kwh="12.5")  # a number as a string: always fixed
    for _ in range(3 * fastpath.FAST_PATH_TRIAL):
        assert normalize(record)["kwh"] == 12.5
    assert calls == fastpath.FAST_PATH_TRIAL
