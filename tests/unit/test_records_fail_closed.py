"""Hostile record shapes fail closed (issues 12 and 13), on the general path.

- An object or list where the schema has a single value is null (never JSON text that
  privacy would pass as a value); in a key field the record is a bad record.
- Enum values that decide the place context are read without case and whitespace;
  anything unrecognised counts as private.
- Over-long date-times are unreadable at once (no quadratic pattern); records nested
  thousands of levels deep are bad records, never a RecursionError.
- Top-level names that differ from the schema only in letter case (``kWh``) are read.
The fast paths are compared with these cases in test_fast_paths.py.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import msgspec
import pytest

from support.objects import session
from tap_ocpi import fastpath
from tap_ocpi.errors import BadRecord
from tap_ocpi.normalize import normalizer, records, split_location
from tap_ocpi.privacy import PrivacyPolicy, is_private
from tap_ocpi.schemas import STREAM_SCHEMAS
from tap_ocpi.timestamps import MAX_LENGTH, normalize_timestamp, parse_timestamp

SECRET = "Jane Driver, 12 Home Lane"
SALT = "fail-closed-test-salt-0123456789"
OWNER = ("DE", "VLT")


def location(**fields: Any) -> dict[str, Any]:
    base = {
        "country_code": "DE",
        "party_id": "VLT",
        "id": "L1",
        "publish": True,
        "parking_type": "ON_STREET",
        "name": "Charging Plaza",
        "address": "Main Street 1",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DEU",
        "coordinates": {"latitude": "52.520008", "longitude": "13.404954"},
        "time_zone": "Europe/Berlin",
        "last_updated": "2025-01-01T01:00:00Z",
    }
    return {**base, **fields}


def emitted(stream: str, raw: dict[str, Any], config: dict[str, Any] | None = None) -> Any:
    """What the general path emits for one raw object: normalize, drop unknown top-level
    fields, privacy by the record's place context."""
    policy = PrivacyPolicy.from_config({"privacy_salt": SALT, **(config or {})}, STREAM_SCHEMAS)
    record = normalizer(stream, "2.2.1", OWNER)(raw)
    if stream == "locations":
        record = split_location(record)[0]
    record = {k: v for k, v in record.items() if k in STREAM_SCHEMAS[stream]["properties"]}
    return policy.filter_for(stream)(record, is_private(stream, record))


def assert_no_secret(value: Any, caplog: pytest.LogCaptureFixture) -> None:
    assert SECRET not in json.dumps(value)
    assert "Jane" not in caplog.text


# --- containers where a single value belongs ----------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", {"code": "COMPLETED", "driver": SECRET}),
        ("auth_method", ["WHITELIST", SECRET]),
        ("currency", {"iso": "EUR", "payer": SECRET}),
        ("kwh", {"value": 1.5, "meter_owner": SECRET}),
    ],
)
def test_a_container_in_a_passed_text_field_is_null(
    field: str, value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    out = emitted("sessions", session(**{field: value}), {"privacy_pass": {"sessions": ["kwh"]}})
    assert out[field] is None
    assert out["id"] == "S1"
    assert_no_secret(out, caplog)
    assert f"'{field}' held an object or list" in caplog.text


def test_a_container_in_a_nested_text_field_is_null(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    raw = session(cdr_token={"country_code": "DE", "type": {"kind": "RFID", "holder": SECRET}})
    out = emitted("sessions", raw)
    assert out["cdr_token"]["type"] is None
    assert out["cdr_token"]["country_code"] == "DE"
    assert_no_secret(out, caplog)
    assert "'cdr_token.type' held an object or list" in caplog.text


def test_a_public_locations_name_as_an_object_is_null(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    out = emitted("locations", location(name={"text": SECRET}))
    assert out["name"] is None
    assert out["address"] == "Main Street 1"  # still a public place: the rest passes
    assert_no_secret(out, caplog)


def test_containers_among_text_items_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    raw = location(facilities=["CAFE", {"owner": SECRET}, ["x"]])
    out = emitted("locations", raw)
    assert out["facilities"] == ["CAFE"]
    assert_no_secret(out, caplog)
    assert "'facilities' held an object or list" in caplog.text


def test_the_warning_comes_once_per_field_and_names_no_value(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    normalize = normalizer("sessions", "2.2.1", OWNER)
    for n in range(5):
        normalize(session(id=f"S{n}", status={"driver": SECRET}, currency=[SECRET]))
    assert caplog.text.count("'status' held") == 1
    assert caplog.text.count("'currency' held") == 1
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    ("stream", "raw"),
    [
        ("sessions", session(id={"x": SECRET})),
        ("sessions", session(party_id=[SECRET])),
        ("tokens", {"country_code": "DE", "party_id": "VLT", "uid": {"rfid": SECRET},
                    "type": "RFID", "last_updated": "2025-01-01T01:00:00Z"}),
    ],
)  # fmt: skip
def test_a_container_in_a_key_field_makes_a_bad_record(stream: str, raw: dict[str, Any]) -> None:
    with pytest.raises(BadRecord) as caught:
        normalizer(stream, "2.2.1", OWNER)(raw)
    assert "object or list" in str(caught.value)
    assert SECRET not in str(caught.value)


# --- enum values that decide the place context ------------------------------------------------


@pytest.mark.parametrize(
    "parking_type",
    ["ON_DRIVEWAY ", " on_driveway", "On_Driveway\t", "ON_DRIVEWAY\n", "HOME_GARAGE", "", 7],
)
def test_odd_parking_types_make_a_published_location_private(parking_type: Any) -> None:
    raw = location(parking_type=parking_type)
    record = normalizer("locations", "2.2.1", OWNER)(raw)
    assert is_private("locations", record)
    out = emitted("locations", raw)
    for field in ("name", "address", "city", "postal_code", "coordinates"):
        assert out[field] is None, field
    assert out["country"] == "DEU"


@pytest.mark.parametrize("parking_type", [{"type": "ON_DRIVEWAY"}, ["ON_DRIVEWAY"]])
def test_a_parking_type_that_is_a_container_makes_the_location_private(parking_type: Any) -> None:
    out = emitted("locations", location(parking_type=parking_type))
    assert out["parking_type"] is None
    assert out["publish"] is None  # the context is unknown: not published
    assert out["address"] is None
    assert out["coordinates"] is None


@pytest.mark.parametrize("parking_type", ["ON_STREET", " parking_lot ", None])
def test_public_parking_types_keep_a_published_location_public(parking_type: Any) -> None:
    out = emitted("locations", location(parking_type=parking_type))
    assert out["address"] == "Main Street 1"


def test_the_same_decision_with_and_without_the_normalizers_fast_check() -> None:
    """A trailing space passes the fast type check (it is text): the decision must not
    depend on which way the record went through normalize."""
    raw = location(parking_type="ON_DRIVEWAY ")
    kind = fastpath.record_type("locations", "2.2.1", OWNER)
    msgspec.convert(raw, kind)  # accepted: the fast check copies it as it is
    fast = fastpath.record_normalizer("locations", "2.2.1", OWNER)(raw)
    slow = normalizer("locations", "2.2.1", OWNER)(raw)
    assert fast == slow
    assert is_private("locations", fast)
    assert is_private("locations", slow)


@pytest.mark.parametrize(
    ("flag", "private"),
    [(False, False), ("false", False), (" FALSE ", False), ("no", False), ("maybe", True),
     (["false"], True), ({"value": False}, True), (None, True)],
)  # fmt: skip
def test_cdr_context_flags_are_read_before_the_decision(flag: Any, private: bool) -> None:
    raw = {
        "country_code": "DE",
        "party_id": "VLT",
        "id": "C1",
        "start_date_time": "2025-01-01T00:00:00Z",
        "end_date_time": "2025-01-01T01:00:00Z",
        "home_charging_compensation": flag,
        "cdr_location": {"address": "Home Lane 12", "country": "DEU"},
        "last_updated": "2025-01-01T01:00:00Z",
    }
    record = normalizer("cdrs", "2.2.1", OWNER)(raw)
    assert is_private("cdrs", record) is private
    out = emitted("cdrs", raw)
    assert (out["cdr_location"]["address"] is None) is private


def test_2_1_1_location_type_is_read_without_case_and_whitespace() -> None:
    raw = {k: v for k, v in location().items() if k not in ("publish", "parking_type")}
    record = normalizer("locations", "2.1.1", OWNER)({**raw, "type": " on_street "})
    assert record["parking_type"] == "ON_STREET"
    assert is_private("locations", record)  # 2.1.1 has no publish flag: private anyway


# --- bounded parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize("filler", [" ", "0", "1", "\t "])
def test_long_date_times_are_unreadable_at_once(filler: str) -> None:
    started = time.process_time()
    for text in (filler * 150_000, "2025-01-01T00:00:00" + filler * 150_000 + "Z"):
        assert parse_timestamp(text) is None
        assert normalize_timestamp(text) is None
        with pytest.raises(BadRecord, match="last_updated"):
            normalizer("sessions", "2.2.1", OWNER)(session(last_updated=text))
        out = normalizer("sessions", "2.2.1", OWNER)(session(end_date_time=text))
        assert out["end_date_time"] is None
    assert time.process_time() - started < 2.0


def test_the_length_cap_leaves_every_sensible_form_readable() -> None:
    longest = "  2025-01-01T00:00:00.123456789123+01:00  "
    assert len(longest) <= MAX_LENGTH
    assert normalize_timestamp(longest) == "2024-12-31T23:00:00.123456Z"
    assert parse_timestamp(" " * (MAX_LENGTH - 19) + "2025-01-01T00:00:00") is not None
    assert parse_timestamp(" " * (MAX_LENGTH - 18) + "2025-01-01T00:00:00") is None


def deep(levels: int, leaf: Any = SECRET, container: str = "dict") -> Any:
    value = leaf
    for _ in range(levels):
        value = {"x": value} if container == "dict" else [value]
    return value


@pytest.mark.parametrize("container", ["dict", "list"])
@pytest.mark.parametrize("field", ["x_vendor", "cdr_token", "charging_periods", "status", "kwh"])
@pytest.mark.parametrize(
    "config",
    [{}, {"privacy_pass": {"sessions": ["."]}}, {"privacy_hash": {"sessions": ["."]}}],
    ids=["default", "pass all", "hash all"],
)
def test_records_nested_10000_deep_are_bad_or_emitted_without_the_value(
    field: str, container: str, config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Never a RecursionError: the record is a bad record (normalize), or it is emitted with
    the deep value null (a single value, or unknown data privacy blanks), or privacy's
    rescue emits its key only. Only ``.`` passes unknown data as it came."""
    raw = session(**{field: deep(10_000, container=container)})
    try:
        out = emitted("sessions", raw, config)
    except BadRecord as exc:
        message = str(exc)
        assert SECRET not in message
        return
    if "privacy_pass" not in config:
        json.dumps(out)  # nothing deep left: the output can be written
        assert SECRET not in json.dumps(out)
    if field in ("status", "kwh"):
        assert out[field] is None
    assert SECRET not in caplog.text


def test_a_record_too_deep_for_normalize_is_a_bad_record(monkeypatch: pytest.MonkeyPatch) -> None:
    def overflow(_record: Any) -> Any:
        raise RecursionError

    monkeypatch.setattr(records, "_compile", lambda *a: overflow)
    with pytest.raises(BadRecord, match="nested too deeply"):
        records.normalizer("sessions", "2.2.1", OWNER)(session())


# --- names that differ only in letter case -------------------------------------------------------


def test_a_field_name_in_another_letter_case_is_read(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    normalize = normalizer("sessions", "2.2.1", OWNER)
    raw = session()
    del raw["kwh"]
    for n in range(3):
        record = normalize({**raw, "id": f"S{n}", "kWh": 12.5})
        assert record["kwh"] == 12.5
        assert "kWh" not in record
    assert caplog.text.count("'kWh' read as 'kwh'") == 1
    out = emitted("sessions", {**raw, "kWh": 12.5}, {"privacy_pass": {"sessions": ["kwh"]}})
    assert out["kwh"] == 12.5


def test_the_exact_name_wins_then_the_first_variant() -> None:
    normalize = normalizer("sessions", "2.2.1", OWNER)
    record = normalize(session(kwh=1.0, kWh=2.0))
    assert record["kwh"] == 1.0
    assert record["kWh"] == 2.0  # left as an unknown field: dropped with a warning later
    raw = session()
    del raw["kwh"]
    record = normalize({**raw, "KWH": 3.0, "kWh": 4.0})
    assert record["kwh"] == 3.0
    assert record["kWh"] == 4.0


def test_key_and_nested_names_in_another_case() -> None:
    raw = session()
    raw["ID"] = raw.pop("id")
    record = normalizer("sessions", "2.2.1", OWNER)(raw)
    assert record["id"] == "S1"
    # Only top-level names are read across letter case.
    nested = normalizer("sessions", "2.2.1", OWNER)(session(cdr_token={"UID": "U1"}))
    assert nested["cdr_token"] == {"UID": "U1"}


# --- privacy_pass as a comma-separated string --------------------------------------------


@pytest.mark.parametrize(
    "setting",
    ["kwh,start_date_time", " kwh , start_date_time ", "kwh,start_date_time,kwh"],
)
def test_privacy_pass_comma_string_means_the_list(setting: str) -> None:
    as_list = PrivacyPolicy.from_config(
        {"privacy_pass": {"sessions": ["kwh", "start_date_time"]}}, STREAM_SCHEMAS
    )
    as_text = PrivacyPolicy.from_config({"privacy_pass": {"sessions": setting}}, STREAM_SCHEMAS)
    raw = normalizer("sessions", "2.2.1", OWNER)(session(meter_id="M1"))
    assert as_text.filter_for("sessions")(raw, False) == as_list.filter_for("sessions")(raw, False)
    assert as_text.describe("sessions") == as_list.describe("sessions")
    assert as_text.filter_for("sessions")(raw, False)["kwh"] == 1.5
