"""Settings: defaults set once, ranges, value-free validation errors, token and state checks."""

from __future__ import annotations

import inspect
import logging
from datetime import datetime, timezone
from typing import Any

import pytest
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.plugin_base import PluginBase

from tap_ocpi.auth import token_problem
from tap_ocpi.errors import OCPIError
from tap_ocpi.privacy import PrivacyPolicy
from tap_ocpi.schemas import STREAM_SCHEMAS
from tap_ocpi.settings import DEFAULTS, SECRETS, SETTINGS_SCHEMA, Settings, invalid_settings
from tap_ocpi.tap import TapOCPI, _ReportedElsewhere, check_state

URL = "http://127.0.0.1:9/ocpi/versions"
SECRET = "987654321987654321"
END = "2026-01-01T00:00:00Z"


def settings(**config: Any) -> Settings:
    return Settings.from_config({"versions_url": URL, **config})


def refused(**config: Any) -> str:
    with pytest.raises(OCPIError) as caught:
        settings(**config)
    return str(caught.value)


# -- defaults ----------------------------------------------------------------------------------


def test_defaults_are_the_schemas_and_apply_when_a_setting_is_absent_or_null() -> None:
    properties = SETTINGS_SCHEMA["properties"]
    for name, value in DEFAULTS.items():
        assert properties[name]["default"] == value, name
    nullable = [name for name in DEFAULTS if name != "token_encoding"]  # an enum: no null
    absent, null = settings(), settings(**dict.fromkeys(nullable))
    for name, value in DEFAULTS.items():
        assert getattr(absent, name) == value, name
        assert getattr(null, name) == value, name
    # the contradiction this replaced: lookback_minutes read as `or 0` against a default of 15
    assert absent.lookback_minutes == 15
    assert settings(lookback_minutes=0).lookback_minutes == 0


def test_settings_are_frozen_and_typed() -> None:
    s = settings(
        token="abc",
        start_date="2024-01-01",
        page_size=50,
        max_requests_per_second=2,
        to_country_code="DE",
        to_party_id="ABC",
    )
    assert s.start_date == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert (s.page_size, s.max_requests_per_second, s.token) == (50, 2.0, "abc")
    with pytest.raises(AttributeError):
        s.page_size = 1  # type: ignore[misc]


def test_every_schema_setting_is_a_settings_field() -> None:
    fields = set(Settings.__dataclass_fields__)
    assert set(SETTINGS_SCHEMA["properties"]) <= fields


# -- ranges and rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("page_size", -1, "page_size: must be at least 1"),
        ("page_size", 0, "page_size: must be at least 1"),
        ("request_timeout", -1, "request_timeout: must be at least 1"),
        ("lookback_minutes", -5, "lookback_minutes: must be at least 0"),
        ("max_retries", -1, "max_retries: must be at least 0"),
        ("retry_max_wait", -1, "retry_max_wait: must be at least 0"),
        ("max_requests_per_second", -0.5, "max_requests_per_second: must be at least 0"),
        ("page_size", "ten", "page_size: must be a whole number"),
        ("token_encoding", "rot13", "token_encoding: must be one of auto, base64, plain"),
        ("skip_bad_records", "yes", "skip_bad_records: must be true or false"),
    ],
)
def test_out_of_range_settings_name_the_setting(setting: str, value: Any, expected: str) -> None:
    assert refused(**{setting: value}) == f"invalid settings: {expected}"


def test_dates_and_urls_are_checked_and_end_must_follow_start() -> None:
    assert refused(start_date="garbage").startswith("start_date: must be a date-time")
    assert refused(end_date=" " * 100_000).startswith("end_date: must be a date-time")
    for end in ("2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z"):  # before, and equal
        message = refused(start_date="2024-01-01T00:00:00Z", end_date=end)
        assert message == "end_date must be later than start_date (nothing would be read)"
    assert refused(versions_url="ftp://x/versions").startswith("versions_url: must be an http")
    with pytest.raises(OCPIError, match=r"^invalid settings: versions_url is required$"):
        Settings.from_config({})


def test_privacy_paths_accept_a_list_or_a_comma_separated_string() -> None:
    s = settings(privacy_pass={"sessions": "kwh,start_date_time"}, privacy_hash={"cdrs": ["id"]})
    assert s.privacy_pass == {"sessions": ("kwh", "start_date_time")}
    assert s.privacy_hash == {"cdrs": ("id",)}
    session = {"id": "s1", "kwh": 7.5, "start_date_time": "2025-01-01T00:00:00Z"}
    default = PrivacyPolicy.from_config({}, STREAM_SCHEMAS).filter_for("sessions")
    passing = PrivacyPolicy.from_config(s.privacy, STREAM_SCHEMAS).filter_for("sessions")
    assert default(dict(session), False)["kwh"] is None
    assert passing(dict(session), False)["kwh"] == 7.5  # privacy reads the split form
    assert refused(privacy_pass={"sessions": 5}) == (
        "invalid settings: privacy_pass.sessions: must be a list or a string"
    )


# -- secrets never shown -----------------------------------------------------------------------


@pytest.mark.parametrize("secret", sorted(SECRETS))
@pytest.mark.parametrize(
    "value", [int(SECRET), float(SECRET), [SECRET], {"v": SECRET}, True], ids=type
)
def test_a_secret_of_the_wrong_type_is_named_never_shown(secret: str, value: Any) -> None:
    message = refused(**{secret: value})
    assert message.startswith(f"invalid settings: {secret}: must be a string"), message
    assert SECRET not in message
    assert "True" not in message


def test_no_validation_message_shows_a_value() -> None:
    """Every kind of schema error, for every setting: the text never holds the value."""
    marker = "VALUE-7f3a"
    for name in SETTINGS_SCHEMA["properties"]:
        for value in (marker, [marker], {"x": marker}, {"x": [marker]}, [{"x": marker}], 1e300):
            for problem in invalid_settings({"versions_url": URL, name: value}, SETTINGS_SCHEMA):
                assert marker not in problem, (name, problem)
                assert "1e+300" not in problem, (name, problem)


def test_the_sdk_validation_hook_gives_one_value_free_line() -> None:
    """`_validate_config` (sdk.py) turns the SDK's ConfigValidationError, whose messages
    quote values, into one OCPIError; its built-in settings are validated too."""
    assert list(inspect.signature(PluginBase._validate_config).parameters) == [
        "self",
        "raise_errors",
    ]
    with pytest.raises(OCPIError) as caught:
        TapOCPI(config={"versions_url": URL, "token": int(SECRET), "batch_config": "x"})
    message = str(caught.value)
    assert message.startswith("invalid settings: ")
    assert "token: must be a string" in message
    assert "batch_config: must be an object" in message
    assert SECRET not in message


# -- the token -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "mode", "problem"),
    [
        ("abc\n", "auto", "whitespace or a line break"),
        (" abc", "plain", "whitespace or a line break"),
        ("ab\tc", "base64", "control character"),
        ("ab\x00c", "auto", "control character"),
        ("ab\u0085c", "auto", "control character"),  # NEL, a C1 control
        ("abc\U0001f600", "auto", "cannot be sent in an HTTP header"),
        ("abc\U0001f600", "plain", "cannot be sent in an HTTP header"),
    ],
)
def test_token_problems_say_which_never_the_token(token: str, mode: str, problem: str) -> None:
    said = token_problem(token, mode)
    assert said is not None
    assert problem in said
    assert token.strip() not in said
    message = refused(token=token, token_encoding=mode)
    assert message.startswith("token: ")
    assert token.strip() not in message


def test_tokens_that_can_be_sent_pass() -> None:
    for token, mode in (("abc-123", "auto"), ("äbc", "plain"), ("abc\U0001f600", "base64")):
        assert token_problem(token, mode) is None
        assert settings(token=token, token_encoding=mode).token == token
    assert settings(token="").token is None  # empty: open data, no header


# -- the state -------------------------------------------------------------------------------


def bookmark(value: Any) -> dict[str, Any]:
    return {"replication_key": "last_updated", "replication_key_value": value}


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ([], "state: must be a JSON object"),
        ({"bookmarks": "x"}, "state: `bookmarks` must be an object"),
        ({"bookmarks": {"sessions": "x"}}, "state: the bookmark of sessions is not an object"),
        ({"bookmarks": {"x": {"partitions": 3}}}, "state: the bookmark of x is not an object"),
        ({"bookmarks": {"sessions": bookmark("garbage")}}, "sessions is not a date-time"),
        ({"bookmarks": {"sessions": bookmark(17)}}, "sessions is not a date-time"),
        ({"bookmarks": {"sessions": bookmark("9" * 10_000)}}, "sessions is not a date-time"),
        (
            {"bookmarks": {"sessions": bookmark("2999-01-01T00:00:00Z")}},
            "state: the bookmark of sessions (2999-01-01T00:00:00Z) is later than this run's "
            "end (2026-01-01T00:00:00Z)",
        ),
        (
            {"bookmarks": {"evses": {"partitions": [bookmark("2026-01-01T00:00:01Z")]}}},
            "the bookmark of evses (2026-01-01T00:00:01Z) is later",
        ),
    ],
)
def test_a_state_the_tap_cannot_resume_from_is_refused(state: Any, expected: str) -> None:
    with pytest.raises(OCPIError) as caught:
        check_state(state, END, STREAM_SCHEMAS)
    assert str(caught.value).startswith(expected) or expected in str(caught.value)


def test_a_state_the_tap_wrote_is_accepted() -> None:
    check_state({}, END, STREAM_SCHEMAS)
    check_state({"bookmarks": {}}, END, STREAM_SCHEMAS)
    check_state({"bookmarks": {"sessions": bookmark(END)}}, END, STREAM_SCHEMAS)  # at the end
    check_state({"bookmarks": {"sessions": bookmark(None)}}, END, STREAM_SCHEMAS)
    # a stream this tap does not have: its value is none of our business
    check_state({"bookmarks": {"retired": bookmark("garbage")}}, END, STREAM_SCHEMAS)


# -- what the tap relies on in the SDK -------------------------------------------------------


def test_sdk_still_logs_the_unhandled_error_line_the_tap_filters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """tap.py drops the SDK's "An unhandled error occurred while syncing" line for failures
    it reports itself and for --test's stops; if the SDK rewords it, this fails loudly."""

    class Failing(Stream):
        name = "failing"
        schema = th.PropertiesList(th.Property("id", th.StringType())).to_dict()

        def get_records(self, context: Any) -> Any:
            raise OCPIError("boom")

    class Probe(Tap):
        name = "probe"
        config_jsonschema = th.PropertiesList().to_dict()

        def discover_streams(self) -> list[Stream]:
            return [Failing(self)]

    stream = Probe(config={}).streams["failing"]
    with caplog.at_level(logging.ERROR), pytest.raises(OCPIError):
        stream.sync()
    lines = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in lines] == [_ReportedElsewhere.MESSAGE % "failing"]
    assert all(r.getMessage().startswith(_ReportedElsewhere.PREFIX) for r in lines)
