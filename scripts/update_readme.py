"""Regenerate the generated parts of README.md, or check that they are current.

- the settings table: from `tap-ocpi --about --format markdown` (the SDK renders it from the
  tap's settings schema, built-in settings included);
- the privacy tables: from the safe lists in tap_ocpi/privacy.py.

Usage: python scripts/update_readme.py [--check]   (make readme runs it without --check)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tap_ocpi.privacy import safe_fields_markdown
from tap_ocpi.schemas import STREAM_SCHEMAS

README = Path(__file__).resolve().parents[1] / "README.md"


def settings_table() -> str:
    about = subprocess.run(
        [sys.executable, "-m", "tap_ocpi", "--about", "--format", "markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = about.split("## Settings", 1)[1].strip().splitlines()
    return "\n".join(line for line in lines if line.startswith("|")) + "\n"


def blocks() -> dict[str, str]:
    return {"settings": settings_table(), "privacy tables": safe_fields_markdown(STREAM_SCHEMAS)}


def render(text: str, generated: dict[str, str]) -> str:
    """Replace what stands between `<!-- BEGIN name -->` and `<!-- END name -->`."""
    for name, body in generated.items():
        begin, end = f"<!-- BEGIN {name} (make readme) -->", f"<!-- END {name} -->"
        head, found, rest = text.partition(begin)
        if not found:
            raise SystemExit(f"README.md has no {begin!r} marker")
        _, _, tail = rest.partition(end)
        text = f"{head}{begin}\n\n{body}\n{end}{tail}"
    return text


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    new = render(text, blocks())
    if "--check" in argv:
        if new != text:
            print("README.md is stale: run `make readme`", file=sys.stderr)
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
