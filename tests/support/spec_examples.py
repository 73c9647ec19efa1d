"""The OCPI specification's example objects: `shared/` beside the repository (CI clones the
repository with shared/ next to it); OCPI_SHARED_DIR overrides.

A plain clone has no shared/: the tests that read the examples skip with `SKIP_REASON`
(`needs_examples` on a test or `require_examples()` inside one) instead of failing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(os.environ.get("OCPI_SHARED_DIR") or Path(__file__).resolve().parents[3] / "shared")
EXAMPLES = SHARED / "ocpi-examples"
AVAILABLE = EXAMPLES.is_dir()
SKIP_REASON = (
    f"OCPI spec examples not found at {EXAMPLES}: ../shared is absent "
    "(CI has it; OCPI_SHARED_DIR overrides)"
)

# Marks a test (or, as `pytestmark`, a module) that reads the examples.
needs_examples = pytest.mark.skipif(not AVAILABLE, reason=SKIP_REASON)


def require_examples() -> Path:
    """EXAMPLES, or skip the calling test when shared/ is absent."""
    if not AVAILABLE:
        pytest.skip(SKIP_REASON)
    return EXAMPLES


def _module_of(name: str) -> str | None:
    skip = ("patch", "put_example", "energymix", "hours", "payment")
    if any(word in name for word in skip):
        return None
    for module in ("cdr", "session", "tariff", "token", "location"):
        if module in name and "credentials" not in name and "transport" not in name:
            return f"{module}s"
    return None


def spec_objects(version: str) -> dict[str, list[dict[str, Any]]]:
    """Complete example objects (they carry last_updated) per module, as the spec wrote them
    (none when shared/ is absent)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((EXAMPLES / version).glob("*.json")):
        module = _module_of(path.name)
        if module is None:
            continue
        data = json.loads(path.read_text())
        data = data.get("data", data) if isinstance(data, dict) else data
        for item in data if isinstance(data, list) else [data]:
            if isinstance(item, dict) and "last_updated" in item:
                out.setdefault(module, []).append(item)
    return out
