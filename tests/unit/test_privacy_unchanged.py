"""privacy/unchanged.py: a record its check takes is exactly what the filter returns.

Record by record, key order included, for locations and their EVSEs and connectors (the
streams that take the check, streams.py): the test platform's data and the specification's
examples, every version, several privacy settings, each record in both place contexts (a
child's context is its location's: a public location's EVSE keeps its coordinates, a
private one's does not). Then hostile shapes: whatever the check takes, the filter returns.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from support.spec_examples import spec_objects
from tap_ocpi.errors import BadRecord
from tap_ocpi.mock_platform import MockPlatform, PlatformConfig
from tap_ocpi.normalize import normalizer, split_location
from tap_ocpi.privacy import PrivacyPolicy, is_private
from tap_ocpi.schemas import STREAM_SCHEMAS

SALT = "unchanged-test-salt-0123"
OWNER = ("DE", "VLT")
PLACES = ("locations", "evses", "connectors")
SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    "pass everything": {"privacy_pass": {s: ["."] for s in PLACES}},
    "pass nested paths": {
        "privacy_pass": {
            "locations": ["energy_mix.supplier_name", "publish_allowed_to.visual_number"],
            "evses": ["status_schedule", "parking.evse_position"],
            "connectors": ["tariff_ids"],
        }
    },
    "pseudonymise some": {
        "privacy_hash": {
            "locations": ["operator.name"],
            "evses": ["evse_id"],
            "connectors": ["max_voltage"],
        }
    },
}


def place_records(version: str) -> dict[str, list[tuple[dict[str, Any], bool]]]:
    """(record, its location's context) per stream, as the tap makes them: decoded from
    JSON, normalised, split, top-level unknown fields dropped (output_record)."""
    platform = MockPlatform(PlatformConfig(seed=7, sessions=10, locations=120))
    raws = list(platform.expected("locations", version))
    raws += spec_objects(version).get("locations", [])
    normalize = normalizer("locations", version, OWNER)
    out: dict[str, list[tuple[dict[str, Any], bool]]] = {s: [] for s in PLACES}
    for raw in json.loads(json.dumps(raws)):
        try:
            location, evses, connectors = split_location(normalize(raw))
        except BadRecord:
            continue
        private = is_private("locations", location)
        for stream, records in zip(PLACES, ([location], evses, connectors), strict=True):
            columns = STREAM_SCHEMAS[stream]["properties"]
            out[stream] += [
                ({k: v for k, v in r.items() if k in columns}, private) for r in records
            ]
    return out


def policy_of(setting: str) -> PrivacyPolicy:
    return PrivacyPolicy.from_config({**SETTINGS[setting], "privacy_salt": SALT}, STREAM_SCHEMAS)


def same(a: Any, b: Any) -> bool:
    """Equal, with the same key order and the same JSON types (1 is not 1.0 or True)."""
    return json.dumps(a) == json.dumps(b) and a == b


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("version", ["2.1.1", "2.2.1", "2.3.0"])
def test_what_the_check_takes_is_what_the_filter_returns(version: str, setting: str) -> None:
    policy = policy_of(setting)
    for stream, records in place_records(version).items():
        checks = policy.unchanged(stream)
        apply = policy.filter_for(stream)
        taken = 0
        for record, actual in records:
            for private in {actual, True, False}:  # the record's own context, then both
                check = checks[private]
                output = None if check is None else check.output(copy.deepcopy(record))
                if output is None:
                    continue
                taken += private == actual
                assert same(output, apply(copy.deepcopy(record), private)), (stream, private)
            check = checks[actual]
            outputs = None if check is None else check.outputs([record, record])
            if outputs is not None:
                expected = apply(copy.deepcopy(record), actual)
                assert all(same(o, expected) for o in outputs)
        if setting == "default":
            assert taken >= 0.95 * len(records), stream  # nearly all of the platform's


def test_private_children_lose_their_place_fields() -> None:
    policy = policy_of("default")
    records = place_records("2.2.1")["evses"]
    private = [r for r, p in records if p and r.get("status")]
    public = [r for r, p in records if not p and r.get("status")]
    assert private
    assert public
    public_check, private_check = policy.unchanged("evses")
    assert public_check is not None
    assert private_check is not None
    for record in private:
        output = private_check.output(record)
        assert output is not None
        assert output["status"] is None
    for record in public:
        output = public_check.output(record)
        assert output is not None
        assert output["status"] == record["status"]


def test_no_check_where_the_filter_does_more_than_keep_or_null() -> None:
    assert policy_of("pass everything").unchanged("evses") == (None, None)  # "." returns as is
    hashed = policy_of("pseudonymise some")
    assert hashed.unchanged("evses") == (None, None)  # evse_id becomes a pseudonym
    assert hashed.unchanged("connectors") == (None, None)
    assert hashed.unchanged("tokens") == (None, None)  # uid
    assert None not in policy_of("default").unchanged("connectors")


CONNECTOR = {
    "country_code": "DE",
    "party_id": "VLT",
    "location_id": "L1",
    "evse_uid": "E1",
    "id": "1",
    "standard": "IEC_62196_T2",
    "format": "SOCKET",
    "power_type": "AC_3_PHASE",
    "max_voltage": 230,
    "max_amperage": 32.5,
    "tariff_ids": ["T1", None],
    "last_updated": "2025-01-01T00:00:00Z",
}
HOSTILE: dict[str, tuple[str, Any]] = {
    "an object in a text field": ("standard", {"name": "Jane Driver"}),
    "an object in a list of text": ("tariff_ids", ["T1", {"holder": "Jane"}]),
    "a list in a list": ("tariff_ids", [["T1"]]),
    "an unknown field": ("x_vendor", "Jane"),
    "a non-text key": (1, "Jane"),  # type: ignore[dict-item]
    "a Decimal": ("max_voltage", Decimal("230.5")),
    "a tuple": ("tariff_ids", ("T1",)),
    "a bool": ("max_voltage", True),
    "bytes": ("standard", b"Jane"),
}


@pytest.mark.parametrize("setting", ["default", "pass nested paths"])
@pytest.mark.parametrize("change", HOSTILE)
def test_hostile_values_are_left_to_the_filter(change: str, setting: str) -> None:
    policy = policy_of(setting)
    name, value = HOSTILE[change]
    record: dict[Any, Any] = {**CONNECTOR, name: value}
    apply = policy.filter_for("connectors")
    for private, check in enumerate(policy.unchanged("connectors")):
        assert check is not None
        output = check.output(dict(record))
        expected = apply(dict(record), bool(private))
        assert output is None or output == expected, change
        assert "Jane" not in repr(output)


def test_nested_unknown_fields_and_blanked_values_are_left_to_the_filter() -> None:
    policy = policy_of("default")
    public, private = policy.unchanged("evses")
    assert public is not None
    assert private is not None
    evse = {"uid": "E1", "coordinates": {"latitude": "52.1", "longitude": "4.2"}}
    assert public.output(evse) == evse
    assert private.output(evse) == {"uid": "E1", "coordinates": None}
    unknown = {"uid": "E1", "coordinates": {"latitude": "52.1", "holder": "Jane"}}
    assert public.output(unknown) is None  # the filter nulls `holder`
    assert public.outputs([evse, unknown]) is None
    public_location, private_location = policy.unchanged("locations")
    assert public_location is not None
    assert private_location is not None
    mix = {"id": "L1", "energy_mix": {"is_green_energy": True, "supplier_name": "Jane"}}
    assert public_location.output(mix) == mix
    apply = policy.filter_for("locations")
    nulled = {"id": "L1", "energy_mix": {"is_green_energy": True, "supplier_name": None}}
    assert private_location.output(mix) == nulled == apply(mix, True)  # blanked inside
    assert mix["energy_mix"]["supplier_name"] == "Jane"  # a copy: the input is as it was
    mixes = [{"id": "L2", "energy_mix": [mix["energy_mix"], None]}]  # arrays: transparent
    assert private_location.outputs(mixes) == [apply(mixes[0], True)]
