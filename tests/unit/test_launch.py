"""The `tap-ocpi` command's launcher (launch.py)."""

from __future__ import annotations

import gc

import pytest

import tap_ocpi.tap
from tap_ocpi import launch


def test_the_tap_runs_with_the_collector_on_again(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(tap_ocpi.tap, "main", lambda: seen.append(gc.isenabled()))
    launch.main()
    assert seen == [True]
    assert gc.isenabled()


def test_a_failed_import_leaves_the_collector_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(tap_ocpi.tap, "main")  # `from tap_ocpi.tap import main` fails
    with pytest.raises(ImportError):
        launch.main()
    assert gc.isenabled()
