"""Completeness at the edges, through the real tap against a loopback server: small pages
that repeat, fast and general pages mixed in one read, children selected after their parent,
and a next link whose offset is not a plain number."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import parse_qsl

import pytest

from support.hostile import HostileServer, Request, page
from support.objects import session
from support.tap_runner import discover, run_tap, select

TIMEOUT = 60


@pytest.mark.parametrize(
    ("link", "total"),
    [(True, None), (False, "1000000"), (False, "100")],
    ids=["nonce-link-no-total", "no-link-huge-total", "no-link-honest-total"],
)
def test_small_pages_that_repeat_end_the_read_incomplete(link: bool, total: str | None) -> None:
    """A server that ignores offset and caps pages below page_size without X-Limit: the read
    stops after two pages that bring nothing new, exits 1 and keeps the bookmark."""
    counter = itertools.count()

    def handler(request: Request) -> None:
        headers = {}
        if link:
            nonce = next(counter)
            path = server.module_path("sessions")
            headers["Link"] = f'<{server.base}{path}?nonce={nonce}&offset=0>; rel="next"'
        if total:
            headers["X-Total-Count"] = total
        page([session(f"S{i}") for i in range(20)], headers=headers)(request)

    with HostileServer(modules=("sessions",)) as server:
        server.route("sessions", handler)
        run = run_tap(server.config(), timeout=TIMEOUT)
        requests = len(server.module_requests("sessions"))
    assert run.returncode == 1, run.stderr[-2000:]
    assert "brought no object not seen before" in run.stderr
    assert run.bookmark("sessions") is None
    assert requests <= 8, requests
    assert "Traceback" not in run.stderr


def _token(uid: str, **fields: Any) -> dict[str, Any]:
    token = {
        "country_code": "DE",
        "party_id": "VLT",
        "uid": uid,
        "type": "RFID",
        "contract_id": f"C{uid}",
        "issuer": "X",
        "valid": True,
        "whitelist": "ALLOWED",
        "last_updated": "2025-01-01T00:00:00Z",
    }
    return {**token, **fields}


def test_one_object_on_a_fast_and_a_general_page_is_one_key() -> None:
    """tokens.uid is pseudonymised: a fast-path page carries emitted keys, a general-path
    page raw ones. Counted alike, a repeat cannot hide the object that went missing."""
    calls = itertools.count()

    def handler(request: Request) -> None:
        n = next(calls)
        offset = int(dict(parse_qsl(request.query)).get("offset", 0))
        if offset == 0:
            data = [_token("T1"), _token("T2")]
        elif n >= 2:
            data = [_token("T3")]
        else:  # the order shifted: T1 again (a page the fast path refuses), T3 skipped
            data = [_token("T1", valid="true")]
        page(data, headers={"X-Total-Count": "3"})(request)

    with HostileServer(modules=("tokens",)) as server:
        server.route("tokens", handler)
        run = run_tap(server.config(page_size=2), timeout=TIMEOUT)
    uids = [r["uid"] for r in run.records["tokens"]]
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(uids) == len(set(uids)) == 3


def test_children_selected_after_their_parent_get_every_location() -> None:
    stamp = "2025-01-01T00:00:00Z"
    connector = {
        "id": "1",
        "standard": "IEC_62196_T2",
        "format": "SOCKET",
        "power_type": "AC_3_PHASE",
        "max_voltage": 230,
        "max_amperage": 16,
        "last_updated": stamp,
    }
    evse = {"uid": "E1", "status": "AVAILABLE", "connectors": [connector], "last_updated": stamp}
    location = {
        "country_code": "DE",
        "party_id": "VLT",
        "id": "L1",
        "publish": True,
        "address": "Main 1",
        "city": "Berlin",
        "country": "DEU",
        "coordinates": {"latitude": "52.5", "longitude": "13.4"},
        "time_zone": "Europe/Berlin",
        "parking_type": "ON_STREET",
        "evses": [evse],
        "last_updated": stamp,
    }

    def handler(request: Request) -> None:  # honours date_from
        data = [location] if dict(parse_qsl(request.query)).get("date_from", "") <= stamp else []
        page(data, headers={"X-Total-Count": str(len(data))})(request)

    with HostileServer(modules=("locations",)) as server:
        server.route("locations", handler)
        config = server.config()
        catalog = discover(config)
        first = run_tap(config, catalog=select(catalog, {"locations"}), timeout=TIMEOUT)
        places = select(catalog, {"locations", "evses", "connectors"})
        second = run_tap(config, catalog=places, state=first.final_state, timeout=TIMEOUT)
    assert first.returncode == second.returncode == 0, second.stderr[-2000:]
    assert len(second.records["evses"]) == len(second.records["connectors"]) == 1
    assert second.bookmark("evses") is not None


def test_a_link_offset_that_is_not_a_plain_number_is_refused_not_a_crash() -> None:
    def handler(request: Request) -> None:
        if "offset" in dict(parse_qsl(request.query)):
            page([], headers={})(request)
            return
        path = server.module_path("sessions")
        link = f'<{server.base}{path}?offset=%C2%B2>; rel="next"'
        page([session(f"S{i}") for i in range(3)], headers={"Link": link})(request)

    with HostileServer(modules=("sessions",)) as server:
        server.route("sessions", handler)
        run = run_tap(server.config(), timeout=TIMEOUT)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert len(run.records["sessions"]) == 3
