"""tap-ocpi.yml (the Meltano Hub plugin definition) and meltano.yml declare what the tap
reports: the expectations are generated from `tap-ocpi --about --format json`, so a setting or
capability added to the tap fails here until both files declare it.

No Meltano needed (the files are read as YAML); tests/e2e/test_outside_user.py checks the same
through a real `meltano config list` in a new project.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from support.about import about, about_settings

REPO = Path(__file__).resolve().parents[2]


def definition() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "tap-ocpi.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def project_extractor() -> dict[str, Any]:
    project = yaml.safe_load((REPO / "meltano.yml").read_text(encoding="utf-8"))
    (plugin,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-ocpi"]
    assert isinstance(plugin, dict)
    return plugin


DECLARATIONS = {"tap-ocpi.yml": definition, "meltano.yml": project_extractor}


def expected_kind(schema: dict[str, Any]) -> str:
    """The Meltano setting kind that fits a JSON Schema property of the tap's settings."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    (json_type,) = [t for t in types if t != "null"]
    if json_type == "string":
        if "enum" in schema:
            return "options"
        return "date_iso8601" if schema.get("format") == "date-time" else "string"
    return {"integer": "integer", "number": "decimal", "boolean": "boolean"}.get(
        json_type, json_type
    )


@pytest.mark.parametrize("where", DECLARATIONS)
def test_every_setting_is_declared_with_its_kind(where: str) -> None:
    declared = {s["name"]: s for s in DECLARATIONS[where]()["settings"]}
    missing = sorted(set(about_settings()) - set(declared))
    assert not missing, f"{where} does not declare {missing}"
    unknown = sorted(set(declared) - set(about_settings()))
    assert not unknown, f"{where} declares settings the tap does not have: {unknown}"
    for name, schema in about_settings().items():
        setting = declared[name]
        assert setting.get("kind") == expected_kind(schema), name
        assert bool(setting.get("sensitive")) == bool(schema.get("secret")), name
        assert setting.get("label"), f"{name}: no label"
        assert setting.get("description"), f"{name}: no description"
        if "enum" in schema:
            assert [o["value"] for o in setting["options"]] == schema["enum"], name


@pytest.mark.parametrize("where", DECLARATIONS)
def test_every_capability_is_declared(where: str) -> None:
    assert sorted(DECLARATIONS[where]()["capabilities"]) == sorted(about()["capabilities"])


@pytest.mark.parametrize("where", DECLARATIONS)
def test_required_settings_are_the_validation_group(where: str) -> None:
    required = about()["settings"].get("required", [])
    assert DECLARATIONS[where]()["settings_group_validation"] == [required]


def test_definition_has_the_hub_fields_and_matches_the_project() -> None:
    plugin = definition()
    for field in ("name", "namespace", "pip_url", "executable", "label", "description"):
        assert plugin.get(field), field
    assert (plugin["name"], plugin["executable"]) == ("tap-ocpi", "tap-ocpi")
    assert plugin["pip_url"].startswith("git+https://github.com/")
    local = project_extractor()
    assert local["namespace"] == plugin["namespace"]
    assert local["settings"] == plugin["settings"], "meltano.yml and tap-ocpi.yml differ"
