"""Reading ``privacy_pass``, ``privacy_hash`` and ``privacy_salt``: one-line errors, no values.

A stream's paths are a list of dotted paths or one comma-separated string (as ocpi-tool's
``--privacy-pass`` takes them): ``{"sessions": "kwh,start_date_time"}`` means
``{"sessions": ["kwh", "start_date_time"]}``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tap_ocpi.errors import OCPIError
from tap_ocpi.privacy.fields import MIN_SALT_LENGTH
from tap_ocpi.privacy.shapes import Leaf, Shape

FieldPath = tuple[str, ...]  # () is the whole record


def read_setting(
    config: Mapping[str, Any], setting: str, shapes: Mapping[str, Shape]
) -> dict[str, list[FieldPath]]:
    raw = config.get(setting)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise OCPIError(
            f'{setting} must be an object of stream name to field paths, e.g. {{"sessions": '
            f'["kwh"]}}'
        )
    paths: dict[str, list[FieldPath]] = {}
    for stream, entries in raw.items():
        if stream not in shapes:
            raise OCPIError(
                f"{setting}: unknown stream {quote(stream)}; the streams are "
                f"{', '.join(sorted(shapes))}"
            )
        where = f"{setting}.{stream}"
        paths[stream] = [
            _parse_path(where, text, shapes[stream], shapes) for text in _entries(where, entries)
        ]
    return paths


def _entries(where: str, entries: Any) -> list[str]:
    if entries is None:
        return []
    if isinstance(entries, str):  # a comma-separated list, as ocpi-tool's --privacy-pass
        return entries.split(",")
    if not isinstance(entries, Sequence):
        raise OCPIError(f"{where} must be a list of field paths")
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, str):
            raise OCPIError(f"{where}: entry {number} is not a string")
    return list(entries)


def _parse_path(where: str, text: str, shape: Shape, streams: Mapping[str, Shape]) -> FieldPath:
    path = text.strip()
    if not path:
        raise OCPIError(f"{where}: empty path (a trailing or doubled comma?)")
    if path == ".":
        return ()
    parts = tuple(path.split("."))
    if "" in parts:
        raise OCPIError(
            f"{where}: {quote(path)} has an empty part (stray '.'); write paths like "
            f"charging_periods.dimensions.volume"
        )
    if any(_ARRAY_MARKS.search(part) for part in parts):
        fixed = ".".join(_ARRAY_MARKS.sub("", part) for part in parts)
        raise OCPIError(f"{where}: {quote(path)}: paths skip arrays, write {quote(fixed)}")
    problem = _resolve(shape, parts, streams)
    if problem:
        raise OCPIError(f"{where}: {quote(path)} {problem}")
    return parts


_ARRAY_MARKS = re.compile(r"\[[^\]]*\]|\*")


def _resolve(shape: Shape, parts: FieldPath, streams: Mapping[str, Shape]) -> str | None:
    """Why the path names no field of the schema (None when it does)."""
    node = shape
    for depth, part in enumerate(parts):
        if isinstance(node, Leaf):
            return f"goes below {quote('.'.join(parts[:depth]))}, which has no fields"
        child = node.props.get(part)
        if child is None:
            return f"matches no field: {_suggest(part, node.props, streams, depth)}"
        node = child
    return None


def _suggest(part: str, props: Mapping[str, Shape], streams: Mapping[str, Any], depth: int) -> str:
    if depth == 0 and part in streams:
        return f"{part} is a stream of its own (give its paths under that stream)"
    same = [name for name in props if name.lower() == part.lower()]
    close = same or difflib.get_close_matches(part, list(props), n=1, cutoff=0.6)
    if close:
        return f"did you mean {quote(close[0])}?"
    return f"{quote(part)} is not a field here (names are case-sensitive)"


def quote(text: Any) -> str:
    text = str(text)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def split_path(path: str) -> FieldPath:
    return () if path == "." else tuple(path.split("."))


def read_salt(config: Mapping[str, Any]) -> str | None:
    salt = config.get("privacy_salt")
    if salt is None or (isinstance(salt, str) and not salt.strip()):
        return None
    if not isinstance(salt, str):
        raise OCPIError("privacy_salt must be a string")
    if len(salt) < MIN_SALT_LENGTH:
        raise OCPIError(
            f"privacy_salt is too short: use at least {MIN_SALT_LENGTH} random characters "
            f"(e.g. openssl rand -hex 32)"
        )
    return salt
