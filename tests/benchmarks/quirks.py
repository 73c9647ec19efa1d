"""Print issue 12's per-quirk table: the real tap against each quirk mode of the test platform.

    .venv/bin/python tests/benchmarks/quirks.py [--timeout 60] [--markdown] [quirk ...]

Per quirk: objects on the platform, objects emitted (distinct), duplicates, exit status,
requests made (the platform's count), and for an incomplete run the two-run check: the rerun
from the saved state, against the fixed server, delivers what the first run missed. The
cases and the measuring live in tests/support/quirks.py (shared with
tests/platform/test_completeness.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.quirks import BY_NAME, CASES, HEADER, measure
from support.tap_runner import discover


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("quirks", nargs="*", choices=[[], *BY_NAME], metavar="quirk")
    parser.add_argument("--timeout", type=float, default=60, help="seconds per tap run")
    parser.add_argument("--markdown", action="store_true", help="a Markdown table")
    args = parser.parse_args()
    catalog = discover({"versions_url": "http://127.0.0.1:9/ocpi/versions"})
    rows = [HEADER]
    errors = []
    for case in [BY_NAME[name] for name in args.quirks] or CASES:
        result = measure(case, catalog, timeout=args.timeout)
        rows.append(result.row())
        if result.error:
            errors.append(f"{case.name}: {result.error}")
        print(f"measured {case.name}", file=sys.stderr, flush=True)
    print(_table(rows, args.markdown))
    for line in errors:
        print(line)
    return 0


def _table(rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in rows]
        lines.insert(1, "|" + "---|" * len(rows[0]))
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


if __name__ == "__main__":
    sys.exit(main())
