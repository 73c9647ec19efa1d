"""Issue 12's quirk cases: the real tap against the test platform's quirk modes, measured.

One `Case` per quirk: the platform's fault set, the streams read and the version. `measure`
runs the tap (a subprocess) once with the quirk on and reports what the closing note needs:
objects on the platform, objects emitted (distinct), duplicates, exit status, requests made
(the platform's own count). When the first run is incomplete (non-zero exit, or objects
missing), the quirk is switched off (the server fixed) and the tap runs again from the saved
state: the two runs together must deliver every object. Used by tests/platform/test_completeness.py
and tests/benchmarks/quirks.py.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from support.config import tap_config as build_config
from support.robustness_helpers import SALT, emitted_keys, key_of
from support.tap_runner import TapRun, run_tap, select
from tap_ocpi.mock_platform import MockPlatform, PlatformConfig
from tap_ocpi.mock_platform.config import CPO_PARTY
from tap_ocpi.privacy import PrivacyPolicy
from tap_ocpi.schemas import PRIMARY_KEYS, STREAM_SCHEMAS

PAGE = 50


@dataclass(frozen=True)
class Case:
    name: str
    faults: dict[str, Any]
    streams: tuple[str, ...] = ("sessions", "tokens")
    version: str = "2.2.1"
    #: Tap settings beyond SETTINGS.
    settings: dict[str, Any] = field(default_factory=dict)


CASES = (
    Case("no_headers", {"quirk": "no_headers"}),
    # The link quirks come without X-Total-Count: with it, offset paging already recovered.
    Case("link_wrong_host", {"link": "wrong_host", "no_total": True}),
    Case("link_wrong_port", {"link": "wrong_port", "no_total": True}),
    Case("link_skip_ahead", {"link": "skip_ahead", "no_total": True}),
    Case("link_not_found", {"link": "not_found", "no_total": True}),
    Case("nonce_link", {"quirk": "nonce_link"}),
    Case("huge_total", {"quirk": "huge_total"}),
    Case("duplicate", {"quirk": "duplicate"}),
    Case(
        "details_twice",
        {"quirk": "details_twice"},
        ("locations", "sessions", "cdrs", "tariffs", "tokens"),
        "2.1.1",
    ),
    Case("details_in_list", {"quirk": "details_in_list"}),
    # kwh is personal by default (null unless passed): pass it, to see it read.
    Case(
        "kwh_case",
        {"quirk": "kwh_case"},
        ("sessions",),
        settings={"privacy_pass": {"sessions": ["kwh"]}},
    ),
)
BY_NAME = {case.name: case for case in CASES}


def platform_config() -> PlatformConfig:
    """300 sessions and 120 tokens served in pages of 50, as in the issue's report."""
    return PlatformConfig(
        seed=12, locations=20, sessions=300, tariffs=4, tokens=120, clients=2, page_cap=PAGE
    )


#: The tap's settings for every quirk run (the platform adds its URL and token).
SETTINGS = {
    "page_size": PAGE,
    "privacy_salt": SALT,
    "lookback_minutes": 0,
    "retry_max_wait": 0,
    "max_retries": 2,
}


@dataclass
class Result:
    """One quirk's measurements (per stream where it matters) and the runs themselves."""

    case: Case
    on_platform: dict[str, int]
    emitted: dict[str, int]  # distinct keys that are on the platform
    duplicates: dict[str, int]
    exit_status: int | str
    requests: int
    error: str
    first: TapRun | None
    second: TapRun | None = None
    second_requests: int = 0
    #: Objects of each stream the first run missed, and of those the second run delivered.
    missed: dict[str, int] = field(default_factory=dict)
    recovered: dict[str, int] = field(default_factory=dict)
    note: str = ""
    #: Path and query of every request of the first run, in order.
    log: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.emitted == self.on_platform

    @property
    def two_runs_complete(self) -> bool | None:
        """None when no second run was needed (the first was complete and exited 0)."""
        if self.second is None:
            return None
        return self.second.returncode == 0 and self.recovered == self.missed

    @property
    def bookmarks(self) -> str:
        """Whether the first run's final state holds a bookmark for each stream read."""
        if self.first is None:
            return "none (killed)"
        moved = [self.first.bookmark(s) is not None for s in self.case.streams]
        return "moved" if all(moved) else "kept" if not any(moved) else "some moved"

    def row(self) -> list[str]:
        def total(d: dict[str, int]) -> str:
            return str(sum(d.values()))

        two = self.two_runs_complete
        check = (
            "not needed"
            if two is None
            else f"{'ok' if two else 'FAILED'}: +{total(self.recovered)} of "
            f"{total(self.missed)} missed, {self.second_requests} requests"
        )
        return [
            self.case.name,
            total(self.on_platform),
            total(self.emitted),
            total(self.duplicates),
            str(self.exit_status),
            str(self.requests),
            self.bookmarks,
            check,
            self.note,
        ]


HEADER = [
    "quirk",
    "on platform",
    "emitted (distinct)",
    "duplicates",
    "exit",
    "requests",
    "bookmarks",
    "two-run check",
    "note",
]


def measure(
    case: Case, catalog: dict[str, Any], timeout: float = 120, second_run: bool = True
) -> Result:
    """Run the tap once against the quirk (and once more without it, if the first run was
    incomplete); a run that outlives `timeout` is killed and counts as `killed`."""
    with MockPlatform(platform_config()) as platform:
        platform.set_faults(case.faults)
        expected = expected_keys(platform, case.streams, case.version)
        config = build_config(platform, SETTINGS, case.settings, ocpi_version=case.version)
        selected = select(catalog, set(case.streams))
        platform.clear_request_log()
        before = platform.stats()["requests"]
        first = _run(config, selected, None, timeout)
        requests = platform.stats()["requests"] - before
        log = [r.path for r in platform.request_log]
        got = emitted_keys(first.messages) if first else {}
        result = Result(
            case=case,
            on_platform={s: len(expected[s]) for s in case.streams},
            emitted={s: len(set(got.get(s, [])) & expected[s]) for s in case.streams},
            duplicates={s: _repeats(got.get(s, [])) for s in case.streams},
            exit_status=first.returncode if first else "killed",
            requests=requests,
            error=_last_line(first.stderr) if first and first.returncode else "",
            first=first,
            log=log,
        )
        if case.name == "kwh_case" and first is not None:
            sessions = first.records.get("sessions", [])
            result.note = f"{sum(r.get('kwh') is None for r in sessions)} sessions with kwh null"
        if not second_run or (result.exit_status == 0 and result.complete):
            return result
        platform.set_faults()
        state = first.final_state if first else {}
        before = platform.stats()["requests"]
        second = _run(config, selected, state, timeout)
        result.second = second
        result.second_requests = platform.stats()["requests"] - before
        again = emitted_keys(second.messages) if second else {}
        for s in case.streams:
            missed = expected[s] - set(got.get(s, []))
            result.missed[s] = len(missed)
            result.recovered[s] = len(missed & set(again.get(s, [])))
        return result


def expected_keys(
    platform: MockPlatform, streams: tuple[str, ...], version: str
) -> dict[str, set[tuple[Any, ...]]]:
    """The keys each stream must emit, as the tap emits them: tokens.uid pseudonymised,
    and 2.1.1 objects (no owner fields) owned by the platform's CPO party."""
    hashed = PrivacyPolicy.from_config({"privacy_salt": SALT}, STREAM_SCHEMAS).filter_for("tokens")
    out: dict[str, set[tuple[Any, ...]]] = {}
    for stream in streams:
        keys = set()
        for row in platform.expected(stream, version):
            record = {"country_code": CPO_PARTY[0], "party_id": CPO_PARTY[1], **row}
            record = {k: record[k] for k in PRIMARY_KEYS[stream]}
            keys.add(key_of(stream, hashed(record, False) if stream == "tokens" else record))
        out[stream] = keys
    return out


def _run(
    config: dict[str, Any], catalog: dict[str, Any], state: dict[str, Any] | None, timeout: float
) -> TapRun | None:
    try:
        return run_tap(config, catalog=catalog, state=state, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def _repeats(keys: list[Any]) -> int:
    return sum(n - 1 for n in Counter(keys).values())


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""
