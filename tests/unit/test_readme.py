"""The README and the docs: generated parts match the code, and the README keeps its promises
of shape (size, quick start, capabilities, links)."""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_README_BYTES = 15 * 1024


def test_generated_sections_are_current() -> None:
    script = runpy.run_path(str(ROOT / "scripts" / "update_readme.py"))
    for path, generated in script["targets"]().items():
        text = path.read_text(encoding="utf-8")
        assert script["render"](text, generated) == text, f"{path.name}: run `make readme`"


def test_quick_start_is_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make demo" in quick_start
    assert "make test" in quick_start


def test_readme_is_short() -> None:
    size = len(README.read_bytes())
    assert size <= MAX_README_BYTES, f"README.md is {size} bytes; move details to docs/"


def test_capabilities_table_is_what_the_tap_reports() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Capabilities", 1)[1].split("\n## ", 1)[0]
    listed = {name for row in re.findall(r"^\| (`.+?) \|", section, re.M) for name in
              re.findall(r"`([a-z-]+)`", row)}  # fmt: skip
    about = subprocess.run(
        [sys.executable, "-m", "tap_ocpi", "--about", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert listed == set(json.loads(about.stdout)["capabilities"])


def test_relative_links_resolve() -> None:
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def test_one_repository_url_everywhere() -> None:
    """The README's install lines and tap-ocpi.yml's pip_url name the same GitHub repository
    (change the owner in all of them at once)."""
    definition = (ROOT / "tap-ocpi.yml").read_text(encoding="utf-8")
    (pip_url,) = re.findall(r"^pip_url: (\S+)$", definition, re.M)
    readme = README.read_text(encoding="utf-8")
    assert f'pip install "{pip_url}"' in readme
    assert f"pip_url: {pip_url}" in readme
    owners = set(re.findall(r"github(?:usercontent)?\.com/([^/\s]+)/tap-ocpi", readme + definition))
    assert len(owners) == 1, owners
