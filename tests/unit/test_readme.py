"""The README's generated parts (settings, privacy defaults) match the code."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_readme_sections_are_current() -> None:
    script = runpy.run_path(str(ROOT / "scripts" / "update_readme.py"))
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert script["render"](text, script["blocks"]()) == text, "run `make readme`"


def test_quick_start_is_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make demo" in quick_start
    assert "make test" in quick_start
