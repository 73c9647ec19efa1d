"""`make bench`: tap-ocpi against hand-written clients, on the test platform, one table.

    .venv/bin/python tests/benchmarks/bench.py                 # 10k, 100k, 1M; 3 rounds
    .venv/bin/python tests/benchmarks/bench.py --quick         # 10k, 1 round (~1 minute)
    .venv/bin/python tests/benchmarks/bench.py --sizes 10000,100000 --rounds 5

How it measures (see /work/shared/docs/measuring.md):

* One test platform (`ocpi-mock-platform`, its own process, loopback) per dataset size,
  reused by every contender. Before timing, every list is read once so the platform has
  generated and cached every object (a cold platform is the bottleneck otherwise).
* Every contender is its own process; stdout goes to /dev/null. Wall time is measured around
  the process, CPU time and peak RSS come from `os.wait4` of that process alone.
* Rounds alternate the contenders (A B C …, A B C …); the table shows medians, and each
  "x floor" figure is the median of the ratios measured within the same round.
* Counts are checked: every tap run must emit exactly the objects the floor read.
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
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
SESSION_ONLY = {"sessions"}
CDRS_AND_LOCATIONS = {"cdrs", "locations", "evses", "connectors"}
_METRIC_RE = re.compile(r"METRIC: (\{.*\})\s*$")


def log(text: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {text}\n")
    sys.stderr.flush()


# --- the test platform ------------------------------------------------------------------------


class Platform:
    """One `ocpi-mock-platform` process for one dataset size."""

    def __init__(self, sessions: int, version: str) -> None:
        self.sessions = sessions
        self.locations = max(40, sessions // 100)
        self.version = version
        # Serialized records stay cached (raw, then zlib blocks): room for sessions and CDRs.
        cache_mb = max(512, sessions * 4000 // 1_000_000)
        command = [PYTHON, "-m", "tap_ocpi.mock_platform", "--port", "0"]
        command += ["--sessions", str(sessions), "--locations", str(self.locations)]
        command += ["--cache-mb", str(cache_mb)]
        started = time.perf_counter()
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
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
        wire = self.token if version == "2.1.1" else base64.b64encode(self.token.encode()).decode()
        self.auth = f"Token {wire}"
        self.modules = self._modules()
        self.totals: dict[str, int] = {}

    def _modules(self) -> dict[str, str]:
        with requests.Session() as session:
            session.headers["Authorization"] = self.auth
            versions = session.get(self.versions_url, timeout=30).json()["data"]
            url = next(v["url"] for v in versions if v["version"] == self.version)
            details = session.get(url, timeout=30).json()["data"]
        return {e["identifier"]: e["url"] for e in details["endpoints"]}

    def first_url(self, module: str) -> str:
        # The tap asks the same: date_from (sessions require it), limit 1000.
        return f"{self.modules[module]}?date_from=1970-01-01T00:00:00Z&limit=1000"

    def set_faults(self, **faults: Any) -> None:
        response = requests.post(f"{self.admin_url}/faults", json=faults, timeout=30)
        response.raise_for_status()

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
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=env)
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


def client_contender(
    key: str, label: str, workload: str, *, mode: str, modules: Sequence[str], floor: bool = False
) -> Contender:
    def start(platform: Platform) -> Run:
        urls = [platform.first_url(m) for m in modules]
        argv = [PYTHON, str(HERE / "minimal_client.py"), mode, platform.auth, *urls]
        run, stderr = run_process(argv)
        summary = json.loads(stderr.strip().splitlines()[-1])
        run.counts = {"objects": summary["records"]}
        expected = sum(platform.totals[m] for m in modules)
        if summary["records"] != expected:
            raise SystemExit(f"{label}: read {summary['records']} objects, expected {expected}")
        return run

    return Contender(key, label, workload, start, floor)


class TapFiles:
    """Config and catalog files for the tap runs against one platform."""

    def __init__(self, platform: Platform, work: Path) -> None:
        self.platform = platform
        self.work = work
        base = {
            "versions_url": platform.versions_url,
            "token": platform.token,
            "ocpi_version": platform.version,
        }
        self.configs = {
            "default": self._write("config-default.json", base),
            "pass": self._write("config-pass.json", {**base, "privacy_pass": {"sessions": ["."]}}),
        }
        discovered = subprocess.run(
            [PYTHON, "-m", "tap_ocpi", "--config", self.configs["default"], "--discover"],
            capture_output=True,
            text=True,
            check=True,
            env=tap_env(),
        )
        catalog = json.loads(discovered.stdout)
        self.catalogs = {
            "sessions": self._write("catalog-sessions.json", select(catalog, SESSION_ONLY)),
            "cdrs+locations": self._write(
                "catalog-cdrs-locations.json", select(catalog, CDRS_AND_LOCATIONS)
            ),
        }

    def _write(self, name: str, data: dict[str, Any]) -> str:
        path = self.work / name
        path.write_text(json.dumps(data))
        return str(path)


def select(catalog: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    catalog = json.loads(json.dumps(catalog))
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def tap_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_OCPI_", "MELTANO_"))}
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


def tap_contender(
    key: str,
    label: str,
    workload: str,
    *,
    config: str,
    catalog: str,
    files: dict[int, TapFiles],
    wrapper: str | None = None,
) -> Contender:
    def start(platform: Platform) -> Run:
        tap = files[platform.sessions]
        entry = [str(HERE / wrapper)] if wrapper else ["-m", "tap_ocpi"]
        argv = [PYTHON, *entry, "--config", tap.configs[config]]
        argv += ["--catalog", tap.catalogs[catalog]]
        run, stderr = run_process(argv, env=tap_env())
        counts = record_counts(stderr)
        expected = {"sessions": {"sessions"}, "cdrs+locations": {"cdrs", "locations"}}[catalog]
        for stream in expected:
            if counts.get(stream) != platform.totals[stream]:
                raise SystemExit(
                    f"{label}: emitted {counts.get(stream)} {stream}, expected "
                    f"{platform.totals[stream]}"
                )
        run.counts = {"objects": sum(counts[s] for s in expected), "records": sum(counts.values())}
        return run

    return Contender(key, label, workload, start)


# --- warm-up ----------------------------------------------------------------------------------


def warm_up(platform: Platform) -> float:
    """Read every list once: the platform generates and caches each object on first read."""
    started = time.perf_counter()
    with requests.Session() as session:
        session.headers["Authorization"] = platform.auth
        for module in ("sessions", "cdrs", "locations"):
            url: str | None = platform.first_url(module)
            while url:
                response = session.get(url, timeout=600)
                response.raise_for_status()
                platform.totals.setdefault(module, int(response.headers["X-Total-Count"]))
                url = response.links.get("next", {}).get("url")
    return time.perf_counter() - started


# --- the run -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    size: int
    contender: Contender
    runs: list[Run] = dataclasses.field(default_factory=list)
    ratios: list[float] = dataclasses.field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(run, attr) for run in self.runs)

    @property
    def objects(self) -> int:
        return self.runs[0].counts["objects"]

    @property
    def records(self) -> int:
        return self.runs[0].counts.get("records", self.objects)


def contenders(files: dict[int, TapFiles]) -> list[Contender]:
    s, cl = "sessions", "cdrs+locations"
    return [
        client_contender(
            "raw", "raw page fetch, no parsing (`requests`)", s, mode="raw", modules=[s]
        ),
        client_contender(
            "floor", "**floor**: `requests` + `orjson`", s, mode="orjson", modules=[s], floor=True
        ),
        client_contender("json", "`requests` + standard `json`", s, mode="json", modules=[s]),
        tap_contender(
            "tap-pass", "tap-ocpi, privacy fully passed", s, config="pass", catalog=s, files=files
        ),
        tap_contender(
            "tap", "tap-ocpi, default privacy", s, config="default", catalog=s, files=files
        ),
        client_contender(
            "floor-cl",
            "**floor**: `requests` + `orjson`",
            cl,
            mode="orjson",
            modules=["cdrs", "locations"],
            floor=True,
        ),
        tap_contender(
            "tap-cl", "tap-ocpi, default privacy", cl, config="default", catalog=cl, files=files
        ),
    ]


def latency_contenders(files: dict[int, TapFiles]) -> list[Contender]:
    s = "sessions"
    return [
        client_contender("lat-raw", "network alone: raw page fetch", s, mode="raw", modules=[s]),
        client_contender(
            "lat-floor", "`requests` + `orjson` (sequential)", s, mode="orjson", modules=[s]
        ),
        tap_contender(
            "lat-tap", "tap-ocpi (prefetch on)", s, config="default", catalog=s, files=files
        ),
        tap_contender(
            "lat-seq",
            "tap-ocpi, prefetch off",
            s,
            config="default",
            catalog=s,
            files=files,
            wrapper="tap_no_prefetch.py",
        ),
    ]


def measure(platform: Platform, entrants: list[Contender], rounds: int) -> list[Result]:
    results = [Result(platform.sessions, c) for c in entrants]
    for round_no in range(1, rounds + 1):
        floors: dict[str, Run] = {}
        for result in results:
            run = result.contender.start(platform)
            result.runs.append(run)
            log(
                f"{platform.sessions:>9,} round {round_no}: {result.contender.key:<9} "
                f"{run.wall:7.2f} s  cpu {run.cpu:7.2f} s  rss {run.rss_mb:6.1f} MB"
            )
            if result.contender.floor:
                floors[result.contender.workload] = run
            floor = floors.get(result.contender.workload)
            if floor is not None:
                result.ratios.append(run.wall / floor.wall)
    return results


# --- the report -------------------------------------------------------------------------------


def fmt_size(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def table(results: list[Result]) -> str:
    lines = [
        "| sessions | workload | client | time (s) | objects/s | time vs floor | CPU (s) "
        "| peak RSS (MB) |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        wall = r.median("wall")
        ratio = f"{statistics.median(r.ratios):.2f}x" if r.ratios else "-"
        workload = r.contender.workload
        if r.records != r.objects:
            workload += f" ({r.records:,} records out)"
        lines.append(
            f"| {fmt_size(r.size)} | {workload} | {r.contender.label} | {wall:.2f} | "
            f"{r.objects / wall:,.0f} | {ratio} | {r.median('cpu'):.2f} | "
            f"{r.median('rss_mb'):.0f} |"
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
        help="comma-separated session counts (default: 10000,100000,1000000)",
    )
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    p.add_argument(
        "--quick", action="store_true", help="10k sessions, 1 round, latency case at 10k"
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
    p.add_argument(
        "--ocpi-version",
        default="2.2.1",
        choices=["2.1.1", "2.2.1", "2.3.0"],
        help="the version every contender reads (default 2.2.1)",
    )
    p.add_argument("--json", metavar="PATH", help="also write every run as JSON")
    args = p.parse_args(argv)
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if args.quick:
        args.sizes, args.rounds, args.latency_size = [10_000], 1, 10_000
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    log(f"{machine()}; sizes {args.sizes}, {args.rounds} round(s)")
    load_before = os.getloadavg()[0]
    results: list[Result] = []
    latency_results: list[Result] = []
    platform_notes: list[str] = []
    sizes = list(args.sizes)
    if args.latency_ms and args.latency_size not in sizes:
        sizes.append(args.latency_size)
    with tempfile.TemporaryDirectory(prefix="tap-ocpi-bench-") as tmp:
        files: dict[int, TapFiles] = {}
        for size in sizes:
            platform = Platform(size, args.ocpi_version)
            try:
                log(f"{size:,} sessions: platform up in {platform.startup:.2f} s; warming up")
                warm = warm_up(platform)
                platform_notes.append(
                    f"{fmt_size(size)}: start {platform.startup:.1f} s, first read of every "
                    f"list {warm:.0f} s, peak RSS {platform.rss_mb():.0f} MB "
                    f"({platform.totals['sessions']:,} sessions, {platform.totals['cdrs']:,} "
                    f"CDRs, {platform.totals['locations']:,} locations)"
                )
                log(platform_notes[-1])
                work = Path(tmp) / str(size)
                work.mkdir()
                files[size] = TapFiles(platform, work)
                if size in args.sizes:
                    results += measure(platform, contenders(files), args.rounds)
                if args.latency_ms and size == args.latency_size:
                    platform.set_faults(latency_ms=args.latency_ms)
                    try:
                        entrants = latency_contenders(files)
                        latency_results = measure(platform, entrants, args.rounds)
                    finally:
                        platform.set_faults()
            finally:
                platform.stop()

    out = [
        f"### Throughput ({args.rounds} alternating round(s), medians; OCPI "
        f"{args.ocpi_version}, pages of 1000, loopback)",
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
            }
            for r in results + latency_results
        ]
        Path(args.json).write_text(json.dumps(dump, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
