"""The tap's schemas load into BigQuery (z3-target-bigquery, denormalized) without surprises.

Not an end-to-end test (no Google Cloud here): it checks the catalog of `tap-ocpi --discover`
and the SCHEMA messages a real run emits, plain and flattened, against BigQuery's rules:

* no ``anyOf``/``oneOf``/``allOf`` (the target falls back to a JSON/STRING column);
* every property has a type; arrays have typed items and no arrays directly inside arrays;
* timestamps carry ``format: date-time`` (so they become TIMESTAMP, not STRING);
* column and nested field names match ``^[A-Za-z_][A-Za-z0-9_]*$``, at most 300 characters,
  unique ignoring case within a record (BigQuery names are case-insensitive);
* at most 15 levels of nesting.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.config import tap_config
from tap_ocpi.mock_platform import MockPlatform, PlatformConfig
from tap_ocpi.schemas import PRIMARY_KEYS

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
UNIONS = ("anyOf", "oneOf", "allOf")
MAX_DEPTH = 15


def violations(schema: dict[str, Any], path: str = "", depth: int = 0) -> Iterator[str]:
    where = path or "<record>"
    for word in UNIONS:
        if word in schema:
            yield f"{where}: uses {word}"
    types = schema.get("type")
    if types is None:
        yield f"{where}: no type"
        return
    types = [types] if isinstance(types, str) else list(types)
    concrete = [t for t in types if t != "null"]
    if len(concrete) != 1:
        yield f"{where}: needs exactly one non-null type, has {types}"
    if depth > MAX_DEPTH:
        yield f"{where}: nested deeper than {MAX_DEPTH} levels"
    leaf = path.rsplit(".", 1)[-1]
    if (leaf.endswith("date_time") or leaf == "last_updated") and schema.get(
        "format"
    ) != "date-time":
        yield f"{where}: a timestamp without format date-time"
    if schema.get("format") == "date-time" and concrete != ["string"]:
        yield f"{where}: format date-time on a {concrete}"
    if "object" in types:
        seen: dict[str, str] = {}
        for name, sub in (schema.get("properties") or {}).items():
            if not NAME.match(name) or len(name) > 300:
                yield f"{where}: field name {name!r} is not a valid BigQuery name"
            if name.lower() in seen:
                yield f"{where}: {name!r} and {seen[name.lower()]!r} differ only in case"
            seen[name.lower()] = name
            yield from violations(sub, f"{path}.{name}" if path else name, depth + 1)
    if "array" in types:
        items = schema.get("items")
        if not isinstance(items, dict):
            yield f"{where}: array without items"
            return
        item_types = items.get("type")
        item_types = [item_types] if isinstance(item_types, str) else list(item_types or [])
        if "array" in item_types:
            yield f"{where}: array of arrays"
        yield from violations(items, f"{path}[]", depth + 1)


def run_tap(args: list[str], config: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_OCPI_", "MELTANO_"))}
    env.update({"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")})
    proc = subprocess.run(
        [sys.executable, "-m", "tap_ocpi", "--config", str(config_file), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    if "--discover" in args:
        return [
            {
                "stream": s["tap_stream_id"],
                "schema": s["schema"],
                "key_properties": s.get("key_properties", []),
            }
            for s in json.loads(proc.stdout)["streams"]
        ]
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return [m for m in messages if m.get("type") == "SCHEMA"]


@pytest.fixture(scope="module")
def platform() -> Iterator[MockPlatform]:
    config = PlatformConfig(seed=3, locations=5, sessions=20, tariffs=2, tokens=5, clients=2)
    with MockPlatform(config) as running:
        yield running


def base_config(platform: MockPlatform) -> dict[str, Any]:
    return tap_config(
        platform, privacy_salt="bigquery-rules-salt-0123456789", start_date="2000-01-01T00:00:00Z"
    )


def check(schemas: list[dict[str, Any]]) -> None:
    assert {s["stream"] for s in schemas} == set(PRIMARY_KEYS)
    problems = [f"{s['stream']}: {p}" for s in schemas for p in violations(s["schema"])]
    assert not problems, "\n".join(problems)
    for message in schemas:
        assert list(message["key_properties"]) == list(PRIMARY_KEYS[message["stream"]])
        for key in message["key_properties"]:
            key_type = message["schema"]["properties"][key]["type"]
            assert "null" not in key_type, f"{message['stream']}.{key} is a nullable key"


def test_discovered_catalog_follows_bigquery_rules(platform: MockPlatform, tmp_path: Path) -> None:
    check(run_tap(["--discover"], base_config(platform), tmp_path))


@pytest.mark.parametrize("flattening", [False, True], ids=["nested", "flattened"])
def test_emitted_schema_messages_follow_bigquery_rules(
    platform: MockPlatform, tmp_path: Path, flattening: bool
) -> None:
    config = base_config(platform)
    if flattening:
        config.update(flattening_enabled=True, flattening_max_depth=2)
    schemas = run_tap(["--test=schema"], config, tmp_path)
    check(schemas)
    if flattening:
        locations = next(s for s in schemas if s["stream"] == "locations")
        assert "coordinates__latitude" in locations["schema"]["properties"]


def test_the_rules_catch_what_bigquery_rejects() -> None:
    bad = {
        "type": "object",
        "properties": {
            "1st": {"type": ["string", "null"]},
            "When": {"type": ["string", "null"]},
            "when": {"type": ["string", "null"]},
            "last_updated": {"type": "string"},
            "price": {"anyOf": [{"type": "number"}, {"type": "string"}]},
            "grid": {"type": ["array", "null"], "items": {"type": "array", "items": {}}},
            "loose": {},
        },
    }
    found = "\n".join(violations(bad))
    for expected in ("'1st'", "differ only in case", "last_updated: a timestamp",
                     "price: uses anyOf", "grid: array of arrays", "loose: no type"):  # fmt: skip
        assert expected in found, expected
