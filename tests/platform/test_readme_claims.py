"""The README's examples of the tap's own output are real: the diagnosis excerpt, the log
lines and the one-line errors are read from README.md and compared with what the tap prints
against the bundled platform. A README that drifts from the tap fails here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from support.config import tap_config
from support.tap_runner import TapRun, run_tap
from tap_ocpi.mock_platform import MockPlatform, PlatformConfig

README = Path(__file__).resolve().parents[2] / "README.md"
SALT = "readme-claims-salt-0123456789"
TIMEOUT = 120


def readme_block(marker: str) -> list[str]:
    """The lines of the first fenced block after the line that contains `marker`."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"```\w*\n(.*?)```", text[text.index(marker) :], re.DOTALL)
    assert match, f"no block after {marker!r} in README.md"
    return match.group(1).splitlines()


def shape(line: str) -> re.Pattern[str]:
    """A README log line as a pattern: its numbers may differ from run to run."""
    return re.compile(re.sub(r"\d+(?:\\\.\d+)?", r"[\\d.]+", re.escape(line)) + "$")


def log_lines(run: TapRun) -> list[str]:
    """The messages of the tap's log lines (`time | level | logger | message`)."""
    return [line.split(" | ", 3)[-1] for line in run.stderr.splitlines() if " | " in line]


def test_the_diagnosis_excerpt_is_from_a_real_report(platform_factory: Any) -> None:
    """The README's excerpt: the platform as the README starts it (defaults, no paging
    headers), the tap as the README runs it; every line shown is a line of the report, in
    the report's order."""
    command, *shown = readme_block("<!-- diagnose example -->")
    assert command.startswith("$ tap-ocpi --config config.json --diagnose")
    platform = platform_factory(PlatformConfig())
    platform.set_faults(quirk="no_headers")
    run = run_tap(tap_config(platform, privacy_salt=SALT), "--diagnose", timeout=TIMEOUT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not run.messages, "a diagnosis writes no Singer message"
    report = iter(run.stdout.splitlines())
    for line in shown:
        assert any(line == got for got in report), f"not in the report (in order): {line!r}"


def test_the_log_example_has_the_shape_of_real_lines(platform_factory: Any) -> None:
    """A progress line per page with the rate and an ETA (the platform sends X-Total-Count),
    one summary per stream; EVSEs and connectors add a summary, not a line per location."""
    platform = platform_factory(PlatformConfig(locations=120, sessions=1200, page_cap=200))
    run = run_tap(tap_config(platform, privacy_salt=SALT, page_size=200), timeout=TIMEOUT)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = log_lines(run)
    for example in readme_block("<!-- log example -->"):
        assert any(shape(example).match(line) for line in lines), f"no line like {example!r}"
    summary = re.compile(r"sessions: done: (\d+) records, (\d+) pages, ")
    ((records, pages),) = [m.groups() for line in lines if (m := summary.match(line))]
    assert int(records) == len(run.records["sessions"]) == 1200
    progress = [line for line in lines if re.match(r"sessions: \d+ of 1200 read \(", line)]
    assert len(progress) == int(pages) == 6
    assert all("s left)" in line for line in progress[:-1]), progress
    for child in ("evses", "connectors"):
        assert run.records[child]
        mentions = [line for line in lines if child in line]
        assert len(mentions) < 10, mentions  # a few per run, none per location (120 here)
    assert not [line for line in lines if "assumed to be unsorted" in line]


def test_the_error_examples_are_the_lines_the_tap_prints(ocpi_platform: MockPlatform) -> None:
    """Each README error line, from the mistake that causes it."""
    platform = ocpi_platform
    causes: dict[str, dict[str, Any]] = {
        "the platform rejected the token": {"token": "not-the-token-at-all"},
        "page_size": {"page_size": 0},
        "token: starts or ends with whitespace": {"token": platform.token + "\n"},
    }
    examples = readme_block("<!-- errors example -->")
    assert len(examples) == len(causes)
    for example in examples:
        (overrides,) = [o for cause, o in causes.items() if cause in example]
        run = run_tap(tap_config(platform, privacy_salt=SALT, **overrides), timeout=TIMEOUT)
        assert run.returncode == 1
        assert run.stderr.splitlines()[-1] == example
        assert "Traceback" not in run.stderr
        assert platform.token not in run.stderr
