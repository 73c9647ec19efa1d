"""`make bench`: tap-ocpi against hand-written clients, on the test platform, one table.

    .venv/bin/python tests/benchmarks/bench.py                 # 10k, 100k (3 rounds), 1M (1)
    .venv/bin/python tests/benchmarks/bench.py --quick         # 10k, 1 round (under a minute)

The whole run takes about 15 minutes on a quiet 2-core machine (6 of them to fill the 1M
platform; it peaks at about 6.4 GB). Where the time goes per path: PROFILE.md.
    .venv/bin/python tests/benchmarks/bench.py --sizes 10000,100000 --rounds 5

Workloads (each compared with its own floor, measured in the same round):
* sessions (OCPI 2.2.1): raw fetch, the floor, a hand-written standard-json client, the tap
  with default privacy and with `privacy_pass: {"sessions": ["."]}`;
* sessions over OCPI 2.1.1 (default privacy); tokens (default privacy: `uid` pseudonymised);
  CDRs; locations with their EVSEs and connectors (a tenth as many locations as sessions);
* an incremental run: 2,000 sessions changed after a saved bookmark (the platform's admin
  API advances its clock), start-up included, against the hand-written clients reading the
  same window;
* start-up: `tap-ocpi --about` against `python -c "import requests, orjson"` (measured once).

How it measures (see /work/shared/docs/measuring.md):

* One test platform (`ocpi-mock-platform`, its own process, loopback) per dataset size,
  reused by every contender. Before timing, every list is read once so the platform has
  generated and cached every object (a cold platform is the bottleneck otherwise).
* Every contender is its own process; stdout goes to /dev/null. Wall time is measured around
  the process, CPU time and peak RSS come from that process alone. Bytecode caching is on
  for every contender (PYTHONDONTWRITEBYTECODE is removed from their environment).
* Rounds alternate the contenders (A B C …, A B C …); the table shows medians, and each
  "x floor" figure is the median of the ratios measured within the same round. "CPU vs
  floor" compares the client's own CPU time (the platform's excluded): on a loaded machine
  wall times also measure the neighbours, CPU times much less so.
* Counts are checked: every run must emit exactly the objects the platform holds (EVSEs and
  connectors included).
* The slow-platform case adds a per-page latency (fault `latency_ms`) to show what the
  one-page-ahead prefetch buys: the tap is compared with the same tap with the prefetch
  switched off (`tap_no_prefetch.py`) and with max/sum of network and processing time.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import platform as pyplatform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import requests

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
TAP_SCRIPT = Path(PYTHON).with_name("tap-ocpi")
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
#: Sessions changed on the platform before the incremental run.
CHANGED_SESSIONS = 2_000
#: The tap's default lookback: the incremental window starts this long before the bookmark.
LOOKBACK_MINUTES = 15
EPOCH = "1970-01-01T00:00:00Z"
SALT = "bench-salt-not-a-secret"
_METRIC_RE = re.compile(r"METRIC: (\{.*\})\s*$")


def log(text: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {text}\n")
    sys.stderr.flush()


def clean_env() -> dict[str, str]:
    """The environment of every contender: bytecode caching on, no tap settings leaking in."""
    drop = ("TAP_OCPI_", "MELTANO_", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


# --- the test platform ------------------------------------------------------------------------


class Platform:
    """One `ocpi-mock-platform` process for one dataset size (sessions and tokens: `size`)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.sessions = size
        self.locations = max(40, size // 10)
        # Serialized records stay cached (raw, then zlib blocks): room for every list (about
        # 8 KB per session: both versions, its CDR, a token), or the platform renders pages
        # per request and becomes the bottleneck measured.
        cache_mb = min(6000, max(1024, size * 10_000 // 1_000_000))
        command = [PYTHON, "-m", "tap_ocpi.mock_platform", "--port", "0"]
        command += ["--sessions", str(size), "--tokens", str(size)]
        command += ["--locations", str(self.locations), "--cache-mb", str(cache_mb)]
        started = time.perf_counter()
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=clean_env())
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the test platform did not start")
        self.startup = time.perf_counter() - started
        # Anything the platform prints later must not fill the pipe and block it.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        info = json.loads(line)
        self.versions_url: str = info["versions_url"]
        self.admin_url: str = info["admin_url"]
        self.token: str = info["token"]
        self.modules = {v: self._modules(v) for v in ("2.2.1", "2.1.1")}
        #: Objects per (version, list) and children of locations, counted by `warm_up`.
        self.totals: dict[str, int] = {}
        #: The saved bookmark of the incremental run (the clock before the changes).
        self.bookmark = ""
        self.changed = 0

    def auth(self, version: str) -> str:
        wire = self.token if version == "2.1.1" else base64.b64encode(self.token.encode()).decode()
        return f"Token {wire}"

    def _modules(self, version: str) -> dict[str, str]:
        with requests.Session() as session:
            session.headers["Authorization"] = self.auth(version)
            versions = session.get(self.versions_url, timeout=30).json()["data"]
            url = next(v["url"] for v in versions if v["version"] == version)
            details = session.get(url, timeout=30).json()["data"]
        return {e["identifier"]: e["url"] for e in details["endpoints"]}

    def first_url(self, module: str, version: str = "2.2.1", date_from: str = EPOCH) -> str:
        # The tap asks the same: date_from (sessions require it), limit 1000.
        return f"{self.modules[version][module]}?date_from={date_from}&limit=1000"

    def admin(self, name: str, **payload: Any) -> Any:
        response = requests.post(f"{self.admin_url}/{name}", json=payload, timeout=300)
        response.raise_for_status()
        return response.json()

    def change_sessions(self, n: int) -> None:
        """Change `n` sessions after a bookmark at the current clock (the incremental run)."""
        self.bookmark = self.admin("advance", minutes=0)["clock"]
        changed = self.admin("advance", updated_sessions=n, minutes=60)["updated_sessions"]
        self.changed = len(set(changed))  # a session may be picked twice

    def set_faults(self, **faults: Any) -> None:
        self.admin("faults", **faults)

    def rss_mb(self) -> float:
        """The platform's peak RSS so far."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def incremental_from(platform: Platform) -> str:
    """Where the tap's incremental window starts: the bookmark minus the default lookback."""
    bookmark = datetime.strptime(platform.bookmark, "%Y-%m-%dT%H:%M:%SZ")
    start = bookmark - timedelta(minutes=LOOKBACK_MINUTES)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- running one contender ----------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    counts: dict[str, int]


#: GNU time reports the peak RSS of the command alone. wait4's own ru_maxrss would not: a
#: child starts as a copy of this process, and Linux keeps that copy's peak across exec.
GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None


def run_process(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[Run, str]:
    """Run one contender with stdout to /dev/null: wall time, CPU time, peak RSS."""
    with tempfile.TemporaryFile("w+") as err, tempfile.NamedTemporaryFile("r") as peak:
        command = [GNU_TIME, "-f", "%M", "-o", peak.name, *argv] if GNU_TIME else list(argv)
        started = time.perf_counter()
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=err, env=env or clean_env()
        )
        hwm = _HighWaterMark(proc.pid) if GNU_TIME is None else None
        _, status, usage = os.wait4(proc.pid, 0)  # CPU time includes the command's
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read()
        rss_kb = int(peak.read().split()[-1]) if GNU_TIME else hwm.stop() if hwm else 0
    if proc.returncode != 0:
        tail = "\n".join(stderr.splitlines()[-15:])
        raise SystemExit(f"{' '.join(argv[:4])} … failed ({proc.returncode}):\n{tail}")
    run = Run(wall, usage.ru_utime + usage.ru_stime, rss_kb / 1024, {})
    return run, stderr


class _HighWaterMark:
    """Without GNU time: poll the process's VmHWM (misses only a peak in its last 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.path = Path(f"/proc/{pid}/status")
        self.kb = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.done.wait(0.02):
            try:
                text = self.path.read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self.kb = max(self.kb, int(line.split()[1]))

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        return self.kb


@dataclasses.dataclass
class Contender:
    key: str
    label: str
    workload: str  # rows of one workload compare with that workload's floor
    start: Callable[[Platform], Run]
    floor: bool = False
    once: bool = False  # size-independent (start-up): measured at the first size only
    #: Left out at sizes of 1M and more (--full-large keeps them): the floor is the
    #: reference there, and a 1M round is long enough without the slowest client.
    small_only: bool = False


def client_contender(
    key: str,
    label: str,
    workload: str,
    *,
    mode: str,
    module: str,
    version: str = "2.2.1",
    incremental: bool = False,
    floor: bool = False,
) -> Contender:
    def start(platform: Platform) -> Run:
        date_from = incremental_from(platform) if incremental else EPOCH
        url = platform.first_url(module, version, date_from)
        argv = [PYTHON, str(HERE / "minimal_client.py"), mode, platform.auth(version), url]
        run, stderr = run_process(argv)
        summary = json.loads(stderr.strip().splitlines()[-1])
        run.counts = {"objects": summary["records"]}
        if incremental:
            # The window's objects: the changed sessions and whatever the lookback adds.
            platform.totals.setdefault("incremental", summary["records"])
        expected = platform.totals["incremental" if incremental else f"{version} {module}"]
        if summary["records"] != expected or (incremental and expected < platform.changed):
            raise SystemExit(f"{label}: read {summary['records']} objects, expected {expected}")
        return run

    return Contender(key, label, workload, start, floor)


def startup_contender(key: str, label: str, argv: Sequence[str], floor: bool = False) -> Contender:
    def start(platform: Platform) -> Run:
        run, _ = run_process(argv)
        run.counts = {"objects": 0}
        return run

    return Contender(key, label, "start-up", start, floor, once=True)


@dataclasses.dataclass(frozen=True)
class TapJob:
    """One way of running the tap: settings, selected streams, optional saved state."""

    config: dict[str, Any]
    streams: tuple[str, ...]
    incremental: bool = False


class TapFiles:
    """Config, catalog and state files for the tap runs against one platform."""

    def __init__(self, platform: Platform, work: Path, catalog: dict[str, Any]) -> None:
        self.platform = platform
        self.work = work
        self.catalog = catalog
        self._paths: dict[tuple[str, str], str] = {}

    def argv(self, job: TapJob) -> list[str]:
        p = self.platform
        # The version pinned: the platform's highest (2.3.0) would not be the one warmed up.
        config = {
            "versions_url": p.versions_url,
            "token": p.token,
            "privacy_salt": SALT,
            "ocpi_version": "2.2.1",
        }
        config |= job.config
        argv = ["--config", self._file("config", config)]
        argv += ["--catalog", self._file("catalog", select(self.catalog, set(job.streams)))]
        if job.incremental:
            state = {
                "bookmarks": {
                    "sessions": {
                        "replication_key": "last_updated",
                        "replication_key_value": (p.bookmark),
                    }
                }
            }
            argv += ["--state", self._file("state", state)]
        return argv

    def _file(self, kind: str, data: dict[str, Any]) -> str:
        text = json.dumps(data, sort_keys=True)
        key = (kind, text)
        if key not in self._paths:
            path = self.work / f"{kind}-{len(self._paths)}.json"
            path.write_text(text)
            self._paths[key] = str(path)
        return self._paths[key]


def discover_catalog(work: Path) -> dict[str, Any]:
    """The tap's catalog (discovery needs no platform); also writes the tap's bytecode."""
    config = work / "config-discover.json"
    config.write_text(json.dumps({"versions_url": "http://127.0.0.1:9/", "token": "t"}))
    discovered = subprocess.run(
        [PYTHON, "-m", "tap_ocpi", "--config", str(config), "--discover"],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
        timeout=120,
    )
    catalog: dict[str, Any] = json.loads(discovered.stdout)
    return catalog


def select(catalog: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    catalog = json.loads(json.dumps(catalog))
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def tap_env() -> dict[str, str]:
    env = clean_env()
    env["TAP_OCPI_LOGLEVEL"] = "INFO"
    return env


def record_counts(stderr: str) -> dict[str, int]:
    """Records per stream, from the SDK's record_count metric lines."""
    counts: dict[str, int] = {}
    for line in stderr.splitlines():
        match = _METRIC_RE.search(line)
        if match:
            metric = json.loads(match.group(1))
            if metric.get("metric") == "record_count":
                stream = metric["tags"]["stream"]
                counts[stream] = counts.get(stream, 0) + int(metric["value"])
    return counts


def expected_counts(platform: Platform, job: TapJob) -> dict[str, int]:
    """What the platform holds for each selected stream (children of locations included)."""
    if job.incremental:
        return {"sessions": platform.totals["incremental"]}
    version = job.config.get("ocpi_version", "2.2.1")
    return {s: platform.totals[f"{version} {s}"] for s in job.streams}


def tap_contender(
    key: str,
    label: str,
    workload: str,
    job: TapJob,
    files: dict[int, TapFiles],
    *,
    wrapper: str | None = None,
) -> Contender:
    def start(platform: Platform) -> Run:
        entry = [str(HERE / wrapper)] if wrapper else ["-m", "tap_ocpi"]
        argv = [PYTHON, *entry, *files[platform.size].argv(job)]
        run, stderr = run_process(argv, env=tap_env())
        counts = record_counts(stderr)
        expected = expected_counts(platform, job)
        for stream, n in expected.items():
            if counts.get(stream) != n:
                raise SystemExit(f"{label}: emitted {counts.get(stream)} {stream}, expected {n}")
        run.counts = {"objects": expected[job.streams[0]], "records": sum(counts.values())}
        return run

    return Contender(key, label, workload, start)


# --- warm-up ----------------------------------------------------------------------------------


WARM_LISTS = (
    ("2.2.1", "sessions"),
    ("2.2.1", "cdrs"),
    ("2.2.1", "tokens"),
    ("2.2.1", "locations"),
    ("2.1.1", "sessions"),
)


def warm_up(platform: Platform) -> float:
    """Read every list once: the platform generates and caches each object on first read.
    Counts the objects of each list, and the EVSEs and connectors of the locations."""
    started = time.perf_counter()
    totals = platform.totals
    with requests.Session() as session:
        for version, module in WARM_LISTS:
            session.headers["Authorization"] = platform.auth(version)
            url: str | None = platform.first_url(module, version)
            totals[f"{version} {module}"] = 0
            while url:
                response = session.get(url, timeout=600)
                response.raise_for_status()
                data = orjson.loads(response.content)["data"]
                totals[f"{version} {module}"] += len(data)
                if module == "locations":
                    for location in data:
                        evses = location.get("evses") or []
                        totals[f"{version} evses"] = totals.get(f"{version} evses", 0) + len(evses)
                        totals[f"{version} connectors"] = totals.get(
                            f"{version} connectors", 0
                        ) + sum(len(e.get("connectors") or []) for e in evses)
                url = response.links.get("next", {}).get("url")
    return time.perf_counter() - started


# --- the run -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    size: int
    contender: Contender
    runs: list[Run] = dataclasses.field(default_factory=list)
    ratios: list[float] = dataclasses.field(default_factory=list)
    cpu_ratios: list[float] = dataclasses.field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(run, attr) for run in self.runs)

    @property
    def objects(self) -> int:
        return self.runs[0].counts["objects"]

    @property
    def records(self) -> int:
        return self.runs[0].counts.get("records", self.objects)


FLOOR = "**floor**: `requests` + `orjson`"
HAND = "hand-written: `requests` + standard `json`"
DEFAULT = "tap-ocpi, default privacy"

SESSIONS = TapJob({}, ("sessions",))
SESSIONS_PASS = TapJob({"privacy_pass": {"sessions": ["."]}}, ("sessions",))
SESSIONS_211 = TapJob({"ocpi_version": "2.1.1"}, ("sessions",))
TOKENS = TapJob({}, ("tokens",))
CDRS = TapJob({}, ("cdrs",))
LOCATIONS = TapJob({}, ("locations", "evses", "connectors"))
INCREMENTAL = TapJob({}, ("sessions",), incremental=True)


def contenders(files: dict[int, TapFiles]) -> list[Contender]:
    s, inc = "sessions", "incremental: 2k changed sessions"
    return [
        client_contender("raw", "raw page fetch, no parsing (`requests`)", s, mode="raw", module=s),
        client_contender("floor", FLOOR, s, mode="orjson", module=s, floor=True),
        dataclasses.replace(
            client_contender("json", HAND, s, mode="json", module=s), small_only=True
        ),
        tap_contender("tap", DEFAULT, s, SESSIONS, files),
        tap_contender(
            "tap-pass", 'tap-ocpi, `privacy_pass: {"sessions": ["."]}`', s, SESSIONS_PASS, files
        ),
        client_contender(
            "floor-211",
            FLOOR,
            "sessions, OCPI 2.1.1",
            mode="orjson",
            module=s,
            version="2.1.1",
            floor=True,
        ),
        tap_contender("tap-211", DEFAULT, "sessions, OCPI 2.1.1", SESSIONS_211, files),
        client_contender("floor-tok", FLOOR, "tokens", mode="orjson", module="tokens", floor=True),
        tap_contender("tap-tok", DEFAULT + " (`uid` pseudonymised)", "tokens", TOKENS, files),
        client_contender("floor-cdr", FLOOR, "cdrs", mode="orjson", module="cdrs", floor=True),
        tap_contender("tap-cdr", DEFAULT, "cdrs", CDRS, files),
        client_contender(
            "floor-loc", FLOOR, "locations", mode="orjson", module="locations", floor=True
        ),
        tap_contender("tap-loc", DEFAULT + " (+ EVSEs, connectors)", "locations", LOCATIONS, files),
        client_contender(
            "floor-inc", FLOOR, inc, mode="orjson", module=s, incremental=True, floor=True
        ),
        client_contender("json-inc", HAND, inc, mode="json", module=s, incremental=True),
        tap_contender("tap-inc", DEFAULT + ", from a saved bookmark", inc, INCREMENTAL, files),
        startup_contender(
            "py-start",
            '**floor**: `python -c "import requests, orjson"`',
            [PYTHON, "-c", "import requests, orjson"],
            floor=True,
        ),
        startup_contender("about", "`tap-ocpi --about`", [str(TAP_SCRIPT), "--about"]),
    ]


def latency_contenders(files: dict[int, TapFiles]) -> list[Contender]:
    s = "sessions"
    return [
        client_contender("lat-raw", "network alone: raw page fetch", s, mode="raw", module=s),
        client_contender(
            "lat-floor", "`requests` + `orjson` (sequential)", s, mode="orjson", module=s
        ),
        tap_contender("lat-tap", "tap-ocpi (prefetch on)", s, SESSIONS, files),
        tap_contender(
            "lat-seq", "tap-ocpi, prefetch off", s, SESSIONS, files, wrapper="tap_no_prefetch.py"
        ),
    ]


def measure(platform: Platform, entrants: list[Contender], rounds: int) -> list[Result]:
    results = [Result(platform.size, c) for c in entrants]
    for round_no in range(1, rounds + 1):
        floors: dict[str, Run] = {}
        for result in results:
            run = result.contender.start(platform)
            result.runs.append(run)
            log(
                f"{platform.size:>9,} round {round_no}: {result.contender.key:<9} "
                f"{run.wall:7.2f} s  cpu {run.cpu:7.2f} s  rss {run.rss_mb:6.1f} MB"
            )
            if result.contender.floor:
                floors[result.contender.workload] = run
            floor = floors.get(result.contender.workload)
            if floor is not None:
                result.ratios.append(run.wall / floor.wall)
                result.cpu_ratios.append(run.cpu / floor.cpu)
    return results


# --- the report -------------------------------------------------------------------------------


def fmt_size(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def table(results: list[Result]) -> str:
    lines = [
        "| size | workload | client | time (s) | objects/s | time vs floor | CPU (s) "
        "| CPU vs floor | peak RSS (MB) |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        wall = r.median("wall")
        ratio = f"{statistics.median(r.ratios):.2f}x" if r.ratios else "-"
        cpu_ratio = f"{statistics.median(r.cpu_ratios):.2f}x" if r.cpu_ratios else "-"
        workload = r.contender.workload
        if r.records != r.objects:
            workload += f" ({r.records:,} records out)"
        size = "-" if r.contender.once else fmt_size(r.size)
        rate = f"{r.objects / wall:,.0f}" if r.objects else "-"
        lines.append(
            f"| {size} | {workload} | {r.contender.label} | {wall:.2f} | {rate} | {ratio} | "
            f"{r.median('cpu'):.2f} | {cpu_ratio} | {r.median('rss_mb'):.0f} |"
        )
    return "\n".join(lines)


def latency_table(results: list[Result], processing: float | None, latency_ms: int) -> str:
    by = {r.contender.key: r for r in results}
    network = by["lat-raw"].median("wall")
    lines = [
        "| client | time (s) | objects/s |",
        "|---|---:|---:|",
    ]
    for r in results:
        wall = r.median("wall")
        lines.append(f"| {r.contender.label} | {wall:.2f} | {r.objects / wall:,.0f} |")
    if processing is not None:
        lines += [
            f"| *network alone (raw fetch with {latency_ms} ms/page)* | {network:.2f} | |",
            f"| *processing alone (the tap without latency)* | {processing:.2f} | |",
            f"| *max(network, processing): ideal overlap* | {max(network, processing):.2f} | |",
            f"| *network + processing: no overlap* | {network + processing:.2f} | |",
        ]
    return "\n".join(lines)


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} CPUs, Python {pyplatform.python_version()}, load average "
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="comma-separated dataset sizes: sessions and tokens (default: 10000,100000,1000000)",
    )
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    p.add_argument(
        "--large-rounds",
        type=int,
        default=1,
        help="rounds at sizes of 1M and more (default 1: about 10 minutes a round)",
    )
    p.add_argument(
        "--full-large",
        action="store_true",
        help="at 1M and more, also run the hand-written standard-json client",
    )
    p.add_argument("--quick", action="store_true", help="10k, 1 round, latency case at 10k")
    p.add_argument(
        "--only",
        default="",
        help="comma-separated contender keys to run (e.g. floor,tap,tap-pass); default all",
    )
    p.add_argument(
        "--latency-ms",
        type=int,
        default=50,
        help="per-page latency of the slow-platform case (0 skips it)",
    )
    p.add_argument(
        "--latency-size",
        type=int,
        default=100_000,
        help="sessions for the slow-platform case (default 100000)",
    )
    p.add_argument("--json", metavar="PATH", help="also write every run as JSON")
    args = p.parse_args(argv)
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    args.only = {k for k in args.only.split(",") if k}
    if args.quick:
        args.sizes, args.rounds, args.latency_size = [10_000], 1, 10_000
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    log(f"{machine()}; sizes {args.sizes}, {args.rounds} round(s)")
    if sys.flags.dont_write_bytecode or os.environ.get("PYTHONDONTWRITEBYTECODE"):
        log("PYTHONDONTWRITEBYTECODE is set here: removed from every contender's environment")
    load_before = os.getloadavg()[0]
    results: list[Result] = []
    latency_results: list[Result] = []
    platform_notes: list[str] = []
    sizes = list(args.sizes)
    if args.latency_ms and args.latency_size not in sizes:
        sizes.append(args.latency_size)
    with tempfile.TemporaryDirectory(prefix="tap-ocpi-bench-") as tmp:
        catalog = discover_catalog(Path(tmp))
        files: dict[int, TapFiles] = {}
        for size in sizes:
            platform = Platform(size)
            try:
                log(f"{size:,}: platform up in {platform.startup:.2f} s; warming up")
                platform.change_sessions(CHANGED_SESSIONS)
                warm = warm_up(platform)
                cache = requests.get(f"{platform.admin_url}/stats", timeout=30).json()
                cache = {k: v // 1_000_000 for k, v in cache["cache_bytes"].items()}
                t = platform.totals
                platform_notes.append(
                    f"{fmt_size(size)}: start {platform.startup:.1f} s, first read of every "
                    f"list {warm:.0f} s, peak RSS {platform.rss_mb():.0f} MB, cache {cache} MB "
                    f"({t['2.2.1 sessions']:,} sessions, {t['2.2.1 tokens']:,} tokens, "
                    f"{t['2.2.1 cdrs']:,} CDRs, {t['2.2.1 locations']:,} locations with "
                    f"{t['2.2.1 evses']:,} EVSEs and {t['2.2.1 connectors']:,} connectors)"
                )
                log(platform_notes[-1])
                work = Path(tmp) / str(size)
                work.mkdir()
                files[size] = TapFiles(platform, work, catalog)
                if size in args.sizes:
                    first = size == args.sizes[0]
                    entrants = [
                        c
                        for c in contenders(files)
                        if (first or not c.once)
                        and (not args.only or c.key in args.only)
                        and (size < 1_000_000 or args.full_large or not c.small_only)
                    ]
                    rounds = args.large_rounds if size >= 1_000_000 else args.rounds
                    results += measure(platform, entrants, rounds)
                if args.latency_ms and size == args.latency_size:
                    platform.set_faults(latency_ms=args.latency_ms)
                    try:
                        entrants = latency_contenders(files)
                        latency_results = measure(platform, entrants, args.rounds)
                    finally:
                        platform.set_faults()
            finally:
                platform.stop()

    results.sort(key=lambda r: (r.contender.once, r.size))  # start-up last, sizes grouped
    out = [
        f"### Throughput ({args.rounds} alternating round(s), medians; pages of 1000, loopback)",
        "",
        table(results),
    ]
    if latency_results:
        processing = next(
            (
                r.median("wall")
                for r in results
                if r.size == args.latency_size and r.contender.key == "tap"
            ),
            None,
        )
        out += [
            "",
            f"### Slow platform: {args.latency_ms} ms per page, "
            f"{fmt_size(args.latency_size)} sessions",
            "",
            latency_table(latency_results, processing, args.latency_ms),
        ]
    out += [
        "",
        f"Machine: {machine()} (load average {load_before:.1f} at the start). "
        "Test platform: " + "; ".join(platform_notes) + ".",
    ]
    sys.stdout.write("\n".join(out) + "\n")
    if args.json:
        dump = [
            {
                "size": r.size,
                "contender": r.contender.key,
                "runs": [dataclasses.asdict(run) for run in r.runs],
                "ratios": r.ratios,
                "cpu_ratios": r.cpu_ratios,
            }
            for r in results + latency_results
        ]
        Path(args.json).write_text(json.dumps(dump, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
