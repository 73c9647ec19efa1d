"""Shared pytest fixtures: running OCPI mock platforms on 127.0.0.1 (free ports).

Tests by level: unit/ (pure functions, requests-mock edge cases), platform/ (the real tap
against the bundled platform or a small server on 127.0.0.1, and the platform's own tests),
e2e/ (Meltano and real targets); shared helpers in the support package (pytest puts tests/ on
sys.path because of this file: `from support.tap_runner import run_tap`); benchmarks/ are run
by hand or `make bench`, not by pytest.

- ``platform_factory(config=None, **overrides)`` starts a MockPlatform for one test and
  stops it afterwards; call it as often as needed.
- ``module_platform_factory`` is the same with module scope (share a platform between
  the tests of one file; don't advance or fault it unless the file owns that state).
- ``ocpi_platform`` is a module-scoped small default platform for read-only tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tap_ocpi.mock_platform import MockPlatform, PlatformConfig

PlatformFactory = Callable[..., MockPlatform]


def _factory() -> tuple[PlatformFactory, list[MockPlatform]]:
    started: list[MockPlatform] = []

    def start(config: PlatformConfig | None = None, **overrides: Any) -> MockPlatform:
        overrides.setdefault("host", "127.0.0.1")
        overrides.setdefault("port", 0)
        platform = MockPlatform(config, **overrides).start()
        started.append(platform)
        return platform

    return start, started


@pytest.fixture
def platform_factory() -> Iterator[PlatformFactory]:
    start, started = _factory()
    yield start
    for platform in started:
        platform.stop()


@pytest.fixture(scope="module")
def module_platform_factory() -> Iterator[PlatformFactory]:
    start, started = _factory()
    yield start
    for platform in started:
        platform.stop()


@pytest.fixture(scope="module")
def ocpi_platform(module_platform_factory: PlatformFactory) -> MockPlatform:
    """A small platform (all versions, default seed) that tests must not modify."""
    return module_platform_factory(
        locations=30, sessions=300, tokens=60, tariffs=6, clients=5, page_cap=50
    )
