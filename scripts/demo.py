"""`make demo`: tap-ocpi + Meltano + target-csv against the bundled OCPI test platform.

Run 1 starts the platform (fixed seed and clock, so everyone sees the same data), extracts
everything into CSV files and shows what arrived. Run 2, 3, ... start the same platform, let
its data move on by one more step (new sessions, finished sessions, changed locations), and
extract incrementally from the bookmarks Meltano saved: only new and changed objects are read.

How the platform "remembers": it is a fresh process each time, generated from the same seed.
demo-state.json records every step applied so far (when it happened on the platform's clock);
run k replays the k-2 recorded steps, which recreates exactly the data run k-1 saw, then applies
one new step, stamped just after run k-1's bookmark.

Everything the demo keeps lives in demo-output/ (gitignored): the CSV files (one per stream and
run), Meltano's system database with the saved state, one log per run and demo-state.json.
`rm -rf demo-output` starts over. Run it with `make demo` (which installs what it needs).
"""

from __future__ import annotations

import ast
import csv
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

from tap_ocpi.schemas import PRIMARY_KEYS, STREAM_SCHEMAS

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "demo-output"
CSV_DIR = OUT / "csv"
STATE_FILE = OUT / "demo-state.json"
MELTANO = REPO / ".venv-meltano" / "bin" / "meltano"
PLATFORM_BIN = Path(sys.executable).parent / "ocpi-mock-platform"
STATE_ID = "demo:tap-ocpi-to-target-csv"

# The platform: a fixed seed and clock, so every run of the demo sees the same world.
DATASET = {
    "seed": 42,
    "locations": 200,
    "sessions": 5000,
    "tariffs": 12,
    "tokens": 300,
    "clients": 6,
    "now": "2025-06-01T00:00:00Z",
}
# What changes between two demo runs (one "step" of the platform's life), spread over at most
# STEP_MINUTES after the previous run's bookmark.
STEP = {"new_sessions": 40, "updated_sessions": 25, "updated_locations": 3}
STEP_MINUTES = 1.0
# A demo-only key for pseudonyms (tokens.uid). Real projects keep theirs secret, in .env.
DEMO_SALT = "demo-only-salt-not-a-secret-0123456789"
# The tap's own stream list and keys (the demo runs with the tap's venv).
STREAMS = tuple(STREAM_SCHEMAS)
KEYS = PRIMARY_KEYS
BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")


def say(text: str = "") -> None:
    print(text, flush=True)


def wrapped(text: str) -> None:
    say(textwrap.fill(text, 96))


def heading(text: str) -> None:
    say(f"\n{BOLD}== {text}{RESET}")


# --- demo state ---------------------------------------------------------------------------


def load_state() -> dict[str, Any]:
    """What earlier demo runs left: {"runs": n, "steps": [...], "bookmark": ...}."""
    try:
        saved = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        saved = {}
    consistent = (
        saved.get("dataset") == DATASET
        and saved.get("step") == STEP
        and isinstance(saved.get("steps"), list)
        and (OUT / "meltano.db").exists()
        and CSV_DIR.is_dir()
    )
    if saved and not consistent:
        say("demo-output/ is from a different or unfinished setup: starting over.")
    if not consistent:
        shutil.rmtree(OUT, ignore_errors=True)
        return {"runs": 0, "steps": [], "bookmark": None}
    return saved


def save_state(state: dict[str, Any]) -> None:
    STATE_FILE.write_text(json.dumps({**state, "dataset": DATASET, "step": STEP}, indent=2))


def parse_utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc)


# --- the platform -----------------------------------------------------------------------------


class Platform:
    """`ocpi-mock-platform` as a child process, stopped on exit whatever happens."""

    def __init__(self) -> None:
        args = [str(PLATFORM_BIN), "--host", "127.0.0.1", "--port", "0"]
        for name, value in DATASET.items():
            args += [f"--{name}", str(value)]
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line.startswith("{"):
            self.stop()
            raise SystemExit(f"demo: the test platform did not start: {line}{self._stderr()}")
        info = json.loads(line)
        self.versions_url: str = info["versions_url"]
        self.token: str = info["token"]
        self.admin_url: str = info["admin_url"]

    def _stderr(self) -> str:
        try:
            return self.process.communicate(timeout=5)[1] or ""
        except (subprocess.TimeoutExpired, ValueError):
            return ""

    def admin(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - a loopback URL we started
            f"{self.admin_url}/{path}",
            data=data,
            method="GET" if data is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return json.loads(response.read())

    def clock(self) -> dt.datetime:
        return parse_utc(self.admin("stats")["clock"])

    def apply(self, step: dict[str, Any]) -> dict[str, Any]:
        """One recorded step: move the clock to `at` without changes, then make the changes
        within the next `minutes` (deterministic: same seed, same steps, same data)."""
        gap = (parse_utc(step["at"]) - self.clock()).total_seconds()
        if gap > 0:
            self.admin("advance", {"minutes": gap / 60})
        return self.admin("advance", {**STEP, "minutes": step["minutes"]})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- Meltano ----------------------------------------------------------------------------------


def meltano_env(platform: Platform) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_OCPI", "TARGET_CSV", "MELTANO_", "OCPI_"))
    }
    env.update(
        {
            "OCPI_DEMO_VERSIONS_URL": platform.versions_url,
            "OCPI_DEMO_TOKEN": platform.token,
            "OCPI_DEMO_PRIVACY_SALT": DEMO_SALT,
            "OCPI_DEMO_OUTPUT_DIR": str(CSV_DIR),
            # the demo's own system database (with its saved state), next to its CSV files
            "MELTANO_DATABASE_URI": f"sqlite:///{OUT / 'meltano.db'}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
            "UV_NATIVE_TLS": "1",  # if Meltano (re)installs a plugin: trust the system's CAs
        }
    )
    return env


def meltano(args: list[str], env: dict[str, str], log: Path | None = None) -> str:
    command = [str(MELTANO), "--environment=demo", *args]
    proc = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if log is not None:
        log.write_text(f"$ {' '.join(['meltano', *command[1:]])}\n{proc.stdout}\n{proc.stderr}")
    if proc.returncode != 0:
        say(f"\nmeltano {' '.join(args)} failed (exit {proc.returncode}). Last lines:")
        say(textwrap.indent("\n".join(proc.stderr.strip().splitlines()[-25:]), "  "))
        if log is not None:
            say(f"Full log: {log.relative_to(REPO)}")
        raise SystemExit(1)
    return proc.stdout


# --- reading the CSV files --------------------------------------------------------------------
# target-csv writes one file per stream and run: demo-output/csv/<stream>/<stream>-<UTC time>.csv


def csv_files() -> dict[str, list[Path]]:
    return {stream: sorted((CSV_DIR / stream).glob(f"{stream}-*.csv")) for stream in STREAMS}


def read_rows(paths: list[Path]) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    rows: list[dict[str, str]] = []
    for path in paths:
        with path.open(newline="", encoding="utf-8") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def key_of(stream: str, row: dict[str, str]) -> tuple[str, ...]:
    return tuple(row.get(k, "") for k in KEYS[stream])


def money(text: str) -> str:
    """target-csv writes nested objects as Python reprs (`{'excl_vat': Decimal('1.2')}`):
    show a Price as one amount, incl. VAT when known."""
    try:
        value = ast.literal_eval(re.sub(r"Decimal\('([^']*)'\)", r"'\1'", text))
    except (ValueError, SyntaxError):
        return text
    if not isinstance(value, dict):
        return str(value)
    for name in ("incl_vat", "excl_vat", "before_taxes"):
        if value.get(name) not in (None, ""):
            return f"{float(value[name]):.2f}" + ("" if name == "incl_vat" else " +VAT")
    return "-"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)) for r in rows]
    return textwrap.indent("\n".join(out), "  ")


def short_time(text: str) -> str:
    return text.replace("+00:00", "Z")[:20] if text else "(blank)"


def show_sessions(rows: list[dict[str, str]], title: str) -> None:
    if not rows:
        return
    say(f"\n{title}")
    body = [
        [
            r["id"][:22], r.get("status", ""), r.get("kwh") or "(blank)",
            short_time(r.get("start_date_time", "")), short_time(r.get("end_date_time", "")),
            money(r.get("total_cost", "")) or "-", r.get("currency", ""),
            r.get("authorization_reference") or "(blank)", short_time(r["last_updated"]),
        ]
        for r in rows
    ]  # fmt: skip
    header = ["id", "status", "kwh", "start", "end", "cost", "cur", "auth_reference",
              "last_updated"]  # fmt: skip
    say(table(body, header))


# --- the demo ---------------------------------------------------------------------------------


def main() -> int:
    if not MELTANO.exists() or not PLATFORM_BIN.exists():
        say("demo: run it with `make demo`, which installs the tap, Meltano and target-csv.")
        return 1
    state = load_state()
    run = state["runs"] + 1
    CSV_DIR.mkdir(parents=True, exist_ok=True)
    files_before = csv_files()

    heading(f"tap-ocpi demo, run {run}")
    say(
        f"Test platform: seed {DATASET['seed']}, {DATASET['locations']} locations, "
        f"{DATASET['sessions']:,} sessions, {DATASET['tokens']} tokens, {DATASET['tariffs']} "
        f"tariffs, OCPI 2.1.1/2.2.1/2.3.0."
    )
    platform = Platform()
    try:
        say(f"Platform listening at {platform.versions_url}")
        if state["runs"]:
            move_platform(platform, state)
        env = meltano_env(platform)
        log = OUT / f"run-{run}.log"
        heading("meltano --environment=demo run tap-ocpi target-csv")
        wrapped(
            "First run: no saved state, everything since start_date is read."
            if run == 1
            else "Saved state found: each stream asks only for objects changed since its "
            "bookmark (minus a 15-minute lookback)."
        )
        started = time.monotonic()
        meltano(["run", "tap-ocpi", "target-csv"], env, log)
        seconds = time.monotonic() - started
        saved = json.loads(meltano(["state", "get", STATE_ID], env) or "{}")
    finally:
        platform.stop()
    bookmarks = {
        stream: entry.get("replication_key_value", "")
        for stream, entry in saved.get("singer_state", {}).get("bookmarks", {}).items()
    }
    state.update(runs=run, bookmark=max(bookmarks.values(), default=None))
    save_state(state)
    report(files_before, csv_files(), seconds, log, bookmarks, first=run == 1)
    return 0


def move_platform(platform: Platform, state: dict[str, Any]) -> None:
    """Recreate the data the previous run saw, then one new step after its bookmark."""
    for step in state["steps"]:
        platform.apply(step)
    # Stamp the changes after the previous run's bookmark (so this run sees them), within the
    # last two minutes (so they look recent), and before this run starts (its window's end).
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    at = max([platform.clock(), now - dt.timedelta(minutes=2)] + (
        [parse_utc(state["bookmark"])] if state["bookmark"] else []))  # fmt: skip
    room = (now - at).total_seconds() / 60 - 0.1
    step = {"at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "minutes": max(0.0, min(STEP_MINUTES, room))}
    moved = platform.apply(step)
    state["steps"].append(step)
    counts = moved["counts"]
    wrapped(
        f"The platform's data moved on (step {len(state['steps'])}): "
        f"{counts['created_sessions']} new sessions, {counts['updated_sessions']} sessions "
        f"updated ({counts['created_cdrs']} of them finished, with a new CDR each), "
        f"{counts['updated_locations']} locations changed."
    )


def report(
    files_before: dict[str, list[Path]],
    files_after: dict[str, list[Path]],
    seconds: float,
    log: Path,
    bookmarks: dict[str, str],
    *,
    first: bool,
) -> None:
    say(f"Done in {seconds:.1f} s (log: {log.relative_to(REPO)}).")
    heading(f"CSV files in {CSV_DIR.relative_to(REPO)}/<stream>/ (one file per stream and run)")
    rows = []
    new_rows: dict[str, list[dict[str, str]]] = {}
    old_versions: dict[str, dict[tuple[str, ...], str]] = {}
    for stream in STREAMS:
        old_files = files_before.get(stream, [])
        this_run = [p for p in files_after.get(stream, []) if p not in old_files]
        old = read_rows(old_files)
        new_rows[stream] = read_rows(this_run)
        old_versions[stream] = {key_of(stream, r): r["last_updated"] for r in old}
        seen = old_versions[stream]
        fresh = sum(1 for r in new_rows[stream] if key_of(stream, r) not in seen)
        again = sum(1 for r in new_rows[stream] if seen.get(key_of(stream, r)) == r["last_updated"])
        changed = len(new_rows[stream]) - fresh - again
        row = [stream, f"{len(old) + len(new_rows[stream]):,}", f"{len(new_rows[stream]):,}"]
        if not first:
            row += [str(fresh), str(changed), str(again)]
        rows.append([*row, bookmarks.get(stream, "")])
    header = ["stream", "rows, all runs", "this run"]
    if not first:
        header += ["new", "updated", "re-read"]
    say(table(rows, [*header, "bookmark (saved state)"]))
    if not first:
        note = (
            "new: keys not seen before; updated: a newer version of a row from an earlier run "
            "(keep the latest last_updated per key, or load into PostgreSQL, which upserts); "
            "re-read: unchanged rows sent again (inside the 15-minute lookback window, or EVSEs "
            "and connectors of a changed location). Streams whose data did not move read nothing."
        )
        say(f"{DIM}{textwrap.fill(note, 96)}{RESET}")

    if first:
        sessions = read_rows(files_after["sessions"])
        sample = sorted(sessions, key=lambda r: r["last_updated"])[-5:]
        show_sessions(sample, "The five most recently updated sessions:")
    else:
        seen = old_versions["sessions"]
        appended = new_rows["sessions"]
        show_sessions([r for r in appended if key_of("sessions", r) not in seen][:3],
                      "New sessions from this run:")  # fmt: skip
        show_sessions(
            [r for r in appended if seen.get(key_of("sessions", r), r["last_updated"]) !=
             r["last_updated"]][:3],
            "Updated sessions from this run (e.g. finished since the last run):",
        )  # fmt: skip
    say(
        "\nPrivacy by default: personal fields (authorization references, meter ids, token "
        "uids, private\naddresses, ...) are blank or pseudonymised. The demo environment opens "
        "kwh, start and end\ntimes of sessions with `privacy_pass` (see meltano.yml, "
        "environment `demo`)."
    )
    example = files_after["tariffs"][-1] if files_after["tariffs"] else CSV_DIR
    say(
        "\nNext: run `make demo` again for an incremental run; `rm -rf demo-output` starts over."
        f"\nLook at the data: column -s, -t < {example.relative_to(REPO)} | less -S"
    )


if __name__ == "__main__":
    sys.exit(main())
