"""Hostile record shapes through the real tap, from a loopback OCPI server (issues 12, 13).

The unit-level cases are in test_records_fail_closed.py; here the whole road is taken
(HTTP, fast or general path, privacy, Singer output, exit status), and no personal value may
reach stdout or stderr.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from support.config import tap_config
from support.objects import STAMP, session
from support.robustness_helpers import SALT, Scripted, paged
from support.tap_runner import TapRun, discover, run_tap, select

SECRET = "Jane Driver of 12 Home Lane"


def location(id_: str, **fields: Any) -> dict[str, Any]:
    return {
        "country_code": "DE",
        "party_id": "VLT",
        "id": id_,
        "publish": True,
        "parking_type": "ON_STREET",
        "name": "Charging Plaza",
        "address": "Main Street 1",
        "city": "Berlin",
        "country": "DEU",
        "coordinates": {"latitude": "52.520008", "longitude": "13.404954"},
        "time_zone": "Europe/Berlin",
        "last_updated": STAMP,
        **fields,
    }


def kwh_camel(id_: str) -> dict[str, Any]:
    raw = session(id_)
    del raw["kwh"]
    raw["kWh"] = 12.5
    return raw


SESSIONS = [
    session("S-plain"),
    session("S-status", status={"code": "COMPLETED", "driver": SECRET}),
    session("S-auth", auth_method=["WHITELIST", SECRET], currency={"payer": SECRET}),
    session("S-token", cdr_token={"country_code": "DE", "type": {"holder": SECRET}}),
    kwh_camel("S-kWh"),
    session({"x": SECRET}),  # a key field holding an object: a bad record
    session("S-long", last_updated=" " * 150_000),  # unreadable at once: a bad record
]
LOCATIONS = [
    location("L-street"),
    location("L-driveway", parking_type="ON_DRIVEWAY "),
    location("L-odd", parking_type={"kind": "ON_DRIVEWAY"}),
    location("L-name", name={"text": SECRET}),
]


@pytest.fixture(scope="module")
def run() -> TapRun:
    server = Scripted({"sessions": "/ocpi/2.2.1/sessions", "locations": "/ocpi/2.2.1/locations"})
    server.route("/ocpi/2.2.1/sessions", paged(SESSIONS, cap=3))
    server.route("/ocpi/2.2.1/locations", paged(LOCATIONS, cap=3))
    catalog = select(
        discover({"versions_url": "http://127.0.0.1:9/ocpi/versions"}), {"sessions", "locations"}
    )
    config = tap_config(
        server,
        token="records-test-token",
        ocpi_version="2.2.1",
        privacy_salt=SALT,
        privacy_pass={"sessions": ["kwh", "start_date_time"]},
        skip_bad_records=True,
        retry_max_wait=0,
    )
    with server:
        started = time.monotonic()
        result = run_tap(config, catalog=catalog, timeout=120)
        result.elapsed = time.monotonic() - started  # type: ignore[attr-defined]
    return result


def test_the_run_finishes_quickly_without_a_trace(run: TapRun) -> None:
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert run.elapsed < 60  # type: ignore[attr-defined]
    assert SECRET not in run.stdout
    assert "Jane" not in run.stderr


def test_containers_in_text_fields_are_null(run: TapRun) -> None:
    sessions = {r["id"]: r for r in run.records["sessions"]}
    assert sessions["S-plain"]["status"] == "COMPLETED"
    assert sessions["S-status"]["status"] is None
    assert sessions["S-auth"]["auth_method"] is None
    assert sessions["S-auth"]["currency"] is None
    assert sessions["S-token"]["cdr_token"]["type"] is None
    assert "'status' held an object or list" in run.stderr
    locations = {r["id"]: r for r in run.records["locations"]}
    assert locations["L-name"]["name"] is None
    assert locations["L-name"]["address"] == "Main Street 1"


def test_key_fields_and_unreadable_last_updated_make_bad_records(run: TapRun) -> None:
    ids = {r["id"] for r in run.records["sessions"]}
    assert ids == {"S-plain", "S-status", "S-auth", "S-token", "S-kWh"}
    assert run.stderr.count("sessions: an object could not be read") == 2
    assert "'id' is an object or list" in run.stderr
    assert "'last_updated' is not a readable date-time" in run.stderr


def test_a_field_name_in_another_letter_case_is_read(run: TapRun) -> None:
    sessions = {r["id"]: r for r in run.records["sessions"]}
    assert sessions["S-kWh"]["kwh"] == 12.5  # passed by privacy_pass
    assert sessions["S-plain"]["kwh"] == 1.5
    assert sessions["S-plain"]["start_date_time"] == "2025-01-01T00:00:00Z"
    assert "'kWh' read as 'kwh'" in run.stderr


def test_context_enums_are_read_before_the_privacy_decision(run: TapRun) -> None:
    locations = {r["id"]: r for r in run.records["locations"]}
    assert locations["L-street"]["address"] == "Main Street 1"
    for private in ("L-driveway", "L-odd"):
        assert locations[private]["address"] is None, private
        assert locations[private]["coordinates"] is None, private
        assert locations[private]["name"] is None, private
    assert locations["L-odd"]["publish"] is None
