"""Run every case of tests/platform/test_hostile.py and print a markdown table.

    .venv/bin/python tests/benchmarks/hostile_report.py [case ...]

Each case runs in a child process of its own (the hostile servers in it, the tap as its
only subprocess), so the child's RUSAGE_CHILDREN peak RSS is the tap's alone. Columns:
case, issue point, outcome (exit status and the first `tap-ocpi: error:` line), whether
every check of the test held, peak RSS of the tap, run time, and whether a traceback or
the token was seen.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "platform")]

import test_hostile as hostile  # noqa: E402 - needs the paths above


def measure(name: str) -> dict[str, object]:
    """Run one case here (the child) and describe what happened."""
    case = hostile.BY_NAME[name]
    outcome = hostile.run_case(case)
    run = outcome.run
    problems = hostile.common_failures(case, outcome)
    if case.check is not None and not problems:
        try:
            case.check(outcome)
        except AssertionError as exc:
            problems.append(f"check: {str(exc).splitlines()[0][:200]}")
    errors = [line for line in run.stderr.splitlines() if line.startswith("tap-ocpi: error:")]
    printed = run.stdout + run.stderr
    return {
        "case": name,
        "point": case.point,
        "exit": run.returncode,
        "error": errors[0] if errors else "",
        "held": not problems,
        "problems": problems,
        "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "seconds": outcome.seconds,
        "traceback": "Traceback" in run.stderr,
        "token": any(form in printed for form in hostile.TOKEN_FORMS),
    }


def _cell(text: str, width: int = 110) -> str:
    text = text.removeprefix("tap-ocpi: error: ").replace("|", "\\|")
    return text if len(text) <= width else f"{text[:width]}…"


def main(names: list[str]) -> int:
    rows = []
    for name in names or list(hostile.BY_NAME):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", name],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if proc.returncode != 0:
            sys.stderr.write(f"{name}: the measuring child failed:\n{proc.stderr[-2000:]}\n")
            return 1
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print("| case | point | outcome | checks | peak RSS | time | Traceback seen | token seen |")
    print("|---|---|---|---|---:|---:|---|---|")
    for row in rows:
        outcome = f"exit {row['exit']}" + (f": {_cell(str(row['error']))}" if row["error"] else "")
        checks = "held" if row["held"] else "FAILED: " + "; ".join(map(str, row["problems"]))
        print(
            f"| {row['case']} | {row['point']} | {outcome} | {checks} "
            f"| {row['rss_mb']:.0f} MB | {row['seconds']:.1f} s "
            f"| {'yes' if row['traceback'] else 'no'} | {'yes' if row['token'] else 'no'} |"
        )
    return 0 if all(row["held"] for row in rows) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(measure(sys.argv[2])))
    else:
        sys.exit(main(sys.argv[1:]))
