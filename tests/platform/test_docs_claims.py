"""Claims of docs/*.md that no other test checks, run against the bundled platform."""

from __future__ import annotations

from typing import Any

from support.config import tap_config
from support.tap_runner import discover, run_tap, select
from tap_ocpi.mock_platform import PlatformConfig

SALT = "docs-claims-salt-0123456789"


def test_evses_alone_read_the_locations_without_emitting_them(platform_factory: Any) -> None:
    """versions.md / loading.md: EVSEs come from the locations read; when `locations` is not
    selected it is read first, without output, and `evses` is one stream with one bookmark."""
    platform = platform_factory(PlatformConfig(seed=4, locations=25, sessions=5, tokens=2))
    config = tap_config(platform, privacy_salt=SALT, page_size=10)
    run = run_tap(config, catalog=select(discover(config), {"evses"}), timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    expected = sum(len(loc.get("evses") or []) for loc in platform.expected("locations", "2.3.0"))
    assert set(run.records) == {"evses"}
    assert len(run.records["evses"]) == expected > 25
    bookmark = run.final_state["bookmarks"]["evses"]
    assert set(bookmark) == {"replication_key", "replication_key_value"}  # no partitions
    assert run.bookmark("evses") is not None
