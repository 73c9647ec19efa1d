"""`meltano invoke tap-ocpi --diagnose`, as the README's "Diagnose a platform first" says:
Meltano passes the option through, the report reaches stdout, and it writes no record."""

from __future__ import annotations

import json

import pytest

from support.meltano_e2e import Meltano
from tap_ocpi.mock_platform import MockPlatform

pytestmark = pytest.mark.e2e


def test_meltano_invoke_diagnose_prints_the_report(
    meltano: Meltano, platform: MockPlatform
) -> None:
    result = meltano.run("invoke", "tap-ocpi", "--diagnose")
    assert result.stdout.startswith("tap-ocpi diagnosis\n"), result.stdout[:2000]
    assert "sessions (sessions): READY" in result.stdout
    assert '"type"' not in result.stdout  # no Singer message
    assert platform.token not in result.stdout + result.stderr


def test_meltano_invoke_diagnose_as_json(meltano: Meltano) -> None:
    result = meltano.run("invoke", "tap-ocpi", "--diagnose", "--format", "json")
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert {m["stream"] for m in report["modules"]} >= {"sessions", "locations", "tokens"}
