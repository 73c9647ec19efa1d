"""Nothing personal leaks: not in records, state, stdout, stderr or logs at DEBUG level.

Two sources of personal values: the bundled test platform's dataset (it lists its own), and
the OCPI specification's example objects (collected here from the fields the digest calls
personal). The tap runs with default privacy settings; then an allow-list opens nested
paths and exactly those values come through.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests_mock as rm

from support.config import tap_config
from support.spec_examples import needs_examples, spec_objects
from support.tap_runner import run_tap
from tap_ocpi.mock_platform import MockPlatform, PlatformConfig
from tap_ocpi.tap import TapOCPI

SALT = "leak-test-salt-0123456789"
MIN_LEN = 6  # shorter strings (country codes, "RFID") occur everywhere by chance

# Fields the OCPI digest (section 13) calls personal, per module, as dotted paths; "*" = the
# whole subtree. Context-dependent ones are added per object below.
PERSONAL = {
    "tokens": ("uid", "auth_id", "contract_id", "visual_number", "group_id", "energy_contract.*"),
    "sessions": (
        "auth_id",
        "cdr_token.uid",
        "cdr_token.contract_id",
        "meter_id",
        "authorization_reference",
    ),
    "cdrs": (
        "auth_id",
        "cdr_token.uid",
        "cdr_token.contract_id",
        "meter_id",
        "authorization_reference",
        "signed_data.*",
        "invoice_reference_id",
        "remark",
    ),
    "locations": ("publish_allowed_to.*",),
}
PRIVATE_PLACE = (
    "name",
    "address",
    "city",
    "postal_code",
    "coordinates.*",
    "owner.*",
    "evses.coordinates.*",
)


@pytest.fixture(scope="module")
def platform() -> Iterator[MockPlatform]:
    with MockPlatform(
        PlatformConfig(seed=11, locations=30, sessions=300, tokens=40, tariffs=4, clients=2)
    ) as running:
        yield running


# This file's settings for tap_config.
RUN = {"privacy_salt": SALT, "page_size": 50}


def personal_values(platform: MockPlatform) -> set[str]:
    """The platform's personal strings, less those that are also public business data
    (a private car park's owner may also be the energy supplier named in public energy
    mixes)."""
    public_locations = [
        loc
        for loc in platform.expected("locations", "2.2.1")
        if loc.get("publish") is True and loc.get("parking_type") != "ON_DRIVEWAY"
    ]
    public = json.dumps([list(platform.expected("tariffs", "2.2.1")), public_locations])
    personal = {v for v in platform.personal_values() if len(v) >= MIN_LEN}
    return {v for v in personal if v not in public}


@pytest.mark.parametrize("version", ["2.1.1", "2.2.1", "2.3.0"])
def test_platform_personal_values_never_leave_the_tap(platform: MockPlatform, version: str) -> None:
    personal = personal_values(platform)
    assert len(personal) > 100  # the check below means something
    run = run_tap(tap_config(platform, RUN, ocpi_version=version), loglevel="DEBUG")
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.records["sessions"]
    written = run.stdout + run.stderr
    leaked = sorted(v for v in personal if v in written)
    assert not leaked, f"{len(leaked)} personal values leaked, e.g. {leaked[:3]}"
    assert platform.token not in written


def test_allow_listed_nested_paths_come_through_exactly(platform: MockPlatform) -> None:
    version = "2.2.1"
    tokens = list(platform.expected("tokens", version))
    sessions = list(platform.expected("sessions", version))
    allow = {"tokens": ["visual_number"], "sessions": ["cdr_token.contract_id", "kwh"]}
    run = run_tap(tap_config(platform, RUN, ocpi_version=version, privacy_pass=allow))
    assert run.returncode == 0, run.stderr[-2000:]
    emitted_visual = {t.get("visual_number") for t in run.records["tokens"]}
    assert emitted_visual == {t.get("visual_number") for t in tokens}
    assert len(emitted_visual - {None}) > 5
    emitted_contracts = {s["cdr_token"]["contract_id"] for s in run.records["sessions"]}
    assert emitted_contracts == {s["cdr_token"]["contract_id"] for s in sessions}
    assert {s["kwh"] for s in run.records["sessions"]} == {s["kwh"] for s in sessions}
    # Neighbours stay closed: the RFID uid next to the contract id, the token's group.
    assert all(s["cdr_token"]["uid"] is None for s in run.records["sessions"])
    assert all(t.get("group_id") is None for t in run.records["tokens"])
    opened = {*emitted_visual, *emitted_contracts}
    still_personal = personal_values(platform) - opened
    written = run.stdout + run.stderr
    assert not [v for v in still_personal if v in written]


def test_blanked_fields_are_null_with_key_kept(platform: MockPlatform) -> None:
    run = run_tap(tap_config(platform, RUN, ocpi_version="2.2.1"))
    assert run.returncode == 0
    session = run.records["sessions"][0]
    assert "cdr_token" in session
    assert session["cdr_token"]["uid"] is None
    assert "meter_id" in session
    assert session["meter_id"] is None
    # Keys, owner codes and last_updated are safe: incremental sync keeps working.
    assert session["id"]
    assert session["last_updated"].endswith("Z")


def test_state_holds_no_personal_values(platform: MockPlatform) -> None:
    run = run_tap(tap_config(platform, RUN, ocpi_version="2.2.1"))
    state_text = json.dumps(run.states)
    assert not [v for v in personal_values(platform) if v in state_text]


# -- the specification's own example objects ----------------------------------------------------


def _values(node: Any, path: list[str]) -> Iterator[str]:
    """Strings at a dotted path, arrays ignored; '*' takes every string below."""
    if isinstance(node, list):
        for item in node:
            yield from _values(item, path)
        return
    if not path:
        if isinstance(node, str):
            yield node
        elif isinstance(node, (dict, list)):
            yield from _values(node, ["*"])
        return
    if path[0] == "*":
        children = node.values() if isinstance(node, dict) else []
        for child in children:
            yield from _values(child, [] if not isinstance(child, (dict, list)) else ["*"])
        return
    if isinstance(node, dict) and path[0] in node:
        yield from _values(node[path[0]], path[1:])


def spec_personal_values(objects: dict[str, list[dict[str, Any]]]) -> set[str]:
    found: set[str] = set()
    for module, items in objects.items():
        for item in items:
            paths = list(PERSONAL.get(module, ()))
            private = item.get("publish") is False or item.get("parking_type") == "ON_DRIVEWAY"
            if module == "locations" and private:
                paths += PRIVATE_PLACE
            if module == "cdrs" and item.get("home_charging_compensation") is not False:
                paths += [f"cdr_location.{p}" for p in PRIVATE_PLACE[:5]] + [
                    f"location.{p}" for p in PRIVATE_PLACE
                ]
            for path in paths:
                found |= set(_values(item, path.split(".")))
    # The examples reuse one address for a home charger and a published site: a value that
    # a published location shows is public data there.
    public = json.dumps(
        [
            loc
            for loc in objects.get("locations", [])
            if loc.get("publish") is not False
            and loc.get("parking_type") != "ON_DRIVEWAY"
            and "publish" in loc
        ]
    )
    return {v for v in found if len(v) >= MIN_LEN and v not in public}


def serve_examples(mock: rm.Mocker, version: str, objects: dict[str, list[dict[str, Any]]]) -> str:
    base = "https://cpo.example.com/ocpi"
    endpoints = [
        {"identifier": m, "url": f"{base}/{version}/{m}", "role": "SENDER"} for m in objects
    ]
    envelope = {"status_code": 1000, "timestamp": "2024-01-01T00:00:00Z"}
    mock.get(
        f"{base}/versions",
        json={**envelope, "data": [{"version": version, "url": f"{base}/{version}"}]},
    )
    mock.get(
        f"{base}/{version}", json={**envelope, "data": {"version": version, "endpoints": endpoints}}
    )
    for module, items in objects.items():
        mock.get(f"{base}/{version}/{module}", json={**envelope, "data": items})
    return f"{base}/versions"


def distinct_batches(objects: dict[str, list[dict[str, Any]]]) -> list[dict[str, list[Any]]]:
    """Split examples so no list holds one key twice (several examples reuse an id, and the
    tap rightly emits a key once per run)."""
    batches: list[dict[str, list[Any]]] = []
    for module, items in objects.items():
        seen: dict[tuple[Any, ...], int] = {}
        for item in items:
            key = (
                item.get("country_code"),
                item.get("party_id"),
                item.get("id"),
                item.get("uid"),
                item.get("type") if module == "tokens" else None,
            )
            n = seen[key] = seen.get(key, -1) + 1
            while len(batches) <= n:
                batches.append({})
            batches[n].setdefault(module, []).append(item)
    return batches


@pytest.mark.parametrize("version", ["2.1.1", "2.2.1", "2.3.0"])
@needs_examples
def test_spec_example_personal_values_never_leave_the_tap(
    version: str, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = spec_objects(version)
    personal = spec_personal_values(objects)
    assert len(personal) >= 5, personal
    monkeypatch.setenv("TAP_OCPI_LOGLEVEL", "DEBUG")
    logging.getLogger().setLevel(logging.DEBUG)
    written = ""
    for batch in distinct_batches(objects):
        with rm.Mocker() as mock:
            url = serve_examples(mock, version, batch)
            config = {
                "versions_url": url,
                "token": "spec-token",
                "privacy_salt": SALT,
                "to_country_code": "NL",
                "to_party_id": "TNM",
            }
            TapOCPI(config=config, parse_env_config=False).sync_all()
        out, err = capfd.readouterr()
        records = [line for line in out.splitlines() if line.startswith('{"type":"RECORD')]
        top_level = [r for r in records if any(f'"stream":"{m}"' in r for m in batch)]
        assert len(top_level) == sum(len(v) for v in batch.values())
        written += out + err
    leaked = sorted(v for v in personal if v in written)
    assert not leaked, f"{len(leaked)} leaked, e.g. {leaked[:3]}"


def test_user_stream_maps_apply_after_the_privacy_map(platform: MockPlatform) -> None:
    maps = {
        "tariffs": {"__alias__": "prices"},
        "sessions": {
            "currency_lower": "currency.lower()",
            # A map sees the record after privacy: the RFID uid is already gone.
            "uid_seen_by_map": "str(record['cdr_token']['uid'])",
        },
    }
    run = run_tap(tap_config(platform, RUN, ocpi_version="2.2.1", stream_maps=maps))
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.records["prices"]
    assert "tariffs" not in run.records
    sessions = run.records["sessions"]
    assert {s["currency_lower"] for s in sessions} == {"eur"}
    assert {s["uid_seen_by_map"] for s in sessions} == {"None"}


def test_hashed_fields_are_keyed_pseudonyms_and_typed_as_strings(platform: MockPlatform) -> None:
    version = "2.2.1"
    hashes = {"sessions": ["cdr_token.uid", "kwh"]}
    run = run_tap(tap_config(platform, RUN, ocpi_version=version, privacy_hash=hashes))
    assert run.returncode == 0, run.stderr[-2000:]
    schema = run.schemas["sessions"]["schema"]["properties"]
    assert "string" in schema["kwh"]["type"]
    raw = {s["id"]: s for s in platform.expected("sessions", version)}
    for session in run.records["sessions"]:
        uid = raw[session["id"]]["cdr_token"]["uid"]
        expected = hmac.new(SALT.encode(), uid.encode(), hashlib.sha256).hexdigest()
        assert session["cdr_token"]["uid"] == expected
        assert len(session["kwh"]) == 64
