"""The docs/privacy.md tables: per stream, what passes (and why), what is pseudonymised."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tap_ocpi.privacy.fields import DEFAULT_HASH_FIELDS, PUBLIC_PLACE_FIELDS, SAFE_FIELDS
from tap_ocpi.privacy.policy import PrivacyPolicy
from tap_ocpi.privacy.rules import BLANK, leaf_paths


def safe_fields_markdown(schemas: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The docs/privacy.md tables: per stream, what passes (and why), what is pseudonymised.

    With ``schemas`` each table is followed by the fields that are always null by default.
    """
    streams = list(schemas) if schemas else list(SAFE_FIELDS)
    policy = PrivacyPolicy.from_config({}, schemas) if schemas else None
    sections = []
    for stream in streams:
        rows = [(path, "passed", why) for path, why in SAFE_FIELDS.get(stream, {}).items()]
        rows += [
            (path, "passed for public places", why)
            for path, why in PUBLIC_PLACE_FIELDS.get(stream, {}).items()
        ]
        rows += [
            (path, "pseudonymised", why)
            for path, why in DEFAULT_HASH_FIELDS.get(stream, {}).items()
        ]
        lines = [f"#### `{stream}`", "", "| field | default | why |", "|---|---|---|"]
        lines += [
            f"| {', '.join(f'`{p}`' for p in paths)} | {default} | {why} |"
            for paths, default, why in _group(rows)
        ]
        if policy is not None:
            blanked = leaf_paths(policy._rules[stream].public, (BLANK,))
            listed = "".join(f"`{path}`, " for path in blanked)
            lines += ["", f"Always null: {listed}and every field the tap does not know."]
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def _group(rows: list[tuple[str, str, str]]) -> list[tuple[list[str], str, str]]:
    """Merge consecutive rows with the same default and reason into one row."""
    grouped: list[tuple[list[str], str, str]] = []
    for path, default, why in rows:
        if grouped and grouped[-1][1:] == (default, why):
            grouped[-1][0].append(path)
        else:
            grouped.append(([path], default, why))
    return grouped
