"""Regenerate the generated parts of the README and the docs, or check that they are current.

- README.md, the settings table: from `tap-ocpi --about --format markdown` (the SDK renders it
  from the tap's settings schema, built-in settings included);
- docs/privacy.md, the privacy tables: from the safe lists in tap_ocpi/privacy/fields.py.

Usage: python scripts/update_readme.py [--check]   (make readme runs it without --check)
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tap_ocpi.privacy import safe_fields_markdown
from tap_ocpi.schemas import STREAM_SCHEMAS

ROOT = Path(__file__).resolve().parents[1]


def settings_table() -> str:
    about = subprocess.run(
        [sys.executable, "-m", "tap_ocpi", "--about", "--format", "markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = about.split("## Settings", 1)[1].strip().splitlines()
    return "\n".join(_fold_nested([line for line in lines if line.startswith("|")])) + "\n"


def _fold_nested(rows: list[str]) -> list[str]:
    """Sub-settings of the SDK's built-in objects (`batch_config.storage.root`, ...) become a
    list in their parent's row: the table stays a page, and `--about` keeps the detail."""
    out: list[str] = []
    children: dict[str, list[str]] = {}
    for row in rows:
        name = row.split("|")[1].strip()
        parent, dot, child = name.partition(".")
        if dot and out:
            children.setdefault(parent, []).append(child)
            continue
        out.append(row)
    for i, row in enumerate(out):
        name = row.split("|")[1].strip()
        if name in children:
            subs = ", ".join(f"`{c}`" for c in children[name])
            out[i] = f"{row.rstrip().removesuffix('|').rstrip()} Sub-settings: {subs}. |"
    return out


def privacy_tables() -> str:
    return safe_fields_markdown(STREAM_SCHEMAS)


# file (relative to the repository) -> block name -> what renders the block
GENERATED: dict[str, dict[str, Callable[[], str]]] = {
    "README.md": {"settings": settings_table},
    "docs/privacy.md": {"privacy tables": privacy_tables},
}


def targets() -> dict[Path, dict[str, str]]:
    """Every generated block, rendered, per file."""
    return {
        ROOT / name: {block: render_block() for block, render_block in blocks.items()}
        for name, blocks in GENERATED.items()
    }


def render(text: str, generated: dict[str, str]) -> str:
    """Replace what stands between `<!-- BEGIN name -->` and `<!-- END name -->`."""
    for name, body in generated.items():
        begin, end = f"<!-- BEGIN {name} (make readme) -->", f"<!-- END {name} -->"
        head, found, rest = text.partition(begin)
        if not found:
            raise SystemExit(f"no {begin!r} marker")
        _, _, tail = rest.partition(end)
        text = f"{head}{begin}\n\n{body}\n{end}{tail}"
    return text


def main(argv: list[str]) -> int:
    stale = []
    for path, generated in targets().items():
        text = path.read_text(encoding="utf-8")
        new = render(text, generated)
        if new == text:
            continue
        if "--check" in argv:
            stale.append(path.relative_to(ROOT).as_posix())
        else:
            path.write_text(new, encoding="utf-8")
    if stale:
        print(f"{', '.join(stale)} stale: run `make readme`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
