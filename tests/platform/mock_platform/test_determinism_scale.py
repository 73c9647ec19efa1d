"""Same seed -> identical bytes; a million sessions without a million objects; the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from support.mock_helpers import crawl, ocpi_get
from tap_ocpi.mock_platform import MockPlatform
from tap_ocpi.mock_platform.__main__ import config_from_args

ROOT = Path(__file__).resolve().parents[3]
PATHS = [
    ("2.1.1", "sessions?date_from=2000-01-01T00:00:00Z&limit=40"),
    ("2.2.1", "cdrs?offset=13&limit=40"),
    ("2.3.0", "locations"),
    ("2.3.0", "tariffs"),
    ("2.2.1", "tokens?limit=100"),
    ("2.2.1", "hubclientinfo"),
    ("2.1.1", "credentials"),
    ("2.3.0", "locations/LOC000003/EVSE00000301/1"),
]


def _bodies(p: MockPlatform, http: requests.Session) -> list[bytes]:
    out = []
    for version, path in PATHS:
        r = ocpi_get(http, p, version, path)
        assert r.status_code == 200, (path, r.text)
        # URLs carry the port, which differs between two platforms.
        out.append(r.content.replace(p.base_url.encode(), b"BASE"))
    return out


def test_same_seed_same_bytes(platform_factory, http: requests.Session) -> None:
    a = platform_factory(seed=7, sessions=150, token="t0k")
    b = platform_factory(seed=7, sessions=150, token="t0k")
    assert _bodies(a, http) == _bodies(b, http)
    assert a.personal_values() == b.personal_values()
    assert a.advance(new_sessions=2, updated_sessions=2, minutes=3) == b.advance(
        new_sessions=2, updated_sessions=2, minutes=3
    )
    assert _bodies(a, http) == _bodies(b, http)


def test_other_seed_other_data(platform_factory, http: requests.Session) -> None:
    a = platform_factory(seed=1, sessions=50, token="t0k")
    b = platform_factory(seed=2, sessions=50, token="t0k")
    assert _bodies(a, http)[0] != _bodies(b, http)[0]


def test_default_token_is_derived_from_the_seed() -> None:
    assert MockPlatform(seed=3, sessions=1).token == MockPlatform(seed=3, sessions=1).token
    assert MockPlatform(seed=3, sessions=1).token != MockPlatform(seed=4, sessions=1).token


def test_a_million_sessions_are_generated_on_demand(
    platform_factory, http: requests.Session
) -> None:
    t0 = time.perf_counter()
    p = platform_factory(sessions=1_000_000, page_cap=100)
    r = ocpi_get(
        http,
        p,
        "2.2.1",
        "sessions",
        params={
            "date_from": "2025-07-01T00:00:00Z",
            "date_to": "2025-07-02T00:00:00Z",
            "offset": 2000,
            "limit": 100,
        },
    )
    assert r.status_code == 200
    total = int(r.headers["X-Total-Count"])
    assert 2000 < total < 4000  # about a day's worth of a million sessions per year
    data = r.json()["data"]
    assert len(data) == 100
    assert all("2025-07-01" <= s["last_updated"] < "2025-07-02" for s in data)
    r = ocpi_get(http, p, "2.2.1", "cdrs", params={"offset": 999_000, "limit": 5})
    assert len(r.json()["data"]) == 5
    assert time.perf_counter() - t0 < 5  # no per-record work at start-up


def test_cache_budget_does_not_change_results(platform_factory, http: requests.Session) -> None:
    big = platform_factory(sessions=300, cache_mb=256, page_cap=70)
    tiny = platform_factory(sessions=300, cache_mb=1, page_cap=70)  # uses compressed blocks
    for module in ("sessions", "cdrs"):
        for _ in range(2):
            want = list(big.expected(module, "2.3.0"))
            assert list(tiny.expected(module, "2.3.0")) == want
            got, pages = crawl(http, tiny, "2.3.0", module, date_from="2000-01-01T00:00:00Z")
            assert got == want
            assert len(pages) == -(-len(want) // 70)
    assert tiny.stats()["cache_bytes"]["compressed"] > 0


def test_cli_flags() -> None:
    config = config_from_args(
        [
            "--port",
            "0",
            "--versions",
            "2.2.1,2.3.0",
            "--token",
            "abc",
            "--token-encoding",
            "both",
            "--seed",
            "5",
            "--locations",
            "3",
            "--sessions",
            "7",
            "--tariffs",
            "2",
            "--tokens",
            "4",
            "--clients",
            "1",
            "--page-cap",
            "9",
            "--span-days",
            "30",
            "--now",
            "2025-05-05T00:00:00Z",
            "--fault",
            "error_rate=0.5",
            "--fault",
            "link=missing",
            "--cache-mb",
            "64",
            "--prewarm",
            "2.2.1",
        ]
    )
    assert config.versions == ("2.2.1", "2.3.0")
    assert (config.token, config.token_encoding, config.seed) == ("abc", "both", 5)
    assert (config.locations, config.sessions, config.tariffs, config.tokens, config.clients) == (
        3,
        7,
        2,
        4,
        1,
    )
    assert (config.page_cap, config.span_days, config.cache_mb) == (9, 30.0, 64)
    assert config.faults == {"error_rate": "0.5", "link": "missing"}
    assert config.prewarm == ("2.2.1",)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_one_json_line_and_stops_cleanly(sig: signal.Signals) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tap_ocpi.mock_platform",
            "--sessions",
            "20",
            "--token",
            "cli-token",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert set(info) == {"versions_url", "token", "admin_url"}
        assert info["token"] == "cli-token"
        r = requests.get(
            info["versions_url"], headers={"Authorization": "Token cli-token"}, timeout=10
        )
        assert r.status_code == 200
        assert requests.get(info["admin_url"] + "/stats", timeout=10).ok
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == ""  # exactly one line
    finally:
        proc.kill()
        proc.wait()


def test_cli_rejects_bad_options() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "tap_ocpi.mock_platform", "--fault", "nope=1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert "unknown fault" in proc.stderr


def test_prewarm_fills_the_cache(platform_factory) -> None:
    p = platform_factory(sessions=200, prewarm=("2.3.0", "2.1.1:tokens"))
    deadline = time.monotonic() + 10
    while p.stats()["prewarm"]["state"] != "done" and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = p.stats()
    assert stats["prewarm"]["state"] == "done"
    assert stats["cache_bytes"]["raw"] > 200 * 1000
    assert list(p.expected("sessions", "2.3.0")) == list(
        MockPlatform(sessions=200).expected("sessions", "2.3.0")
    )
