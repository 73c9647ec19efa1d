"""Every fault mode, their reproducibility, and setting them at runtime."""

from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from support.mock_helpers import crawl, ocpi_get
from tap_ocpi.mock_platform import MockPlatform

V = "2.2.1"


@pytest.fixture
def p(platform_factory) -> MockPlatform:
    return platform_factory(sessions=120, locations=10, tokens=40, page_cap=10)


def _get(
    http: requests.Session, p: MockPlatform, path: str = "tokens", **params: object
) -> requests.Response:
    return ocpi_get(http, p, V, path, params=params)


def test_no_faults_by_default(p: MockPlatform, http: requests.Session) -> None:
    assert p.faults == {}
    assert all(_get(http, p).status_code == 200 for _ in range(20))


def test_error_rate(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(error_rate=1)
    seen = set()
    for _ in range(30):
        r = _get(http, p)
        seen.add(r.status_code)
        if r.status_code == 502:
            assert r.headers["Content-Type"] == "text/html"
        else:
            assert r.json()["status_code"] == 3000
    assert seen <= {500, 502, 503, 504}
    assert len(seen) > 1


def test_partial_rate_is_reproducible(platform_factory, http: requests.Session) -> None:
    runs = []
    for _ in range(2):
        q = platform_factory(sessions=20, faults={"error_rate": 0.3, "throttle_rate": 0.2})
        runs.append([_get(http, q).status_code for _ in range(40)])
    assert runs[0] == runs[1]
    assert {200, 429} <= set(runs[0])
    assert len(set(runs[0])) > 2


def test_throttle_with_retry_after(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(throttle_rate=1, retry_after=7)
    r = _get(http, p)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "7"
    assert r.json()["status_code"] == 2000


def test_truncated_bodies(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(truncate_rate=1)
    r = _get(http, p)
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == len(r.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


def test_dropped_connections(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(drop_rate=1)
    with pytest.raises(requests.ConnectionError):
        _get(http, p)
    p.set_faults()
    assert _get(http, p).status_code == 200  # the client reconnects


def test_latency(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(latency_ms=150)
    t0 = time.perf_counter()
    assert _get(http, p).status_code == 200
    assert time.perf_counter() - t0 >= 0.15


def test_page_cap_fault(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(page_cap=3)
    r = _get(http, p, limit=100)
    assert len(r.json()["data"]) == 3
    assert r.headers["X-Limit"] == "3"
    assert parse_qs(urlsplit(r.links["next"]["url"]).query)["limit"] == ["3"]


def test_short_pages_still_link_correctly(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(short_pages=4)
    r = _get(http, p, limit=10)
    assert len(r.json()["data"]) == 4
    assert r.headers["X-Limit"] == "10"
    assert parse_qs(urlsplit(r.links["next"]["url"]).query)["offset"] == ["4"]
    objects, _ = crawl(http, p, V, "tokens")
    assert objects == list(p.expected("tokens", V))


def test_no_total(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(no_total=True)
    r = _get(http, p)
    assert "X-Total-Count" not in r.headers
    assert "X-Limit" not in r.headers
    assert "Link" in r.headers


@pytest.mark.parametrize(
    ("mode", "check"),
    [
        ("relative", lambda link, base: link.startswith("</ocpi/2.2.1/tokens?")),
        ("upper_rel", lambda link, base: link.endswith('; REL="NEXT"')),
        ("unquoted_rel", lambda link, base: link.endswith("; rel=next")),
        ("wrong_host", lambda link, base: link.startswith("<http://ocpi.invalid:")),
        ("wrong_scheme", lambda link, base: link.startswith("<https://127.0.0.1:")),
    ],
)
def test_link_variants(p: MockPlatform, http: requests.Session, mode: str, check) -> None:
    p.set_faults(link=mode)
    link = _get(http, p, limit=5).headers["Link"]
    assert check(link, p.base_url), link
    assert "offset=5&limit=5" in link


def test_link_missing(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(link="missing")
    r = _get(http, p, limit=5)
    assert "Link" not in r.headers
    assert r.headers["X-Total-Count"] == "40"


@pytest.mark.parametrize(
    ("mode", "pattern"),
    [("no_z", r"\d{2}:\d{2}:\d{2}\""), ("offset", r"\d{2}:\d{2}:\d{2}\+01:00\"")],
)
def test_timestamp_variants(
    p: MockPlatform, http: requests.Session, mode: str, pattern: str
) -> None:
    plain = _get(http, p).json()
    p.set_faults(timestamps=mode)
    r = _get(http, p)
    assert not re.search(r"\d{2}:\d{2}:\d{2}Z\"", r.text)
    assert re.search(pattern, r.text)
    shifted = r.json()
    first, second = plain["data"][0]["last_updated"], shifted["data"][0]["last_updated"]
    if mode == "no_z":
        assert second == first[:-1]
    else:  # same instant, one hour ahead on the wall clock
        assert second.endswith("+01:00")
        assert second[:13] != first[:13]
    assert next(iter(p.expected("tokens", V)))["last_updated"] == second


def test_ocpi_error_with_http_200(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(ocpi_error_rate=1)
    r = _get(http, p)
    assert r.status_code == 200
    body = r.json()
    assert body["status_code"] == 3000
    assert "data" not in body


def test_fail_from_page(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(fail_from_page=3)
    assert _get(http, p, offset=0).status_code == 200
    assert _get(http, p, offset=10).status_code == 200
    for offset in (20, 30, 25):
        r = _get(http, p, offset=offset)
        assert r.status_code == 500
        assert r.json()["status_code"] == 3000
    assert _get(http, p, offset=20).status_code == 500  # permanent


def test_unstable_ordering_shifts_offsets(p: MockPlatform, http: requests.Session) -> None:
    before = list(p.expected("sessions", V, "2000-01-01T00:00:00Z"))
    p.set_faults(unstable_every=2)
    seen, _ = crawl(http, p, V, "sessions", date_from="2000-01-01T00:00:00Z")
    ids = [s["id"] for s in seen]
    assert len(ids) == len(before)  # the total stays; records move to the end
    assert len(set(ids)) < len(ids)  # someone was served twice ...
    assert {s["id"] for s in before} - set(ids)  # ... and someone skipped
    moved = [s for s in seen if s["last_updated"] == "2026-01-01T00:00:00Z"]
    assert moved
    assert p.stats()["unstable_moves"] >= 5
    assert (
        list(p.expected("sessions", V, "2000-01-01T00:00:00Z"))[-1]["last_updated"]
        == "2026-01-01T00:00:00Z"
    )


def test_unstable_ordering_with_date_to_shrinks_total(
    p: MockPlatform, http: requests.Session
) -> None:
    window = {"date_from": "2000-01-01T00:00:00Z", "date_to": "2025-12-31T00:00:00Z"}
    first = ocpi_get(http, p, V, "cdrs", params=window)
    p.set_faults(unstable_every=1)
    second = ocpi_get(http, p, V, "cdrs", params={**window, "offset": 10})
    assert int(second.headers["X-Total-Count"]) == int(first.headers["X-Total-Count"]) - 1


def test_scope(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(error_rate=1)
    assert http.get(p.versions_url, headers={"Authorization": p.auth_header()}).ok
    assert ocpi_get(http, p, V, p.details_url(V)).ok
    assert ocpi_get(http, p, V, "locations/LOC000001").status_code >= 500
    p.set_faults(error_rate=1, scope="all")
    assert http.get(p.versions_url, headers={"Authorization": p.auth_header()}).status_code >= 500


def test_faults_via_admin(p: MockPlatform, http: requests.Session) -> None:
    r = http.post(f"{p.admin_url}/faults", json={"throttle_rate": 1, "retry_after": "3"})
    assert r.json() == {"throttle_rate": 1.0, "retry_after": 3}
    assert http.get(f"{p.admin_url}/faults").json() == {"throttle_rate": 1.0, "retry_after": 3}
    assert _get(http, p).status_code == 429
    assert http.get(f"{p.admin_url}/stats").ok  # admin is never faulted
    assert http.post(f"{p.admin_url}/faults", json={}).json() == {}
    assert _get(http, p).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"nonsense": 1}, {"error_rate": 2}, {"link": "sideways"}, {"latency_ms": "slow"}, [1, 2]],
)
def test_bad_faults_rejected(p: MockPlatform, http: requests.Session, body: object) -> None:
    r = http.post(f"{p.admin_url}/faults", json=body)
    assert r.status_code == 400
    assert "error" in r.json()
    assert p.faults == {}


def test_faults_from_config(platform_factory, http: requests.Session) -> None:
    q = platform_factory(sessions=5, faults={"link": "missing", "no_total": "true"})
    assert q.faults == {"link": "missing", "no_total": True}
    r = ocpi_get(http, q, V, "tokens", params={"limit": 2})
    assert "Link" not in r.headers
    assert "X-Total-Count" not in r.headers
