"""Crash safety: a run that fails or is killed mid-stream loses nothing.

Two properties, checked on the real tap's output:

- no STATE message ever moves a bookmark past objects not yet emitted: whenever a STATE says
  stream S is done up to B, every object of S with last_updated < B was emitted before that
  STATE (in this run, or in an earlier run of the same chain);
- a rerun from the last STATE that was emitted yields, together with the first run's
  output, every object.

Failures: a permanent HTTP 500 from page k on; SIGKILL in the middle of a large stream (after
the SDK's interim STATE); SIGTERM and SIGINT (which must not exit 0).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from support.config import STREAMS as ALL_STREAMS
from support.config import TOP_LEVEL, tap_config
from support.robustness_helpers import SALT, VERSION, emitted_keys, expected_stamps, key_of
from support.tap_runner import clean_env, discover, run_tap, select
from tap_ocpi.mock_platform import MockPlatform, PlatformConfig

# The tap's streams, CDRs left out (as these runs always have been).
STREAMS = tuple(s for s in ALL_STREAMS if s != "cdrs")
TOP = tuple(s for s in TOP_LEVEL if s != "cdrs")


@pytest.fixture(scope="module")
def catalog() -> dict[str, Any]:
    return select(discover({"versions_url": "http://127.0.0.1:9/ocpi/versions"}), set(STREAMS))


# This file's settings for tap_config.
RUN = {
    "ocpi_version": VERSION,
    "privacy_salt": SALT,
    "lookback_minutes": 0,
    "retry_max_wait": 0,
    "max_retries": 2,
}


def last_state(messages: list[dict[str, Any]]) -> dict[str, Any]:
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    assert states, "no STATE was emitted"
    return states[-1]


def bookmark(state: dict[str, Any], stream: str) -> str | None:
    return state.get("bookmarks", {}).get(stream, {}).get("replication_key_value")


def assert_states_are_safe(
    messages: list[dict[str, Any]], platform: MockPlatform, earlier: list[dict[str, Any]] = ()
) -> int:  # type: ignore[assignment]
    """Check every STATE of a run against what was emitted before it; returns how many
    (STATE, stream) bookmarks were checked."""
    stamps = expected_stamps(platform, TOP)
    emitted = {s: set(keys) for s, keys in emitted_keys(list(earlier)).items()}
    checked = 0
    for message in messages:
        if message["type"] == "RECORD":
            emitted.setdefault(message["stream"], set()).add(
                key_of(message["stream"], message["record"])
            )
        elif message["type"] == "STATE":
            for stream in TOP:
                mark = bookmark(message["value"], stream)
                if mark is None:
                    continue
                missing = [
                    k for k, t in stamps[stream] if t < mark and k not in emitted.get(stream, set())
                ]
                assert not missing, f"STATE moved {stream} to {mark} before {missing[:3]}"
                checked += 1
    return checked


def assert_union_is_everything(platform: MockPlatform, *runs: list[dict[str, Any]]) -> None:
    got: dict[str, set[tuple[Any, ...]]] = {}
    for messages in runs:
        for stream, keys in emitted_keys(messages).items():
            got.setdefault(stream, set()).update(keys)
    for stream, rows in expected_stamps(platform, TOP).items():
        assert got.get(stream, set()) == {k for k, _ in rows}, stream


# -- a permanent failure ------------------------------------------------------------------


def test_permanent_failure_from_page_k_then_resume_loses_nothing(catalog: dict[str, Any]) -> None:
    config = PlatformConfig(seed=21, locations=30, sessions=300, tariffs=6, tokens=40, clients=3)
    with MockPlatform(config) as platform:
        # Streams run in name order: connectors, evses, hubclientinfo and locations (at most
        # two pages of 20) finish; sessions dies on page 3; tariffs and tokens never start.
        platform.set_faults(fail_from_page=3)
        first = run_tap(tap_config(platform, RUN, page_size=20), catalog=catalog)
        assert first.returncode != 0
        assert (
            first.stderr.strip()
            .splitlines()[-1]
            .startswith(
                "tap-ocpi: error: giving up after retries: GET /ocpi/2.2.1/sessions: HTTP 500"
            )
        )
        assert len(first.records["sessions"]) == 40
        assert assert_states_are_safe(first.messages, platform) > 0
        state = last_state(first.messages)
        assert bookmark(state, "locations")
        assert bookmark(state, "hubclientinfo")
        assert bookmark(state, "sessions") is None  # read in part: no bookmark

        platform.set_faults()
        second = run_tap(tap_config(platform, RUN, page_size=20), catalog=catalog, state=state)
        assert second.returncode == 0, second.stderr[-2000:]
        assert_states_are_safe(second.messages, platform, earlier=first.messages)
        assert_union_is_everything(platform, first.messages, second.messages)
        assert second.records["locations"] == []  # resumed, not started over
        assert len(second.records["sessions"]) == 300


# -- killed from outside ------------------------------------------------------------------


@dataclass
class Killed:
    """What a tap process wrote before it was stopped by a signal."""

    returncode: int
    messages: list[dict[str, Any]]
    stderr: str
    torn_lines: int = 0
    state_lines: list[int] = field(default_factory=list)


def run_until(
    config: dict[str, Any],
    catalog: dict[str, Any],
    *,
    stream: str,
    records: int,
    signum: int,
    state: dict[str, Any] | None = None,
) -> Killed:
    """Start the tap, read its stdout as it comes, and send `signum` once `records` RECORDs
    of `stream` arrived; then read what is left until the pipe closes."""
    with tempfile.TemporaryDirectory(prefix="tap-ocpi-crash-") as tmp:
        work = Path(tmp)
        (work / "config.json").write_text(json.dumps(config))
        (work / "catalog.json").write_text(json.dumps(catalog))
        command = [
            sys.executable,
            "-m",
            "tap_ocpi",
            "--config",
            str(work / "config.json"),
            "--catalog",
            str(work / "catalog.json"),
        ]
        if state is not None:
            (work / "state.json").write_text(json.dumps(state))
            command += ["--state", str(work / "state.json")]
        with open(work / "stderr", "w+") as err:
            proc = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=work,
                env=clean_env(work, TAP_OCPI_LOGLEVEL="INFO"),
            )
            watchdog = threading.Timer(180, proc.kill)
            watchdog.start()
            killed = Killed(0, [], "")
            seen = 0
            assert proc.stdout is not None
            for raw in proc.stdout:
                try:
                    message = json.loads(raw)
                except ValueError:
                    killed.torn_lines += 1  # a line cut by SIGKILL: a target drops it too
                    continue
                killed.messages.append(message)
                if message["type"] == "STATE":
                    killed.state_lines.append(len(killed.messages) - 1)
                if message["type"] == "RECORD" and message["stream"] == stream:
                    seen += 1
                    if seen == records:
                        os.kill(proc.pid, signum)
            killed.returncode = proc.wait()
            watchdog.cancel()
            err.seek(0)
            killed.stderr = err.read()
    return killed


@pytest.fixture(scope="module")
def big_platform() -> Iterator[MockPlatform]:
    # Enough sessions for the SDK's interim STATE (every 10,000 records), slow enough pages
    # that a signal lands in the middle of the stream.
    config = PlatformConfig(
        seed=33,
        locations=20,
        sessions=12_000,
        tariffs=4,
        tokens=30,
        clients=2,
        faults={"latency_ms": 40},
    )
    with MockPlatform(config) as platform:
        yield platform


def test_sigkill_mid_stream_then_resume_from_the_last_state_loses_nothing(
    big_platform: MockPlatform, catalog: dict[str, Any]
) -> None:
    config = tap_config(big_platform, RUN, page_size=500)
    first = run_until(config, catalog, stream="sessions", records=10_500, signum=signal.SIGKILL)
    assert first.returncode == -signal.SIGKILL
    sessions = [m for m in first.messages if m["type"] == "RECORD" and m["stream"] == "sessions"]
    assert 10_500 <= len(sessions) < 12_000  # killed in the middle of the stream
    # Every STATE written before the kill keeps sessions' bookmark where it was (a window's
    # bookmark moves only once the window was read completely).
    interim = [first.messages[i]["value"] for i in first.state_lines]
    assert interim
    assert all(bookmark(s, "sessions") is None for s in interim)
    assert assert_states_are_safe(first.messages, big_platform) > 0
    state = last_state(first.messages)
    assert bookmark(state, "locations") is not None
    assert bookmark(state, "sessions") is None

    second = run_tap(config, catalog=catalog, state=state, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert_states_are_safe(second.messages, big_platform, earlier=first.messages)
    assert_union_is_everything(big_platform, first.messages, second.messages)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_and_sigint_write_a_safe_state_and_exit_non_zero(
    big_platform: MockPlatform, catalog: dict[str, Any], signum: int
) -> None:
    config = tap_config(big_platform, RUN, page_size=500)
    first = run_until(config, catalog, stream="sessions", records=1_500, signum=signum)
    assert first.returncode == 128 + signum, first.stderr[-2000:]  # 143 / 130, never 0
    name = signal.Signals(signum).name
    assert f"Interrupted by {name}" in first.stderr
    assert first.messages[-1]["type"] == "STATE"  # written on the way out
    assert first.torn_lines == 0
    assert assert_states_are_safe(first.messages, big_platform) > 0
    state = first.messages[-1]["value"]
    assert bookmark(state, "sessions") is None

    second = run_tap(config, catalog=catalog, state=state, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert_union_is_everything(big_platform, first.messages, second.messages)
