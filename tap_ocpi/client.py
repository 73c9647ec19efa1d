"""Talking OCPI: transport (headers, envelope, errors, retries, throttle) and the base stream.

`OCPIClient` is the one transport of a run: every stream and the version negotiation share
its session (keep-alive), its token form and its throttle. `OCPIStream` is the one base
stream: it reads a module list window by window, page by page, and hands normalised objects
to the SDK.
"""

from __future__ import annotations

import email.utils
import os
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, cast
from urllib.parse import urljoin, urlsplit

import backoff
import msgspec
import requests
from singer_sdk import RESTStream
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform

from tap_ocpi import __version__
from tap_ocpi.errors import OCPIError
from tap_ocpi.normalize import (
    BadRecord,
    format_timestamp,
    normalizer,
    parse_timestamp,
    projected_type,
    to_record,
)
from tap_ocpi.output import SingerOutput
from tap_ocpi.pagination import Cursor, KeySet, Page, next_link, same_origin, split_window
from tap_ocpi.privacy import Projection, is_private
from tap_ocpi.schemas import PRIMARY_KEYS, REPLICATION_KEY, STREAM_SCHEMAS

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_ocpi.auth import TokenAuth
    from tap_ocpi.tap import TapOCPI
    from tap_ocpi.versions import Platform

# Configuration modules never carry routing headers (OCPI 2.2.1 §4.1.4).
CONFIGURATION_MODULES = frozenset({"versions", "credentials", "hubclientinfo"})
EPOCH = "1970-01-01T00:00:00Z"
#: How often a window whose distinct keys fall short of X-Total-Count is re-read.
REREAD_ROUNDS = 3
#: Where the SDK keeps a run's unpromoted bookmark candidates (singer_sdk.helpers._state).
PROGRESS_MARKERS = "progress_markers"
#: OCPI statuses that mean "try again later": server errors, and a hub's forwarding timeout.
_TRANSIENT_STATUS = frozenset({4002})
_decode = msgspec.json.Decoder().decode


class AuthRejectedError(OCPIError):
    """The platform refused the token (HTTP 401/403, or an OCPI error on a first request)."""


class OCPIStatusError(OCPIError):
    """The platform answered with an OCPI error status (possibly inside HTTP 200)."""


def utc_text(moment: datetime) -> str:
    """Canonical bookmark form: UTC, whole seconds, `Z` (bookmarks compare as strings)."""
    return format_timestamp(moment, fraction=False)


def parse_utc(text: str, what: str = "timestamp") -> datetime:
    """Parse a configured or saved timestamp leniently (no zone = UTC); one-line error."""
    moment = parse_timestamp(text)
    if moment is None:
        raise OCPIError(f"{what} is not a date-time")
    return moment


def _setting(config: dict[str, Any], key: str, default: float) -> Any:
    value = config.get(key)
    return default if value is None else value


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), if any."""
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def redirect_allowed(source: str, target: str) -> bool:
    """Whether a redirect stays with the platform: same scheme, host and port, or the same
    host upgraded from http to https (requests keeps the Authorization header only then)."""
    if same_origin(target, source):
        return True
    a, b = urlsplit(source), urlsplit(target)
    return a.scheme == "http" and b.scheme == "https" and a.hostname == b.hostname


class PlatformSession(requests.Session):
    """A session that follows redirects only within the platform's own host.

    requests already drops the Authorization header when a redirect changes host, but the
    request would still go there, and the other host's answer (a login page, a 401) would be
    misread as the platform's. Stop instead, saying where the redirect pointed.
    """

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is not None and not redirect_allowed(resp.url, urljoin(resp.url, target)):
            resp.close()
            host = urlsplit(urljoin(resp.url, target)).netloc or "?"
            raise OCPIError(
                f"GET {_path(resp.url)}: HTTP {resp.status_code} redirects to another host "
                f"({host}); not followed, so the token and the request stay with the platform"
            )
        return target


def ca_bundle(config: dict[str, Any]) -> str | bool:
    """What every request of the run verifies certificates against: the ca_bundle setting,
    else a bundle named by REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE (requests' own convention),
    else the default trust store. Verification is always on; there is no switch for it."""
    bundle = config.get("ca_bundle")
    if bundle:
        # Checked up front: requests would raise an OSError on the first request instead.
        if not os.path.exists(str(bundle)):
            raise OCPIError(f"ca_bundle: no file or directory at {bundle}")
        return str(bundle)
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


class Throttle:
    """At most `rate` requests per second across all streams of a run (0 = unlimited)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            time.sleep(delay)


class OCPIClient:
    """The transport of one run: session, token, OCPI headers, envelope checks, retries."""

    def __init__(self, config: dict[str, Any], auth: TokenAuth, logger: Any) -> None:
        self.config = config
        self.auth = auth
        self.logger = logger
        self.version: str | None = None
        self.session = PlatformSession()
        self.session.verify = ca_bundle(config)
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = f"tap-ocpi/{__version__}"
        self.throttle = Throttle(float(config.get("max_requests_per_second") or 0))
        self.timeout = int(_setting(config, "request_timeout", 60))
        self.max_tries = max(1, int(_setting(config, "max_retries", 5)))
        self.max_wait = float(_setting(config, "retry_max_wait", 60))

    # -- requests -------------------------------------------------------------------------
    def headers(self, module: str) -> dict[str, str]:
        """OCPI headers for one request: tracing ids (2.2+), routing on functional modules."""
        if self.version is None or self.version.startswith(("2.0", "2.1")):
            return {}
        headers = {"X-Request-ID": str(uuid.uuid4()), "X-Correlation-ID": str(uuid.uuid4())}
        if module not in CONFIGURATION_MODULES:
            for header, key in (
                ("OCPI-from-country-code", "from_country_code"),
                ("OCPI-from-party-id", "from_party_id"),
                ("OCPI-to-country-code", "to_country_code"),
                ("OCPI-to-party-id", "to_party_id"),
            ):
                if self.config.get(key):
                    headers[header] = str(self.config[key])
        return headers

    def retrying(self, func: Callable[..., requests.Response]) -> Callable[..., requests.Response]:
        """Retry transient failures with backoff, honouring Retry-After (capped)."""
        return cast(  # type: ignore[redundant-cast]  # backoff is untyped on some versions
            "Callable[..., requests.Response]",
            backoff.on_exception(
                self._wait_generator,
                (
                    RetriableAPIError,
                    requests.exceptions.ConnectionError,
                    requests.exceptions.Timeout,
                    requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError,
                    ConnectionResetError,
                ),
                max_tries=self.max_tries,
                # A certificate that does not verify will not verify on the next try either.
                giveup=lambda exc: isinstance(exc, requests.exceptions.SSLError),
                jitter=None,
                on_backoff=self._log_retry,
                logger=None,  # our own retry line is enough, and is redacted
            )(func),
        )

    def _wait_generator(self) -> Generator[float, Any, None]:
        exc = yield 0.0  # primed by backoff with None
        attempt = 0
        while True:
            attempt += 1
            hinted = retry_after_seconds(getattr(exc, "response", None))
            wait = hinted if hinted is not None else min(2.0 ** (attempt - 1) * 0.5, 8.0)
            exc = yield min(wait, self.max_wait)

    def _log_retry(self, details: Any) -> None:
        exc = details.get("exception")
        self.logger.warning(
            "Retrying in %.1f s after try %d: %s",
            details.get("wait", 0.0),
            details.get("tries", 0),
            self.auth.redact(describe(exc)),
        )

    def send(self, url: str, module: str) -> requests.Response:
        """One GET with headers, throttle and validation (no retries: wrap with `retrying`)."""
        self.throttle.wait()
        # verify is passed explicitly: Session.get would otherwise let REQUESTS_CA_BUNDLE
        # override the configured ca_bundle (requests prefers the environment over
        # session.verify), and the SDK's requests (Session.send) would not.
        response = self.session.get(
            url,
            headers=self.headers(module),
            auth=self.auth,
            timeout=self.timeout,
            verify=self.session.verify,
        )
        self.validate(response)
        return response

    def get(self, url: str, module: str) -> Any:
        """GET a single OCPI document and return its `data`, with token fallback."""
        fetch = self.retrying(self.send)
        try:
            response = fetch(url, module)
        except AuthRejectedError:
            if not self.auth.can_fall_back:
                raise
            self.auth.fall_back()
            response = fetch(url, module)
        return envelope(response).get("data")

    # -- responses ------------------------------------------------------------------------
    def validate(self, response: requests.Response, page: PageDecoder | None = None) -> None:
        """Classify a response: retriable, auth, fatal, or a valid OCPI envelope (kept).

        With a ``page`` decoder, a successful page of canonical records is decoded straight
        into its output records (see ``PageDecoder``); anything else takes the general path.
        """
        status, where = response.status_code, f"GET {_path(response.url)}"
        if status in (401, 403):
            raise AuthRejectedError(f"{where}: HTTP {status}: the platform rejected the token")
        # 408 (a proxy or server timing the request out) is as transient as 429 and 5xx.
        if status in (408, 429) or status >= 500:
            raise RetriableAPIError(f"{where}: HTTP {status}", response)
        if status >= 400:
            raise OCPIError(f"{where}: HTTP {status} {response.reason}{ocpi_suffix(response)}")
        content_type = response.headers.get("Content-Type", "json").lower()
        if "json" not in content_type:
            kind = content_type.split(";")[0].strip()
            raise OCPIError(f"{where}: HTTP {status}, but the body is {kind}, not an OCPI response")
        if page is not None and page.decode(response):
            return
        try:
            body = _decode(response.content)
        except msgspec.DecodeError as exc:
            # Truncated or garbled bodies are usually transient (a proxy, a dropped stream).
            raise RetriableAPIError(f"{where}: the response is not valid JSON", response) from exc
        if not isinstance(body, dict) or "status_code" not in body:
            raise OCPIError(f"{where}: HTTP {status}, but the body is not an OCPI response")
        code = body.get("status_code")
        if not isinstance(code, int) or not 1000 <= code < 2000:
            self._status_error(where, code, response)
        response._ocpi = body  # type: ignore[attr-defined]  # parsed once, read by parse

    def _status_error(self, where: str, code: Any, response: requests.Response) -> None:
        message = f"{where}: OCPI status {code} ({status_meaning(code)})"
        # A server error says nothing about the token: retry it even while the token form is
        # unproven, or one 3000 on a first page would switch to the wrong form for the run.
        if isinstance(code, int) and (3000 <= code < 4000 or code in _TRANSIENT_STATUS):
            raise RetriableAPIError(message, response)
        if self.auth.can_fall_back:
            raise AuthRejectedError(message)
        raise OCPIStatusError(message)


class PageDecoder:
    """Decodes a page of canonical records straight into the stream's output records.

    Built from the privacy projection (``normalize.projected_type``): what privacy drops is
    skipped by the decoder, never built, and the records need no normalising or filtering.
    A page it cannot take (a record to fix, an unknown field, an error status) is decoded
    as usual, record by record. After a few such pages and none taken, it stops trying: a
    platform whose records always need fixing would pay for a failed decode per page.
    """

    GIVE_UP_AFTER = 3

    def __init__(self, stream: str, record_type: Any, projection: Projection) -> None:
        self.stream = stream
        self.projection = projection
        envelope_type = msgspec.defstruct(
            "Envelope",
            [("status_code", int), ("data", list[record_type])],
        )
        self._decode: Callable[[bytes], Any] = msgspec.json.Decoder(envelope_type).decode
        self.taken = self.refused = 0

    def decode(self, response: requests.Response) -> bool:
        """Whether the page was taken (then ``envelope(response)`` holds its records)."""
        if self.refused >= self.GIVE_UP_AFTER and not self.taken:
            return False
        try:
            page = self._decode(response.content)
        except msgspec.DecodeError:  # ValidationError included
            self.refused += 1
            return False
        if not 1000 <= page.status_code < 2000:
            return False
        records = to_record(page.data)
        if self.projection.private_drops:
            for record in records:
                if is_private(self.stream, record):
                    self.projection.drop_private(record)
        body = {"status_code": page.status_code, "data": records}
        response._ocpi = body  # type: ignore[attr-defined]  # read by envelope()
        response._records_final = True  # type: ignore[attr-defined]  # read by read_list()
        self.taken += 1
        return True


def envelope(response: requests.Response) -> dict[str, Any]:
    """The decoded OCPI envelope of a validated response."""
    body = getattr(response, "_ocpi", None)
    if body is None:
        body = _decode(response.content)
    return cast("dict[str, Any]", body)


def describe(exc: BaseException | None) -> str:
    """One line about a transport failure, without URLs' queries, bodies or tokens."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, requests.exceptions.Timeout):
        return "the request timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS certificate verification failed (for a private CA, set ca_bundle)"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "could not connect, or the connection was dropped"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the response was cut off"
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__


_STATUS_MEANINGS = {
    1: "success",
    2000: "generic client error",
    2001: "invalid or missing parameters",
    2002: "not enough information",
    2003: "unknown location",
    2004: "unknown token",
    2: "client error",
    3000: "generic server error",
    3001: "unable to use the client's API",
    3002: "unsupported version",
    3003: "no matching endpoints",
    3: "server error",
    4000: "hub: generic error",
    4001: "hub: unknown receiver",
    4002: "hub: timeout on forwarded request",
    4003: "hub: receiving party not connected",
    4: "hub error",
}


def status_meaning(code: Any) -> str:
    """Words for an OCPI status code (the server's own message is not shown: it may hold
    personal data)."""
    if not isinstance(code, int):
        return "missing or not a number"
    return _STATUS_MEANINGS.get(code) or _STATUS_MEANINGS.get(code // 1000, "unknown status")


def ocpi_suffix(response: requests.Response) -> str:
    """`, OCPI status N (meaning)` when an error body is an OCPI envelope, else ''."""
    try:
        body = _decode(response.content)
    except msgspec.DecodeError:
        return ""
    if isinstance(body, dict) and isinstance(body.get("status_code"), int):
        code = body["status_code"]
        return f", OCPI status {code} ({status_meaning(code)})"
    return ""


class OCPIStream(RESTStream[str]):
    """The one base stream: an OCPI module list, read window by window, page by page."""

    module: ClassVar[str]
    #: Whether the list GET requires `date_from` (Sessions, in every version).
    requires_date_from: ClassVar[bool] = False
    replication_key = REPLICATION_KEY
    # normalize.py already emits schema types; the SDK's generic walk would double the cost.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    url_base = ""  # module URLs come from the platform's version details
    records_jsonpath = "$.data[*]"

    def __init__(self, tap: TapOCPI, **kwargs: Any) -> None:
        # The schema says what privacy emits: a pseudonymised number is a string.
        schema = tap.privacy.schema_for(self.name, STREAM_SCHEMAS[self.name])
        super().__init__(tap, schema=schema, **kwargs)
        self.primary_keys = list(PRIMARY_KEYS[self.name])
        self.ocpi_tap = tap
        self.path = self.module  # names the endpoint in the SDK's request metrics
        #: Distinct objects that could not be read this run (reported by key, never values).
        self.bad_records = 0
        #: Why this run's read of the stream is incomplete (objects still missing), if it is.
        self.incomplete: str | None = None
        self._columns = frozenset(self.schema["properties"])
        #: Whether the records being yielded are output records already (`_new_records`).
        self._records_final = False
        self._warned: set[str] = set()

    # -- wiring to the shared transport ---------------------------------------------------
    @property
    def client(self) -> OCPIClient:
        return self.ocpi_tap.client

    @property
    def platform(self) -> Platform:
        return self.ocpi_tap.platform

    @property
    def requests_session(self) -> requests.Session:
        return self.client.session

    @property
    def authenticator(self) -> TokenAuth:
        return self.client.auth

    @property
    def timeout(self) -> int:
        return self.client.timeout

    @property
    def user_agent(self) -> str:
        return str(self.client.session.headers["User-Agent"])

    def request_decorator(self, func: Callable[..., Any]) -> Callable[..., Any]:
        return self.client.retrying(func)

    def validate_response(self, response: requests.Response) -> None:
        self.client.validate(response, self._page_decoder)

    @cached_property
    def _page_decoder(self) -> PageDecoder | None:
        """Pages decoded straight into output records, where privacy and version allow."""
        projection = self.ocpi_tap.privacy.projection(self.name)
        if projection is None or self.child_streams:
            return None
        platform = self.platform
        kind = projected_type(self.name, platform.version, platform.owner, projection.keep)
        return None if kind is None else PageDecoder(self.name, kind, projection)

    # -- the date window ------------------------------------------------------------------
    def date_window(self, context: Context | None) -> dict[str, str]:
        """`date_from` = later of start_date and (bookmark - lookback); `date_to` = run start
        or end_date. Sessions always get a date_from (the spec requires it)."""
        config = self.config
        starts: list[str] = []
        if config.get("start_date"):
            starts.append(utc_text(parse_utc(str(config["start_date"]), "start_date")))
        bookmark = self.get_context_state(context).get("replication_key_value")
        if bookmark:
            lookback = timedelta(minutes=int(config.get("lookback_minutes") or 0))
            starts.append(utc_text(parse_utc(str(bookmark), "the saved bookmark") - lookback))
        window = {"date_to": self.ocpi_tap.window_end}
        if starts:
            window["date_from"] = max(starts)
        elif self.requires_date_from:
            window["date_from"] = EPOCH
        return window

    def get_replication_key_signpost(self, context: Context | None = None) -> str:
        # Same text format as the records' last_updated, so the cap compares correctly.
        return self.ocpi_tap.window_end

    # -- reading ----------------------------------------------------------------------------
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Every object of the run's window, each key once, or a loud failure.

        Offset paging over a list that changes between requests can skip objects. Objects
        can only leave a window that ends at the run's start (an update stamps them later),
        never enter it. So the window is complete when either
        - the distinct keys of the whole run reach the first page's `X-Total-Count` (objects
          that moved within the window were caught by a re-read), or
        - every read of the last round received as many distinct objects as its own first
          page announced (objects that left the window before we read them are not missing:
          their new version falls into the next run's window). Without X-Total-Count, a read
          counts as complete unless an object came twice: the order changed under it, and
          whatever moved past the offset may have pushed another object out of sight.
        Short reads are re-read in two narrower `last_updated` windows each, for a bounded
        number of rounds; only unseen keys are emitted. A window that stays short, or holds
        objects that cannot be read, keeps the stream's saved bookmark, and the tap fails at
        the end of the run (other streams finish first).
        """
        module_url = self.platform.modules.get(self.module)
        if module_url is None:
            return
        page_size = int(self.config.get("page_size") or 1000)
        seen, expected = KeySet(), None
        parts = [self.date_window(context)]
        for attempt in range(REREAD_ROUNDS + 1):
            short: list[tuple[dict[str, str], _Read, int | None]] = []
            for part in parts:
                cursor = Cursor(module_url, part, page_size)
                read = _Read(seen, shared=True) if attempt == 0 else _Read(KeySet())
                yield from self._new_records(self.read_list(cursor, context), seen, read)
                if attempt == 0:
                    expected = cursor.first_total
                announced = cursor.first_total
                if announced is not None:
                    complete = len(read.keys) >= announced
                else:
                    complete = not read.repeats
                if not complete:
                    short.append((part, read, announced))
            if not short or (expected is not None and len(seen) >= expected):
                break
            if attempt == REREAD_ROUNDS:
                if expected is not None:
                    lacking = (
                        f"{expected - len(seen)} of the {expected} objects X-Total-Count "
                        f"announced did not arrive"
                    )
                else:
                    lacking = (
                        "the order changed while paging and the platform sends no "
                        "X-Total-Count to check against"
                    )
                self.incomplete = f"{lacking}, after {REREAD_ROUNDS} re-reads in narrower windows"
                self.logger.error("%s: %s", self.name, self.incomplete)
                break
            parts = [half for part, _, _ in short for half in split_window(part, 2)]
            self.logger.warning(
                "%s: %s; re-reading in %d narrower windows",
                self.name,
                _shortfall(short),
                len(parts),
            )
        if self.incomplete or (self.bad_records and not self.config.get("skip_bad_records")):
            self._hold_bookmark(context)
        else:
            self._mark_complete(context)

    def _increment_stream_state(
        self, latest_record: dict, *, context: Context | None = None
    ) -> None:
        """Per-record bookkeeping is pointless for a window read: its bookmark is the window
        end, set by `_mark_complete` once the window was read completely (the value the SDK
        would reach too: every object is older than the window end, which caps the
        bookmark). Skipping it saves a state update per record. Children keep it."""
        if self.parent_stream_type is not None or set(latest_record) == {REPLICATION_KEY}:
            super()._increment_stream_state(latest_record, context=context)

    def _write_record_message(self, record: dict) -> None:
        """The record as a RECORD message: the SDK's bytes, without its per-record detours.

        The SDK walks each record against the selection mask, conforms types, builds a
        `RecordMessage` and writes it unbuffered. When every field is selected, types need
        no conforming (normalize.py) and the only stream map is the default one, none of
        that changes a byte: the message dict goes straight to the block writer. Anything
        else (deselected fields, user stream maps, another writer) takes the SDK's path.
        """
        if not self._lean_output:
            super()._write_record_message(record)
            return
        mapped = self.stream_maps[0].transform(record)  # the SDK's flattening, if enabled
        if mapped is None:
            return
        message: dict[str, Any] = {"type": "RECORD", "stream": self.name, "record": mapped}
        if self._stream_version is not None:
            message["version"] = self._stream_version
        message["time_extracted"] = utc_now()
        self.ocpi_tap.message_writer.write_record(message)
        self.state_manager.is_flushed = False

    @cached_property
    def _lean_output(self) -> bool:
        """Whether `_write_record_message` may skip the SDK's path (asked at the first
        record, when the catalog and the stream maps are settled)."""
        maps = self.stream_maps
        return (
            len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == self.name
            and self.TYPE_CONFORMANCE_LEVEL is TypeConformanceLevel.NONE
            and isinstance(self.ocpi_tap.message_writer, SingerOutput)
            and all(self.mask.values())
        )

    def generate_child_contexts(self, record: dict, context: Context | None) -> Iterable:
        # Only locations has children: other streams build no context per record.
        return super().generate_child_contexts(record, context) if self.child_streams else ()

    def _mark_complete(self, context: Context | None) -> None:
        """The window was read completely: the next run starts at its end (minus lookback).

        OCPI's `date_from` is inclusive and `date_to` exclusive, so consecutive windows
        neither overlap nor leave a gap; a bookmark at the highest `last_updated` seen would
        re-read that boundary object every run. The SDK caps the bookmark at the signpost
        (the same window end) and promotes it only when the stream ends.
        """
        if self.selected:
            self._increment_stream_state(
                {REPLICATION_KEY: self.ocpi_tap.window_end}, context=context
            )

    def _hold_bookmark(self, context: Context | None) -> None:
        """The window was not read completely: keep the saved bookmark, so the next run reads
        the window again. The SDK promotes this run's progress markers (the highest
        `last_updated` emitted) when the stream ends; dropping them leaves nothing to promote,
        and the tap fails the run afterwards (`TapOCPI.fail_on_incomplete_streams`)."""
        self.get_context_state(context).pop(PROGRESS_MARKERS, None)
        self.logger.warning(
            "%s: the bookmark stays where it was, so the next run reads this window again",
            self.name,
        )

    def _new_records(
        self, pages: Iterable[tuple[list[Any], bool]], seen: KeySet, read: _Read
    ) -> Iterator[dict[str, Any]]:
        """Normalise and emit the objects not seen before in this run; `read` counts the
        distinct keys of this one read (the completeness check), `seen` those of the run."""
        for page, final in pages:
            # Read by post_process, which the SDK calls on each record as it is yielded.
            self._records_final = final
            if final:
                yield from self._new_final_records(page, seen, read)
            else:
                yield from self._new_raw_records(page, seen, read)

    def _new_final_records(
        self, records: list[dict[str, Any]], seen: KeySet, read: _Read
    ) -> Iterator[dict[str, Any]]:
        keys = self.primary_keys
        for record in records:
            key = tuple([record[k] for k in keys])
            if read.add(key, seen.add(key)):
                yield from self.emit(record)

    def _new_raw_records(self, raws: list[Any], seen: KeySet, read: _Read) -> Iterator[dict]:
        normalize = self._normalize
        keys = self.primary_keys
        for raw in raws:
            try:
                record = normalize(raw)
            except BadRecord as exc:
                # Counted as received (the platform did send it), reported once per object.
                key = _raw_key(raw, keys)
                if read.add(key, seen.add(key)):
                    self.report_bad_record(exc, raw)
                continue
            key = tuple([record.get(k) for k in keys])
            if read.add(key, seen.add(key)):
                yield from self.emit(record)

    @cached_property
    def _normalize(self) -> Callable[[Any], dict[str, Any]]:
        return normalizer(self.name, self.platform.version, self.platform.owner)

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict | None:
        """Schema-stable, privacy-safe output: unknown top-level fields are dropped (the
        table's columns do not change under you), then the privacy rules apply. Records
        that `PageDecoder` built are that output already."""
        if self._records_final:
            record = row
        else:
            if not self._columns.issuperset(row):  # no set built per record, commonly
                extra = row.keys() - self._columns
                self._warn_extra(extra)
                for key in extra:
                    del row[key]
            record = self._privacy(row, self.private_flag(row))
        for path in self._flattened_objects:
            _drop_null(record, path)
        return record

    @cached_property
    def _flattened_objects(self) -> list[tuple[str, ...]]:
        """Object properties the SDK's flattening expands into columns. A null object would
        reach the target as one unknown column (`cdr_token`), which typed targets reject;
        without the key, the flattened columns are simply null."""
        if not self.config.get("flattening_enabled"):
            return []
        return _object_paths(self.schema, int(self.config.get("flattening_max_depth") or 1))

    @cached_property
    def _privacy(self) -> Callable[[dict[str, Any], bool], dict[str, Any]]:
        return self.ocpi_tap.privacy.filter_for(self.name)

    def private_flag(self, record: dict[str, Any]) -> bool:
        """Whether the record describes a non-public place (decides address fields)."""
        return is_private(self.name, record)

    def _warn_extra(self, names: set[str]) -> None:
        new = names - self._warned
        if new:
            self._warned |= new
            self.logger.warning(
                "%s: fields not in the schema are left out: %s", self.name, ", ".join(sorted(new))
            )

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.logger.warning("%s", message)

    def emit(self, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Hook for streams with children (locations); most streams yield the record."""
        yield record

    def report_bad_record(self, exc: BadRecord, raw: Any) -> None:
        """Log stream, key and reason of an unreadable object: never its values. The key is
        shown as it would be emitted (personal key parts such as tokens.uid pseudonymised)."""
        self.bad_records += 1
        key = dict(zip(self.primary_keys, _raw_key(raw, self.primary_keys), strict=True))
        if any(isinstance(v, str) and v.startswith(_UNREADABLE) for v in key.values()):
            shown = "key not readable"
        else:
            safe = self._privacy(dict(key), True)
            shown = ", ".join(f"{k}={safe.get(k)}" for k in self.primary_keys)
        self.logger.error(
            "%s: an object could not be read and was skipped (%s): %s", self.name, shown, exc
        )

    def read_list(
        self, cursor: Cursor, context: Context | None
    ) -> Iterator[tuple[list[Any], bool]]:
        """Every page of one date window, fetching one page ahead of processing: its
        objects, and whether they are output records already (`PageDecoder`)."""
        self.logger.info(
            "%s: reading %s from %s to %s",
            self.name,
            _path(cursor.module_url),
            cursor.window.get("date_from", "the beginning"),
            cursor.window["date_to"],
        )
        url: str | None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-fetch") as pool:
            pending: Future[requests.Response] | None = pool.submit(
                self.fetch, cursor.first_url(), context
            )
            while pending is not None:
                try:
                    response = pending.result()
                except (OCPIError, RetriableAPIError, requests.RequestException) as exc:
                    # A rejected token is not the link's fault; anything else about a
                    # followed link (5xx after retries, 4xx, a redirect away) is.
                    if not cursor.followed_link or isinstance(exc, AuthRejectedError):
                        raise
                    # A broken next link: page by offset from here, same window.
                    self.logger.warning(
                        "%s: the next link failed (%s); continuing by offset",
                        self.name,
                        describe(exc),
                    )
                    url = cursor.after_failed_link()
                    pending = pool.submit(self.fetch, url, context)
                    continue
                data = envelope(response).get("data") or []
                if not isinstance(data, list):
                    raise OCPIError(f"GET {_path(response.url)}: `data` is not a list")
                page = Page(
                    url=response.url,
                    received=len(data),
                    link=next_link(_link_values(response), response.url),
                    total=_int_header(response, "X-Total-Count"),
                    limit=_int_header(response, "X-Limit"),
                )
                url = cursor.advance(page)
                if cursor.refused_link:
                    self._warn_once(
                        f"{self.name}: the next link is not followed ({cursor.refused_link}); "
                        f"paging by offset instead"
                    )
                pending = pool.submit(self.fetch, url, context) if url else None
                self._log_page(cursor)
                yield data, getattr(response, "_records_final", False)

    def fetch(self, url: str, context: Context | None) -> requests.Response:
        """One page with retries and the token fallback."""
        request = self.build_prepared_request(
            method="GET", url=url, headers=self.client.headers(self.module)
        )
        decorated = self.request_decorator(self._request)
        try:
            return cast("requests.Response", decorated(request, context))
        except AuthRejectedError:
            if not self.client.auth.can_fall_back:
                raise
            self.client.auth.fall_back()
            request = self.build_prepared_request(
                method="GET", url=url, headers=self.client.headers(self.module)
            )
            return cast("requests.Response", decorated(request, context))

    def _request(self, prepared_request: requests.PreparedRequest, context: Any) -> Any:
        self.client.throttle.wait()
        response = super()._request(prepared_request, context)
        self.client.auth.prove()
        return response

    def _log_page(self, cursor: Cursor) -> None:
        if cursor.total is not None:
            self.logger.info("%s: %d of %d read", self.name, cursor.position, cursor.total)
        else:
            self.logger.info("%s: %d read", self.name, cursor.position)


class _Read:
    """The distinct keys of one read of one window, and how many objects came twice."""

    __slots__ = ("_shared", "keys", "repeats")

    def __init__(self, keys: KeySet, shared: bool = False) -> None:
        self.keys = keys
        self._shared = shared  # keys is the run's own set (the first read): no second copy
        self.repeats = 0

    def add(self, key: tuple[Any, ...], new_in_run: bool) -> bool:
        """Count a key of this read; returns `new_in_run` (whether to emit the object)."""
        new_in_read = new_in_run if self._shared else self.keys.add(key)
        if not new_in_read:
            self.repeats += 1
        return new_in_run


def _shortfall(short: list[tuple[dict[str, str], _Read, int | None]]) -> str:
    """What the short reads of a round lacked, for the re-read warning."""
    counted = [(read, announced) for _, read, announced in short if announced is not None]
    if counted:
        received = sum(len(read.keys) for read, _ in counted)
        announced = sum(a for _, a in counted)
        return f"only {received} of {announced} objects arrived (objects changed while paging)"
    repeats = sum(read.repeats for _, read, _ in short)
    return f"{repeats} objects came twice (the order changed while paging)"


_UNREADABLE = "\x00unreadable:"


def _raw_key(raw: Any, keys: Sequence[str]) -> tuple[Any, ...]:
    """The key of an object that could not be normalised, for counting and reporting: its
    key fields when they are plain strings or numbers, else a digest of the whole object (so
    a re-read does not count or report it twice). The digest is never shown."""
    values = [raw.get(k) for k in keys] if isinstance(raw, dict) else [None]
    if all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
        return tuple(str(v)[:200] for v in values)
    digest = hash(msgspec.json.encode(raw))
    return tuple(f"{_UNREADABLE}{digest}" for _ in keys)


def _object_paths(schema: dict[str, Any], depth: int, prefix: tuple[str, ...] = ()) -> list:
    """Paths of the object-typed properties down to `depth` levels, parents first."""
    paths: list[tuple[str, ...]] = []
    for name, sub in schema.get("properties", {}).items():
        if depth > 0 and "properties" in sub:
            paths.append((*prefix, name))
            paths += _object_paths(sub, depth - 1, (*prefix, name))
    return paths


def _drop_null(record: dict[str, Any], path: tuple[str, ...]) -> None:
    parent: Any = record
    for name in path[:-1]:
        parent = parent.get(name) if isinstance(parent, dict) else None
    if isinstance(parent, dict) and path[-1] in parent and parent[path[-1]] is None:
        del parent[path[-1]]


def _link_values(response: requests.Response) -> list[str]:
    value = response.headers.get("Link")
    return [value] if value else []


def _int_header(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name, "").strip()
    return int(value) if value.isdigit() else None
