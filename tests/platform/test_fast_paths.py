"""The fast paths write exactly what the general path writes.

- ``PageDecoder`` (fastpath/decoder.py): a page of canonical records decoded straight into output
  records with the privacy projection. Checked record by record against
  ``filter(normalize(raw))`` on the test platform's data and the specification's examples,
  for several privacy settings, and refused where it must be.
- ``SingerOutput`` and ``OCPIStream._write_record_message``: RECORD messages encoded from
  the dict and written in blocks. Checked end to end: a sync with every fast path on
  writes the same messages as one with all of them off (the SDK's own path).
- Locations' EVSEs and connectors (streams.py): privacy's unchanged check instead of the
  filter (tests/unit/test_privacy_unchanged.py compares them record by record), spooled as
  JSON lines and written a block at a time (sdk.py). Checked end to end against the
  filter and the SDK's record loop, STATE messages included.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
import requests_mock as rm
from singer_sdk.singerlib import RecordMessage, StateMessage

from support.config import tap_config
from support.spec_examples import spec_objects
from tap_ocpi import output
from tap_ocpi.client import OCPIStream
from tap_ocpi.errors import BadRecord, OCPIError
from tap_ocpi.fastpath import PageDecoder, projected_type, projection_for, to_record
from tap_ocpi.mock_platform import MockPlatform, PlatformConfig
from tap_ocpi.normalize import normalizer
from tap_ocpi.privacy import PrivacyPolicy, is_private
from tap_ocpi.schemas import STREAM_SCHEMAS
from tap_ocpi.sdk import StreamInternals
from tap_ocpi.streams import ChildSpool, _PlaceStream
from tap_ocpi.tap import TapOCPI

SALT = "fast-path-test-salt-0123"
OWNER = ("DE", "VLT")
STREAMS = ("sessions", "cdrs", "tariffs", "tokens", "hubclientinfo")
#: Privacy settings the projection must reproduce (tokens.uid is pseudonymised by default).
SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    "pass everything": {"privacy_pass": {s: ["."] for s in STREAMS}},
    "pass nested paths": {
        "privacy_pass": {
            "sessions": ["kwh", "charging_periods.dimensions.volume", "cdr_token.contract_id"],
            "cdrs": ["cdr_location.address", "charging_periods", "total_energy"],
        }
    },
    "pseudonymise scalars": {
        "privacy_hash": {
            "sessions": ["cdr_token.uid", "kwh", "charging_periods.dimensions.volume"],
            "cdrs": ["cdr_token.contract_id", "total_energy", "cdr_location.address"],
            "tokens": ["contract_id", "issuer"],
        }
    },
}


@pytest.fixture(scope="module")
def platform() -> Iterator[MockPlatform]:
    config = PlatformConfig(seed=5, locations=20, sessions=200, tokens=20, tariffs=5, clients=3)
    with MockPlatform(config) as running:
        yield running


def raw_objects(platform: MockPlatform, stream: str, version: str) -> list[Any]:
    """The platform's records of a stream, then the specification's examples."""
    objects = list(platform.expected(stream, version))
    return objects + spec_objects(version).get(stream, [])


def general_path(policy: PrivacyPolicy, stream: str, version: str, raw: Any) -> Any:
    """What post_process emits for one raw object (the general path), or BadRecord."""
    try:
        record = normalizer(stream, version, OWNER)(raw)
    except BadRecord as exc:
        return exc
    record = {k: v for k, v in record.items() if k in STREAM_SCHEMAS[stream]["properties"]}
    return policy.filter_for(stream)(record, is_private(stream, record))


def fast_path(policy: PrivacyPolicy, stream: str, version: str, raw: Any) -> Any | None:
    """What PageDecoder makes of a page holding just this object, or None if refused."""
    projection = projection_for(policy, stream)
    assert projection is not None
    kind = projected_type(stream, version, OWNER, projection.keep)
    assert kind is not None
    decoder = PageDecoder(stream, kind, projection)
    records = decoder.decode(_page({"status_code": 1000, "data": [raw]}))
    if records is None:
        return None
    # What the writer emits: the Struct encoded as it is; its dict form (flattening, the
    # SDK's own write path) must be the same record.
    written = msgspec.json.decode(msgspec.json.encode(records[0]))
    assert to_record(records[0]) == written
    return written


def _page(body: Any) -> bytes:
    return msgspec.json.encode(body)


#: (stream, version) pairs the test platform serves (2.1.1 has no hubclientinfo module).
SERVED = [
    (stream, version)
    for version in ("2.1.1", "2.2.1", "2.3.0")
    for stream in STREAMS
    if (stream, version) != ("hubclientinfo", "2.1.1")
]


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize(("stream", "version"), SERVED)
def test_projected_records_equal_the_general_path(
    platform: MockPlatform, stream: str, version: str, setting: str
) -> None:
    policy = PrivacyPolicy.from_config({**SETTINGS[setting], "privacy_salt": SALT}, STREAM_SCHEMAS)
    raws = raw_objects(platform, stream, version)
    assert raws
    taken = 0
    for raw in raws:
        fast = fast_path(policy, stream, version, raw)
        if fast is None:
            continue
        taken += 1
        assert fast == general_path(policy, stream, version, raw), raw.get("id")
    # The platform's records are canonical: the fast path must take every one of them.
    assert taken >= len(list(platform.expected(stream, version)))


def test_private_places_lose_their_address_on_the_fast_path(platform: MockPlatform) -> None:
    policy = PrivacyPolicy.from_config({}, STREAM_SCHEMAS)
    projection = projection_for(policy, "cdrs")
    assert projection is not None
    assert ("cdr_location", "address") in projection.private_drops
    cdrs = list(platform.expected("cdrs", "2.3.0"))
    home = [c for c in cdrs if c.get("home_charging_compensation") is not False]
    # The platform never sends `false` (it is 2.3.0's explicit "not at home"): set it.
    public = [{**c, "home_charging_compensation": False} for c in cdrs]
    assert home
    for raw in home:
        record = fast_path(policy, "cdrs", "2.3.0", raw)
        assert record is not None
        assert record["cdr_location"]["address"] is None
    for raw in public:
        record = fast_path(policy, "cdrs", "2.3.0", raw)
        assert record is not None
        assert record["cdr_location"]["address"] == raw["cdr_location"]["address"]


def _session(platform: MockPlatform) -> dict[str, Any]:
    return json.loads(json.dumps(next(iter(platform.expected("sessions", "2.2.1")))))


@pytest.mark.parametrize(
    "change",
    [
        "unknown nested field",
        "unknown top-level field",
        "last_updated with an offset",
        "kept field of the wrong type",
        "key missing",
        "null item in a kept array",
    ],
)
def test_records_that_need_the_general_path_are_refused(
    platform: MockPlatform, change: str
) -> None:
    policy = PrivacyPolicy.from_config(SETTINGS["pass nested paths"], STREAM_SCHEMAS)
    raw = _session(platform)
    assert fast_path(policy, "sessions", "2.2.1", raw) is not None  # unchanged: taken
    if change == "unknown nested field":
        raw["cdr_token"]["nickname"] = "x"
    elif change == "unknown top-level field":
        raw["x_vendor"] = 1  # the general path drops it with a warning: it must see it
    elif change == "last_updated with an offset":
        raw["last_updated"] = "2025-01-01T03:00:00+01:00"
    elif change == "kept field of the wrong type":
        raw["currency"] = 978
    elif change == "key missing":
        del raw["id"]
    elif change == "null item in a kept array":
        raw["charging_periods"][0]["dimensions"].append(None)
    assert fast_path(policy, "sessions", "2.2.1", raw) is None


HOSTILE_SESSION_CHANGES: dict[str, Any] = {
    "status as an object": ("status", {"code": "COMPLETED", "driver": "Jane Driver"}),
    "auth_method as a list": ("auth_method", ["WHITELIST", "Jane Driver"]),
    "currency as an object": ("currency", {"iso": "EUR", "payer": "Jane Driver"}),
    "cdr_token.type as an object": ("cdr_token.type", {"kind": "RFID", "holder": "Jane"}),
    "dropped text as an object": ("meter_id", {"serial": "Jane Driver"}),
    "kWh instead of kwh": ("kWh", 12.5),
    "KWH and kwh": ("KWH", 99.0),
}


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("change", HOSTILE_SESSION_CHANGES)
def test_hostile_shapes_give_the_same_record_on_both_paths(
    platform: MockPlatform, change: str, setting: str
) -> None:
    """Issues 12 and 13: a container in a text field is null, a name in another letter
    case is read, whichever path the page takes (the fast path refuses what it cannot do)."""
    policy = PrivacyPolicy.from_config({**SETTINGS[setting], "privacy_salt": SALT}, STREAM_SCHEMAS)
    raw = _session(platform)
    path, value = HOSTILE_SESSION_CHANGES[change]
    if path == "kWh":
        del raw["kwh"]
        raw["kWh"] = value
    elif "." in path:
        outer, inner = path.split(".")
        raw[outer][inner] = value
    else:
        raw[path] = value
    general = general_path(policy, "sessions", "2.2.1", raw)
    fast = fast_path(policy, "sessions", "2.2.1", raw)
    assert fast is None or fast == general
    assert "Jane" not in json.dumps(general)
    if path not in ("kWh", "KWH"):
        where = general[path.split(".")[0]]
        assert (where.get(path.split(".")[1]) if "." in path else where) is None
    elif path == "kWh":
        assert fast is None  # an unknown name: refused, the general path reads it
        kept = policy.filter_for("sessions")({"kwh": 12.5}, False)["kwh"]
        assert general["kwh"] == kept
    else:
        assert general["kwh"] == policy.filter_for("sessions")({"kwh": raw["kwh"]}, False)["kwh"]


@pytest.mark.parametrize(
    ("flag", "private"),
    [(False, False), (" false", False), ("FALSE", False), (True, True), ("no ", False),
     ("maybe", True), ({"v": False}, True)],
)  # fmt: skip
def test_cdr_context_flags_decide_alike_on_both_paths(
    platform: MockPlatform, flag: Any, private: bool
) -> None:
    """Issue 13, item 7: the flag is read (case, whitespace) before the decision on both
    paths; what cannot be read counts as private."""
    policy = PrivacyPolicy.from_config({}, STREAM_SCHEMAS)
    raw = {**next(iter(platform.expected("cdrs", "2.3.0"))), "home_charging_compensation": flag}
    general = general_path(policy, "cdrs", "2.3.0", raw)
    fast = fast_path(policy, "cdrs", "2.3.0", raw)
    assert fast is None or fast == general
    assert (general["cdr_location"]["address"] is None) is private
    if type(flag) is not bool:
        assert fast is None  # not a JSON boolean: the general path reads it


def test_dropped_fields_are_not_checked_and_come_out_null(platform: MockPlatform) -> None:
    """A field privacy drops is skipped by the decoder: whatever it holds, it is null."""
    policy = PrivacyPolicy.from_config({}, STREAM_SCHEMAS)
    raw = _session(platform)
    raw["meter_id"] = {"serial": "SECRET-METER"}  # wrong type, but dropped anyway
    record = fast_path(policy, "sessions", "2.2.1", raw)
    assert record is not None
    assert record["meter_id"] is None
    assert record == general_path(policy, "sessions", "2.2.1", raw)
    del raw["meter_id"]  # absent stays absent, as on the general path
    record = fast_path(policy, "sessions", "2.2.1", raw)
    assert record is not None
    assert "meter_id" not in record


def test_no_projection_where_the_output_needs_more_than_keep_hash_or_null() -> None:
    hashing = PrivacyPolicy.from_config(
        {"privacy_hash": {"sessions": ["cdr_token"]}, "privacy_salt": SALT}, STREAM_SCHEMAS
    )
    projection = projection_for(hashing, "sessions")  # an object's leaves: the filter's job
    assert projection is not None
    assert projected_type("sessions", "2.2.1", OWNER, projection.keep) is None
    everything = PrivacyPolicy.from_config(
        {"privacy_hash": {"sessions": ["."]}, "privacy_salt": SALT}, STREAM_SCHEMAS
    )
    whole = projection_for(everything, "sessions")
    assert whole is None or projected_type("sessions", "2.2.1", OWNER, whole.keep) is None
    no_salt = PrivacyPolicy.from_config({}, STREAM_SCHEMAS)
    assert projection_for(no_salt, "tokens") is None  # the general path stops with the error
    # 2.1.1: reshaped as decoded (below), except locations (split into child streams).
    assert projected_type("sessions", "2.1.1", OWNER, True) is not None
    assert projected_type("locations", "2.1.1", OWNER, True) is None


# -- 2.1.1: reshaped (renames, embedded location, auth_id, owner, bare amounts) as decoded ----


def _raw_211(platform: MockPlatform, stream: str) -> dict[str, Any]:
    return json.loads(json.dumps(next(iter(platform.expected(stream, "2.1.1")))))


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path (list items by index); the value DELETE removes the field."""
    *outer, last = path.split(".")
    node: Any = raw
    for name in outer:
        node = node[int(name)] if isinstance(node, list) else node[name]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value


DELETE = object()
#: Per stream: change name -> ((dotted path, value), ...), and whether every setting must take
#: the record on the fast path (True), or it may (None: refused where the fixers would work).
EDGES_211: dict[str, dict[str, tuple[tuple[tuple[str, Any], ...], bool | None]]] = {
    "sessions": {
        "as sent": ((), True),
        "no embedded location": ((("location", DELETE),), True),
        "location null": ((("location", None),), True),
        "location not an object": ((("location", "LOC1"),), None),
        "location without id": ((("location.id", DELETE),), True),
        "location id null": ((("location.id", None),), True),
        "location id a number": ((("location.id", 17),), None),
        "location with unknown fields": ((("location.x_vendor", {"a": [1]}),), True),
        "no evses": ((("location.evses", DELETE),), True),
        "evses null": ((("location.evses", None),), True),
        "evses empty": ((("location.evses", []),), True),
        "two evses": ((("location.evses", [{"uid": "E1"}, {"uid": "E2"}]),), True),
        "evse not an object": ((("location.evses", ["E1"]),), None),
        "evse uid null": ((("location.evses.0.uid", None),), True),
        "evse uid a number": ((("location.evses.0.uid", 3),), None),
        "no connectors": ((("location.evses.0.connectors", DELETE),), True),
        "two connectors": ((("location.evses.0.connectors", [{"id": "1"}, {"id": "2"}]),), True),
        "connector id a number": ((("location.evses.0.connectors.0.id", 1),), None),
        "location_id sent too": ((("location_id", "OTHER"),), True),
        "location_id null sent too": ((("location_id", None),), True),
        "evse_uid sent, no location": ((("evse_uid", "E9"), ("location", DELETE)), True),
        "no auth_id": ((("auth_id", DELETE),), True),
        "auth_id null": ((("auth_id", None),), True),
        "auth_id a number": ((("auth_id", 12345),), None),
        "auth_id an object": ((("auth_id", {"holder": "Jane Driver"}),), None),
        "cdr_token sent too": (
            (("cdr_token", {"uid": "U1", "type": "RFID", "contract_id": "C1"}),),
            None,  # a CdrToken without its owner fields: fixed by the general path
        ),
        "cdr_token null sent too": ((("cdr_token", None),), True),
        "start_date_time sent too": ((("start_date_time", "2025-01-01T00:00:00Z"),), None),
        "start_datetime null": ((("start_datetime", None),), True),
        "start_datetime with an offset": ((("start_datetime", "2025-01-01T01:00:00+01:00"),), None),
        "no start_datetime": ((("start_datetime", DELETE),), True),
        "owner sent": ((("country_code", "NL"), ("party_id", "ABC")), True),
        "owner null": ((("country_code", None),), None),
        "owner a number": ((("party_id", 7),), None),
        "total_cost an object": ((("total_cost", {"excl_vat": 1.5, "incl_vat": 1.8}),), True),
        "total_cost an integer": ((("total_cost", 3),), True),
        "total_cost null": ((("total_cost", None),), True),
        "total_cost text": ((("total_cost", "19.20"),), None),
        "total_cost a boolean": ((("total_cost", True),), None),
        "total_cost a list": ((("total_cost", [1]),), None),
        "kWh instead of kwh": ((("kwh", DELETE), ("kWh", 12.5)), None),
        "Location_Id read as location_id": ((("Location_Id", "L2"),), None),
        "AUTH_ID": ((("auth_id", DELETE), ("AUTH_ID", "X")), None),
        "unknown top-level field": ((("x_vendor", 1),), None),
    },
    "cdrs": {
        "as sent": ((), True),
        "no embedded location": ((("location", DELETE),), True),
        "location null": ((("location", None),), True),
        "location not an object": ((("location", ["L"]),), None),
        "location without address": ((("location.address", DELETE),), True),
        "location name a number": ((("location.name", 5),), None),
        "coordinates null": ((("location.coordinates", None),), True),
        "coordinates with an unknown field": ((("location.coordinates.alt", "1"),), None),
        "two evses": ((("location.evses", [{"uid": "E1"}, {"uid": "E2"}]),), True),
        "evse without connectors": ((("location.evses.0.connectors", DELETE),), True),
        "connector standard null": ((("location.evses.0.connectors.0.standard", None),), True),
        "cdr_location sent too": (
            (("cdr_location", {"id": "L1", "country": "NLD", "evse_uid": "E1"}),),
            True,
        ),
        "cdr_location null sent too": ((("cdr_location", None),), True),
        "stop_date_time null": ((("stop_date_time", None),), True),
        "end_date_time sent too": ((("end_date_time", "2025-01-01T00:00:00Z"),), None),
        "auth_id null": ((("auth_id", None),), True),
        "home_charging_compensation false": ((("home_charging_compensation", False),), True),
        "tariff owner sent": ((("tariffs.0.country_code", "NL"),), True),
        "tariff impact source renamed": (
            (("tariffs.0.energy_mix", {"environ_impact": [{"source": "NUCLEAR_WASTE"}]}),),
            True,
        ),
        "tariff impact category sent too": (
            (("tariffs.0.energy_mix", {"environ_impact": [{"source": "A", "category": "B"}]}),),
            None,
        ),
        "total_cost an object": ((("total_cost", {"excl_vat": 2}),), True),
    },
    "tokens": {
        "as sent": ((), True),
        "auth_id null": ((("auth_id", None),), True),
        "no auth_id": ((("auth_id", DELETE),), True),
        "contract_id sent too": ((("contract_id", "C2"),), None),
        "owner sent": ((("country_code", "NL"), ("party_id", "ABC")), True),
    },
}


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize(
    ("stream", "change"), [(stream, change) for stream in EDGES_211 for change in EDGES_211[stream]]
)
def test_2_1_1_edge_cases_give_the_same_record_on_both_paths(
    platform: MockPlatform, stream: str, change: str, setting: str
) -> None:
    policy = PrivacyPolicy.from_config({**SETTINGS[setting], "privacy_salt": SALT}, STREAM_SCHEMAS)
    raw = _raw_211(platform, stream)
    edits, taken = EDGES_211[stream][change]
    for path, value in edits:
        _set(raw, path, value)
    general = general_path(policy, stream, "2.1.1", raw)
    fast = fast_path(policy, stream, "2.1.1", raw)
    assert fast is None or fast == general
    if taken:
        assert fast is not None
    assert "Jane" not in json.dumps(general, default=str)


def test_2_1_1_cdrs_stay_private_on_the_fast_path(platform: MockPlatform) -> None:
    """2.1.1 has no home_charging_compensation: every CDR's place counts as private, on
    both paths; the address survives only where the flag says public."""
    policy = PrivacyPolicy.from_config({}, STREAM_SCHEMAS)
    raws = list(platform.expected("cdrs", "2.1.1"))
    for raw in raws[:20]:
        record = fast_path(policy, "cdrs", "2.1.1", raw)
        assert record is not None
        assert record == general_path(policy, "cdrs", "2.1.1", raw)
        assert record["cdr_location"]["address"] is None
        assert record["cdr_location"]["id"] is None
        public = fast_path(policy, "cdrs", "2.1.1", {**raw, "home_charging_compensation": False})
        assert public is not None
        assert public["cdr_location"]["address"] == raw["location"]["address"]


def test_2_1_1_locations_keep_the_general_path() -> None:
    """Locations are split into EVSEs and connectors: no page decoder, in any version."""
    policy = PrivacyPolicy.from_config({}, STREAM_SCHEMAS)
    projection = projection_for(policy, "locations")
    assert projection is None or (
        projected_type("locations", "2.1.1", OWNER, projection.keep) is None
    )


def test_tokens_are_projected_with_the_uid_pseudonymised(platform: MockPlatform) -> None:
    policy = PrivacyPolicy.from_config({"privacy_salt": SALT}, STREAM_SCHEMAS)
    projection = projection_for(policy, "tokens")
    assert projection is not None
    assert projection.hashed == (("uid",),)
    raw = next(iter(platform.expected("tokens", "2.2.1")))
    record = fast_path(policy, "tokens", "2.2.1", raw)
    assert record is not None
    assert record["uid"] != raw["uid"]
    assert len(record["uid"]) == 64  # HMAC-SHA256 hex
    assert record == general_path(policy, "tokens", "2.2.1", raw)


def test_a_platform_that_never_fits_is_not_tried_on_every_page(platform: MockPlatform) -> None:
    policy = PrivacyPolicy.from_config({}, STREAM_SCHEMAS)
    projection = projection_for(policy, "sessions")
    assert projection is not None
    kind = projected_type("sessions", "2.2.1", OWNER, projection.keep)
    decoder = PageDecoder("sessions", kind, projection)
    odd = {**_session(platform), "x_vendor": 1}
    for _ in range(PageDecoder.GIVE_UP_AFTER + 2):
        assert decoder.decode(_page({"status_code": 1000, "data": [odd]})) is None
    assert decoder.refused == PageDecoder.GIVE_UP_AFTER  # then it stopped trying


# -- end to end: every fast path on, against all of them off ------------------------------------


def _sync(config: dict[str, Any], capfd: pytest.CaptureFixture[str]) -> tuple[TapOCPI, list]:
    tap = TapOCPI(config=config, parse_env_config=False)
    tap.sync_all()
    out, _ = capfd.readouterr()
    return tap, [json.loads(line) for line in out.splitlines()]


#: What a state holds of the run's window end (its start time), differing between runs.
_WINDOW_END_KEYS = frozenset({"replication_key_value", "replication_key_signpost"})


def _without_window_end(value: Any) -> Any:
    """A state with each bookmark value (the run's window end, its start time) replaced."""
    if isinstance(value, dict):
        return {
            k: "<window end>" if k in _WINDOW_END_KEYS else _without_window_end(v)
            for k, v in value.items()
        }
    return value


def _comparable(messages: list[dict[str, Any]]) -> list[Any]:
    """Messages without what differs between two runs by design (time, window end); every
    STATE with its bookmarks."""
    out: list[Any] = []
    for message in messages:
        if message["type"] == "RECORD":
            assert message.pop("time_extracted")
            out.append(message)
        elif message["type"] == "STATE":
            out.append(("STATE", _without_window_end(message["value"])))
        else:
            out.append(message)
    return out


@pytest.mark.parametrize("setting", ["default", "pass nested paths", "pseudonymise scalars"])
@pytest.mark.parametrize("version", ["2.1.1", "2.2.1", "2.3.0"])
def test_fast_paths_write_what_the_sdk_path_writes(
    platform: MockPlatform,
    version: str,
    setting: str,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tap_config(
        platform,
        {"ocpi_version": version, "privacy_salt": SALT, "page_size": 40},
        SETTINGS[setting],
    )
    fast_tap, fast = _sync(config, capfd)
    with monkeypatch.context() as patch:
        patch.setattr(OCPIStream, "_page_decoder", None)
        patch.setattr(OCPIStream, "_lean_output", False)
        _, general = _sync(config, capfd)
    assert _comparable(fast) == _comparable(general)
    records = [m for m in fast if m["type"] == "RECORD"]
    streams = {"sessions", "cdrs", "tariffs", "tokens", "locations", "evses", "connectors"}
    assert {m["stream"] for m in records} >= streams
    for name in ("sessions", "cdrs", "tariffs", "tokens"):
        decoder = fast_tap.streams[name]._page_decoder  # type: ignore[attr-defined]
        assert decoder is not None, name
        assert decoder.taken > 0, name
        assert not decoder.refused, name
        assert fast_tap.streams[name]._lean_output  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "sdk_settings",
    [
        {"flattening_enabled": True, "flattening_max_depth": 2},
        {"stream_maps": {"sessions": {"id_again": "id + '!'"}}},
    ],
    ids=["flattening", "stream map"],
)
def test_fast_path_records_through_the_sdk_features(
    platform: MockPlatform,
    sdk_settings: dict[str, Any],
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Flattening and stream maps take the SDK's own path, which needs dicts: fast-path
    records reach it as the dicts the general path would give."""
    config = tap_config(platform, {"privacy_salt": SALT, "page_size": 40}, sdk_settings)
    fast_tap, fast = _sync(config, capfd)
    assert fast_tap.streams["sessions"]._page_decoder.taken  # type: ignore[attr-defined]
    with monkeypatch.context() as patch:
        patch.setattr(OCPIStream, "_page_decoder", None)
        _, general = _sync(config, capfd)
    assert _comparable(fast) == _comparable(general)
    sessions = [m["record"] for m in fast if m["type"] == "RECORD" and m["stream"] == "sessions"]
    assert sessions
    if "stream_maps" in sdk_settings:
        assert all(r["id_again"] == r["id"] + "!" for r in sessions)
    else:
        assert any("cdr_token__type" in r for r in sessions)


def test_batch_files_hold_the_records_the_record_messages_hold(
    platform: MockPlatform, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """With `batch_config` the SDK writes the records to files itself: fast-path records
    reach it as dicts, the same records a RECORD message carries."""
    config = tap_config(platform, {"privacy_salt": SALT, "page_size": 40})
    _, messages = _sync(config, capfd)
    expected: dict[str, list[Any]] = {}
    for message in messages:
        if message["type"] == "RECORD":
            expected.setdefault(message["stream"], []).append(message["record"])
    batch = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": tmp_path.as_uri(), "prefix": "batch-"},
    }
    _, messages = _sync({**config, "batch_config": batch}, capfd)
    batched: dict[str, list[Any]] = {}
    for message in messages:
        if message["type"] == "BATCH":
            for uri in message["manifest"]:
                with gzip.open(Path(uri.removeprefix("file://")), "rt") as lines:
                    batched.setdefault(message["stream"], []).extend(map(json.loads, lines))
    assert batched == expected
    assert {"sessions", "tokens", "cdrs", "tariffs"} <= set(batched)


PLACES = ("locations", "evses", "connectors")
PLACE_SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    "pass everything": {"privacy_pass": {s: ["."] for s in PLACES}},
    "pass nested paths": {
        "privacy_pass": {"evses": ["status_schedule", "parking"], "connectors": ["tariff_ids"]}
    },
    "pseudonymise a child field": {"privacy_hash": {"evses": ["evse_id"]}},
    "flattening": {"flattening_enabled": True, "flattening_max_depth": 1},
}


@pytest.fixture(scope="module")
def places_platform() -> Iterator[MockPlatform]:
    """Enough locations for private ones among them (a home's driveway, unpublished)."""
    config = PlatformConfig(seed=7, locations=120, sessions=20, tokens=5, tariffs=3, clients=2)
    with MockPlatform(config) as running:
        yield running


@pytest.mark.parametrize("setting", PLACE_SETTINGS)
def test_location_children_write_what_the_sdk_path_writes(
    places_platform: MockPlatform,
    setting: str,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """EVSEs and connectors of public and private locations: the unchanged check and the
    block writer against the filter and the SDK's loop, a STATE every 7 records (the
    boundaries fall inside blocks), the spool read back in blocks of a few records."""
    config = tap_config(
        places_platform,
        {"ocpi_version": "2.2.1", "privacy_salt": SALT, "page_size": 50},
        PLACE_SETTINGS[setting],
    )
    blocks: list[str] = []
    original = StreamInternals._sync_json_records

    def spy(stream: StreamInternals, lines: Any) -> Any:
        blocks.append(stream.name)
        return original(stream, lines)

    monkeypatch.setattr(StreamInternals, "STATE_MSG_FREQUENCY", 7)
    monkeypatch.setattr(ChildSpool, "BLOCK_BYTES", 1000)
    monkeypatch.setattr(ChildSpool, "FRAME_RECORDS", 5)
    with monkeypatch.context() as patch:
        patch.setattr(StreamInternals, "_sync_json_records", spy)
        _, fast = _sync(config, capfd)
    with monkeypatch.context() as patch:
        patch.setattr(OCPIStream, "_page_decoder", None)
        patch.setattr(OCPIStream, "_lean_output", False)
        patch.setattr(StreamInternals, "json_records", lambda _self, _context: None)
        patch.setattr(_PlaceStream, "_unchanged", (None, None))  # the filter, always
        _, general = _sync(config, capfd)
    assert _comparable(fast) == _comparable(general)
    records = [m for m in general if m["type"] == "RECORD"]
    assert {m["stream"] for m in records} >= set(PLACES)
    evses = [m["record"] for m in records if m["stream"] == "evses"]
    assert len(evses) > 3 * 7
    if setting == "default":  # both place contexts were written
        assert any(e.get("status") is None for e in evses)
        assert any(e.get("status") is not None for e in evses)
    if setting != "flattening":
        assert sorted(blocks) == ["connectors", "evses"]  # written a block at a time
    else:
        assert blocks == []  # flattening needs the records as dicts


# -- the block writer ------------------------------------------------------------------------------


class _Stdout:
    def __init__(self) -> None:
        self.buffer = io.BytesIO()


def test_records_are_written_before_the_next_other_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stdout = _Stdout()
    monkeypatch.setattr(output.sys, "stdout", stdout)
    writer = output.SingerOutput()
    for n in range(3):
        writer.write_framed(_frame(), {"n": n})
    assert stdout.buffer.getvalue() == b""  # pending: one write per block, not per record
    writer.write_message(StateMessage(value={"bookmarks": {}}))
    lines = [json.loads(line) for line in stdout.buffer.getvalue().splitlines()]
    assert [m["type"] for m in lines] == ["RECORD", "RECORD", "RECORD", "STATE"]
    assert [m["record"]["n"] for m in lines[:3]] == [0, 1, 2]


def test_a_full_block_is_written_without_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    stdout = _Stdout()
    monkeypatch.setattr(output.sys, "stdout", stdout)
    writer = output.SingerOutput()
    for _ in range(output.BLOCK_BYTES // 1000 + 1):
        writer.write_framed(_frame(), {"text": "x" * 1000})
    assert len(stdout.buffer.getvalue()) >= output.BLOCK_BYTES


def test_records_read_before_a_failure_are_written(capfd: pytest.CaptureFixture[str]) -> None:
    """A stream that fails on its second page: the first page's records still go out (the
    SDK writes each record at once; the block writer must not lose them)."""
    base = "http://ocpi.test/ocpi"
    session = {
        "country_code": "DE",
        "party_id": "VLT",
        "id": "S1",
        "start_date_time": "2025-01-01T00:00:00Z",
        "kwh": 1.5,
        "auth_method": "WHITELIST",
        "currency": "EUR",
        "status": "COMPLETED",
        "last_updated": "2025-01-01T01:00:00Z",
    }
    with rm.Mocker() as mock:
        mock.get(
            f"{base}/versions",
            json={"status_code": 1000, "data": [{"version": "2.2.1", "url": f"{base}/2.2.1"}]},
        )
        mock.get(
            f"{base}/2.2.1",
            json={
                "status_code": 1000,
                "data": {
                    "version": "2.2.1",
                    "endpoints": [
                        {"identifier": "sessions", "role": "SENDER", "url": f"{base}/sessions"}
                    ],
                },
            },
        )
        page_2 = f"{base}/sessions?offset=1"
        mock.get(
            f"{base}/sessions",
            [
                {
                    "json": {"status_code": 1000, "data": [session]},
                    "headers": {"X-Total-Count": "2", "Link": f'<{page_2}>; rel="next"'},
                }
            ],
        )
        mock.get(page_2, status_code=400, json={"status_code": 2001, "data": None})
        tap = TapOCPI(
            config={
                "versions_url": f"{base}/versions",
                "token": "t",
                "page_size": 1,
                "privacy_salt": SALT,
            },
            parse_env_config=False,
        )
        with pytest.raises(OCPIError):
            tap.sync_all()
    out, err = capfd.readouterr()
    records = [json.loads(line) for line in out.splitlines() if '"RECORD"' in line]
    assert [r["record"]["id"] for r in records] == ["S1"], err[-3000:]


def test_a_signal_during_a_write_acts_once_the_block_is_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """tap.py's SIGTERM handler runs through `when_idle`: landing in the middle of a block,
    it must not write (a reentrant write fails or tears a line) until the block is out."""
    events: list[str] = []
    writer = output.SingerOutput()

    class Buffer(io.BytesIO):
        def write(self, data: Any) -> int:
            writer.when_idle(lambda: events.append("handler"))  # the signal lands here
            written = super().write(data)
            events.append("block written")
            return written

    stdout = _Stdout()
    stdout.buffer = Buffer()
    monkeypatch.setattr(output.sys, "stdout", stdout)
    writer.write_framed(_frame(), {"n": 1})
    writer.flush()
    assert events == ["block written", "handler"]
    events.clear()
    writer.when_idle(lambda: events.append("handler"))  # no write in progress: at once
    assert events == ["handler"]


def test_a_state_written_in_the_middle_of_a_record_line_leaves_that_record_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A signal between `write_framed`'s head and tail, whose handler writes the final
    STATE: the records before stay, the unfinished one goes, every line is whole JSON."""
    stdout = _Stdout()
    monkeypatch.setattr(output.sys, "stdout", stdout)
    writer = output.SingerOutput()
    frame = _frame()
    writer.write_framed(frame, {"n": 1})
    writer._pending += frame.head + b'{"n":2}'  # the signal lands before the tail
    writer.write_message(StateMessage(value={"bookmarks": {}}))
    lines = [json.loads(line) for line in stdout.buffer.getvalue().splitlines()]
    assert [m["type"] for m in lines] == ["RECORD", "STATE"]
    assert lines[0]["record"] == {"n": 1}


def test_a_framed_record_line_is_the_sdk_record_message() -> None:
    """The frame's bytes around a record make the message the SDK's writer would write."""
    extracted = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    for version in (None, 1767322800):
        frame = output.RecordFrame.of("sessions", version, extracted)
        line = frame.head + msgspec.json.encode({"id": "S1", "kwh": 1.5}) + frame.tail
        message = RecordMessage(
            stream="sessions",
            record={"id": "S1", "kwh": 1.5},
            version=version,
            time_extracted=extracted,
        )
        assert line == output.SingerOutput().format_message(message)


def test_a_record_that_fails_to_encode_leaves_no_torn_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stdout = _Stdout()
    monkeypatch.setattr(output.sys, "stdout", stdout)
    writer = output.SingerOutput()
    writer.write_framed(_frame(), {"n": 1})

    class Unwritable:
        def __str__(self) -> str:  # the SDK's encoder writes unknown types as str(value)
            raise ValueError("cannot be written")

    with pytest.raises(ValueError, match="cannot be written"):
        writer.write_framed(_frame(), {"n": 2, "value": Unwritable()})
    writer.flush()  # as sync_all does when a stream fails
    lines = [json.loads(line) for line in stdout.buffer.getvalue().splitlines()]
    assert [m["record"] for m in lines] == [{"n": 1}]


def test_a_signal_during_the_swap_waits_for_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler lands as `flush` swaps its buffer: it runs once the block is out, so the
    final STATE never goes out without the records before it."""
    stdout = _Stdout()
    monkeypatch.setattr(output.sys, "stdout", stdout)
    writer = output.SingerOutput()
    writer.write_framed(_frame(), {"n": 1})

    def handler() -> None:
        writer.write_message(StateMessage(value={"bookmarks": {}}))

    signals = [handler]

    def new_buffer() -> bytearray:
        if signals:
            writer.when_idle(signals.pop())  # the signal lands here, once
        return bytearray()

    monkeypatch.setattr(output, "bytearray", new_buffer, raising=False)
    writer.flush()
    lines = [json.loads(line) for line in stdout.buffer.getvalue().splitlines()]
    assert [m["type"] for m in lines] == ["RECORD", "STATE"]


def _frame() -> output.RecordFrame:
    return output.RecordFrame.of("s", None, datetime.now(timezone.utc))
