"""The seeded fault run: every stream of OCPI 2.2.1 under a mix of faults, counted.

Run by hand for the numbers (`.venv/bin/python tests/support/seeded_fault_run.py [seed]`);
`platform/test_robustness.py::test_seeded_fault_run_loses_nothing` runs it and checks
lost == 0 and duplicates == 0. Faults are counted where the platform decides them (its dice),
records by key from the tap's own output.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: make the `support` package (under tests/) importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.config import STREAMS, tap_config
from support.robustness_helpers import (
    SALT,
    VERSION,
    counting_faults,
    emitted_keys,
    expected_keys,
)
from support.tap_runner import run_tap
from tap_ocpi.mock_platform import MockPlatform, PlatformConfig

FAULTS: dict[str, Any] = {
    "error_rate": 0.05,  # HTTP 500/502/503/504 (502 with an HTML body)
    "throttle_rate": 0.05,  # HTTP 429 + Retry-After
    "truncate_rate": 0.05,  # HTTP 200, body cut in half
    "drop_rate": 0.05,  # connection closed without an answer
    "short_pages": 13,  # fewer objects than X-Limit says
    "link": "missing",  # no Link header: offset paging from X-Total-Count
    "unstable_every": 4,  # the order shifts under the client
}


def fault_run(seed: int = 2024) -> dict[str, Any]:
    config = PlatformConfig(seed=seed, locations=30, sessions=600, tariffs=8, tokens=80, clients=3)
    with MockPlatform(config) as platform:
        settings = tap_config(
            platform,
            ocpi_version=VERSION,
            page_size=25,
            privacy_salt=SALT,
            max_retries=8,
            retry_max_wait=0,
        )
        started = time.monotonic()
        with counting_faults(platform, **FAULTS) as counts:
            run = run_tap(settings)
            requests = len(platform.request_log)
        seconds = time.monotonic() - started
        expected = expected_keys(platform)
    got = emitted_keys(run.messages)
    per_stream = {}
    for stream in STREAMS:
        keys = got.get(stream, [])
        per_stream[stream] = {
            "expected": len(expected[stream]),
            "received": len(set(keys) & expected[stream]),
            "lost": len(expected[stream] - set(keys)),
            "unexpected": len(set(keys) - expected[stream]),
            "duplicates": len(keys) - len(set(keys)),
        }
    injected = {name: counts[name] for name in sorted(counts) if name not in ("rolled",)}
    totals = {
        k: sum(s[k] for s in per_stream.values())
        for k in ("expected", "received", "lost", "unexpected", "duplicates")
    }
    return {
        "seed": seed,
        "faults": FAULTS,
        "exit_status": run.returncode,
        "seconds": round(seconds, 1),
        "requests": requests,
        "faults_injected": injected,
        "faulty_responses": sum(v for k, v in injected.items() if k != "shifted"),
        "rereads": run.stderr.count("re-reading in"),
        "retries_logged": run.stderr.count("Retrying in"),
        **totals,
        "streams": per_stream,
        "stderr_tail": run.stderr.strip().splitlines()[-1] if run.returncode else "",
    }


if __name__ == "__main__":
    print(json.dumps(fault_run(int(sys.argv[1]) if len(sys.argv) > 1 else 2024), indent=2))
