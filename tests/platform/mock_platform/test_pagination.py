"""Pagination arithmetic, headers, Link, and the date window bounds."""

from __future__ import annotations

import calendar
import itertools
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from support.mock_helpers import crawl, ocpi_get
from tap_ocpi.mock_platform import MockPlatform

EPOCH = "2000-01-01T00:00:00Z"


def _iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _epoch(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


@pytest.mark.parametrize(
    ("version", "module"),
    [
        ("2.1.1", "sessions"),
        ("2.2.1", "cdrs"),
        ("2.3.0", "locations"),
        ("2.2.1", "tokens"),
        ("2.3.0", "tariffs"),
        ("2.2.1", "hubclientinfo"),
    ],
)
def test_crawl_equals_expected(
    ocpi_platform: MockPlatform, http: requests.Session, version: str, module: str
) -> None:
    params = {"date_from": EPOCH} if module == "sessions" else {}
    objects, responses = crawl(http, ocpi_platform, version, module, **params)
    assert objects == list(ocpi_platform.expected(module, version))
    total = int(responses[0].headers["X-Total-Count"])
    assert len(objects) == total
    assert len(responses) == -(-total // 50)  # page_cap 50
    for r in responses:
        assert r.headers["X-Limit"] == "50"
        assert int(r.headers["X-Total-Count"]) == total
    assert "Link" not in responses[-1].headers


def test_link_carries_filters_and_is_absolute(
    ocpi_platform: MockPlatform, http: requests.Session
) -> None:
    r = ocpi_get(
        http,
        ocpi_platform,
        "2.2.1",
        "sessions",
        params={
            "date_from": "2025-02-01T00:00:00Z",
            "date_to": "2025-09-01T00:00:00Z",
            "limit": 20,
            "offset": 40,
        },
    )
    link = r.headers["Link"]
    assert link.startswith(f"<{ocpi_platform.base_url}/ocpi/2.2.1/sessions?")
    assert link.endswith('>; rel="next"')
    query = parse_qs(urlsplit(r.links["next"]["url"]).query)
    assert query == {
        "offset": ["60"],
        "limit": ["20"],
        "date_from": ["2025-02-01T00:00:00Z"],
        "date_to": ["2025-09-01T00:00:00Z"],
    }


def test_limit_above_cap_is_capped(ocpi_platform: MockPlatform, http: requests.Session) -> None:
    r = ocpi_get(http, ocpi_platform, "2.2.1", "cdrs", params={"limit": 5000})
    assert len(r.json()["data"]) == 50
    assert r.headers["X-Limit"] == "50"
    assert parse_qs(urlsplit(r.links["next"]["url"]).query)["limit"] == ["50"]


def test_no_limit_means_cap(ocpi_platform: MockPlatform, http: requests.Session) -> None:
    r = ocpi_get(http, ocpi_platform, "2.2.1", "tokens")
    assert len(r.json()["data"]) == 50


def test_offsets_slice_the_same_order(ocpi_platform: MockPlatform, http: requests.Session) -> None:
    everything = list(ocpi_platform.expected("cdrs", "2.3.0"))
    for offset, limit in ((0, 1), (7, 13), (49, 2), (len(everything) - 3, 10)):
        r = ocpi_get(
            http, ocpi_platform, "2.3.0", "cdrs", params={"offset": offset, "limit": limit}
        )
        assert r.json()["data"] == everything[offset : offset + limit]
        assert ("Link" in r.headers) == (offset + limit < len(everything))


def test_offset_past_the_end_is_empty(ocpi_platform: MockPlatform, http: requests.Session) -> None:
    r = ocpi_get(http, ocpi_platform, "2.2.1", "tariffs", params={"offset": 1000})
    assert r.status_code == 200
    assert r.json()["data"] == []
    assert "Link" not in r.headers
    assert r.headers["X-Total-Count"] == "6"


@pytest.mark.parametrize(
    "params",
    [
        {"offset": "-1"},
        {"limit": "0"},
        {"offset": "x"},
        {"date_from": "yesterday"},
        {"date_to": "2025-13-45"},
    ],
)
def test_bad_parameters_are_400_2001(
    ocpi_platform: MockPlatform, http: requests.Session, params: dict[str, str]
) -> None:
    r = ocpi_get(http, ocpi_platform, "2.2.1", "tokens", params=params)
    assert r.status_code == 400
    assert r.json()["status_code"] == 2001


@pytest.mark.parametrize("version", ["2.1.1", "2.2.1", "2.3.0"])
def test_sessions_require_date_from(
    ocpi_platform: MockPlatform, http: requests.Session, version: str
) -> None:
    r = ocpi_get(http, ocpi_platform, version, "sessions")
    assert r.status_code == 400
    assert r.json()["status_code"] == 2001


# ---- date windows -----------------------------------------------------------------------


def test_date_from_inclusive_date_to_exclusive(
    ocpi_platform: MockPlatform, http: requests.Session
) -> None:
    tokens = list(ocpi_platform.expected("tokens", "2.2.1"))
    stamp = tokens[20]["last_updated"]
    r = ocpi_get(http, ocpi_platform, "2.2.1", "tokens", params={"date_from": stamp})
    got = r.json()["data"]
    assert got[0]["last_updated"] == stamp  # inclusive
    assert all(t["last_updated"] >= stamp for t in got)
    r = ocpi_get(http, ocpi_platform, "2.2.1", "tokens", params={"date_to": stamp})
    got = r.json()["data"]
    assert got
    assert all(t["last_updated"] < stamp for t in got)
    assert int(r.headers["X-Total-Count"]) == sum(t["last_updated"] < stamp for t in tokens)


def test_adjacent_windows_partition_the_data(
    ocpi_platform: MockPlatform, http: requests.Session
) -> None:
    everything = list(ocpi_platform.expected("sessions", "2.2.1"))
    cuts = sorted(
        [
            EPOCH,
            everything[10]["last_updated"],
            everything[150]["last_updated"],
            "2025-07-01T12:00:00Z",
            "2030-01-01T00:00:00Z",
        ]
    )
    pieces = []
    for a, b in itertools.pairwise(cuts):
        objs, _ = crawl(http, ocpi_platform, "2.2.1", "sessions", date_from=a, date_to=b)
        assert objs == list(ocpi_platform.expected("sessions", "2.2.1", a, b))
        pieces += objs
    assert pieces == everything


def test_last_updated_is_non_decreasing_in_serving_order(ocpi_platform: MockPlatform) -> None:
    for module in ("locations", "sessions", "cdrs", "tariffs", "tokens", "hubclientinfo"):
        stamps = [o["last_updated"] for o in ocpi_platform.expected(module, "2.3.0")]
        assert stamps == sorted(stamps), module


def test_dates_with_offsets_and_without_z(
    ocpi_platform: MockPlatform, http: requests.Session
) -> None:
    stamp = list(ocpi_platform.expected("cdrs", "2.2.1"))[30]["last_updated"]
    t = _epoch(stamp)
    local = time.strftime("%Y-%m-%dT%H:%M:%S+02:00", time.gmtime(t + 7200))
    forms = [stamp, stamp[:-1], local, stamp[:-1] + ".000Z"]
    totals = set()
    for form in forms:
        r = ocpi_get(http, ocpi_platform, "2.2.1", "cdrs", params={"date_from": form})
        assert r.status_code == 200, form
        totals.add(r.headers["X-Total-Count"])
    assert len(totals) == 1
    # A fraction above the second excludes records stamped exactly at that second.
    r = ocpi_get(http, ocpi_platform, "2.2.1", "cdrs", params={"date_from": stamp[:-1] + ".5Z"})
    assert r.json()["data"][0]["last_updated"] > stamp


def test_expected_accepts_datetimes_and_epochs(ocpi_platform: MockPlatform) -> None:
    a = list(ocpi_platform.expected("tokens", "2.2.1", "2025-06-01T00:00:00Z"))
    b = list(ocpi_platform.expected("tokens", "2.2.1", datetime(2025, 6, 1, tzinfo=timezone.utc)))
    c = list(ocpi_platform.expected("tokens", "2.2.1", _epoch("2025-06-01T00:00:00Z")))
    assert a == b == c
    assert 0 < len(a) < 60
    with pytest.raises(ValueError, match="not served"):
        list(ocpi_platform.expected("hubclientinfo", "2.1.1"))


def test_span_days_bounds_last_updated(platform_factory) -> None:
    p = platform_factory(sessions=200, span_days=10, now="2025-03-01T00:00:00Z")
    stamps = [s["last_updated"] for s in p.expected("sessions", "2.2.1")]
    assert min(stamps) >= _iso(_epoch("2025-02-19T00:00:00Z"))
    assert max(stamps) < "2025-03-01T00:00:00Z"
