"""Objects are shaped exactly as each OCPI version defines them.

Top-level keys are checked against the field tables of the protocol digest (which lists
every field per version); nested keys against the keys used by the spec examples of that
version plus every field name the digest mentions. Then version-specific details.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from support.mock_helpers import spec_dir
from tap_ocpi.mock_platform import MODULES_BY_VERSION, MockPlatform

ALL = ("2.1.1", "2.2.1", "2.3.0")
_NAME = re.compile(r"`([a-z_0-9]+)`")


def _table_after(lines: list[str], marker: str) -> list[list[str]]:
    """Rows (cells) of the first Markdown table after the line starting with `marker`."""
    start = next(i for i, line in enumerate(lines) if line.startswith(marker))
    rows, seen = [], False
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            seen = True
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif seen:
            break
    return rows


def _versioned(rows: list[list[str]]) -> dict[str, set[str]]:
    """{version: field names present} from a table with per-version columns."""
    header = rows[0]
    columns: list[tuple[int, list[str]]] = []
    for n, cell in enumerate(header):
        versions = [v for v in ALL if v in cell] or (["2.2.1", "2.3.0"] if "2.2+" in cell else [])
        if versions:
            columns.append((n, versions))
    out: dict[str, set[str]] = {v: set() for v in ALL}
    for row in rows[2:]:
        names = _NAME.findall(row[0])
        present = False
        for n, versions in columns:
            cell = row[n]
            if not cell.startswith("same"):
                present = not cell.startswith("—")
            if present:
                for v in versions:
                    out[v].update(names)
    return out


def _plain(rows: list[list[str]]) -> set[str]:
    return {name for row in rows[2:] for name in _NAME.findall(row[0])}


@cache
def digest() -> tuple[dict[str, dict[str, set[str]]], set[str]]:
    """(object -> version -> allowed top-level keys, every field name in the digest)."""
    text = (spec_dir() / "docs" / "ocpi-digest.md").read_text()
    lines = text.splitlines()
    versioned = {
        "credentials": "## 4.",
        "locations": "### 6.1",
        "evse": "### 6.2",
        "connector": "### 6.3",
        "sessions": "### 7.1",
        "cdrs": "### 8.1",
        "tariffs": "### 9.1",
        "price_component": "PriceComponent:",
        "tokens": "### 10.1",
    }
    tables = {name: _versioned(_table_after(lines, marker)) for name, marker in versioned.items()}
    plain = {
        "cdr_token": "CdrToken (2.2+",
        "cdr_location": "CdrLocation (2.2+)",
        "signed_data": "SignedData (2.2+",
        "parking": "Parking (in",
        "hubclientinfo": "ClientInfo object:",
    }
    for name, marker in plain.items():
        keys = _plain(_table_after(lines, marker))
        tables[name] = dict.fromkeys(ALL, keys)
    return tables, set(_NAME.findall(text))


def _example_keys(version: str) -> set[str]:
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            keys.update(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for path in sorted((spec_dir() / "ocpi-examples" / version).glob("*.json")):
        walk(json.loads(path.read_text()))
    return keys


def _walk_keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from _walk_keys(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk_keys(v)


def _objects(p: MockPlatform, module: str, version: str) -> list[dict[str, Any]]:
    return list(p.expected(module, version))


# ---- the spec tables ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "module"), [(v, m) for v in ALL for m in MODULES_BY_VERSION[v]]
)
def test_top_level_keys_are_spec_fields(
    ocpi_platform: MockPlatform, module: str, version: str
) -> None:
    allowed = digest()[0][module][version]
    used = {k for obj in _objects(ocpi_platform, module, version) for k in obj}
    assert used <= allowed, used - allowed


@pytest.mark.parametrize("version", ALL)
def test_child_object_keys_are_spec_fields(ocpi_platform: MockPlatform, version: str) -> None:
    tables = digest()[0]
    checks: list[tuple[str, dict[str, Any]]] = []
    for loc in _objects(ocpi_platform, "locations", version):
        for evse in loc["evses"]:
            checks.append(("evse", evse))
            checks += [("connector", c) for c in evse["connectors"]]
        checks += [("parking", p) for p in loc.get("parking_places", [])]
    for c in _objects(ocpi_platform, "cdrs", version):
        if version != "2.1.1":
            checks += [("cdr_token", c["cdr_token"]), ("cdr_location", c["cdr_location"])]
        if "signed_data" in c:
            checks.append(("signed_data", c["signed_data"]))
    for t in _objects(ocpi_platform, "tariffs", version):
        checks += [("price_component", pc) for e in t["elements"] for pc in e["price_components"]]
    for table, obj in checks:
        assert set(obj) <= tables[table][version], (table, set(obj) - tables[table][version])


@pytest.mark.parametrize("version", ALL)
def test_every_key_is_known_to_spec_or_examples(ocpi_platform: MockPlatform, version: str) -> None:
    known = _example_keys(version) | digest()[1]
    for module in MODULES_BY_VERSION[version]:
        used = set(_walk_keys(_objects(ocpi_platform, module, version)))
        assert used <= known, (module, used - known)


@pytest.mark.parametrize("version", ALL)
def test_required_fields_present(ocpi_platform: MockPlatform, version: str) -> None:
    """A few cardinality-1 fields per object (digest §6-10)."""
    owner = set() if version == "2.1.1" else {"country_code", "party_id"}
    required = {
        "locations": {"id", "address", "city", "country", "coordinates", "last_updated"}
        | ({"type", "postal_code"} if version == "2.1.1" else {"publish", "time_zone"}),
        "sessions": {"id", "kwh", "auth_method", "currency", "status", "last_updated"}
        | (
            {"start_datetime", "auth_id", "location"}
            if version == "2.1.1"
            else {"start_date_time", "cdr_token", "location_id", "evse_uid", "connector_id"}
        ),
        "cdrs": {
            "id",
            "start_date_time",
            "auth_method",
            "currency",
            "charging_periods",
            "total_cost",
            "total_energy",
            "total_time",
            "last_updated",
        }
        | (
            {"stop_date_time", "auth_id", "location"}
            if version == "2.1.1"
            else {"end_date_time", "cdr_token", "cdr_location"}
        ),
        "tariffs": {"id", "currency", "elements", "last_updated"}
        | ({"tax_included"} if version == "2.3.0" else set()),
        "tokens": {"uid", "type", "issuer", "valid", "whitelist", "last_updated"}
        | ({"auth_id"} if version == "2.1.1" else {"contract_id"}),
    }
    for module, keys in required.items():
        for obj in _objects(ocpi_platform, module, version):
            assert keys | owner <= set(obj), (module, keys | owner - set(obj))


# ---- version specifics --------------------------------------------------------------------


def test_211_objects_look_like_211(ocpi_platform: MockPlatform) -> None:
    for module in MODULES_BY_VERSION["2.1.1"]:
        for obj in _objects(ocpi_platform, module, "2.1.1"):
            assert "country_code" not in obj
            assert "party_id" not in obj
    session = next(
        s for s in _objects(ocpi_platform, "sessions", "2.1.1") if s["status"] == "COMPLETED"
    )
    assert {"start_datetime", "end_datetime", "auth_id", "location"} <= set(session)
    assert isinstance(session["total_cost"], float | int)
    assert len(session["location"]["evses"]) == 1
    assert len(session["location"]["evses"][0]["connectors"]) == 1
    cdr = _objects(ocpi_platform, "cdrs", "2.1.1")[0]
    assert {"stop_date_time", "auth_id", "location"} <= set(cdr)
    assert isinstance(cdr["total_cost"], float | int)
    loc = _objects(ocpi_platform, "locations", "2.1.1")[0]
    conn = loc["evses"][0]["connectors"][0]
    assert {"voltage", "amperage", "tariff_id"} <= set(conn)
    assert not {"max_voltage", "tariff_ids"} & set(conn)
    impacts = [
        i
        for loc in _objects(ocpi_platform, "locations", "2.1.1")
        for i in loc.get("energy_mix", {}).get("environ_impact", [])
    ]
    assert impacts
    assert all(set(i) == {"source", "amount"} for i in impacts)
    tokens = _objects(ocpi_platform, "tokens", "2.1.1")
    assert {t["type"] for t in tokens} <= {"RFID", "OTHER"}


def test_221_specifics(ocpi_platform: MockPlatform) -> None:
    cdrs = _objects(ocpi_platform, "cdrs", "2.2.1")
    assert all(set(c["total_cost"]) <= {"excl_vat", "incl_vat"} for c in cdrs)
    impacts = [
        i
        for loc in _objects(ocpi_platform, "locations", "2.2.1")
        for i in loc.get("energy_mix", {}).get("environ_impact", [])
    ]
    assert impacts
    assert all(set(i) == {"category", "amount"} for i in impacts)
    sessions = _objects(ocpi_platform, "sessions", "2.2.1")
    dims = {d["type"] for s in sessions for p in s["charging_periods"] for d in p["dimensions"]}
    assert "STATE_OF_CHARGE" in dims
    cdr_dims = {d["type"] for c in cdrs for p in c["charging_periods"] for d in p["dimensions"]}
    assert not cdr_dims & {"STATE_OF_CHARGE", "CURRENT", "POWER", "FLAT"}


def test_230_specifics(ocpi_platform: MockPlatform) -> None:
    cdrs = _objects(ocpi_platform, "cdrs", "2.3.0")
    for c in cdrs:
        assert set(c["total_cost"]) == {"before_taxes", "taxes"}
        assert all(
            set(t) <= {"name", "account_number", "percentage", "amount"}
            for t in c["total_cost"]["taxes"]
        )
    tariffs = _objects(ocpi_platform, "tariffs", "2.3.0")
    assert all(t["tax_included"] in ("YES", "NO", "N/A") for t in tariffs)
    limits = [t["min_price"] for t in tariffs if "min_price" in t]
    assert limits
    assert all(set(m) == {"before_taxes", "after_taxes"} for m in limits)
    locations = _objects(ocpi_platform, "locations", "2.3.0")
    assert any("parking_places" in loc and "help_phone" in loc for loc in locations)
    evses = [e for loc in locations for e in loc["evses"]]
    assert any("parking" in e for e in evses)
    refs = {p["parking_id"] for e in evses for p in e.get("parking", [])}
    assert refs <= {p["id"] for loc in locations for p in loc.get("parking_places", [])}
    assert any("capabilities" in c for e in evses for c in e["connectors"])


# ---- realism -------------------------------------------------------------------------------


def test_private_and_home_locations_exist(ocpi_platform: MockPlatform) -> None:
    locations = _objects(ocpi_platform, "locations", "2.2.1")
    public = [loc for loc in locations if loc["publish"]]
    private = [loc for loc in locations if not loc["publish"]]
    assert len(public) > len(private) > 0
    assert all(loc["publish_allowed_to"] for loc in private)
    assert all("publish_allowed_to" not in loc for loc in public)
    assert any(loc.get("parking_type") == "ON_DRIVEWAY" for loc in private)


def test_sessions_reference_real_objects(ocpi_platform: MockPlatform) -> None:
    locations = {loc["id"]: loc for loc in _objects(ocpi_platform, "locations", "2.2.1")}
    tokens = {(t["uid"], t["contract_id"]) for t in _objects(ocpi_platform, "tokens", "2.2.1")}
    for s in _objects(ocpi_platform, "sessions", "2.2.1"):
        evse = next(e for e in locations[s["location_id"]]["evses"] if e["uid"] == s["evse_uid"])
        assert s["connector_id"] in {c["id"] for c in evse["connectors"]}
        assert (s["cdr_token"]["uid"], s["cdr_token"]["contract_id"]) in tokens


def test_cdrs_cover_completed_sessions(ocpi_platform: MockPlatform) -> None:
    sessions = {s["id"]: s for s in _objects(ocpi_platform, "sessions", "2.2.1")}
    cdrs = _objects(ocpi_platform, "cdrs", "2.2.1")
    normal = [c for c in cdrs if not c.get("credit") and not c["id"].endswith("-R")]
    assert {c["session_id"] for c in normal} == {
        sid for sid, s in sessions.items() if s["status"] == "COMPLETED"
    }
    assert {"ACTIVE", "COMPLETED", "INVALID"} <= {s["status"] for s in sessions.values()}
    credits = [c for c in cdrs if c.get("credit")]
    ids = {c["id"] for c in cdrs}
    assert credits
    assert all(c["credit_reference_id"] in ids for c in credits)
    assert all(c["total_cost"]["excl_vat"] <= 0 for c in credits)
    assert any("signed_data" in c for c in cdrs)
    assert any(c.get("home_charging_compensation") for c in cdrs)


def test_personal_values_look_distinctive(ocpi_platform: MockPlatform) -> None:
    values = ocpi_platform.personal_values()
    tokens = _objects(ocpi_platform, "tokens", "2.2.1")
    assert {t["uid"] for t in tokens} <= values
    assert {t["contract_id"] for t in tokens} <= values
    assert any(re.fullmatch(r"DE[0-9A-Z]{12}", t["uid"]) for t in tokens)
    assert all(re.fullmatch(r"DE-VLE-C[0-9A-Z]{8}-[0-9A-Z]", t["contract_id"]) for t in tokens)
    private = [loc for loc in _objects(ocpi_platform, "locations", "2.2.1") if not loc["publish"]]
    for loc in private:
        assert {loc["address"], loc["coordinates"]["latitude"]} <= values
    # Public locations never contain a personal value (leak tests rely on that).
    public_text = json.dumps(
        [loc for loc in _objects(ocpi_platform, "locations", "2.2.1") if loc["publish"]]
    )
    assert not [v for v in values if v in public_text]
    tariffs_text = json.dumps(_objects(ocpi_platform, "tariffs", "2.3.0"))
    assert not [v for v in values if v in tariffs_text]


def test_personal_values_cover_sensitive_session_and_cdr_fields(
    ocpi_platform: MockPlatform,
) -> None:
    values = ocpi_platform.personal_values()
    for c in _objects(ocpi_platform, "cdrs", "2.2.1"):
        for key in ("meter_id", "authorization_reference", "invoice_reference_id"):
            if key in c:
                assert c[key] in values, key
        for sv in c.get("signed_data", {}).get("signed_values", []):
            assert {sv["plain_data"], sv["signed_data"]} <= values
        if c.get("home_charging_compensation"):
            assert c["cdr_location"]["address"] in values


def test_example_dir_is_readable() -> None:
    assert (Path(spec_dir()) / "ocpi-examples" / "2.2.1" / "cdr_example.json").exists()
