"""The tap end to end against the bundled OCPI test platform, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import socket
import time
from collections.abc import Iterator

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from support.config import TOP_LEVEL, tap_config
from support.tap_runner import TapRun, discover, run_tap, select
from tap_ocpi.mock_platform import MockPlatform, PlatformConfig

VERSIONS = ("2.1.1", "2.2.1", "2.3.0")
SALT = "e2e-salt-0123456789abcdef"
KEYED_BY_ID = ("locations", "sessions", "cdrs", "tariffs")


@pytest.fixture(scope="module")
def platform() -> Iterator[MockPlatform]:
    # A wall clock: the tap's bookmark is its own run start, so changes made between two runs
    # must be stamped with real time to fall into the second run's window.
    config = PlatformConfig(
        seed=7, locations=12, sessions=150, tariffs=4, tokens=20, clients=3, now="wall"
    )
    with MockPlatform(config) as running:
        yield running


# This file's settings for tap_config.
RUN = {"page_size": 40, "privacy_salt": SALT, "lookback_minutes": 0, "retry_max_wait": 1}


@pytest.fixture(scope="module", params=VERSIONS)
def full_run(request: pytest.FixtureRequest, platform: MockPlatform) -> tuple[str, TapRun]:
    version = request.param
    return version, run_tap(tap_config(platform, RUN, ocpi_version=version))


def modules_of(version: str) -> tuple[str, ...]:
    # Every top-level stream's module; OCPI 2.1.1 has no hubclientinfo.
    return tuple(s for s in TOP_LEVEL if version != "2.1.1" or s != "hubclientinfo")


def test_full_sync_exits_zero_and_reads_every_object(
    full_run: tuple[str, TapRun], platform: MockPlatform
) -> None:
    version, run = full_run
    assert run.returncode == 0, run.stderr[-2000:]
    records = run.records
    for module in modules_of(version):
        expected = list(platform.expected(module, version))
        assert len(records[module]) == len(expected), module
        if module in KEYED_BY_ID:
            assert sorted(r["id"] for r in records[module]) == sorted(e["id"] for e in expected)
    locations = list(platform.expected("locations", version))
    evses = [e for loc in locations for e in loc.get("evses") or []]
    assert len(records["evses"]) == len(evses)
    assert len(records["connectors"]) == sum(len(e["connectors"]) for e in evses)


def test_primary_keys_are_unique_and_never_null(full_run: tuple[str, TapRun]) -> None:
    _, run = full_run
    for stream, schema in run.schemas.items():
        keys = schema["key_properties"]
        rows = [tuple(r[k] for k in keys) for r in run.records[stream]]
        assert all(None not in row for row in rows), stream
        assert len(rows) == len(set(rows)), stream


def test_every_record_matches_its_schema(full_run: tuple[str, TapRun]) -> None:
    _, run = full_run
    for stream, message in run.schemas.items():
        validator = Draft202012Validator(message["schema"], format_checker=FormatChecker())
        for record in run.records[stream]:
            errors = [e.message for e in validator.iter_errors(record)]
            assert not errors, (stream, errors[:3])


def test_owner_of_211_objects_comes_from_the_platform(full_run: tuple[str, TapRun]) -> None:
    version, run = full_run
    owners = {(r["country_code"], r["party_id"]) for r in run.records["sessions"]}
    assert len(owners) == 1 if version == "2.1.1" else len(owners) >= 1
    assert None not in {c for c, _ in owners}


def test_token_uids_are_pseudonymised_not_blanked(
    full_run: tuple[str, TapRun], platform: MockPlatform
) -> None:
    version, run = full_run
    uids = {t["uid"] for t in platform.expected("tokens", version)}
    emitted = {r["uid"] for r in run.records["tokens"]}
    hashed = {hmac.new(SALT.encode(), u.encode(), hashlib.sha256).hexdigest() for u in uids}
    assert not emitted & uids
    assert emitted == hashed  # HMAC-SHA256(privacy_salt, uid): stable, joinable, not reversible


def test_final_state_holds_a_bookmark_per_stream(full_run: tuple[str, TapRun]) -> None:
    version, run = full_run
    for module in modules_of(version):
        bookmark = run.bookmark(module)
        assert bookmark is not None, module
        assert bookmark.endswith("Z"), bookmark
        # The bookmark is the end of the window read (date_to), not the newest object:
        # the next run's date_from, so the boundary object is not read twice.
        assert bookmark >= max(r["last_updated"] for r in run.records[module])
    assert "progress_markers" not in str(run.final_state)


def test_second_run_reads_only_what_changed(platform: MockPlatform) -> None:
    config = tap_config(platform, RUN, ocpi_version="2.2.1")
    catalog = select(discover(config), {"sessions", "locations", "evses"})
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.stderr[-2000:]
    bookmark = first.bookmark("sessions")
    changed = platform.advance(new_sessions=5, updated_sessions=3, updated_locations=1)
    time.sleep(1.1)  # date_to (exclusive) is the run's start second: let the stamps age
    platform.clear_request_log()
    second = run_tap(config, catalog=catalog, state=first.final_state)
    assert second.returncode == 0, second.stderr[-2000:]
    assert len(second.records["sessions"]) == 8, changed
    assert len(second.records["locations"]) == 1
    session_requests = [r.path for r in platform.request_log if "/sessions" in r.path]
    assert f"date_from={bookmark.replace(':', '%3A')}" in session_requests[0]
    assert "date_to=" in session_requests[0]
    assert second.bookmark("sessions") > bookmark


def test_lookback_moves_date_from_back(platform: MockPlatform) -> None:
    config = tap_config(platform, RUN, ocpi_version="2.2.1", lookback_minutes=60)
    catalog = select(discover(config), {"tariffs"})
    state = {
        "bookmarks": {
            "tariffs": {
                "replication_key": "last_updated",
                "replication_key_value": "2025-06-01T12:00:00Z",
            }
        }
    }
    platform.clear_request_log()
    run = run_tap(config, catalog=catalog, state=state)
    assert run.returncode == 0, run.stderr[-2000:]
    paths = [r.path for r in platform.request_log if "/tariffs" in r.path]
    assert "date_from=2025-06-01T11%3A00%3A00Z" in paths[0]


def test_start_date_wins_over_an_older_bookmark(platform: MockPlatform) -> None:
    config = tap_config(platform, RUN, ocpi_version="2.2.1", start_date="2025-09-01T00:00:00Z")
    catalog = select(discover(config), {"tariffs"})
    state = {
        "bookmarks": {
            "tariffs": {
                "replication_key": "last_updated",
                "replication_key_value": "2025-01-01T00:00:00Z",
            }
        }
    }
    platform.clear_request_log()
    assert run_tap(config, catalog=catalog, state=state).returncode == 0
    paths = [r.path for r in platform.request_log if "/tariffs" in r.path]
    assert "date_from=2025-09-01T00%3A00%3A00Z" in paths[0]


def test_headers_on_the_wire(platform: MockPlatform) -> None:
    routing = {
        "from_country_code": "NL",
        "from_party_id": "TAP",
        "to_country_code": "DE",
        "to_party_id": "VLT",
    }
    for version in ("2.1.1", "2.2.1"):
        config = tap_config(platform, RUN, ocpi_version=version, **routing)
        catalog = select(discover(config), {"tariffs", "hubclientinfo"})
        platform.clear_request_log()
        assert run_tap(config, catalog=catalog).returncode == 0
        log = platform.request_log
        assert all("tap-ocpi/" in r.headers.get("User-Agent", "") for r in log)
        assert all(r.headers.get("Accept") == "application/json" for r in log)
        ids = [r.headers.get("X-Request-ID") for r in log]
        if version == "2.1.1":
            assert not any(ids)
            assert not any("OCPI-from-party-id" in r.headers for r in log)
            continue
        ids = ids[1:]  # the versions list is read before the version is known
        assert all(ids)
        assert len(set(ids)) == len(ids)
        for record in log[1:]:
            functional = "/tariffs" in record.path
            assert ("OCPI-from-party-id" in record.headers) == functional, record.path
        tariffs = next(r for r in log if "/tariffs" in r.path)
        assert tariffs.headers["OCPI-to-party-id"] == "VLT"


def test_token_form_fallback_is_remembered() -> None:
    with MockPlatform(
        PlatformConfig(
            seed=3,
            locations=3,
            sessions=10,
            tokens=3,
            tariffs=2,
            clients=1,
            token_encoding="plain",
            versions=("2.2.1",),
        )
    ) as platform:
        config = tap_config(platform, RUN, ocpi_version="2.2.1")
        catalog = select(discover(config), {"sessions"})
        run = run_tap(config, catalog=catalog)
        assert run.returncode == 0, run.stderr[-2000:]
        forms = [r.headers.get("Authorization") for r in platform.request_log]
        plain = f"Token {platform.token}"
        assert forms[0] != plain  # 2.2+ starts with Base64 ...
        assert forms[1:] == [plain] * (len(forms) - 1)  # ... and keeps what worked
        assert platform.token not in run.stderr


def test_no_token_sends_no_authorization_header(platform: MockPlatform) -> None:
    config = tap_config(platform, RUN, ocpi_version="2.2.1")
    del config["token"]
    platform.clear_request_log()
    run = run_tap(config)
    assert run.returncode != 0
    assert not any("Authorization" in r.headers for r in platform.request_log)
    assert_one_line_error(run, "rejected the token")


def test_module_not_offered_is_skipped_with_one_warning(platform: MockPlatform) -> None:
    config = tap_config(platform, RUN, ocpi_version="2.1.1")
    run = run_tap(config, catalog=select(discover(config), {"hubclientinfo", "tariffs"}))
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stderr.count("hubclientinfo: skipped") == 1
    assert run.records["tariffs"]


def assert_one_line_error(run: TapRun, expected: str) -> None:
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-ocpi: error:"), run.stderr[-2000:]
    assert expected in last


def test_wrong_token_is_one_line_without_the_token(platform: MockPlatform) -> None:
    config = tap_config(platform, RUN, ocpi_version="2.2.1", token="not-the-token-4711")
    run = run_tap(config, loglevel="DEBUG")
    assert_one_line_error(run, "rejected the token")
    for form in ("not-the-token-4711", "bm90LXRoZS10b2tlbi00NzEx"):
        assert form not in run.stderr + run.stdout


def test_unreachable_platform_is_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = run_tap(
        {
            "versions_url": f"http://127.0.0.1:{port}/ocpi/versions",
            "token": "x",
            "privacy_salt": SALT,
            "max_retries": 1,
        }
    )
    assert_one_line_error(run, "could not connect")


def test_not_an_ocpi_platform_is_one_line(platform: MockPlatform) -> None:
    run = run_tap(
        {
            "versions_url": f"{platform.admin_url}/stats",
            "token": "x",
            "privacy_salt": SALT,
            "max_retries": 1,
        }
    )
    assert_one_line_error(run, "")


def test_no_common_version_is_one_line(platform: MockPlatform) -> None:
    run = run_tap(tap_config(platform, RUN, ocpi_version="2.2"))
    assert_one_line_error(run, "not offered")


def test_invalid_settings_fail_without_a_stack_trace() -> None:
    run = run_tap({"token": "x", "page_size": "many"})
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert "versions_url" in run.stderr


def test_discovery_needs_no_network() -> None:
    catalog = discover({"versions_url": "http://127.0.0.1:9/ocpi/versions"})
    names = {s["tap_stream_id"] for s in catalog["streams"]}
    assert names == {
        "locations",
        "evses",
        "connectors",
        "sessions",
        "cdrs",
        "tariffs",
        "tokens",
        "hubclientinfo",
    }
    for entry in catalog["streams"]:
        assert entry["replication_key"] == "last_updated"
        assert entry["replication_method"] == "INCREMENTAL"
        assert "anyOf" not in str(entry["schema"])


def test_about_formats() -> None:
    for fmt in ("json", "markdown"):
        run = run_tap({}, "--about", "--format", fmt)
        assert run.returncode == 0
        assert "versions_url" in run.stdout
        assert "privacy_pass" in run.stdout
