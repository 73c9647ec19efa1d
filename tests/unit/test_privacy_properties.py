"""Property tests of the privacy filter over random schemas, records and paths."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tap_ocpi.errors import OCPIError
from tap_ocpi.privacy import PrivacyPolicy
from tap_ocpi.schemas import STREAM_SCHEMAS

SALT = "property-test-salt-0123"
NAMES = ["a", "b", "c", "d"]
UNKNOWN = ["x", "y"]  # never a schema field
Path = tuple[str, ...]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
LEAF = {"type": ["string", "number", "boolean", "null"]}


def _object(props: dict[str, Any]) -> dict[str, Any]:
    return {"type": ["object", "null"], "properties": props, "additionalProperties": True}


NODE = st.recursive(
    st.just(LEAF),
    lambda inner: (
        st.dictionaries(st.sampled_from(NAMES), inner, min_size=1, max_size=4).map(_object)
        | inner.map(lambda item: {"type": ["array", "null"], "items": item})
    ),
    max_leaves=10,
)
ROOT = st.dictionaries(st.sampled_from(NAMES), NODE, min_size=1, max_size=4).map(
    lambda props: {"type": "object", "properties": props}
)


@st.composite
def data_for(draw: st.DrawFn, schema: dict[str, Any], root: bool = False) -> Any:
    """A value of the schema's shape, with absent keys, nulls and unknown keys mixed in."""
    if not root and draw(st.integers(0, 9)) == 0:
        return None
    if "properties" in schema:
        names = draw(st.lists(st.sampled_from(list(schema["properties"])), unique=True))
        value = {name: draw(data_for(schema["properties"][name])) for name in names}
        value.update(draw(st.dictionaries(st.sampled_from(UNKNOWN), JSON, max_size=2)))
        return value
    if "items" in schema:
        return draw(st.lists(data_for(schema["items"]), max_size=3))
    return draw(SCALARS)


@st.composite
def case(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """(schema, record, one of the schema's paths)."""
    schema = draw(ROOT)
    record = draw(data_for(schema, root=True))
    path = draw(st.sampled_from(sorted(schema_paths(schema))))
    return schema, record, path


def schema_paths(schema: dict[str, Any], prefix: Path = ()) -> set[Path]:
    while "items" in schema:  # arrays are transparent
        schema = schema["items"]
    paths = {prefix} if prefix else set()
    for name, sub in schema.get("properties", {}).items():
        paths |= schema_paths(sub, (*prefix, name))
    return paths


def policy(schema: dict[str, Any], config: dict[str, Any]) -> PrivacyPolicy:
    return PrivacyPolicy.from_config(
        dict(config, privacy_salt=SALT),
        {"s": schema},
        safe={},
        public={},
        default_hash={},
        primary_keys={},
    )


def pseudonyms(value: Any) -> Any:
    """The reference pseudonymisation: HMAC-SHA256 hex of each leaf's text."""
    if isinstance(value, dict):
        return {k: pseudonyms(v) for k, v in value.items()}
    if isinstance(value, list):
        return [pseudonyms(v) for v in value]
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    return hmac.new(
        SALT.encode(), text.encode("utf-8", "surrogatepass"), hashlib.sha256
    ).hexdigest()


def expect(inp: Any, out: Any, schema: dict[str, Any], at: Path, rule: tuple[Path, bool]) -> None:
    """Check ``out`` against ``inp``: only what lies under the chosen path shows (or is hashed).

    ``rule`` is (the chosen path, whether it is hashed rather than passed).
    """
    chosen, hashed = rule
    covered = at[: len(chosen)] == chosen
    on_the_way = len(at) < len(chosen) and chosen[: len(at)] == at
    if inp is None or not (covered or on_the_way or at == ()):
        # Nothing allowed at or below: the whole value is one null (a subtree collapses).
        assert out is None
        return
    if covered and hashed:
        assert out == pseudonyms(inp)
        return
    if "items" in schema:
        assert isinstance(out, list)
        assert len(out) == len(inp)
        for item_in, item_out in zip(inp, out, strict=True):
            expect(item_in, item_out, schema["items"], at, rule)
    elif "properties" in schema:
        assert list(out) == list(inp)  # every key kept, in order
        for name, value in inp.items():
            sub = schema["properties"].get(name)
            if sub is None:
                assert out[name] is None, "an unknown key is always blanked"
            else:
                expect(value, out[name], sub, (*at, name), rule)
    else:
        assert out == inp


FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(case())
def test_empty_allow_list_blanks_every_value_and_keeps_every_key(
    sample: tuple[dict[str, Any], dict[str, Any], Path],
) -> None:
    schema, record, _ = sample
    before = copy.deepcopy(record)
    out = policy(schema, {}).filter_for("s")(record, False)
    assert list(out) == list(record)
    assert all(value is None for value in out.values())
    assert record == before


@FAST
@given(case())
def test_allowing_a_path_shows_exactly_the_leaves_below_it(
    sample: tuple[dict[str, Any], dict[str, Any], Path],
) -> None:
    schema, record, path = sample
    config = {"privacy_pass": {"s": [".".join(path)]}}
    out = policy(schema, config).filter_for("s")(record, False)
    expect(record, out, schema, (), (path, False))


@FAST
@given(case())
def test_hashing_a_path_pseudonymises_exactly_the_leaves_below_it(
    sample: tuple[dict[str, Any], dict[str, Any], Path],
) -> None:
    schema, record, path = sample
    config = {"privacy_hash": {"s": [".".join(path)]}}
    out = policy(schema, config).filter_for("s")(record, False)
    expect(record, out, schema, (), (path, True))


@FAST
@given(case())
def test_dot_is_verbatim_except_what_is_hashed(
    sample: tuple[dict[str, Any], dict[str, Any], Path],
) -> None:
    schema, record, path = sample
    assert policy(schema, {"privacy_pass": {"s": ["."]}}).filter_for("s")(record, False) == record
    config = {"privacy_pass": {"s": ["."]}, "privacy_hash": {"s": [".".join(path)]}}
    out = policy(schema, config).filter_for("s")(record, False)
    hashed_only = _hash_at(copy.deepcopy(record), schema, (), path)
    assert out == hashed_only


def _hash_at(value: Any, schema: dict[str, Any], at: Path, chosen: Path) -> Any:
    if at == chosen:
        return pseudonyms(value)
    if isinstance(value, list):
        return [_hash_at(item, schema.get("items", schema), at, chosen) for item in value]
    while "items" in schema:
        schema = schema["items"]
    if isinstance(value, dict) and "properties" in schema:
        for name in list(value):
            if name in schema["properties"] and chosen[len(at)] == name:
                value[name] = _hash_at(value[name], schema["properties"][name], (*at, name), chosen)
    return value


@FAST
@given(ROOT, st.text(alphabet="abcdxy. ,[]", max_size=8))
def test_a_path_either_names_a_field_or_is_an_error(schema: dict[str, Any], text: str) -> None:
    valid = {".".join(path) for path in schema_paths(schema)} | {"."}
    if text.strip() in valid:
        policy(schema, {"privacy_pass": {"s": [text]}})
    else:
        with pytest.raises(OCPIError) as caught:
            policy(schema, {"privacy_pass": {"s": [text]}})
        assert "\n" not in str(caught.value)


OCPI_FIELDS = sorted(
    {name for schema in STREAM_SCHEMAS.values() for name in schema["properties"]}
    | {"latitude", "uid", "dimensions", "x_vendor"}
)
ODD_RECORD = st.dictionaries(
    st.sampled_from(OCPI_FIELDS),
    st.recursive(
        SCALARS,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(OCPI_FIELDS), inner, max_size=3)
        ),
        max_leaves=10,
    ),
    max_size=8,
)


@FAST
@given(st.sampled_from(sorted(STREAM_SCHEMAS)), ODD_RECORD, st.booleans())
def test_ocpi_defaults_take_any_shape_without_loss_of_keys(
    stream: str, record: dict[str, Any], private: bool
) -> None:
    real = PrivacyPolicy.from_config({"privacy_salt": SALT}, STREAM_SCHEMAS)
    before = copy.deepcopy(record)
    out = real.filter_for(stream)(record, private)
    assert list(out) == list(record)
    assert record == before
    if stream != "tokens":  # no pseudonyms: filtering twice changes nothing
        assert real.filter_for(stream)(out, private) == out
