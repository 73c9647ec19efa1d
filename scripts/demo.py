"""`make demo`: tap-ocpi + Meltano + target-csv against the bundled OCPI test platform.

Run 1 starts the platform (fixed seed, so everyone sees the same data), extracts everything
into CSV files and shows what arrived. Run 2, 3, ... start the same platform, let its data
move on by one more step (new sessions, finished sessions, a changed location), and extract
incrementally from the bookmarks Meltano saved: only the new and changed objects are read.

Everything the demo keeps lives in demo-output/ (gitignored): the CSV files, Meltano's system
database with the saved state, one log per run and demo-state.json (how many runs happened).
`rm -rf demo-output` starts over. Run it with `make demo` (which installs what it needs).
"""

from __future__ import annotations

import ast
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

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
# What changes between two demo runs (one "step" of the platform's life).
STEP = {"new_sessions": 40, "updated_sessions": 25, "updated_locations": 3, "minutes": 60}
# A demo-only key for pseudonyms (tokens.uid). Real projects keep theirs secret, in .env.
DEMO_SALT = "demo-only-salt-not-a-secret-0123456789"
STREAMS = ("locations", "evses", "connectors", "sessions", "cdrs", "tariffs", "tokens",
           "hubclientinfo")  # fmt: skip
KEYS = {
    "locations": ("country_code", "party_id", "id"),
    "evses": ("country_code", "party_id", "location_id", "uid"),
    "connectors": ("country_code", "party_id", "location_id", "evse_uid", "id"),
    "sessions": ("country_code", "party_id", "id"),
    "cdrs": ("country_code", "party_id", "id"),
    "tariffs": ("country_code", "party_id", "id"),
    "tokens": ("country_code", "party_id", "uid", "type"),
    "hubclientinfo": ("country_code", "party_id"),
}
BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if sys.stdout.isatty() else ("", "", "")


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(text: str) -> None:
    say(f"\n{BOLD}== {text}{RESET}")


# --- demo state ---------------------------------------------------------------------------


def load_runs() -> int:
    """How many demo runs completed before this one (0: start from scratch)."""
    try:
        saved = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        saved = {}
    consistent = (
        saved.get("dataset") == DATASET
        and saved.get("step") == STEP
        and (OUT / "meltano.db").exists()
        and CSV_DIR.is_dir()
    )
    if saved and not consistent:
        say("demo-output/ is from a different or unfinished setup: starting over.")
    if not consistent:
        shutil.rmtree(OUT, ignore_errors=True)
        return 0
    return int(saved.get("runs", 0))


def save_runs(runs: int) -> None:
    STATE_FILE.write_text(json.dumps({"runs": runs, "dataset": DATASET, "step": STEP}, indent=2))


# --- the platform -----------------------------------------------------------------------------


class Platform:
    """`ocpi-mock-platform` as a child process, stopped on exit whatever happens."""

    def __init__(self) -> None:
        args = [str(PLATFORM_BIN), "--host", "127.0.0.1", "--port", "0"]
        for name, value in DATASET.items():
            args += [f"--{name}", str(value)]
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
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


def read_csv(stream: str) -> list[dict[str, str]]:
    path = CSV_DIR / f"{stream}.csv"
    if not path.exists():
        return []
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def key_of(stream: str, row: dict[str, str]) -> tuple[str, ...]:
    return tuple(row.get(k, "") for k in KEYS[stream])


def snapshot() -> dict[str, list[dict[str, str]]]:
    return {stream: read_csv(stream) for stream in STREAMS}


def money(text: str) -> str:
    """target-csv writes nested objects as Python reprs: show a Price as its incl. VAT."""
    try:
        value = ast.literal_eval(text) if text.startswith("{") else text
    except (ValueError, SyntaxError):
        return text
    if isinstance(value, dict):
        value = value.get("incl_vat") if value.get("incl_vat") is not None else value.get(
            "excl_vat")  # fmt: skip
    return "" if value in (None, "") else f"{float(value):.2f}"


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
    previous_runs = load_runs()
    run = previous_runs + 1
    OUT.mkdir(exist_ok=True)
    CSV_DIR.mkdir(exist_ok=True)
    before = snapshot()

    heading(f"tap-ocpi demo, run {run}")
    say(
        f"Test platform: seed {DATASET['seed']}, {DATASET['locations']} locations, "
        f"{DATASET['sessions']:,} sessions, {DATASET['tokens']} tokens, {DATASET['tariffs']} "
        f"tariffs, OCPI 2.1.1/2.2.1/2.3.0."
    )
    platform = Platform()
    try:
        say(f"Platform listening at {platform.versions_url}")
        if previous_runs:
            # Replay the steps earlier runs saw (deterministic), then one new step.
            for _ in range(previous_runs):
                moved = platform.admin("advance", STEP)
            counts = moved["counts"]
            say(
                f"The platform's data moved on (step {previous_runs}, clock now {moved['clock']}): "
                f"{counts['created_sessions']} new sessions, {counts['updated_sessions']} "
                f"sessions updated, {counts['created_cdrs']} new CDRs, "
                f"{counts['updated_locations']} locations changed."
            )
        env = meltano_env(platform)
        log = OUT / f"run-{run}.log"
        heading("meltano --environment=demo run tap-ocpi target-csv")
        say(
            "First run: no saved state, everything since start_date is read."
            if not previous_runs
            else "Saved state found: each stream asks only for objects changed since its "
            "bookmark (minus a 15-minute lookback)."
        )
        started = time.monotonic()
        meltano(["run", "tap-ocpi", "target-csv"], env, log)
        seconds = time.monotonic() - started
        state = json.loads(meltano(["state", "get", STATE_ID], env) or "{}")
    finally:
        platform.stop()
    save_runs(run)

    after = snapshot()
    report(before, after, seconds, log, state, first=not previous_runs)
    return 0


def report(
    before: dict[str, list[dict[str, str]]],
    after: dict[str, list[dict[str, str]]],
    seconds: float,
    log: Path,
    state: dict[str, Any],
    *,
    first: bool,
) -> None:
    say(f"Done in {seconds:.1f} s (log: {log.relative_to(REPO)}).")
    heading(f"CSV files in {CSV_DIR.relative_to(REPO)}/")
    bookmarks = state.get("singer_state", {}).get("bookmarks", {})
    rows = []
    for stream in STREAMS:
        old, new = before[stream], after[stream]
        appended = new[len(old) :]
        seen = {key_of(stream, r): r["last_updated"] for r in old}
        fresh = sum(1 for r in appended if key_of(stream, r) not in seen)
        changed = sum(
            1 for r in appended if key_of(stream, r) in seen and seen[key_of(stream, r)] !=
            r["last_updated"]
        )  # fmt: skip
        again = len(appended) - fresh - changed
        mark = bookmarks.get(stream, {}).get("replication_key_value", "")
        row = [f"{stream}.csv", f"{len(new):,}", f"+{len(appended):,}"]
        if not first:
            row += [str(fresh), str(changed), str(again)]
        rows.append([*row, mark])
    header = ["file", "rows", "this run"]
    if not first:
        header += ["new", "updated", "re-read"]
    say(table(rows, [*header, "bookmark (saved state)"]))
    if not first:
        say(
            f"{DIM}new: keys not seen before; updated: a newer version of an existing row "
            f"(appended: CSV cannot update in place,\nkeep the latest last_updated per key, or "
            f"load into PostgreSQL, which upserts); re-read: unchanged rows inside the\n"
            f"lookback window (harmless duplicates).{RESET}"
        )

    sessions = after["sessions"]
    if first:
        sample = sorted(sessions, key=lambda r: r["last_updated"])[-5:]
        show_sessions(sample, "The five most recently updated sessions:")
    else:
        old_keys = {key_of("sessions", r) for r in before["sessions"]}
        appended = sessions[len(before["sessions"]) :]
        show_sessions([r for r in appended if key_of("sessions", r) not in old_keys][:3],
                      "New sessions from this run:")  # fmt: skip
        show_sessions([r for r in appended if key_of("sessions", r) in old_keys][:3],
                      "Updated sessions from this run:")  # fmt: skip
    say(
        "\nPrivacy by default: personal fields (authorization references, meter ids, token "
        "uids, private\naddresses, ...) are blank or pseudonymised. The demo environment opens "
        "kwh, start and end\ntimes of sessions with `privacy_pass` (see meltano.yml, "
        "environment `demo`)."
    )
    say(
        f"\nNext: run `make demo` again to see an incremental run; `rm -rf demo-output` starts "
        f"over.\nLook at the data: column -s, -t < {CSV_DIR.relative_to(REPO)}/tariffs.csv | "
        f"less -S"
    )


if __name__ == "__main__":
    sys.exit(main())
