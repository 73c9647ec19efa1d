"""What `tap-ocpi --about --format json` reports: the source of the settings and capabilities
that tap-ocpi.yml, meltano.yml and the README must declare."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from typing import Any


@cache
def about() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tap_ocpi", "--about", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = json.loads(done.stdout)
    assert isinstance(loaded, dict)
    return loaded


def about_settings() -> dict[str, dict[str, Any]]:
    """Setting name -> its JSON Schema, built-in SDK settings included."""
    properties = about()["settings"]["properties"]
    assert isinstance(properties, dict)
    return properties
