"""The admin API: advance (new/updated records with newer last_updated), stats."""

from __future__ import annotations

import time

import requests

from support.mock_helpers import crawl, ocpi_get
from tap_ocpi.mock_platform import MockPlatform

V = "2.2.1"
EPOCH = "2000-01-01T00:00:00Z"


def test_advance_creates_and_updates(platform_factory, http: requests.Session) -> None:
    p = platform_factory(sessions=200, locations=12)
    before = {m: list(p.expected(m, V, EPOCH)) for m in ("sessions", "cdrs", "locations")}
    active = [s["id"] for s in before["sessions"] if s["status"] == "ACTIVE"]
    r = http.post(
        f"{p.admin_url}/advance",
        json={"new_sessions": 3, "updated_sessions": 2, "updated_locations": 2, "minutes": 30},
    )
    assert r.status_code == 200
    change = r.json()
    assert change["clock"] == "2026-01-01T00:30:00Z"
    assert change["counts"] == {
        "updated_locations": 2,
        "updated_sessions": 2,
        "created_cdrs": 2,
        "created_sessions": 3,
    }
    assert change["updated_sessions"] == active[:2]  # ACTIVE sessions finish first

    # Exactly the changed records are newer than the old clock, in change order.
    newer = {
        m: list(p.expected(m, V, "2026-01-01T00:00:00Z")) for m in ("sessions", "cdrs", "locations")
    }
    assert [s["id"] for s in newer["sessions"]] == (
        change["updated_sessions"] + change["created_sessions"]
    )
    assert [c["id"] for c in newer["cdrs"]] == change["created_cdrs"]
    assert sorted(loc["id"] for loc in newer["locations"]) == sorted(change["updated_locations"])
    stamps = [s["last_updated"] for s in newer["sessions"]]
    assert stamps == sorted(stamps)
    assert all("2026-01-01T00:00:00Z" < t <= "2026-01-01T00:30:00Z" for t in stamps)

    sessions = {s["id"]: s for s in newer["sessions"]}
    for sid in change["updated_sessions"]:
        assert sessions[sid]["status"] == "COMPLETED"
        assert "end_date_time" in sessions[sid]
    for sid in change["created_sessions"]:
        assert sessions[sid]["status"] == "ACTIVE"
    for cdr in newer["cdrs"]:
        assert cdr["session_id"] in change["updated_sessions"]
        assert cdr["end_date_time"] == sessions[cdr["session_id"]]["end_date_time"]

    # The rest is unchanged, totals grew, and the list endpoint agrees with expected().
    after = list(p.expected("sessions", V, EPOCH))
    assert len(after) == len(before["sessions"]) + 3
    unchanged = [s for s in before["sessions"] if s["id"] not in change["updated_sessions"]]
    assert after[: len(unchanged)] == unchanged
    objects, responses = crawl(http, p, V, "sessions", date_from=EPOCH)
    assert objects == after
    assert responses[0].headers["X-Total-Count"] == str(len(after))


def test_updated_location_changes_an_evse(platform_factory) -> None:
    p = platform_factory(sessions=10, locations=3)
    before = {loc["id"]: loc for loc in p.expected("locations", "2.3.0")}
    change = p.advance(updated_locations=1, minutes=5)
    (loc_id,) = change["updated_locations"]
    (after,) = p.expected("locations", "2.3.0", "2026-01-01T00:00:00Z")
    assert after["id"] == loc_id
    assert after["last_updated"] == "2026-01-01T00:05:00Z"
    changed = [e for e in after["evses"] if e["last_updated"] == after["last_updated"]]
    assert len(changed) == 1
    old = next(e for e in before[loc_id]["evses"] if e["uid"] == changed[0]["uid"])
    assert old["last_updated"] < changed[0]["last_updated"]
    assert old["status"] != changed[0]["status"]


def test_finished_active_sessions_then_restamps(platform_factory) -> None:
    p = platform_factory(sessions=40)  # one ACTIVE session
    first = p.advance(updated_sessions=3, minutes=1)
    assert len(first["created_cdrs"]) == 1
    assert len(first["updated_sessions"]) == 3
    new = p.advance(new_sessions=1, minutes=1)
    later = p.advance(updated_sessions=1, minutes=1)
    assert later["updated_sessions"] == new["created_sessions"]  # newest ACTIVE finishes
    assert len(later["created_cdrs"]) == 1


def test_advance_without_minutes_keeps_clock(platform_factory) -> None:
    p = platform_factory(sessions=20)
    change = p.advance(new_sessions=2)
    assert change["clock"] == "2026-01-01T00:00:00Z"
    stamps = [s["last_updated"] for s in p.expected("sessions", V, "2026-01-01T00:00:00Z")]
    assert stamps == ["2026-01-01T00:00:00Z"] * 2


def test_wall_clock_mode(platform_factory) -> None:
    p = platform_factory(sessions=20, now="wall")
    p.store.clock -= 60  # as if started a minute ago
    before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 0.5))
    change = p.advance(new_sessions=2)
    assert change["clock"] >= before
    new = list(p.expected("sessions", V, before))  # stamped now, not back at the start
    assert [s["id"] for s in new] == change["created_sessions"]
    assert all(
        s["last_updated"] < change["clock"] or s["id"] in change["created_sessions"]
        for s in p.expected("sessions", V, EPOCH)
    )


def test_stats(platform_factory, http: requests.Session) -> None:
    p = platform_factory(sessions=100, locations=7, tokens=9, tariffs=4, clients=3)
    stats = http.get(f"{p.admin_url}/stats").json()
    totals = {m: s["total"] for m, s in stats["modules"].items()}
    assert totals == {
        "locations": 7,
        "sessions": 100,
        "cdrs": len(list(p.expected("cdrs", V))),
        "tariffs": 4,
        "tokens": 9,
        "hubclientinfo": 3,
    }
    p.advance(new_sessions=5)
    assert p.stats()["modules"]["sessions"]["total"] == 105
    assert p.stats()["advances"] == 1


def test_admin_needs_no_token_and_validates(platform_factory, http: requests.Session) -> None:
    p = platform_factory(sessions=5)
    assert http.get(f"{p.admin_url}/stats").status_code == 200
    assert http.post(f"{p.admin_url}/advance", json={"bogus": 1}).status_code == 400
    assert http.post(f"{p.admin_url}/advance", json={"minutes": -1}).status_code == 400
    assert http.post(f"{p.admin_url}/advance", data=b"{not json").status_code == 400
    assert http.get(f"{p.admin_url}/advance").status_code == 405
    assert http.get(f"{p.admin_url}/nothing").status_code == 404
    assert http.post(f"{p.admin_url}/advance").json()["counts"]["created_sessions"] == 0


def test_admin_request_log(platform_factory, http: requests.Session) -> None:
    p = platform_factory(sessions=5)
    ocpi_get(http, p, V, "tokens", params={"date_from": "2025-01-01T00:00:00Z"})
    log = http.get(f"{p.admin_url}/requests").json()
    assert log[-1] == {"method": "GET", "path": "/admin/requests", "headers": log[-1]["headers"]}
    assert log[-2]["path"] == "/ocpi/2.2.1/tokens?date_from=2025-01-01T00%3A00%3A00Z"


def test_platform_properties(platform_factory) -> None:
    p: MockPlatform = platform_factory(sessions=5)
    assert p.base_url == f"http://127.0.0.1:{p.port}"
    assert p.versions_url == p.base_url + "/ocpi/versions"
    assert p.admin_url == p.base_url + "/admin"
    assert p.endpoint_url("2.3.0", "cdrs") == p.base_url + "/ocpi/2.3.0/cdrs"
    p.stop()
    p.stop()  # idempotent
