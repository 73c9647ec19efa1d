"""Versions, version details, credentials, auth and unknown paths."""

from __future__ import annotations

import base64

import pytest
import requests

from support.mock_helpers import ocpi_get
from tap_ocpi.mock_platform import MockPlatform

ALL = ("2.1.1", "2.2.1", "2.3.0")


def b64(token: str) -> str:
    return base64.b64encode(token.encode()).decode()


def test_versions_list(ocpi_platform: MockPlatform, http: requests.Session) -> None:
    r = http.get(
        ocpi_platform.versions_url, headers={"Authorization": f"Token {ocpi_platform.token}"}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["status_code"] == 1000
    assert set(body) == {"data", "status_code", "status_message", "timestamp"}
    assert [v["version"] for v in body["data"]] == list(ALL)
    assert all(v["url"] == ocpi_platform.details_url(v["version"]) for v in body["data"])


@pytest.mark.parametrize("version", ALL)
def test_version_details(ocpi_platform: MockPlatform, http: requests.Session, version: str) -> None:
    r = ocpi_get(http, ocpi_platform, version, ocpi_platform.details_url(version))
    data = r.json()["data"]
    assert data["version"] == version
    ids = [e["identifier"] for e in data["endpoints"]]
    expected = ["credentials", "locations", "sessions", "cdrs", "tariffs", "tokens"]
    if version != "2.1.1":
        expected.append("hubclientinfo")
    assert ids == expected
    for e in data["endpoints"]:
        assert e["url"] == ocpi_platform.endpoint_url(version, e["identifier"])
        if version == "2.1.1":
            assert set(e) == {"identifier", "url"}
        else:
            assert set(e) == {"identifier", "role", "url"}
            assert e["role"] == "SENDER"


@pytest.mark.parametrize("version", ALL)
def test_credentials_shape(
    ocpi_platform: MockPlatform, http: requests.Session, version: str
) -> None:
    data = ocpi_get(http, ocpi_platform, version, "credentials").json()["data"]
    assert data["token"] == ocpi_platform.token
    assert data["url"] == ocpi_platform.versions_url
    if version == "2.1.1":
        assert set(data) == {"token", "url", "business_details", "party_id", "country_code"}
        assert (data["country_code"], data["party_id"]) == ("DE", "VLT")
    else:
        assert {"token", "url", "roles"} <= set(data)
        roles = {r["role"] for r in data["roles"]}
        assert {"CPO", "EMSP"} <= roles
        assert ("HUB" in roles) == (version == "2.2.1")  # 2.3.0 dropped the HUB role
        assert ("hub_party_id" in data) == (version == "2.3.0")
        for role in data["roles"]:
            assert set(role) == {"role", "business_details", "party_id", "country_code"}


def test_only_configured_versions(platform_factory, http: requests.Session) -> None:
    p = platform_factory(versions=("2.2.1",), sessions=10)
    r = http.get(p.versions_url, headers={"Authorization": p.auth_header()})
    assert [v["version"] for v in r.json()["data"]] == ["2.2.1"]
    r = ocpi_get(http, p, "2.1.1", "locations")
    assert r.status_code == 404
    r = ocpi_get(http, p, "2.2.1", "locations")
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("path", "version"),
    [
        ("/ocpi/2.2.1/nosuchmodule", "2.2.1"),
        ("/ocpi/9.9.9", None),
        ("/elsewhere", None),
        ("/ocpi/2.1.1/hubclientinfo", "2.1.1"),
        ("/ocpi/2.2.1/sessions/x", "2.2.1"),
    ],
)
def test_unknown_paths_get_404_envelope(
    ocpi_platform: MockPlatform, http: requests.Session, path: str, version: str | None
) -> None:
    r = http.get(
        ocpi_platform.base_url + path, headers={"Authorization": ocpi_platform.auth_header(version)}
    )
    assert r.status_code == 404
    body = r.json()
    assert body["status_code"] == 2000
    assert "timestamp" in body
    assert "data" not in body


def test_unknown_location_object_is_2003(
    ocpi_platform: MockPlatform, http: requests.Session
) -> None:
    for path in ("locations/NOPE", "locations/LOC999999", "locations/LOC000001/EVSE0/1"):
        r = ocpi_get(http, ocpi_platform, "2.2.1", path)
        assert r.status_code == 404
        assert r.json()["status_code"] == 2003


def test_post_is_405(ocpi_platform: MockPlatform, http: requests.Session) -> None:
    r = http.post(
        ocpi_platform.endpoint_url("2.2.1", "locations"),
        json={},
        headers={"Authorization": ocpi_platform.auth_header("2.2.1")},
    )
    assert r.status_code == 405
    assert r.json()["status_code"] == 2000


# ---- auth --------------------------------------------------------------------------------


def _status(http: requests.Session, p: MockPlatform, version: str, value: str | None) -> int:
    headers = {} if value is None else {"Authorization": value}
    return http.get(p.endpoint_url(version, "tariffs"), headers=headers).status_code


def test_auto_encoding_is_plain_on_211_and_base64_on_22(
    ocpi_platform: MockPlatform, http: requests.Session
) -> None:
    t = ocpi_platform.token
    assert _status(http, ocpi_platform, "2.1.1", f"Token {t}") == 200
    assert _status(http, ocpi_platform, "2.1.1", f"Token {b64(t)}") == 401
    for v in ("2.2.1", "2.3.0"):
        assert _status(http, ocpi_platform, v, f"Token {b64(t)}") == 200
        assert _status(http, ocpi_platform, v, f"Token {t}") == 401
    for value in (t, b64(t)):  # the versions endpoint cannot know the version yet
        r = http.get(ocpi_platform.versions_url, headers={"Authorization": f"Token {value}"})
        assert r.status_code == 200


@pytest.mark.parametrize(
    ("encoding", "plain_ok", "b64_ok"),
    [
        ("plain", True, False),
        ("base64", False, True),
        ("both", True, True),
    ],
)
def test_token_encodings(
    platform_factory, http: requests.Session, encoding: str, plain_ok: bool, b64_ok: bool
) -> None:
    p = platform_factory(token="s3cret-T0ken", token_encoding=encoding, sessions=5)
    for version in ALL:
        assert (_status(http, p, version, "Token s3cret-T0ken") == 200) is plain_ok
        assert (_status(http, p, version, f"Token {b64('s3cret-T0ken')}") == 200) is b64_ok


@pytest.mark.parametrize("value", [None, "", "Token", "Token wrong", "Bearer {token}", "{token}"])
def test_bad_or_missing_token_is_401_envelope(
    ocpi_platform: MockPlatform, http: requests.Session, value: str | None
) -> None:
    headers = {} if value is None else {"Authorization": value.format(token=ocpi_platform.token)}
    for url in (ocpi_platform.versions_url, ocpi_platform.endpoint_url("2.1.1", "locations")):
        r = http.get(url, headers=headers)
        assert r.status_code == 401
        body = r.json()
        assert body["status_code"] == 2000
        assert "data" not in body
        assert body["timestamp"]


def test_scheme_is_case_insensitive(ocpi_platform: MockPlatform, http: requests.Session) -> None:
    assert _status(http, ocpi_platform, "2.1.1", f"token {ocpi_platform.token}") == 200


def test_request_ids_are_echoed_and_logged(platform_factory, http: requests.Session) -> None:
    p = platform_factory(sessions=5)
    r = ocpi_get(
        http,
        p,
        "2.2.1",
        "tariffs",
        headers={
            "X-Request-ID": "req-1",
            "X-Correlation-ID": "corr-1",
            "OCPI-from-party-id": "TAP",
        },
    )
    assert r.headers["X-Request-ID"] == "req-1"
    assert r.headers["X-Correlation-ID"] == "corr-1"
    method, path, headers = p.request_log[-1]
    assert (method, path) == ("GET", "/ocpi/2.2.1/tariffs")
    assert headers["X-Request-ID"] == "req-1"
    assert headers["OCPI-from-party-id"] == "TAP"
    assert headers["Authorization"] == p.auth_header("2.2.1")


def test_request_log_is_bounded(platform_factory, http: requests.Session) -> None:
    p = platform_factory(sessions=5, request_log_size=5)
    for n in range(8):
        ocpi_get(http, p, "2.2.1", f"tariffs?offset={n}")
    log = p.request_log
    assert len(log) == 5
    assert log[-1].path == "/ocpi/2.2.1/tariffs?offset=7"
    p.clear_request_log()
    assert p.request_log == []


@pytest.mark.parametrize("version", ALL)
def test_single_location_evse_connector(
    ocpi_platform: MockPlatform, http: requests.Session, version: str
) -> None:
    for loc in list(ocpi_platform.expected("locations", version))[:5]:
        r = ocpi_get(http, ocpi_platform, version, f"locations/{loc['id']}")
        assert r.json()["data"] == loc
        evse = loc["evses"][-1]
        r = ocpi_get(http, ocpi_platform, version, f"locations/{loc['id']}/{evse['uid']}")
        assert r.json()["data"] == evse
        conn = evse["connectors"][-1]
        r = ocpi_get(
            http, ocpi_platform, version, f"locations/{loc['id']}/{evse['uid']}/{conn['id']}/"
        )
        assert r.status_code == 200
        assert r.json()["data"] == conn
