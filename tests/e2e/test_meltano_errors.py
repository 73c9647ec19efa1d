"""What a Meltano user sees when tap-ocpi fails, and when its connection test succeeds.

Meltano 4.4.1 reads a plugin's stderr line by line: a line that is a Singer SDK JSON log
record (the tap declares `structured-logging`, so Meltano configures the SDK's JSON
formatter) keeps its level; any other line is logged at INFO, which
`meltano --log-level=warning` hides. These tests run real Meltano with `--log-format=json`
and read the level Meltano gave each line.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from support.meltano_e2e import Meltano, MeltanoResult
from tap_ocpi.mock_platform import MockPlatform

pytestmark = pytest.mark.e2e

QUIET_RUN = ("--log-level=warning", "--log-format=json", "run", "--no-install")


def log_records(result: MeltanoResult) -> list[dict[str, Any]]:
    """Meltano's JSON log lines (a few lines before its logging is set up are plain text)."""
    records = []
    for line in result.stderr.splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def tap_lines(result: MeltanoResult, level: str) -> list[str]:
    return [
        str(r.get("event"))
        for r in log_records(result)
        if r.get("level") == level
        and r.get("stdio") == "stderr"  # a line of a plugin's stderr ...
        and r.get("string_id", "tap-ocpi") == "tap-ocpi"  # ... of the tap (`run` names it)
    ]


def failed_quietly(meltano: Meltano, **env: str) -> tuple[MeltanoResult, str]:
    """`meltano --log-level=warning run tap-ocpi target-jsonl` that fails: the tap's one
    line must be among what the user sees, at error level."""
    result = meltano.run(*QUIET_RUN, "tap-ocpi", "target-jsonl", env=env, check=False)
    assert result.returncode != 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = tap_lines(result, "error")
    reasons = [line for line in errors if line.startswith("tap-ocpi: error: ")]
    assert len(reasons) == 1, result.stderr[-4000:]
    assert not [line for line in errors if "An unhandled error occurred" in line], errors
    return result, reasons[0]


def test_a_rejected_token_reaches_meltano_at_error_level(meltano: Meltano) -> None:
    wrong = "wrong-token-4c1d9e7a"
    result, reason = failed_quietly(meltano, OCPI_TEST_TOKEN=wrong)
    assert "GET /ocpi/versions: HTTP 401: the platform rejected the token" in reason
    assert wrong not in result.stdout
    assert wrong not in result.stderr


def test_a_bad_setting_reaches_meltano_at_error_level(
    meltano: Meltano, platform: MockPlatform
) -> None:
    result, reason = failed_quietly(meltano, TAP_OCPI_PAGE_SIZE="-1")
    assert reason == "tap-ocpi: error: invalid settings: page_size: must be at least 1"
    assert platform.request_log == []  # reported before the first request
    assert platform.token not in result.stderr


def test_connection_test_logs_no_error_when_it_succeeds(meltano: Meltano) -> None:
    result = meltano.run("--log-format=json", "invoke", "tap-ocpi", "--test")
    assert tap_lines(result, "info"), "the tap's log lines did not reach Meltano"
    errors = [r for r in log_records(result) if r.get("level") in ("error", "critical")]
    assert errors == [], errors
    assert '"type":"RECORD"' in result.stdout.replace(" ", "")
