"""Unit tests of the pieces under the HTTP layer: Timeline, CDR slot arithmetic, parsing."""

from __future__ import annotations

import random

import pytest

from tap_ocpi.mock_platform import Faults, PlatformConfig
from tap_ocpi.mock_platform.faults import parse_fault_args
from tap_ocpi.mock_platform.store import Store
from tap_ocpi.mock_platform.timeline import FORMATTERS, Timeline, parse_datetime
from tap_ocpi.mock_platform.world import World


def _model(
    tl: Timeline, base: list[int], moved: dict[int, int], order: list[int]
) -> list[tuple[int, int]]:
    """Brute force: (index, last_updated) in serving order."""
    return [(i, base[i]) for i in range(len(base)) if i not in moved] + [
        (i, moved[i]) for i in order
    ]


@pytest.mark.parametrize("seed", range(6))
def test_timeline_matches_brute_force(seed: int) -> None:
    rnd = random.Random(seed)
    n = rnd.randint(0, 60)
    base = sorted(rnd.randint(0, 100) for _ in range(n))
    tl = Timeline(n, base.__getitem__)
    moved: dict[int, int] = {}
    order: list[int] = []
    clock = 100
    for _ in range(rnd.randint(0, 25)):
        i = rnd.randint(0, n + 5)  # also indices past the base: created records
        clock += rnd.randint(0, 3)
        t = tl.touch(i, clock)
        if i in moved:
            order.remove(i)
        moved[i] = t
        order.append(i)
    model = _model(tl, base, moved, order)
    assert tl.total == len(model)
    for _ in range(40):
        a = rnd.choice([None, *range(-1, 110)])
        b = rnd.choice([None, *range(-1, 110)])
        want = [(i, t) for i, t in model if (a is None or t >= a) and (b is None or t < b)]
        w = tl.window(a, b)
        assert w.total == len(want)
        off, cnt = rnd.randint(0, len(want) + 2), rnd.randint(0, 12)
        got = tl.select(w, off, cnt)
        assert got == [i for i, _ in want[off : off + cnt]]
        assert [tl.lu(i) for i in got] == [t for _, t in want[off : off + cnt]]


@pytest.mark.parametrize("n", [0, 1, 9, 10, 40, 399, 2500])
def test_cdr_slots_match_their_closed_form(n: int) -> None:
    w = World(PlatformConfig(sessions=n), 0, 86400 * 365)
    slots = [s for i in range(n) for s in w.slots_of(i)]
    assert w.n_cdrs == len(slots)
    running = [0]
    for i in range(n):
        running.append(running[-1] + len(w.slots_of(i)))
    assert [w.cdr_prefix(i) for i in range(n + 1)] == running
    order = list(range(len(slots)))
    random.Random(n).shuffle(order)
    assert [w.cdr_slot(k) for k in order] == [slots[k] for k in order]
    stamps = [w.cdr_lu(k) for k in range(len(slots))]
    assert stamps == sorted(stamps)
    for s in slots:
        if s.kind != "normal":
            assert s.filed_with > s.session
            assert not w.invalid(s.session)


def test_session_stamps_are_non_decreasing() -> None:
    w = World(PlatformConfig(sessions=5000, span_days=1), 1000, 86400)
    stamps = [w.session_lu(i) for i in range(5000)]
    assert stamps == sorted(stamps)
    assert stamps[0] >= 1000
    assert stamps[-1] < 1000 + 86400


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2025-01-02T03:04:05Z", 1735787045),
        ("2025-01-02T03:04:05", 1735787045),
        ("2025-01-02T04:04:05+01:00", 1735787045),
        ("2025-01-02T04:04:05 01:00", 1735787045),
        ("2025-01-02T03:04:05.25Z", 1735787045.25),
        ("2025-01-02T01:04:05-0200", 1735787045),
    ],
)
def test_parse_datetime(text: str, epoch: float) -> None:
    assert parse_datetime(text) == epoch


def test_formatters_round_trip() -> None:
    for fmt in FORMATTERS.values():
        assert parse_datetime(fmt(1735787045)) == 1735787045


def test_fault_parsing() -> None:
    assert parse_fault_args(["a=1", "b = x"]) == {"a": "1", "b": "x"}
    with pytest.raises(ValueError, match="name=value"):
        parse_fault_args(["oops"])
    f = Faults.from_mapping({"error_rate": "0.25", "no_total": "yes", "latency_ms": 5})
    assert f.active() == {"error_rate": 0.25, "no_total": True, "latency_ms": 5}
    for bad in (
        {"drop_rate": -0.1},
        {"timestamps": "local"},
        {"scope": "x"},
        {"fail_from_page": -2},
    ):
        with pytest.raises(ValueError, match="fault"):
            Faults.from_mapping(bad)


def test_config_validation() -> None:
    for bad in (
        {"versions": ("2.2",)},
        {"token_encoding": "hex"},
        {"locations": 0},
        {"page_cap": 0},
        {"token": "has space"},
        {"token": "x" * 65},
        {"prewarm": ("2.2.1:nothing",)},
        {"prewarm": ("3.0",)},
    ):
        with pytest.raises(ValueError, match="must"):
            PlatformConfig(**bad)


def test_runs_stop_at_the_end_of_the_generated_range() -> None:
    """Created records follow the last base index without a gap but live outside blocks."""
    store = Store(PlatformConfig(sessions=20))
    store.advance(new_sessions=3)
    total, served, chunks = store.page(
        "sessions", "2.2.1", date_from=None, date_to=None, offset=0, count=100
    )
    assert total == served == 23
    assert len(chunks) == 4  # one slice of the 20 generated, three created one by one
