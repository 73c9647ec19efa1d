"""Transport edge cases with requests-mock: negotiation, token fallback, envelope, retries.

End-to-end behaviour against the bundled platform is in test_tap_e2e.py; these pin down the
corner cases that a real server rarely shows on demand.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests_mock as rm

from tap_ocpi.auth import TokenAuth
from tap_ocpi.errors import AuthRejectedError, OCPIError, OCPIStatusError
from tap_ocpi.session import retry_after_seconds
from tap_ocpi.settings import Settings
from tap_ocpi.transport import OCPIClient
from tap_ocpi.versions import choose_version, negotiate

HOST = "https://cpo.example.com"
VERSIONS = f"{HOST}/ocpi/versions"
TOKEN = "tok-123"
B64 = "dG9rLTEyMw=="


def ok(data: Any) -> dict[str, Any]:
    return {"data": data, "status_code": 1000, "timestamp": "2024-01-01T00:00:00Z"}


def details(version: str, roles: bool = True) -> dict[str, Any]:
    def endpoint(identifier: str, role: str) -> dict[str, str]:
        item = {
            "identifier": identifier,
            "url": f"{HOST}/ocpi/{version}/{role.lower()}/{identifier}",
        }
        if roles:
            item["role"] = role
        return item

    endpoints = [
        endpoint("credentials", "SENDER"),
        endpoint("locations", "SENDER"),
        endpoint("sessions", "SENDER"),
    ]
    if roles:
        endpoints.append(endpoint("tokens", "RECEIVER"))
    return ok({"version": version, "endpoints": endpoints})


def make_client(token: str | None = TOKEN, mode: str = "auto", **config: Any) -> OCPIClient:
    config = {"versions_url": VERSIONS, "retry_max_wait": 0, "max_retries": 3, **config}
    return OCPIClient(
        Settings.from_config(config), TokenAuth(token, mode), logging.getLogger("test")
    )


def test_negotiates_highest_common_version_and_sender_endpoints(requests_mock: rm.Mocker) -> None:
    requests_mock.get(
        VERSIONS,
        json=ok(
            [
                {"version": "2.1.1", "url": f"{HOST}/ocpi/2.1.1"},
                {"version": "2.2.1", "url": f"{HOST}/ocpi/2.2.1"},
                {"version": "9.9", "url": f"{HOST}/ocpi/9.9"},
            ]
        ),
    )
    requests_mock.get(f"{HOST}/ocpi/2.2.1", json=details("2.2.1"))
    client = make_client()
    platform = negotiate(client, client.settings)
    assert platform.version == "2.2.1"
    assert "tokens" not in platform.modules  # RECEIVER only: no list GET to read
    assert platform.modules["sessions"] == f"{HOST}/ocpi/2.2.1/sender/sessions"
    assert requests_mock.request_history[0].headers["Authorization"] == f"Token {B64}"


def test_versions_document_wrapped_in_an_object_is_accepted(requests_mock: rm.Mocker) -> None:
    requests_mock.get(VERSIONS, json=ok({"versions": [{"version": "2.2.1", "url": f"{HOST}/d"}]}))
    requests_mock.get(f"{HOST}/d", json=details("2.2.1"))
    client = make_client()
    assert negotiate(client, client.settings).version == "2.2.1"


def test_version_details_url_is_accepted_as_versions_url(requests_mock: rm.Mocker) -> None:
    requests_mock.get(VERSIONS, json=details("2.3.0"))
    client = make_client()
    assert negotiate(client, client.settings).version == "2.3.0"


def test_pinned_version_and_errors() -> None:
    offered = [{"version": "2.1.1", "url": "a"}, {"version": "2.2.1", "url": "b"}]
    assert choose_version(offered, "2.1.1") == ("2.1.1", "a")
    with pytest.raises(OCPIError, match=r"ocpi_version 2\.3\.0 is not offered"):
        choose_version(offered, "2.3.0")
    with pytest.raises(OCPIError, match="no common OCPI version"):
        choose_version([{"version": "2.0", "url": "x"}], None)


def test_211_plain_token_after_base64_rejected_on_versions(requests_mock: rm.Mocker) -> None:
    def versions(request: Any, context: Any) -> dict[str, Any]:
        if request.headers.get("Authorization") != f"Token {TOKEN}":
            context.status_code = 401
            return {"status_code": 2000, "timestamp": "2024-01-01T00:00:00Z"}
        return ok([{"version": "2.1.1", "url": f"{HOST}/ocpi/2.1.1"}])

    requests_mock.get(VERSIONS, json=versions)
    requests_mock.get(f"{HOST}/ocpi/2.1.1", json=details("2.1.1", roles=False))
    requests_mock.get(
        f"{HOST}/ocpi/2.1.1/sender/credentials",
        json=ok(
            {
                "token": "secret",
                "url": VERSIONS,
                "country_code": "NL",
                "party_id": "TNM",
                "business_details": {"name": "x"},
            }
        ),
    )
    client = make_client()
    platform = negotiate(client, client.settings)
    assert platform.owner == ("NL", "TNM")
    assert not platform.roles_known
    sent = [r.headers.get("Authorization") for r in requests_mock.request_history]
    assert sent[:2] == [f"Token {B64}", f"Token {TOKEN}"]
    assert set(sent[2:]) == {f"Token {TOKEN}"}  # kept for the whole run


def test_empty_versions_list_triggers_the_other_form(requests_mock: rm.Mocker) -> None:
    def versions(request: Any, context: Any) -> dict[str, Any]:
        plain = request.headers.get("Authorization") == f"Token {TOKEN}"
        return ok([{"version": "2.2.1", "url": f"{HOST}/ocpi/2.2.1"}] if plain else [])

    requests_mock.get(VERSIONS, json=versions)
    requests_mock.get(f"{HOST}/ocpi/2.2.1", json=details("2.2.1"))
    client = make_client()
    negotiate(client, client.settings)
    assert client.auth.encoding == "plain"


def test_token_rejected_in_both_forms_is_one_clear_error(requests_mock: rm.Mocker) -> None:
    requests_mock.get(VERSIONS, status_code=401, json={"status_code": 2000})
    client = make_client()
    with pytest.raises(AuthRejectedError, match="rejected the token") as info:
        negotiate(client, client.settings)
    assert TOKEN not in str(info.value)
    assert B64 not in str(info.value)
    assert requests_mock.call_count == 2


def test_ocpi_error_inside_http_200_names_the_status(requests_mock: rm.Mocker) -> None:
    requests_mock.get(
        VERSIONS,
        json={
            "status_code": 2001,
            "status_message": "DE-ABC-123 bad",
            "timestamp": "2024-01-01T00:00:00Z",
        },
    )
    client = make_client(mode="base64")
    with pytest.raises(OCPIStatusError, match="OCPI status 2001") as info:
        client.get(VERSIONS, "versions")
    assert "DE-ABC-123" not in str(info.value)  # server text may hold personal data


def test_non_ocpi_body_is_a_clear_error(requests_mock: rm.Mocker) -> None:
    requests_mock.get(VERSIONS, text="<html>Welcome</html>", headers={"Content-Type": "text/html"})
    client = make_client(mode="base64")
    with pytest.raises(
        OCPIError, match=r"GET /ocpi/versions: HTTP 200, but the body is text/html, not an OCPI"
    ):
        client.get(VERSIONS, "versions")


def test_http_404_with_framework_json_names_status_and_path(requests_mock: rm.Mocker) -> None:
    requests_mock.get(VERSIONS + "?x=1", status_code=404, json={"error": "Not Found"})
    client = make_client(mode="base64")
    with pytest.raises(OCPIError, match=r"^GET /ocpi/versions: HTTP 404"):
        client.get(VERSIONS + "?x=1", "versions")


def test_retries_5xx_and_invalid_json_then_succeeds(requests_mock: rm.Mocker) -> None:
    requests_mock.get(
        VERSIONS,
        [
            {"status_code": 503, "text": "busy"},
            {"status_code": 200, "text": '{"data": [{"vers'},
            {"status_code": 200, "json": ok([1])},
        ],
    )
    client = make_client(mode="base64")
    assert client.get(VERSIONS, "versions") == [1]
    assert requests_mock.call_count == 3


def test_gives_up_after_max_retries(requests_mock: rm.Mocker) -> None:
    requests_mock.get(VERSIONS, status_code=500, text="oops")
    client = make_client(mode="base64", max_retries=2)
    with pytest.raises(Exception, match="HTTP 500"):
        client.get(VERSIONS, "versions")
    assert requests_mock.call_count == 2


def test_retry_after_seconds_and_http_date() -> None:
    class R:
        def __init__(self, value: str) -> None:
            self.headers = {"Retry-After": value}

    assert retry_after_seconds(R("3")) == 3.0  # type: ignore[arg-type]
    assert retry_after_seconds(R("Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0  # type: ignore[arg-type]
    assert retry_after_seconds(R("soon")) is None  # type: ignore[arg-type]
    assert retry_after_seconds(None) is None


def test_ocpi_headers_per_version_and_module() -> None:
    client = make_client(
        from_country_code="DE", from_party_id="ABC", to_country_code="NL", to_party_id="TNM"
    )
    assert client.headers("locations") == {}  # version unknown yet (versions call)
    client.version = "2.1.1"
    assert client.headers("locations") == {}  # no routing or tracing headers in 2.1.1
    client.version = "2.2.1"
    functional, first_again = client.headers("sessions"), client.headers("sessions")
    assert functional["OCPI-from-country-code"] == "DE"
    assert functional["OCPI-to-party-id"] == "TNM"
    assert functional["X-Request-ID"] != first_again["X-Request-ID"]
    for configuration_module in ("versions", "credentials", "hubclientinfo"):
        headers = client.headers(configuration_module)
        assert "X-Request-ID" in headers
        assert not any(h.startswith("OCPI-") for h in headers)
