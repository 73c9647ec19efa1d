"""Run the real `tap-ocpi` command as a subprocess and read what it wrote.

Subprocesses keep the tests honest about exit codes, stderr and the command line; the
environment is scrubbed of TAP_OCPI_* and HOME points at a temp dir.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TapRun:
    """What one tap process did."""

    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def records(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for message in self.messages:
            if message["type"] == "RECORD":
                out[message["stream"]].append(message["record"])
        return out

    @property
    def schemas(self) -> dict[str, dict[str, Any]]:
        return {m["stream"]: m for m in self.messages if m["type"] == "SCHEMA"}

    @property
    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict[str, Any]:
        return self.states[-1] if self.states else {}

    def bookmark(self, stream: str) -> str | None:
        return self.final_state.get("bookmarks", {}).get(stream, {}).get("replication_key_value")


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_OCPI_", "MELTANO_"))}
    env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), **extra})
    return env


def run_tap(
    config: dict[str, Any],
    *args: str,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
    loglevel: str = "INFO",
    timeout: float = 300,
) -> TapRun:
    """Run `python -m tap_ocpi --config …` and parse its Singer messages."""
    with tempfile.TemporaryDirectory(prefix="tap-ocpi-test-") as tmp:
        work = Path(tmp)
        command = [sys.executable, "-m", "tap_ocpi"]
        command += ["--config", _write(work / "config.json", config)]
        if state is not None:
            command += ["--state", _write(work / "state.json", state)]
        if catalog is not None:
            command += ["--catalog", _write(work / "catalog.json", catalog)]
        command += list(args)
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=work,
            env=clean_env(work, TAP_OCPI_LOGLEVEL=loglevel),
            check=False,
        )
    return TapRun(proc.returncode, proc.stdout, proc.stderr, _messages(proc.stdout))


def _messages(stdout: str) -> list[dict[str, Any]]:
    """Singer messages are one JSON object a line (--discover prints one indented document)."""
    out = []
    for line in stdout.splitlines():
        if line.startswith('{"type"'):
            out.append(json.loads(line))
    return out


def select(catalog: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    """A copy of a discovered catalog with only `streams` selected."""
    catalog = json.loads(json.dumps(catalog))
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def discover(config: dict[str, Any]) -> dict[str, Any]:
    run = run_tap(config, "--discover")
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _write(path: Path, data: dict[str, Any]) -> str:
    path.write_text(json.dumps(data))
    return str(path)
