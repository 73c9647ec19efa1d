"""A stream's JSON Schema reduced to what the rules need: objects and their leaves.

Arrays are transparent (in paths and at run time), so a shape is a leaf or an object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Leaf:
    opaque: bool  # the schema allows any object here: a passed value is kept whole


@dataclass(frozen=True)
class ObjectShape:
    props: Mapping[str, Shape]


Shape = Leaf | ObjectShape
_MAX_SCHEMA_DEPTH = 32  # guards against recursive $refs


def shape_of(schema: Any, root: Mapping[str, Any], depth: int = 0) -> Shape:
    if not isinstance(schema, Mapping):
        return Leaf(opaque=schema is not False)  # the `true` schema allows anything
    if depth > _MAX_SCHEMA_DEPTH:
        return Leaf(opaque=False)  # nothing below this depth can pass, except by "."
    base = deref(schema, root)
    branches = [base]
    for combiner in ("allOf", "anyOf", "oneOf"):
        branches += [deref(b, root) for b in base.get(combiner) or () if isinstance(b, Mapping)]
    shape: Shape | None = None
    for branch in branches:
        shape = _merge(shape, _branch_shape(branch, root, depth))
    return shape if shape is not None else Leaf(opaque=True)


def _branch_shape(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Shape | None:
    props = schema.get("properties")
    if isinstance(props, Mapping) and props:
        return ObjectShape({str(k): shape_of(v, root, depth + 1) for k, v in props.items()})
    items = schema.get("items")
    if isinstance(items, Mapping):
        return shape_of(items, root, depth + 1)
    if isinstance(items, Sequence) and items:  # tuple validation: merge the positions
        merged: Shape | None = None
        for item in items:
            merged = _merge(merged, shape_of(item, root, depth + 1))
        return merged
    if any(k in schema for k in ("allOf", "anyOf", "oneOf")) and "type" not in schema:
        return None  # a pure combiner: its branches carry the shape
    types = schema.get("type")
    kinds = {types} if isinstance(types, str) else set(types or ())
    return Leaf(opaque=not kinds or bool(kinds & {"object", "array"}))


def _merge(a: Shape | None, b: Shape | None) -> Shape | None:
    if a is None or b is None:
        return a if b is None else b
    if isinstance(a, ObjectShape) and isinstance(b, ObjectShape):
        props = dict(a.props)
        for name, sub in b.props.items():
            props[name] = _merge(props.get(name), sub) or sub
        return ObjectShape(props)
    if isinstance(a, ObjectShape) or isinstance(b, ObjectShape):
        return a if isinstance(a, ObjectShape) else b
    return Leaf(opaque=a.opaque or b.opaque)


def deref(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = root
    for part in ref[2:].split("/"):
        node = (
            node.get(part.replace("~1", "/").replace("~0", "~"))
            if isinstance(node, Mapping)
            else None
        )
    return node if isinstance(node, Mapping) else {}
