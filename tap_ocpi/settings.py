"""The tap's settings: their JSON schema, and one typed, frozen `Settings` built once per run.

Every module reads `Settings`, never the config dict: defaults are set here once (the schema
shows the same values), ranges and cross-setting rules are checked here, before the first
request, and every error names the setting and never its value (a token or a salt in the
wrong place would otherwise end up in a log).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from jsonschema.exceptions import ValidationError
from singer_sdk import typing as th
from singer_sdk.plugin_base import JSONSchemaValidator  # the SDK's own config validator

from tap_ocpi.auth import token_problem
from tap_ocpi.errors import OCPIError
from tap_ocpi.timestamps import parse_timestamp

#: The one place defaults live: the schema shows them, `Settings.from_config` applies them.
DEFAULTS: dict[str, Any] = {
    "token_encoding": "auto",
    "page_size": 1000,
    "lookback_minutes": 15,
    "request_timeout": 60,
    "max_response_mb": 256,
    "max_retries": 5,
    "retry_max_wait": 60,
    "max_requests_per_second": 0,
    "skip_bad_records": False,
}
#: Settings whose values are never shown, in any message.
SECRETS = frozenset({"token", "privacy_salt"})
#: Longer texts are no date-time; they are refused before any parsing.
_MAX_DATE_TEXT = 64

# privacy_pass / privacy_hash: stream → a list of field paths, or one comma-separated string
# (as ocpi-tool's --privacy-pass is typed, and as the README shows).
_PATHS = th.ObjectType(
    additional_properties=th.AnyOf(th.ArrayType(th.StringType()), th.StringType())
)


def _default(name: str) -> Any:
    return DEFAULTS[name]


SETTINGS_SCHEMA: dict[str, Any] = th.PropertiesList(
    th.Property(
        "versions_url",
        th.URIType(),
        required=True,
        title="Versions URL",
        description="The platform's OCPI versions endpoint (a version-details URL works too).",
    ),
    th.Property(
        "token",
        th.StringType(),
        secret=True,
        title="Credentials token",
        description="The OCPI credentials token as issued (not encoded). Leave empty for "
        "open-data endpoints: then no Authorization header is sent.",
    ),
    th.Property(
        "token_encoding",
        th.StringType(),
        default=_default("token_encoding"),
        allowed_values=["auto", "base64", "plain"],
        description="How the token goes into `Authorization: Token …`. auto: plain for 2.1.1, "
        "Base64 for 2.2+, and on rejection the other form once, kept for the whole run.",
    ),
    th.Property(
        "ocpi_version",
        th.StringType(),
        allowed_values=["2.1.1", "2.2", "2.2.1", "2.3.0"],
        description="Pin an OCPI version. Default: the highest both sides support.",
    ),
    th.Property(
        "from_country_code",
        th.StringType(),
        description="Our country code (OCPI-from-country-code header, 2.2+ functional modules).",
    ),
    th.Property(
        "from_party_id", th.StringType(), description="Our party id (OCPI-from-party-id header)."
    ),
    th.Property(
        "to_country_code",
        th.StringType(),
        description="Country code of the addressed "
        "party (OCPI-to-country-code; hubs). For 2.1.1 also the owner of the objects.",
    ),
    th.Property(
        "to_party_id",
        th.StringType(),
        description="Party id of the addressed party "
        "(OCPI-to-party-id; hubs). For 2.1.1 also the owner of the objects.",
    ),
    th.Property(
        "start_date",
        th.DateTimeType(),
        description="Earliest `last_updated` to extract. Saved state wins when it is later.",
    ),
    th.Property(
        "end_date",
        th.DateTimeType(),
        description="Optional upper bound (exclusive) "
        "on `last_updated`; default: the run's start time.",
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1),
        default=_default("page_size"),
        description="`limit` sent on the "
        "first request of each list (servers may cap it; X-Limit is respected).",
    ),
    th.Property(
        "lookback_minutes",
        th.IntegerType(minimum=0),
        default=_default("lookback_minutes"),
        description="How far before "
        "the bookmark the next run starts, for late or clock-skewed updates.",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1),
        default=_default("request_timeout"),
        description="Seconds for a whole request: connecting, headers and body.",
    ),
    th.Property(
        "max_response_mb",
        th.IntegerType(minimum=1),
        default=_default("max_response_mb"),
        description="Cap in MB on one response, on the wire and after decompression.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0),
        default=_default("max_retries"),
        description="Tries per request "
        "for 5xx, 429, timeouts, dropped connections and invalid JSON.",
    ),
    th.Property(
        "retry_max_wait",
        th.IntegerType(minimum=0),
        default=_default("retry_max_wait"),
        description="Cap in seconds on one wait between tries (also caps Retry-After).",
    ),
    th.Property(
        "max_requests_per_second",
        th.NumberType(minimum=0),
        default=_default("max_requests_per_second"),
        description="Throttle for all requests of a run; 0 means unlimited.",
    ),
    th.Property(
        "skip_bad_records",
        th.BooleanType(),
        default=_default("skip_bad_records"),
        description="Accept objects that cannot be read: finish with exit status 0 and "
        "move the bookmark (they are still reported by stream and key). Otherwise their "
        "stream keeps its bookmark and the run exits 1.",
    ),
    th.Property(
        "ca_bundle",
        th.StringType(),
        description="Path to a CA bundle for platforms "
        "with a private certificate authority. Certificates are always verified.",
    ),
    th.Property(
        "privacy_pass",
        _PATHS,
        description="Allow-list: stream name → field paths "
        "(dotted, arrays ignored) to pass unblanked; `.` passes the whole record.",
    ),
    th.Property(
        "privacy_hash",
        _PATHS,
        description="Stream name → field paths to pseudonymise "
        "with HMAC-SHA256 instead of blanking.",
    ),
    th.Property(
        "privacy_salt",
        th.StringType(),
        secret=True,
        description="Key for "
        "pseudonymisation; needed when any field is hashed (tokens.uid is by default).",
    ),
).to_dict()

PathSetting = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class Settings:
    """Every setting the tap reads, typed, defaults applied, checked. Build with `from_config`."""

    versions_url: str
    token: str | None = None
    token_encoding: str = _default("token_encoding")
    ocpi_version: str | None = None
    from_country_code: str | None = None
    from_party_id: str | None = None
    to_country_code: str | None = None
    to_party_id: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    page_size: int = _default("page_size")
    lookback_minutes: int = _default("lookback_minutes")
    request_timeout: int = _default("request_timeout")
    max_response_mb: int = _default("max_response_mb")
    max_retries: int = _default("max_retries")
    retry_max_wait: float = _default("retry_max_wait")
    max_requests_per_second: float = _default("max_requests_per_second")
    skip_bad_records: bool = _default("skip_bad_records")
    ca_bundle: str | None = None
    privacy_pass: PathSetting = field(default_factory=dict)
    privacy_hash: PathSetting = field(default_factory=dict)
    privacy_salt: str | None = None
    # The SDK's own settings that the tap's output depends on.
    flattening_enabled: bool = False
    flattening_max_depth: int = 1

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """Read a config that passed the schema (the SDK validated it); raises `OCPIError`
        naming the setting for what the schema cannot say."""
        problems = list(invalid_settings(config, SETTINGS_SCHEMA))
        if problems:
            raise OCPIError(f"invalid settings: {'; '.join(problems)}")

        def value(name: str) -> Any:
            got = config.get(name)
            return DEFAULTS.get(name) if got is None else got

        def text(name: str) -> str | None:
            got = config.get(name)
            return str(got) if got not in (None, "") else None

        settings = cls(
            versions_url=_versions_url(str(config["versions_url"])),
            token=_token(config.get("token"), str(value("token_encoding"))),
            token_encoding=str(value("token_encoding")),
            ocpi_version=text("ocpi_version"),
            from_country_code=text("from_country_code"),
            from_party_id=text("from_party_id"),
            to_country_code=text("to_country_code"),
            to_party_id=text("to_party_id"),
            start_date=_date(config.get("start_date"), "start_date"),
            end_date=_date(config.get("end_date"), "end_date"),
            page_size=int(value("page_size")),
            lookback_minutes=int(value("lookback_minutes")),
            request_timeout=int(value("request_timeout")),
            max_response_mb=int(value("max_response_mb")),
            max_retries=int(value("max_retries")),
            retry_max_wait=float(value("retry_max_wait")),
            max_requests_per_second=float(value("max_requests_per_second")),
            skip_bad_records=bool(value("skip_bad_records")),
            ca_bundle=_ca_bundle(text("ca_bundle")),
            privacy_pass=_paths(config.get("privacy_pass")),
            privacy_hash=_paths(config.get("privacy_hash")),
            privacy_salt=config.get("privacy_salt"),
            flattening_enabled=bool(config.get("flattening_enabled")),
            flattening_max_depth=int(config.get("flattening_max_depth") or 1),
        )
        if settings.start_date and settings.end_date and settings.end_date <= settings.start_date:
            raise OCPIError("end_date must be later than start_date (nothing would be read)")
        return settings

    @property
    def privacy(self) -> dict[str, Any]:
        """The privacy settings in the form `PrivacyPolicy.from_config` reads."""
        return privacy_settings(
            {
                "privacy_pass": self.privacy_pass,
                "privacy_hash": self.privacy_hash,
                "privacy_salt": self.privacy_salt,
            }
        )


def privacy_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """privacy_pass, privacy_hash and privacy_salt in the form `PrivacyPolicy.from_config`
    reads, from a config that may not be validated (discovery: privacy decides the schemas,
    and checks these settings itself, naming them)."""
    return {
        "privacy_pass": _paths(config.get("privacy_pass")),
        "privacy_hash": _paths(config.get("privacy_hash")),
        "privacy_salt": config.get("privacy_salt"),
    }


# -- validation messages without values ------------------------------------------------------


def invalid_settings(config: Mapping[str, Any], schema: Mapping[str, Any]) -> Iterable[str]:
    """What is wrong with `config` against `schema`, one text per problem, each naming the
    setting and saying what is expected, never what was given (no value is ever shown: a
    secret in the wrong setting would otherwise be printed)."""
    validator = JSONSchemaValidator(schema)
    seen = set()
    for error in sorted(validator.iter_errors(dict(config)), key=lambda e: list(e.path)):
        text = _describe(error)
        if text not in seen:
            seen.add(text)
            yield text


def _describe(error: ValidationError) -> str:
    where = ".".join(str(part) for part in error.absolute_path) or "the config"
    kind, expected = error.validator, error.validator_value
    if kind == "required":
        missing = [name for name in expected if name not in (error.instance or {})]
        return f"{', '.join(missing) or 'a setting'} is required"
    if kind == "type":
        return f"{where}: must be {_types(expected)}"
    if kind == "enum":
        return f"{where}: must be one of {', '.join(str(v) for v in expected if v is not None)}"
    if kind == "minimum":
        return f"{where}: must be at least {expected}"
    if kind == "exclusiveMinimum":
        return f"{where}: must be more than {expected}"
    if kind == "maximum":
        return f"{where}: must be at most {expected}"
    if kind == "format":
        return f"{where}: must be a {expected}"
    if kind in ("anyOf", "oneOf"):
        if all("type" in sub for sub in expected):
            return f"{where}: must be {' or '.join(_types(sub['type']) for sub in expected)}"
        return f"{where}: has a type or form the setting does not take"
    if kind == "additionalProperties":
        return f"{where}: has a setting that is not known"
    return f"{where}: is not valid ({kind})"


_TYPE_WORDS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
}


def _types(expected: Any) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    words = [_TYPE_WORDS.get(str(name), str(name)) for name in names if name != "null"]
    return " or ".join(words) or "empty"


# -- checks the schema cannot express -------------------------------------------------------


def _versions_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not one
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise OCPIError("versions_url: must be an http:// or https:// URL")
    return url


def _token(token: Any, encoding: str) -> str | None:
    if token is None or token == "":
        return None
    problem = token_problem(str(token), encoding)
    if problem:
        raise OCPIError(f"token: {problem}")
    return str(token)


def _date(text: Any, name: str) -> datetime | None:
    if text is None or text == "":
        return None
    moment = parse_timestamp(text) if len(str(text)) <= _MAX_DATE_TEXT else None
    if moment is None:
        raise OCPIError(f"{name}: must be a date-time, e.g. 2024-01-01T00:00:00Z")
    return moment


def _ca_bundle(path: str | None) -> str | None:
    # Checked up front: requests would raise an OSError on the first request instead.
    if path is not None and not os.path.exists(path):
        raise OCPIError(f"ca_bundle: no file or directory at {path}")
    return path


def _paths(raw: Any) -> Any:
    """stream → field paths; a comma-separated string is split here (privacy checks each,
    and says what is wrong with anything that is not a mapping)."""
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        return raw
    return {
        stream: tuple(entries.split(",")) if isinstance(entries, str) else tuple(entries or ())
        for stream, entries in raw.items()
    }
