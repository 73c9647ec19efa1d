"""Version traits (one table) and the shapes of version details (unit level, requests-mock)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests_mock as rm

from tap_ocpi.auth import TokenAuth, default_encoding
from tap_ocpi.normalize import rules_version
from tap_ocpi.settings import Settings
from tap_ocpi.transport import OCPIClient
from tap_ocpi.versions import SUPPORTED, TRAITS, endpoint_lists, negotiate, traits

HOST = "https://cpo.example.com"
VERSIONS = f"{HOST}/ocpi/versions"


def ok(data: Any) -> dict[str, Any]:
    return {"data": data, "status_code": 1000, "timestamp": "2024-01-01T00:00:00Z"}


def client() -> OCPIClient:
    config = {"versions_url": VERSIONS, "retry_max_wait": 0, "max_retries": 2}
    return OCPIClient(
        Settings.from_config(config), TokenAuth("tok", "auto"), logging.getLogger("test")
    )


@pytest.mark.parametrize(
    ("version", "mapping", "form", "tracing", "roles"),
    [
        ("2.0", "2.1.1", "plain", False, False),
        ("2.1.1", "2.1.1", "plain", False, False),
        ("2.2", "2.2.1", "base64", True, True),
        ("2.2.1", "2.2.1", "base64", True, True),
        ("2.3.0", "2.3.0", "base64", True, True),
        ("2.4", "2.3.0", "base64", True, True),
    ],
)
def test_one_table_answers_every_version_question(
    version: str, mapping: str, form: str, tracing: bool, roles: bool
) -> None:
    kind = traits(version)
    assert (kind.mapping, kind.token_form, kind.tracing_headers, kind.roles_known) == (
        mapping,
        form,
        tracing,
        roles,
    )
    # the consumers read the same table
    assert rules_version(version) == mapping
    assert default_encoding(version) == form
    c = client()
    c.version = version
    assert bool(c.headers("sessions")) is tracing


def test_supported_versions_are_the_table_best_first() -> None:
    assert SUPPORTED == tuple(TRAITS) == ("2.3.0", "2.2.1", "2.2", "2.1.1")
    with pytest.raises(ValueError, match="unsupported"):
        traits("3.0")
    assert default_encoding("3.0") == "base64"


def test_without_roles_every_url_of_a_module_is_kept_in_order() -> None:
    details = {
        "version": "2.1.1",
        "endpoints": [
            {"identifier": "tokens", "url": f"{HOST}/cpo/tokens"},
            {"identifier": "Tokens", "url": f"{HOST}/emsp/tokens"},
            {"identifier": "tokens", "url": f"{HOST}/cpo/tokens"},  # listed again: once
            {"identifier": "tariffs", "url": f"{HOST}/tariffs"},
        ],
    }
    assert endpoint_lists(details, roles_known=False) == {
        "tokens": (f"{HOST}/cpo/tokens", f"{HOST}/emsp/tokens"),
        "tariffs": (f"{HOST}/tariffs",),
    }


def test_with_roles_only_the_first_sender_url_is_used() -> None:
    details = {
        "endpoints": [
            {"identifier": "tokens", "role": "RECEIVER", "url": f"{HOST}/r/tokens"},
            {"identifier": "tokens", "role": "SENDER", "url": f"{HOST}/s/tokens"},
            {"identifier": "tokens", "role": "SENDER", "url": f"{HOST}/s2/tokens"},
        ]
    }
    assert endpoint_lists(details, roles_known=True) == {"tokens": (f"{HOST}/s/tokens",)}


def _details(version: str) -> dict[str, Any]:
    return {
        "version": version,
        "endpoints": [
            {"identifier": "credentials", "role": "SENDER", "url": f"{HOST}/credentials"},
            {"identifier": "tariffs", "role": "SENDER", "url": f"{HOST}/tariffs"},
        ],
    }


def test_details_in_a_one_element_list_are_unwrapped(requests_mock: rm.Mocker) -> None:
    requests_mock.get(VERSIONS, json=ok([{"version": "2.2.1", "url": f"{HOST}/ocpi/2.2.1"}]))
    requests_mock.get(f"{HOST}/ocpi/2.2.1", json=ok([_details("2.2.1")]))
    c = client()
    platform = negotiate(c, c.settings)
    assert platform.modules["tariffs"] == f"{HOST}/tariffs"
    assert platform.urls("tariffs") == (f"{HOST}/tariffs",)
    assert platform.urls("sessions") == ()


def test_details_in_a_list_given_as_versions_url(requests_mock: rm.Mocker) -> None:
    requests_mock.get(VERSIONS, json=ok([_details("2.3.0")]))
    c = client()
    platform = negotiate(c, c.settings)
    assert (platform.wire_version, platform.version) == ("2.3.0", "2.3.0")
    assert requests_mock.call_count == 1
