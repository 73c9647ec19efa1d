"""Broken or hostile settings, state and command lines: the real `tap-ocpi`, one line each.

Every failing case asserts the same contract: a non-zero exit, exactly one line on stderr that
says what is wrong (`tap-ocpi: error: …`) and is the last one, no stack trace, no ERROR line
beside it, the token (and any secret) nowhere in stdout or stderr, no STATE written (the
saved state stays as it was), and, where the problem is in the settings or the state, no
request sent to the platform.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.config import TOP_LEVEL, tap_config
from support.robustness_helpers import Scripted, paged
from support.tap_runner import TapRun, clean_env, discover, run_tap, select
from tap_ocpi.mock_platform import MockPlatform, PlatformConfig

SALT = "hostile-config-salt-0123456789"
SAVED = {  # a state a previous run could have written; every failing run must leave it be
    "bookmarks": {
        "sessions": {
            "replication_key": "last_updated",
            "replication_key_value": "2025-06-01T00:00:00Z",
        }
    }
}
TIMEOUT = 120


@pytest.fixture(scope="module")
def platform() -> Iterator[MockPlatform]:
    config = PlatformConfig(seed=11, locations=20, sessions=1500, tariffs=4, tokens=30, clients=2)
    with MockPlatform(config) as running:
        yield running


@pytest.fixture(scope="module")
def catalog() -> dict[str, Any]:
    return discover({"versions_url": "http://127.0.0.1:9/ocpi/versions"})


@pytest.fixture(autouse=True)
def _fresh_log(platform: MockPlatform) -> None:
    platform.clear_request_log()


USUAL = {"privacy_salt": SALT, "max_retries": 1, "start_date": "2020-01-01T00:00:00Z"}


def config_for(platform: MockPlatform, **extra: Any) -> dict[str, Any]:
    return tap_config(platform, USUAL, **extra)


def secrets_of(platform: MockPlatform) -> list[str]:
    token = platform.token
    return [token, base64.b64encode(token.encode()).decode(), SALT]


def one_line_error(run: TapRun, *expected: str, secrets: list[str]) -> str:
    """The contract every failing case shares (see the module docstring)."""
    assert run.returncode != 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    lines = run.stderr.strip().splitlines()
    errors = [line for line in lines if "tap-ocpi: error:" in line]
    assert len(errors) == 1, run.stderr[-3000:]
    assert lines[-1] == errors[0], run.stderr[-3000:]
    assert not [line for line in lines if "| ERROR" in line], run.stderr[-3000:]
    for text in expected:
        assert text in errors[0], errors[0]
    for secret in secrets:
        assert secret not in run.stdout
        assert secret not in run.stderr
    assert run.states == [], "a STATE was written: the saved state would move"
    return errors[0]


def assert_no_request(platform: MockPlatform) -> None:
    assert platform.request_log == [], "a bad setting or state must stop the tap before any request"


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"token": 987654321987654321}, "invalid settings: token: must be a string"),
        ({"privacy_salt": 987654321987654321}, "invalid settings: privacy_salt: must be a string"),
        ({"request_timeout": -1}, "invalid settings: request_timeout: must be at least 1"),
        ({"page_size": -1}, "invalid settings: page_size: must be at least 1"),
        ({"page_size": 0}, "invalid settings: page_size: must be at least 1"),
        ({"lookback_minutes": -15}, "lookback_minutes: must be at least 0"),
        ({"max_requests_per_second": -1}, "max_requests_per_second: must be at least 0"),
        ({"token_encoding": "hex"}, "token_encoding: must be one of auto, base64, plain"),
        ({"start_date": "yesterday"}, "start_date: must be a date-time"),
        ({"end_date": "2019-01-01T00:00:00Z"}, "end_date must be later than start_date"),
        ({"end_date": "2020-01-01T00:00:00Z"}, "end_date must be later than start_date"),
        ({"start_date": "2999-01-01T00:00:00Z"}, "start_date is not before this run's end"),
        ({"privacy_pass": {"sessions": 3}}, "privacy_pass.sessions: must be a list or a string"),
        ({"privacy_pass": {"sessions": "kwh,,id"}}, "privacy_pass.sessions: empty path"),
        ({"ca_bundle": "/nowhere/ca.pem"}, "ca_bundle: no file or directory at /nowhere/ca.pem"),
        ({"batch_config": "jsonl"}, "invalid settings: batch_config: must be an object"),
    ],
    ids=lambda value: json.dumps(value)[:40] if isinstance(value, dict) else None,
)
def test_a_bad_setting_is_one_line_before_any_request(
    platform: MockPlatform, extra: dict[str, Any], expected: str
) -> None:
    run = run_tap(config_for(platform, **extra), state=SAVED, timeout=TIMEOUT)
    line = one_line_error(run, expected, secrets=[*secrets_of(platform), "987654321987654321"])
    assert line.startswith("tap-ocpi: error: ")
    assert_no_request(platform)


def test_missing_versions_url_is_one_line(platform: MockPlatform) -> None:
    config = config_for(platform)
    del config["versions_url"]
    run = run_tap(config, state=SAVED, timeout=TIMEOUT)
    one_line_error(run, "invalid settings: versions_url is required", secrets=secrets_of(platform))


@pytest.mark.parametrize(
    ("make", "mode", "expected"),
    [
        (lambda t: t + "\n", "auto", "token: starts or ends with whitespace or a line break"),
        (lambda t: f" {t}", "auto", "token: starts or ends with whitespace"),
        (lambda t: t[:8] + "\r\n" + t[8:], "base64", "token: contains a line break or another"),
        (lambda t: t + "\U0001f600", "auto", "token: contains characters that cannot be sent"),
        (lambda t: t + "\U0001f600", "plain", "set token_encoding to base64"),
    ],
    ids=["trailing newline", "leading space", "CRLF inside", "emoji auto", "emoji plain"],
)
def test_a_token_that_cannot_be_sent_says_why_never_what(
    platform: MockPlatform, make: Any, mode: str, expected: str
) -> None:
    token = make(platform.token)
    run = run_tap(config_for(platform, token=token, token_encoding=mode), state=SAVED)
    one_line_error(run, expected, secrets=[*secrets_of(platform), token.strip()])
    assert_no_request(platform)


# -- state -----------------------------------------------------------------------------------


def bookmarks(value: Any) -> dict[str, Any]:
    return {
        "bookmarks": {
            "sessions": {"replication_key": "last_updated", "replication_key_value": value}
        }
    }


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"bookmarks": "x"}, "state: `bookmarks` must be an object"),
        ({"bookmarks": {"sessions": []}}, "state: the bookmark of sessions is not an object"),
        (bookmarks("garbage"), "state: the bookmark of sessions is not a date-time"),
        (
            bookmarks("2999-01-01T00:00:00Z"),
            "the bookmark of sessions (2999-01-01T00:00:00Z) is later",
        ),
        (bookmarks("2999-01-01T00:00:00Z"), "was a clock ahead?"),
    ],
    ids=["bookmarks a string", "stream state a list", "garbage", "future", "future hint"],
)
def test_a_state_that_cannot_be_resumed_is_one_line(
    platform: MockPlatform, state: dict[str, Any], expected: str
) -> None:
    run = run_tap(config_for(platform), state=state, timeout=TIMEOUT)
    one_line_error(run, expected, secrets=secrets_of(platform))
    assert_no_request(platform)


def test_a_bookmark_after_end_date_is_refused(platform: MockPlatform) -> None:
    """A backfill with an end_date before the saved bookmark would read nothing and move the
    bookmark back: refused like a bookmark from a clock that was ahead."""
    config = config_for(platform, end_date="2025-01-01T00:00:00Z")
    run = run_tap(config, state=SAVED, timeout=TIMEOUT)
    one_line_error(
        run,
        "bookmark of sessions (2025-06-01T00:00:00Z) is later than this run's end "
        "(2025-01-01T00:00:00Z)",
        secrets=secrets_of(platform),
    )


@pytest.mark.parametrize(
    ("option", "text", "expected"),
    [
        ("--state", "{not json", "--state: the file is not valid JSON (line 1, column 2)"),
        ("--state", "[1, 2]", "--state: the file must hold a JSON object"),
        ("--state", "\n\n", "--state: the file is not valid JSON (line 3, column 1)"),
        ("--catalog", '{"streams": [', "--catalog: the file is not valid JSON"),
        ("--config", '{"versions_url": ', "--config: the file is not valid JSON"),
        ("--config", "[]", "--config: the file must hold a JSON object"),
    ],
)
def test_a_file_that_is_not_json_is_one_line_naming_the_option(
    platform: MockPlatform, tmp_path: Path, option: str, text: str, expected: str
) -> None:
    files = {"--config": json.dumps(config_for(platform)), option: text}
    command = [sys.executable, "-m", "tap_ocpi"]
    for name, content in files.items():
        path = tmp_path / f"{name.strip('-')}.json"
        path.write_text(content)
        command += [name, str(path)]
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=clean_env(tmp_path),
        check=False,
    )
    run = TapRun(proc.returncode, proc.stdout, proc.stderr)
    one_line_error(run, expected, secrets=secrets_of(platform))
    assert_no_request(platform)


def test_a_missing_config_file_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tap_ocpi", "--config", str(tmp_path / "nowhere.json")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=clean_env(tmp_path),
        check=False,
    )
    run = TapRun(proc.returncode, proc.stdout, proc.stderr)
    one_line_error(run, "--config: cannot read", "nowhere.json", secrets=[])


# -- the output ----------------------------------------------------------------------------


def test_a_reader_that_closes_the_pipe_stops_the_tap_with_one_line(
    platform: MockPlatform, tmp_path: Path
) -> None:
    """`tap-ocpi … | head -5`: the reader takes five lines and goes away. The tap's next write
    fails (EPIPE); it stops at once, says so in one line and exits non-zero."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(config_for(platform)))
    command = [sys.executable, "-m", "tap_ocpi", "--config", str(config)]
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(tmp_path),
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        head = [proc.stdout.readline() for _ in range(5)]
        proc.stdout.close()  # what `head` does after its lines
        try:
            stderr = proc.stderr.read().decode()
            returncode = proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert all(line.startswith(b'{"type"') for line in head)
    run = TapRun(returncode, "", stderr)
    one_line_error(
        run, "the reader of the output went away (broken pipe)", secrets=secrets_of(platform)
    )
    assert "An unhandled error occurred" not in stderr
    assert "Exception ignored" not in stderr


# -- what used to fail but must not ------------------------------------------------------------


def test_comma_separated_privacy_paths_work_as_the_readme_shows(
    platform: MockPlatform, catalog: dict[str, Any]
) -> None:
    config = config_for(platform, privacy_pass={"sessions": "kwh,start_date_time"})
    run = run_tap(config, catalog=select(catalog, {"sessions"}), timeout=TIMEOUT)
    assert run.returncode == 0, run.stderr[-3000:]
    sessions = run.records["sessions"]
    assert sessions
    assert all(r["kwh"] is not None for r in sessions)
    assert all(r["start_date_time"] is not None for r in sessions)
    assert all(r.get("authorization_reference") is None for r in sessions)  # still blank


def test_connection_test_logs_no_error_when_it_succeeds(platform: MockPlatform) -> None:
    run = run_tap(config_for(platform), "--test", timeout=TIMEOUT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| ERROR" not in run.stderr, run.stderr[-3000:]
    assert "An unhandled error occurred" not in run.stderr
    assert run.records["locations"], "the test read nothing"


def test_a_failure_during_sync_is_one_line_without_the_sdks_error_line(
    platform: MockPlatform,
) -> None:
    """The SDK logs "An unhandled error occurred while syncing" at ERROR before the tap's own
    line; with a wrong token that is all it says. Only the reason remains."""
    run = run_tap(config_for(platform, token="not-the-token"), state=SAVED, timeout=TIMEOUT)
    one_line_error(run, "the platform rejected the token", secrets=secrets_of(platform))


# -- the salt: demanded only for streams that will be read -------------------------------------


def test_open_data_with_only_locations_needs_no_salt(tmp_path: Path) -> None:
    with MockPlatform(
        PlatformConfig(seed=3, locations=6, sessions=1, tokens=1, tariffs=1)
    ) as source:
        locations = list(source.expected("locations", "2.2.1"))
    with Scripted({"locations": "/ocpi/2.2.1/locations"}) as server:
        server.route("/ocpi/2.2.1/locations", paged(locations))
        run = run_tap({"versions_url": server.versions_url}, timeout=TIMEOUT)
        assert all("Authorization" not in hit.headers for hit in server.hits)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.records["locations"]) == len(locations)
    assert "privacy_salt" not in run.stderr
    assert "tokens: skipped, the platform does not offer the tokens module" in run.stderr


def test_a_missing_salt_stops_before_any_record_when_tokens_are_offered(
    platform: MockPlatform,
) -> None:
    config = config_for(platform)
    del config["privacy_salt"]
    run = run_tap(config, state=SAVED, timeout=TIMEOUT)
    one_line_error(
        run, "privacy_salt is not set, but tokens pseudonymises uid", secrets=secrets_of(platform)
    )
    assert run.records == {}
    # it knew that only after asking the platform what it offers, and read no list
    paths = [record.path for record in platform.request_log]
    assert paths, "the platform was not asked what it offers"
    assert not [p for p in paths if p.split("?")[0].rstrip("/").endswith(TOP_LEVEL)], paths


def test_discovery_needs_no_settings() -> None:
    """`meltano select --list` runs discovery before the platform is configured: as before,
    the SDK only warns, and the catalog comes out (privacy shapes the schemas)."""
    run = run_tap({}, "--discover", timeout=TIMEOUT)
    assert run.returncode == 0, run.stderr[-3000:]
    streams = {entry["tap_stream_id"] for entry in json.loads(run.stdout)["streams"]}
    assert {"locations", "sessions", "tokens"} <= streams
    bad = run_tap({"privacy_pass": {"nosuch": "x"}}, "--discover", timeout=TIMEOUT)
    one_line_error(bad, "privacy_pass: unknown stream", secrets=[])
