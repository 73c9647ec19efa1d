"""Measure how fast ocpi-mock-platform serves session pages (run by hand, not by pytest).

    .venv/bin/python tests/benchmarks/measure_throughput.py --sessions 100000 --rounds 3

The platform runs as its own process (as a tap would meet it), the client is `requests`
without parsing the JSON: the raw-fetch floor from measuring.md. Round 1 is cold
(records are generated and cached), later rounds are repeated reads. Reports pages/s,
records/s and the server's peak RSS (VmHWM), then the server's own cost per warm page
measured in-process without sockets (its capacity, independent of the client), and the
load average: on a shared machine quote the figures together.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

from tap_ocpi.mock_platform import MockPlatform


def crawl(session: requests.Session, url: str, auth: str) -> tuple[int, int, float]:
    """Follow Link headers through every page; returns (pages, records, seconds)."""
    pages = records = 0
    t0 = time.perf_counter()
    next_url: str | None = url
    while next_url:
        r = session.get(next_url, headers={"Authorization": auth})
        r.raise_for_status()
        pages += 1
        next_url = r.links.get("next", {}).get("url")
        # Served count without parsing the body: the next offset, or the rest of the total.
        offset = int(parse_qs(urlsplit(r.url).query).get("offset", ["0"])[0])
        nxt = (
            int(parse_qs(urlsplit(next_url).query)["offset"][0])
            if next_url
            else int(r.headers["X-Total-Count"])
        )
        records += nxt - offset
    return pages, records, time.perf_counter() - t0


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def server_capacity(
    sessions: int, version: str, page_size: int, packed: bool, pages: int = 20
) -> float:
    """Warm pages per second that OcpiApp.handle produces (routing, auth, envelope), from
    raw or from compressed cache blocks."""
    p = MockPlatform(sessions=sessions, page_cap=page_size)
    if packed:
        p.store.cache.raw_budget = 0
    headers = {"Authorization": p.auth_header(version)}
    targets = [
        f"/ocpi/{version}/sessions?date_from=2000-01-01T00:00:00Z&offset={n * page_size}"
        for n in range(min(pages, sessions // page_size))
    ]
    for t in targets:  # warm up
        p.app.handle("GET", t, headers, b"")
    t0 = time.perf_counter()
    for t in targets:
        assert p.app.handle("GET", t, headers, b"").status == 200
    return len(targets) / (time.perf_counter() - t0)


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # so the finally clause stops the server process


def main() -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--version", default="2.2.1")
    ap.add_argument("--cache-mb", type=int, default=768)
    ap.add_argument(
        "--prewarm",
        action="store_true",
        help="let the server render everything first; every round is then warm",
    )
    args = ap.parse_args()
    cmd = [
        sys.executable,
        "-m",
        "tap_ocpi.mock_platform",
        "--sessions",
        str(args.sessions),
        "--page-cap",
        str(args.page_size),
        "--cache-mb",
        str(args.cache_mb),
        "--tokens",
        "2000",
        "--locations",
        "1000",
    ]
    if args.prewarm:
        cmd += ["--prewarm", f"{args.version}:sessions"]
    t_start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        print(f"startup: {time.perf_counter() - t_start:.2f} s, rss {peak_rss_mb(proc.pid):.0f} MB")
        if args.prewarm:
            t0 = time.perf_counter()
            while (
                requests.get(info["admin_url"] + "/stats", timeout=10).json()["prewarm"]["state"]
                == "running"
            ):
                time.sleep(1)
            print(f"prewarm: {time.perf_counter() - t0:.0f} s, rss {peak_rss_mb(proc.pid):.0f} MB")
        token = info["token"]
        if args.version != "2.1.1":
            token = base64.b64encode(token.encode()).decode()
        auth = f"Token {token}"
        url = (
            info["versions_url"].rsplit("/", 1)[0] + f"/{args.version}/sessions"
            f"?date_from=2000-01-01T00:00:00Z&limit={args.page_size}"
        )
        warm: list[float] = []
        with requests.Session() as s:
            for n in range(1, args.rounds + 1):
                pages, records, secs = crawl(s, url, auth)
                label = "cold" if n == 1 and not args.prewarm else "warm"
                print(
                    f"round {n} ({label}): {pages} pages, {records} records in {secs:.2f} s"
                    f" = {pages / secs:.0f} pages/s, {records / secs:,.0f} records/s;"
                    f" server peak rss {peak_rss_mb(proc.pid):.0f} MB"
                )
                if n > 1 or args.prewarm:
                    warm.append(records / secs)
        if warm:
            print(f"warm median: {statistics.median(warm):,.0f} records/s")
        for packed in (False, True):
            cap = server_capacity(
                min(args.sessions, 20 * args.page_size), args.version, args.page_size, packed
            )
            print(
                f"server alone (in-process, warm, {'compressed' if packed else 'raw'} "
                f"cache): {cap:.0f} pages/s = {cap * args.page_size:,.0f} records/s"
            )
        print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
