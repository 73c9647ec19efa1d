"""`tap-ocpi --diagnose` against the bundled platform: normal mode and quirk modes.

The report names what the platform does (versions, token form, paging headers, links,
filters, shapes) and what the tap will do about it, in a bounded number of requests, and
never a value from a record, a token, a salt or a query string.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from support.config import tap_config
from support.hostile import HostileServer, raw
from support.tap_runner import TapRun, discover, run_tap, select
from tap_ocpi.diagnose import PROBE_LIMIT
from tap_ocpi.mock_platform import MockPlatform, PlatformConfig

SALT = "diagnosis-salt-0123456789"
#: Requests a diagnosis may make: the two negotiation documents, then per module at most a
#: first page, its next link, an offset page and a date-filtered page.
MAX_REQUESTS = 3 + 4 * 6


def diagnose(platform: MockPlatform, *args: str, **config: Any) -> TapRun:
    settings = tap_config(platform, {"privacy_salt": SALT, "ocpi_version": "2.2.1"}, **config)
    return run_tap(settings, "--diagnose", *args, timeout=120)


def report(run: TapRun) -> dict[str, Any]:
    data = json.loads(run.stdout)
    assert isinstance(data, dict)
    return data


def module(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in data["modules"] if m["stream"] == name)


@pytest.fixture(scope="module")
def platform(module_platform_factory: Any) -> MockPlatform:
    config = PlatformConfig(seed=11, locations=20, sessions=60, tokens=12, tariffs=4, clients=2)
    return module_platform_factory(config)


def test_normal_platform_is_ready_and_says_why(platform: MockPlatform) -> None:
    run = diagnose(platform)
    assert run.returncode == 0, run.stderr
    text = run.stdout
    assert "version chosen:   2.2.1 (pinned by ocpi_version 2.2.1)" in text
    assert "token form:       base64" in text
    assert "sessions (sessions): READY" in text
    assert "next link:      usable (same origin, answers, does not skip)" in text
    assert "date filter:    honoured" in text
    assert "pseudonymised: uid" in text  # what default privacy does to tokens
    assert not run.messages, "a diagnosis writes no Singer message"
    assert "Traceback" not in run.stderr


def test_json_report_and_bounded_requests(platform: MockPlatform) -> None:
    run = diagnose(platform, "--format", "json")
    assert run.returncode == 0, run.stderr
    data = report(run)
    assert data["ok"] is True
    assert data["version_chosen"] == "2.2.1"
    assert {m["stream"] for m in data["modules"]} >= {"sessions", "cdrs", "locations"}
    assert 0 < data["requests"] <= MAX_REQUESTS
    for m in data["modules"]:
        assert m["requests"] <= 4, m
        assert m["verdict"] in ("ready", "works with fallbacks", "skipped"), m


def test_missing_link_is_named_with_its_fallback(platform_factory: Any) -> None:
    platform = platform_factory(PlatformConfig(seed=5, sessions=30, locations=10, tokens=5))
    platform.set_faults(link="missing")
    data = report(diagnose(platform, "--format", "json"))
    sessions = module(data, "sessions")
    assert sessions["headers"]["Link"] is False
    assert sessions["verdict"] == "works with fallbacks"
    assert "no next link: paging by offset" in sessions["fallbacks"]
    assert sessions["offset_paging"] == "works"


def test_link_to_another_host_is_refused(platform_factory: Any) -> None:
    platform = platform_factory(PlatformConfig(seed=5, sessions=30, locations=10, tokens=5))
    platform.set_faults(link="wrong_host")
    data = report(diagnose(platform, "--format", "json"))
    sessions = module(data, "sessions")
    assert sessions["link"].startswith("points to another host")
    assert "next link refused: paging by offset" in sessions["fallbacks"]


def test_missing_total_and_naive_timestamps_are_named(platform_factory: Any) -> None:
    platform = platform_factory(PlatformConfig(seed=5, sessions=30, locations=10, tokens=5))
    platform.set_faults(no_total=True, timestamps="no_z")
    data = report(diagnose(platform, "--format", "json"))
    sessions = module(data, "sessions")
    assert sessions["headers"]["X-Total-Count"] is False
    assert any("no X-Total-Count" in f for f in sessions["fallbacks"])
    assert set(sessions["timestamp_forms"]) == {"no zone (read as UTC), whole seconds"}


def test_a_module_that_fails_makes_the_diagnosis_fail(platform_factory: Any) -> None:
    platform = platform_factory(PlatformConfig(seed=5, sessions=30, locations=10, tokens=5))
    platform.set_faults(error_rate=1.0)
    run = diagnose(platform, "--format", "json", max_retries=1, retry_max_wait=0)
    assert run.returncode != 0
    data = report(run)
    assert data["ok"] is False
    assert module(data, "sessions")["verdict"] == "will not work"
    assert "Traceback" not in run.stderr


def test_no_value_token_salt_or_query_in_the_report(platform: MockPlatform) -> None:
    """Plant-free: every string value of the first page's objects is a candidate leak; none
    of them, nor the token, the salt or a query string, may appear in the report."""
    run_text = diagnose(platform)
    run_json = diagnose(platform, "--format", "json")
    out = run_text.stdout + run_text.stderr + run_json.stdout + run_json.stderr
    assert platform.token not in out
    assert SALT not in out
    for query in ("date_from=", "offset=", "limit="):
        assert query not in out
    values = _first_page_values(platform)
    assert values, "the platform served no objects to compare with"
    leaked = sorted(v for v in values if v in out)
    assert not leaked, leaked[:5]


def _first_page_values(platform: MockPlatform) -> set[str]:
    """Personal-looking values of the objects a diagnosis sees (strings long enough not to
    occur by chance in a report: ids, uids, names, addresses)."""
    import requests  # noqa: PLC0415

    values: set[str] = set()
    for module_name in ("sessions", "tokens", "cdrs"):
        url = f"{platform.versions_url.rsplit('/', 1)[0]}/2.2.1/{module_name}"
        response = requests.get(
            url,
            params={"limit": PROBE_LIMIT, "date_from": "1970-01-01T00:00:00Z"},
            headers={"Authorization": f"Token {_b64(platform.token)}"},
            timeout=10,
        )
        for obj in response.json().get("data", []):
            _strings(obj, values)
    return {v for v in values if len(v) >= 8 and not v.startswith(("20", "19"))}


def _strings(node: Any, out: set[str]) -> None:
    if isinstance(node, str):
        out.add(node)
    elif isinstance(node, dict):
        for value in node.values():
            _strings(value, out)
    elif isinstance(node, list):
        for value in node:
            _strings(value, out)


def _b64(token: str) -> str:
    import base64  # noqa: PLC0415

    return base64.b64encode(token.encode()).decode()


#: Per quirk mode of the test platform: (faults, version, stream, what the report must say).
QUIRK_REPORTS = {
    "no_headers": ({"quirk": "no_headers"}, "2.2.1", "sessions", "no next link: paging by offset"),
    "nonce_link": ({"quirk": "nonce_link"}, "2.2.1", "sessions", "it loops"),
    "huge_total": ({"quirk": "huge_total"}, "2.2.1", "sessions", "offset is ignored"),
    "details_twice": (
        {"quirk": "details_twice"},
        "2.1.1",
        "sessions",
        "serves no list: the next URL is used",
    ),
    "kwh_case": ({"quirk": "kwh_case"}, "2.2.1", "sessions", "kWh -> kwh"),
    "link_wrong_host": ({"link": "wrong_host"}, "2.2.1", "sessions", "another host"),
    "link_wrong_port": ({"link": "wrong_port"}, "2.2.1", "sessions", "another host"),
    "link_skip_ahead": ({"link": "skip_ahead"}, "2.2.1", "sessions", "skips objects"),
    "link_not_found": ({"link": "not_found"}, "2.2.1", "sessions", "next link fails"),
}


@pytest.mark.parametrize("name", list(QUIRK_REPORTS))
def test_each_quirk_mode_is_named_in_the_report(name: str, platform_factory: Any) -> None:
    faults, version, stream, said = QUIRK_REPORTS[name]
    platform = platform_factory(PlatformConfig(seed=5, sessions=30, locations=10, tokens=5))
    platform.set_faults(**faults)
    run = diagnose(platform, "--format", "json", ocpi_version=version)
    data = report(run)
    entry = module(data, stream)
    assert said in json.dumps(entry), entry
    broken = entry["verdict"] == "will not work"
    assert run.returncode == (1 if broken else 0), run.stderr[-2000:]
    assert data["requests"] <= MAX_REQUESTS + 6  # 2.1.1: one more request per module listed twice
    assert "Traceback" not in run.stderr


def test_no_salt_fails_the_diagnosis_as_it_fails_the_run(platform: MockPlatform) -> None:
    settings = tap_config(platform, {"ocpi_version": "2.2.1"})
    run = run_tap(settings, "--diagnose", "--format", "json", timeout=120)
    data = report(run)
    assert run.returncode == 1
    tokens = module(data, "tokens")
    assert tokens["verdict"] == "will not work"
    assert "privacy_salt" in tokens["why"]


def test_the_catalog_decides_which_modules_are_diagnosed(platform: MockPlatform) -> None:
    settings = tap_config(platform, {"privacy_salt": SALT, "ocpi_version": "2.2.1"})
    catalog = select(discover(settings), {"locations"})
    run = run_tap(settings, "--diagnose", "--format", "json", catalog=catalog, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert [m["stream"] for m in report(run)["modules"]] == ["locations"]


def test_a_reason_phrase_with_the_token_never_reaches_the_user() -> None:
    """The server's reason phrase is its own text: the standard phrase is shown instead."""
    token = "hostile-test-token-0123456789"
    phrase = f"HTTP/1.1 404 Unknown token {token} for Jan-Jansen\r\n"
    body = b'{"status_code": 2001}'
    head = f"{phrase}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    with HostileServer(modules=("sessions",)) as server:
        server.route("sessions", raw(head.encode() + body))
        config = server.config(token=token)
        sync = run_tap(config, timeout=60)
        diagnosis = run_tap(config, "--diagnose", timeout=60)
    for run in (sync, diagnosis):
        assert run.returncode == 1
        out = run.stdout + run.stderr
        assert token not in out
        assert "Jan-Jansen" not in out
    assert "HTTP 404 Not Found" in sync.stderr
