"""The privacy filter: defaults, allow-list, pseudonyms, place context, bad settings."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tap_ocpi.errors import OCPIError
from tap_ocpi.privacy import (
    DEFAULT_HASH_FIELDS,
    PUBLIC_PLACE_FIELDS,
    SAFE_FIELDS,
    PrivacyPolicy,
    is_private,
    safe_fields_markdown,
)
from tap_ocpi.privacy.filters import pseudonymiser
from tap_ocpi.schemas import PRIMARY_KEYS, REPLICATION_KEY, STREAM_SCHEMAS

SALT = "0123456789abcdef-test-salt"
from support.spec_examples import EXAMPLES, needs_examples, require_examples  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

# --- a small schema of our own: the engine must not depend on the OCPI schemas ---------------

TEXT = {"type": ["string", "null"]}
NUMBER = {"type": ["number", "null"]}


def obj(**props: Any) -> dict[str, Any]:
    return {"type": ["object", "null"], "properties": props, "additionalProperties": True}


def arr(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": ["array", "null"], "items": items}


MONEY = obj(excl_vat=NUMBER, incl_vat=NUMBER, taxes=arr(obj(name=TEXT, amount=NUMBER)))
TOY = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": TEXT,
        "kwh": NUMBER,
        "owner": obj(name=TEXT, website=TEXT, logo=obj(url=TEXT, category=TEXT)),
        "periods": arr(obj(start=TEXT, dims=arr(obj(type=TEXT, volume=NUMBER)))),
        "tags": arr(TEXT),
        "cost": MONEY,
        "blob": {"type": ["object", "null"]},
    },
}
TOY_SAFE = {"toy": {"id": "key", "cost": "money"}}
TOY_PUBLIC = {"toy": {"name": "public place name"}}


def toy_policy(config: dict[str, Any] | None = None, **tables: Any) -> PrivacyPolicy:
    tables.setdefault("safe", TOY_SAFE)
    tables.setdefault("public", TOY_PUBLIC)
    tables.setdefault("default_hash", {})
    tables.setdefault("primary_keys", {"toy": ("id",)})
    return PrivacyPolicy.from_config(config or {}, {"toy": TOY}, **tables)


def toy_record() -> dict[str, Any]:
    return {
        "id": "T1",
        "name": "Home of Jane Doe",
        "kwh": 12.5,
        "owner": {"name": "Jane Doe", "website": None, "logo": {"url": "u", "x_logo": "v"}},
        "periods": [
            {"start": "s1", "dims": [{"type": "ENERGY", "volume": 1.5}, {"type": "TIME"}]},
            {"start": "s2", "dims": None, "x_period": {"deep": "secret"}},
        ],
        "tags": ["a", "b"],
        "cost": {"excl_vat": 1.0, "incl_vat": 1.21, "taxes": [{"name": "VAT", "amount": 0.21}]},
        "blob": {"any": ["thing"]},
        "x_vendor": {"plate": "AB-123-C"},
    }


def run(policy: PrivacyPolicy, record: dict[str, Any], private: bool = False) -> Any:
    return policy.filter_for("toy")(record, private)


def ocpi(config: dict[str, Any] | None = None, streams: list[str] | None = None) -> PrivacyPolicy:
    config = {"privacy_salt": SALT} if config is None else config
    return PrivacyPolicy.from_config(config, STREAM_SCHEMAS, streams)


def example(name: str) -> dict[str, Any]:
    require_examples()  # skips the test when shared/ is absent
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return data


def pseudonym(value: str, salt: str = SALT) -> str:
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()


# --- blanking -----------------------------------------------------------------------------------


def test_default_blanks_everything_but_safe_fields_and_keeps_every_key() -> None:
    record = toy_record()
    out = run(toy_policy(), record, private=True)
    assert list(out) == list(record)  # same keys, same order, nothing dropped
    assert out["id"] == "T1"
    assert out["cost"] == record["cost"]
    for key in ("name", "kwh", "owner", "periods", "tags", "blob", "x_vendor"):
        assert out[key] is None, key


def test_unknown_keys_are_blanked_at_every_depth() -> None:
    config = {"privacy_pass": {"toy": ["owner", "periods"]}}
    out = run(toy_policy(config), toy_record())
    assert out["x_vendor"] is None
    assert out["owner"] == {
        "name": "Jane Doe",
        "website": None,
        "logo": {"url": "u", "x_logo": None},
    }
    assert out["periods"][1] == {"start": "s2", "dims": None, "x_period": None}


def test_blanked_means_null_never_a_marker_or_a_type_change() -> None:
    out = run(toy_policy(), toy_record())
    text = json.dumps(out)
    assert "#NA" not in text
    assert out["kwh"] is None


def test_input_is_not_mutated() -> None:
    record = toy_record()
    before = copy.deepcopy(record)
    run(toy_policy({"privacy_pass": {"toy": ["periods.dims"]}}), record)
    assert record == before


def test_object_where_a_scalar_belongs_is_unknown_data() -> None:
    policy = toy_policy({"privacy_pass": {"toy": ["kwh", "tags"]}})
    out = run(policy, dict(toy_record(), kwh={"name": "Jane"}, tags=["a", {"p": 1}, ["b"]]))
    assert out["kwh"] is None
    assert out["tags"] == ["a", None, ["b"]]


def test_opaque_schema_object_passes_whole_when_allowed() -> None:
    out = run(toy_policy({"privacy_pass": {"toy": ["blob"]}}), toy_record())
    assert out["blob"] == {"any": ["thing"]}


# --- paths ----------------------------------------------------------------------------------------


def test_paths_skip_arrays() -> None:
    out = run(toy_policy({"privacy_pass": {"toy": ["periods.dims.volume"]}}), toy_record())
    assert out["periods"] == [
        {"start": None, "dims": [{"type": None, "volume": 1.5}, {"type": None}]},
        {"start": None, "dims": None, "x_period": None},
    ]


def test_a_path_to_an_object_passes_its_known_fields() -> None:
    out = run(toy_policy({"privacy_pass": {"toy": ["owner.logo"]}}), toy_record())
    assert out["owner"] == {"name": None, "website": None, "logo": {"url": "u", "x_logo": None}}


def test_dot_passes_the_record_verbatim_unknown_keys_included() -> None:
    record = toy_record()
    out = run(toy_policy({"privacy_pass": {"toy": ["."]}}), record, private=True)
    assert out == record


def test_allow_list_applies_to_private_places_too() -> None:
    # Public-place fields are the only context-dependent rule; an explicit pass is explicit.
    policy = toy_policy({"privacy_pass": {"toy": ["name"]}})
    assert run(policy, toy_record(), private=True)["name"] == "Home of Jane Doe"


def test_public_place_fields_pass_only_when_not_private() -> None:
    policy = toy_policy()
    assert run(policy, toy_record(), private=False)["name"] == "Home of Jane Doe"
    assert run(policy, toy_record(), private=True)["name"] is None


def test_comma_separated_string_is_accepted() -> None:
    out = run(toy_policy({"privacy_pass": {"toy": "kwh, tags"}}), toy_record())
    assert out["kwh"] == 12.5
    assert out["tags"] == ["a", "b"]


@pytest.mark.parametrize(
    ("paths", "shown"),
    [
        (["kwh", ""], "empty path"),
        ("kwh,", "empty path"),
        (",kwh", "empty path"),
        (["a..b"], "'a..b'"),
        ([".kwh"], "'.kwh'"),
        (["kwh."], "'kwh.'"),
        (["KWH"], "did you mean 'kwh'"),
        (["kwhh"], "did you mean 'kwh'"),
        (["nothing_like_it"], "'nothing_like_it'"),
        (["kwh.volume"], "goes below 'kwh'"),
        (["owner.logo.size"], "'owner.logo.size'"),
        (["periods[].dims"], "write 'periods.dims'"),
        (["periods.*.dims"], "'periods.*.dims'"),
    ],
)
def test_bad_paths_are_one_line_errors_naming_the_path(paths: Any, shown: str) -> None:
    with pytest.raises(OCPIError) as caught:
        toy_policy({"privacy_pass": {"toy": paths}, "privacy_salt": "secret-salt-value-123"})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("privacy_pass.toy: ")
    assert shown in message
    assert "secret-salt" not in message


@pytest.mark.parametrize("setting", ["privacy_pass", "privacy_hash"])
def test_bad_settings_are_one_line_errors(setting: str) -> None:
    bad: list[tuple[Any, str]] = [
        (["kwh"], "must be an object"),
        ("toy: kwh", "must be an object"),
        ({"toys": ["kwh"]}, "unknown stream 'toys'"),
        ({"toy": 3}, "must be a list"),
        ({"toy": ["kwh", 3]}, "entry 2 is not a string"),
    ]
    for value, shown in bad:
        with pytest.raises(OCPIError, match=shown) as caught:
            toy_policy({setting: value, "privacy_salt": SALT})
        assert "\n" not in str(caught.value)


def test_empty_settings_pass_nothing_extra() -> None:
    configs: list[dict[str, Any]] = [
        {},
        {"privacy_pass": None},
        {"privacy_pass": {}},
        {"privacy_pass": {"toy": []}},
    ]
    for config in configs:
        assert run(toy_policy(config), toy_record())["kwh"] is None


def test_child_stream_fields_are_not_paths_of_the_parent() -> None:
    with pytest.raises(OCPIError, match="evses is a stream of its own"):
        ocpi({"privacy_pass": {"locations": ["evses.status"]}})


# --- pseudonyms ---------------------------------------------------------------------------------


def test_hash_is_hmac_sha256_hex_and_stable() -> None:
    config = {"privacy_hash": {"toy": ["name"]}, "privacy_salt": SALT}
    first = run(toy_policy(config), toy_record())["name"]
    again = run(toy_policy(config), toy_record())["name"]
    assert first == again == pseudonym("Home of Jane Doe")
    other_salt = dict(config, privacy_salt="another-salt-of-length-16")
    assert run(toy_policy(other_salt), toy_record())["name"] != first


@pytest.mark.parametrize(
    "salt", ["0123456789abcdef", "x" * 64, "y" * 65, "z" * 200, "sälté-ünïcode-☃-0123456789"]
)
def test_pseudonyms_are_hmac_sha256_for_salts_of_every_length(salt: str) -> None:
    # Keys up to a SHA-256 block (64 bytes) are padded, longer ones hashed first (RFC 2104):
    # the pseudonymiser keys its two states itself, and must give hmac's digests.
    pseudonymise = pseudonymiser(salt.encode())
    for value in ["", "Jane Doe", "DE*ABC*C123", "☃" * 100, "\udcff"]:
        data = value.encode("utf-8", "surrogatepass")
        assert pseudonymise(value) == hmac.new(salt.encode(), data, hashlib.sha256).hexdigest()
    assert pseudonymise(42) == hmac.new(salt.encode(), b"42", hashlib.sha256).hexdigest()


def test_hash_wins_over_pass() -> None:
    config = {
        "privacy_pass": {"toy": [".", "name"]},
        "privacy_hash": {"toy": ["name"]},
        "privacy_salt": SALT,
    }
    out = run(toy_policy(config), toy_record())
    assert out["name"] == pseudonym("Home of Jane Doe")
    assert out["x_vendor"] == {"plate": "AB-123-C"}  # "." still passes the rest verbatim


def test_hashing_a_subtree_hashes_every_leaf_keeps_keys_and_nulls() -> None:
    config = {"privacy_hash": {"toy": ["owner", "periods.dims.volume"]}, "privacy_salt": SALT}
    out = run(toy_policy(config), toy_record())
    assert out["owner"] == {
        "name": pseudonym("Jane Doe"),
        "website": None,
        "logo": {"url": pseudonym("u"), "x_logo": pseudonym("v")},
    }
    volumes = [dim.get("volume") for dim in out["periods"][0]["dims"]]
    assert volumes == [pseudonym("1.5"), None]  # numbers are hashed as their JSON text


def test_numbers_and_booleans_hash_via_json_text() -> None:
    config = {"privacy_hash": {"toy": ["tags"]}, "privacy_salt": SALT}
    out = run(toy_policy(config), dict(toy_record(), tags=[True, 3, None]))
    assert out["tags"] == [pseudonym("true"), pseudonym("3"), None]


def test_tokens_uid_is_pseudonymised_by_default() -> None:
    token = example("2.3.0/token_example_2_full_rfid.json")
    out = ocpi().filter_for("tokens")(token, False)
    assert out["uid"] == pseudonym(token["uid"])
    assert out["type"] == token["type"]
    for field in ("contract_id", "visual_number", "issuer", "group_id", "language"):
        assert out.get(field) is None


def test_dot_passes_tokens_uid_raw_keys_included() -> None:
    token = example("2.3.0/token_example_2_full_rfid.json")
    policy = ocpi({"privacy_pass": {"tokens": ["."]}}, ["tokens"])  # no salt needed
    assert policy.filter_for("tokens")(token, False) == token


# --- the salt -------------------------------------------------------------------------------------


def test_missing_salt_stops_before_extracting_when_needed() -> None:
    with pytest.raises(OCPIError, match="privacy_salt is not set, but tokens pseudonymises uid"):
        ocpi({}, ["sessions", "tokens"])
    with pytest.raises(OCPIError, match="privacy_salt is not set, but cdrs pseudonymises"):
        ocpi({"privacy_hash": {"cdrs": ["cdr_token.uid"]}}, ["cdrs"])


def test_no_salt_needed_without_hashing() -> None:
    policy = ocpi({}, ["locations", "sessions", "cdrs"])
    assert not policy.needs_salt(["locations", "sessions", "cdrs"])
    assert policy.needs_salt(["tokens"])
    policy.filter_for("sessions")  # fine
    with pytest.raises(OCPIError, match="privacy_salt"):
        policy.filter_for("tokens")  # the check also guards a stream compiled later


@pytest.mark.parametrize(
    ("salt", "shown"), [("tiny-salt-9", "too short"), (12345678901234567, "must be a string")]
)
def test_bad_salt(salt: Any, shown: str) -> None:
    with pytest.raises(OCPIError, match=shown) as caught:
        ocpi({"privacy_salt": salt})
    assert str(salt) not in str(caught.value)


def test_blank_salt_counts_as_missing() -> None:
    with pytest.raises(OCPIError, match="not set"):
        ocpi({"privacy_salt": "   "}, ["tokens"])


# --- place context --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "private"),
    [
        ({"publish": True}, False),
        ({"publish": True, "parking_type": "ON_STREET"}, False),
        ({}, True),  # 2.1.1: no flag, and home chargers are served like any other
        ({"publish": None, "parking_type": "ON_STREET"}, True),
        ({"publish": False}, True),
        ({"publish": "false"}, True),  # a flag we cannot read is not "published"
        ({"publish": True, "parking_type": "ON_DRIVEWAY"}, True),
        ({"publish": True, "parking_type": "on_driveway"}, True),
    ],
)
def test_location_context(record: dict[str, Any], private: bool) -> None:
    assert is_private("locations", record) is private


@pytest.mark.parametrize(
    ("flag", "private"), [(True, True), (None, True), ("missing", True), (False, False)]
)
def test_cdr_context(flag: Any, private: bool) -> None:
    record = {} if flag == "missing" else {"home_charging_compensation": flag}
    assert is_private("cdrs", record) is private


def test_children_alone_are_private_and_other_streams_have_no_context() -> None:
    assert is_private("evses", {"uid": "1"})
    assert is_private("connectors", {"id": "1"})
    assert not is_private("sessions", {"id": "1"})
    assert not is_private("tariffs", {"id": "1"})
    assert is_private("locations", None)  # type: ignore[arg-type]


def test_home_charge_point_location_blanks_its_address() -> None:
    location = example("2.2.1/location_example_uc5_home_charge_point.json")
    location.pop("evses")
    private = is_private("locations", location)
    out = ocpi().filter_for("locations")(location, private)
    assert private
    for field in ("address", "city", "postal_code", "coordinates", "publish_allowed_to"):
        assert out[field] is None, field
    assert out["country"] == "DEU"
    assert out["parking_type"] == "ON_DRIVEWAY"


def test_public_place_fields_inside_safe_subtrees_blank_for_private_places() -> None:
    location = {
        "id": "L",
        "energy_mix": {"is_green_energy": True, "supplier_name": "Household Energy Ltd"},
        "parking_places": [{"id": "P1", "roofed": True, "images": [{"url": "driveway.jpg"}]}],
    }
    locations = ocpi().filter_for("locations")
    assert locations(location, False) == location
    assert locations(location, True) == {
        "id": "L",
        "energy_mix": {"is_green_energy": True, "supplier_name": None},
        "parking_places": [{"id": "P1", "roofed": True, "images": None}],
    }


def test_published_location_keeps_its_address_but_not_publish_allowed_to() -> None:
    location = example("2.2.1/location_example.json")
    location.pop("evses")
    location["publish_allowed_to"] = [{"visual_number": "123", "issuer": "X"}]
    out = ocpi().filter_for("locations")(location, is_private("locations", location))
    for field in ("name", "address", "city", "postal_code", "coordinates", "operator"):
        assert out[field] == location[field], field
    assert out["publish_allowed_to"] is None


def test_evse_inherits_the_flag_given_by_the_stream_layer() -> None:
    evse = {
        "country_code": "DE",
        "party_id": "ALL",
        "location_id": "L1",
        "uid": "E1",
        "evse_id": "DE*ALL*E1",
        "status": "CHARGING",
        "coordinates": {"latitude": "50.9", "longitude": "6.9"},
        "capabilities": ["RFID_READER"],
        "last_updated": "2019-04-05T17:17:56Z",
    }
    evses = ocpi().filter_for("evses")
    public, private = evses(evse, False), evses(evse, True)
    assert public == evse
    assert private["status"] is None
    assert private["coordinates"] is None
    assert private["evse_id"] is None
    assert private["capabilities"] == ["RFID_READER"]
    assert private["uid"] == "E1"


@pytest.mark.parametrize("flag", [True, None, "missing"])
def test_home_or_unknown_cdr_blanks_cdr_location(flag: Any) -> None:
    cdr = example("2.2.1/cdr_example.json")
    if flag != "missing":
        cdr["home_charging_compensation"] = flag
    out = ocpi().filter_for("cdrs")(cdr, is_private("cdrs", cdr))
    where = out["cdr_location"]
    for field in ("id", "name", "address", "city", "postal_code", "coordinates", "evse_id"):
        assert where[field] is None, field
    assert where["country"] == "BEL"
    assert where["connector_standard"] == "IEC_62196_T2"


def test_public_cdr_keeps_cdr_location_but_not_the_driver() -> None:
    cdr = dict(example("2.2.1/cdr_example.json"), home_charging_compensation=False)
    out = ocpi().filter_for("cdrs")(cdr, is_private("cdrs", cdr))
    assert out["cdr_location"] == cdr["cdr_location"]
    assert out["cdr_token"] == {
        "country_code": "DE",
        "party_id": "TNM",
        "uid": None,
        "type": "RFID",
        "contract_id": None,
    }
    for field in ("start_date_time", "end_date_time", "charging_periods", "total_energy"):
        assert out[field] is None, field
    assert out["total_cost"] == cdr["total_cost"]
    assert out["tariffs"] == cdr["tariffs"]


# --- the OCPI defaults on spec examples -------------------------------------------------------


def test_session_defaults_on_the_spec_example() -> None:
    session = example("2.2.1/session_example_2_short_finished.json")
    out = ocpi().filter_for("sessions")(session, False)
    assert list(out) == list(session)
    passed = {k for k, v in out.items() if v is not None}
    assert passed == {
        "country_code",
        "party_id",
        "id",
        "cdr_token",
        "auth_method",
        "currency",
        "total_cost",
        "status",
        "last_updated",
    }
    assert out["cdr_token"]["uid"] is None
    assert out["cdr_token"]["contract_id"] is None


@pytest.mark.parametrize("version", ["2.2.1", "2.3.0"])
@needs_examples
def test_tariffs_pass_whole(version: str) -> None:
    tariffs = ocpi().filter_for("tariffs")
    for path in sorted((EXAMPLES / version).glob("tariff_*.json")):
        tariff = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(tariff, dict) and "elements" in tariff:
            assert tariffs(tariff, False) == tariff, path.name


def test_hubclientinfo_passes_whole() -> None:
    info = {
        "country_code": "NL",
        "party_id": "ABC",
        "role": "CPO",
        "status": "CONNECTED",
        "last_updated": "2024-01-01T00:00:00Z",
    }
    assert ocpi().filter_for("hubclientinfo")(info, False) == info


def test_2_1_1_shapes() -> None:
    # A 2.1.1 number where 2.2.1 has a Price: a scalar in a fully passed object passes.
    session = {"country_code": "NL", "party_id": "X", "id": "1", "total_cost": 4.0, "kwh": 3}
    out = ocpi().filter_for("sessions")(session, False)
    assert out == {"country_code": "NL", "party_id": "X", "id": "1", "total_cost": 4.0, "kwh": None}
    # A partly personal object given as a scalar is blanked, not passed.
    assert ocpi().filter_for("sessions")({"cdr_token": "012345678"}, False) == {"cdr_token": None}


def test_2_3_0_shapes_and_future_fields() -> None:
    session = {
        "id": "1",
        "total_cost": {"before_taxes": 4.0, "taxes": [{"name": "VAT", "amount": 0.8}]},
        "x_future_field": "driver@example.com",
        "cdr_token": {"uid": "A", "type": "EMAID", "x_future_token_field": "B"},
    }
    out = ocpi().filter_for("sessions")(session, False)
    assert out["total_cost"] == session["total_cost"]
    assert out["x_future_field"] is None
    assert out["cdr_token"] == {"uid": None, "type": "EMAID", "x_future_token_field": None}


def test_nulls_and_odd_shapes_never_crash_or_drop() -> None:
    cdrs = ocpi().filter_for("cdrs")
    odd = {
        "id": "1",
        "cdr_token": None,
        "cdr_location": [{"country": "BEL", "address": "Street 1"}],  # a list for an object
        "charging_periods": {"start_date_time": "x"},  # an object for a list
        "tariffs": [None, {"id": "T", "elements": None}, "junk"],
        "signed_data": {"signed_values": None},
        "total_cost": [],
        "remark": ["free", "text"],
    }
    out = cdrs(odd, True)
    assert list(out) == list(odd)
    assert out["cdr_token"] is None
    assert out["cdr_location"] == [{"country": "BEL", "address": None}]
    assert out["charging_periods"] is None
    assert out["tariffs"] == [None, {"id": "T", "elements": None}, "junk"]
    assert out["signed_data"] is None
    assert out["total_cost"] == []
    assert out["remark"] is None


def test_a_record_that_cannot_be_filtered_is_emitted_blank_and_logged_without_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    deep: Any = "driver-secret"
    for _ in range(100_000):  # far deeper than any rule can walk
        deep = [deep]
    record = {"uid": "card-123", "country_code": "NL", "party_id": "X", "type": "RFID"}
    record["valid"] = deep  # a safe field, so the rule walks into it
    with caplog.at_level(logging.WARNING, logger="tap_ocpi.privacy"):
        out = ocpi().filter_for("tokens")(record, False)
    assert out["uid"] == pseudonym("card-123")
    assert out["country_code"] == "NL"
    assert out["valid"] is None
    assert "tokens" in caplog.text
    assert "card-123" not in caplog.text
    assert "driver-secret" not in caplog.text


# --- the tables ---------------------------------------------------------------------------------


def test_every_stream_has_a_safe_list_with_one_line_reasons() -> None:
    assert set(SAFE_FIELDS) == set(STREAM_SCHEMAS)
    for table in (SAFE_FIELDS, PUBLIC_PLACE_FIELDS, DEFAULT_HASH_FIELDS):
        for stream, fields in table.items():
            for path, why in fields.items():
                assert why.strip(), (stream, path)
                assert "\n" not in why, (stream, path)
                assert "|" not in why, (stream, path)


def test_every_built_in_path_names_a_schema_field() -> None:
    for table in (SAFE_FIELDS, PUBLIC_PLACE_FIELDS, DEFAULT_HASH_FIELDS):
        for stream, fields in table.items():
            config = {"privacy_pass": {stream: list(fields)}, "privacy_salt": SALT}
            ocpi(config)  # raises OCPIError for a path the schema does not have


def test_keys_and_replication_key_are_never_blanked() -> None:
    policy = ocpi()
    for stream, keys in PRIMARY_KEYS.items():
        record = {field: f"v-{field}" for field in (*keys, REPLICATION_KEY)}
        for private in (False, True):
            out = policy.filter_for(stream)(record, private)
            for field in record:
                assert out[field] is not None, (stream, field, private)


def test_safe_and_public_lists_never_overlap() -> None:
    for stream, fields in PUBLIC_PLACE_FIELDS.items():
        assert not set(fields) & set(SAFE_FIELDS[stream]), stream


def test_behavioural_fields_are_not_safe() -> None:
    for stream in ("sessions", "cdrs"):
        safe = set(SAFE_FIELDS[stream]) | set(PUBLIC_PLACE_FIELDS.get(stream, {}))
        for field in (
            "start_date_time",
            "end_date_time",
            "kwh",
            "total_energy",
            "total_time",
            "total_parking_time",
            "charging_periods",
            "meter_id",
            "authorization_reference",
            "cdr_token.uid",
            "cdr_token.contract_id",
            "signed_data",
        ):
            assert field not in safe, (stream, field)


def test_markdown_tables() -> None:
    text = safe_fields_markdown()
    assert "#### `tokens`" in text
    assert "| `uid` | pseudonymised |" in text
    assert "passed for public places" in text
    with_schemas = safe_fields_markdown(STREAM_SCHEMAS)
    assert "Always null: `publish_allowed_to`, and every field" in with_schemas
    assert "`kwh`" in with_schemas


def test_describe_is_one_line_without_values() -> None:
    line = ocpi().describe("tokens")
    assert "\n" not in line
    assert "pseudonymised: uid" in line


def test_schema_for_types_pseudonyms_as_strings() -> None:
    config = {"privacy_hash": {"sessions": ["kwh", "start_date_time"]}, "privacy_salt": SALT}
    policy = ocpi(config)
    schema = policy.schema_for("sessions", STREAM_SCHEMAS["sessions"])
    assert schema["properties"]["kwh"]["type"] == ["string", "null"]
    assert "format" not in schema["properties"]["start_date_time"]
    assert schema["properties"]["id"] == STREAM_SCHEMAS["sessions"]["properties"]["id"]
    tokens = policy.schema_for("tokens", STREAM_SCHEMAS["tokens"])
    assert tokens["properties"]["uid"]["type"] == "string"


def test_generic_schema_features() -> None:
    schema = {
        "type": "object",
        "$defs": {"Point": obj(lat=TEXT, lon=TEXT)},
        "properties": {
            "id": {"type": "string"},
            "where": {"$ref": "#/$defs/Point"},
            "either": {"anyOf": [obj(a=TEXT), obj(b=TEXT), {"type": "null"}]},
        },
    }
    policy = PrivacyPolicy.from_config(
        {"privacy_pass": {"geo": ["where.lat", "either.b"]}},
        {"geo": schema},
        safe={"geo": {"id": "key"}},
    )
    record = {"id": "1", "where": {"lat": "1", "lon": "2"}, "either": {"a": "x", "b": "y"}}
    assert policy.filter_for("geo")(record, False) == {
        "id": "1",
        "where": {"lat": "1", "lon": None},
        "either": {"a": None, "b": "y"},
    }


# --- end to end: every version's spec examples, normalized, then filtered ------------------------

PERSONAL = {  # paths whose values must never appear in the default output
    "sessions": ("cdr_token.uid", "cdr_token.contract_id", "meter_id", "authorization_reference"),
    "cdrs": ("cdr_token.uid", "cdr_token.contract_id", "meter_id", "remark", "signed_data"),
    "tokens": ("uid", "contract_id", "visual_number", "group_id", "energy_contract"),
    "locations": ("publish_allowed_to",),
}
FILES = {
    "sessions": r"mod_sessions_0[23]_.*|session_example_\d_.*",
    "cdrs": r"mod_cdrs_\d+_example_of_a_cdr|cdr_example",
    "locations": r"mod_locations_06_example|location_example.*",
    "tariffs": r"mod_tariffs_0[3-7]_.*|tariff_\d+_.*",
    "tokens": r"mod_tokens_0[13]_.*|token_example_\d_.*",
}


def _values(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _values(item)]
    if isinstance(value, list):
        return [text for item in value for text in _values(item)]
    return [value] if isinstance(value, str) and len(value) >= 4 else []


def _at(record: Any, path: str) -> list[Any]:
    found = [record]
    for part in path.split("."):
        found = [i for f in found for i in (f if isinstance(f, list) else [f])]
        found = [f.get(part) for f in found if isinstance(f, dict)]
    return found


def _normalized_examples() -> list[tuple[str, str, dict[str, Any]]]:
    import re  # noqa: PLC0415

    from tap_ocpi.errors import BadRecord  # noqa: PLC0415
    from tap_ocpi.normalize import normalizer  # noqa: PLC0415

    cases = []
    for version in ("2.1.1", "2.2.1", "2.3.0"):
        for stream, pattern in FILES.items():
            normalize = normalizer(stream, version, ("BE", "BEC"))
            for path in sorted((EXAMPLES / version).glob("*.json")):
                if re.fullmatch(pattern, path.stem):
                    data = json.loads(path.read_text(encoding="utf-8"))
                    try:
                        cases.append((f"{version}/{path.name}", stream, normalize(data)))
                    except BadRecord:
                        continue  # not a full object; test_normalize covers these
    return cases


@needs_examples
def test_spec_examples_of_every_version_leak_nothing_personal() -> None:
    from tap_ocpi.normalize import split_location  # noqa: PLC0415

    policy = ocpi()
    cases = _normalized_examples()
    assert len(cases) > 40
    for name, stream, record in cases:
        records = [(stream, record, is_private(stream, record))]
        if stream == "locations":
            location, evses, connectors = split_location(record)
            flag = is_private("locations", location)
            records = [("locations", location, flag)]
            records += [("evses", evse, flag) for evse in evses]
            records += [("connectors", connector, flag) for connector in connectors]
        for which, item, private in records:
            out = policy.filter_for(which)(item, private)
            assert list(out) == list(item), name
            secrets = {v for p in PERSONAL.get(which, ()) for v in _values(_at(item, p))}
            assert not secrets & set(_values(out)), (name, which)
            if private and which == "locations":
                assert out.get("address") is None, name
