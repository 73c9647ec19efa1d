"""The quirk modes (issue 12): servers that bend paging and discovery, each reproducible."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from support.mock_helpers import crawl, ocpi_get
from tap_ocpi.mock_platform import MockPlatform

V = "2.2.1"


@pytest.fixture
def p(platform_factory) -> MockPlatform:
    return platform_factory(sessions=60, locations=10, tokens=23, page_cap=10)


def _get(http: requests.Session, p: MockPlatform, module: str = "tokens", **params: object):
    return ocpi_get(http, p, V, module, params=params)


def _uids(response: requests.Response) -> list[str]:
    return [t["uid"] for t in response.json()["data"]]


def test_no_headers(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(quirk="no_headers")
    r = _get(http, p, limit=10)
    assert len(r.json()["data"]) == 10
    assert not {"Link", "X-Total-Count", "X-Limit"} & set(r.headers)
    # offset still works: the list is there, it just does not say so
    second = _get(http, p, offset=10, limit=10)
    assert set(_uids(second)).isdisjoint(_uids(r))


@pytest.mark.parametrize(
    ("mode", "check"),
    [
        ("wrong_port", lambda url, p: urlsplit(url).port not in (None, p.port)),
        ("skip_ahead", lambda url, p: parse_qs(urlsplit(url).query)["offset"] == ["20"]),
        ("not_found", lambda url, p: urlsplit(url).path.endswith("/tokens/page")),
    ],
)
def test_new_link_variants(p: MockPlatform, http: requests.Session, mode: str, check) -> None:
    p.set_faults(link=mode)
    r = _get(http, p, limit=10)
    url = r.links["next"]["url"]
    assert check(url, p), url
    assert r.headers["X-Total-Count"] == "23"


def test_not_found_link_answers_404(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(link="not_found")
    url = _get(http, p, limit=10).links["next"]["url"]
    assert ocpi_get(http, p, V, url).status_code == 404


def test_nonce_link_ignores_offset_and_never_ends(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(quirk="nonce_link")
    first = _get(http, p, limit=10)
    links, url = [], first.links["next"]["url"]
    for _ in range(5):
        r = ocpi_get(http, p, V, url)
        assert _uids(r) == _uids(first)  # always the first page
        links.append(url)
        url = r.links["next"]["url"]
    assert len(set(links)) == 5
    assert parse_qs(urlsplit(url).query)["nonce"] == ["6"]
    assert _uids(_get(http, p, offset=10, limit=10)) == _uids(first)
    # a short page says nothing more
    p.set_faults(quirk="nonce_link", page_cap=50)
    assert "Link" not in _get(http, p, limit=50).headers


def test_huge_total(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(quirk="huge_total")
    first = _get(http, p, limit=10)
    later = _get(http, p, offset=500, limit=10)
    assert _uids(later) == _uids(first)
    for r in (first, later):
        assert r.headers["X-Total-Count"] == "1000000"
        assert "Link" not in r.headers


@pytest.mark.parametrize("page", [1, 3, 7, 10, 24])
def test_duplicate_entry_at_any_page_size(
    p: MockPlatform, http: requests.Session, page: int
) -> None:
    objects = [t["uid"] for t in p.expected("tokens", V)]
    p.set_faults(quirk="duplicate", page_cap=page)
    got, responses = crawl(http, p, V, "tokens", limit=page)
    uids = [t["uid"] for t in got]
    assert responses[0].headers["X-Total-Count"] == str(len(objects) + 1)
    assert len(uids) == len(objects) + 1
    (twice,) = [u for u, n in Counter(uids).items() if n == 2]
    assert sorted(set(uids)) == sorted(objects)
    i = uids.index(twice)
    assert uids[i + 1] == twice  # adjacent, in serving order
    assert uids[:i] + uids[i + 1 :] == objects


def test_duplicate_is_seeded(platform_factory, http: requests.Session) -> None:
    def twice(seed: int) -> str:
        q = platform_factory(tokens=40, seed=seed, faults={"quirk": "duplicate"})
        uids = _uids(_get(http, q))
        return next(u for u, n in Counter(uids).items() if n == 2)

    assert twice(3) == twice(3)


def test_details_twice_on_211(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(quirk="details_twice")
    endpoints = ocpi_get(http, p, "2.1.1", p.details_url("2.1.1")).json()["data"]["endpoints"]
    urls = [e["url"] for e in endpoints if e["identifier"] == "tokens"]
    assert urls == [f"{p.base_url}/ocpi/cpo/2.1.1/tokens", p.endpoint_url("2.1.1", "tokens")]
    assert [e["identifier"] for e in endpoints].count("credentials") == 1
    assert ocpi_get(http, p, "2.1.1", urls[0]).status_code == 404
    assert ocpi_get(http, p, "2.1.1", urls[1]).status_code == 200
    # 2.2+ details have roles: unchanged
    details = ocpi_get(http, p, V, p.details_url(V)).json()["data"]
    assert len({e["identifier"] for e in details["endpoints"]}) == len(details["endpoints"])


def test_details_in_list(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(quirk="details_in_list")
    for version in ("2.1.1", V, "2.3.0"):
        data = ocpi_get(http, p, version, p.details_url(version)).json()["data"]
        assert isinstance(data, list)
        assert len(data) == 1
        assert data[0]["version"] == version
        assert data[0]["endpoints"]


def test_kwh_case(p: MockPlatform, http: requests.Session) -> None:
    p.set_faults(quirk="kwh_case")
    for version in ("2.1.1", V, "2.3.0"):
        sessions = ocpi_get(
            http, p, version, "sessions", params={"date_from": "2000-01-01T00:00:00Z"}
        ).json()["data"]
        assert sessions
        assert all("kWh" in s and "kwh" not in s for s in sessions)
    cdr = _get(http, p, "cdrs").json()["data"][0]
    assert "total_energy" in cdr  # only sessions are affected


def test_quirks_via_admin_and_cli(platform_factory, http: requests.Session) -> None:
    q = platform_factory(tokens=5)
    r = http.post(f"{q.admin_url}/faults", json={"quirk": "no_headers"}, timeout=10)
    assert r.json() == {"quirk": "no_headers"}
    bad = http.post(f"{q.admin_url}/faults", json={"quirk": "sideways"}, timeout=10)
    assert bad.status_code == 400
    assert "quirk must be one of" in bad.json()["error"]
    cli = subprocess.run(
        [sys.executable, "-m", "tap_ocpi.mock_platform", "--fault", "quirk=sideways"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode != 0
    assert "quirk must be one of" in cli.stderr
