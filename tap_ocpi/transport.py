"""Talking OCPI: headers, retries, token fallback, the envelope, statuses, list pages.

`OCPIClient` is the one transport of a run: every stream and the version negotiation share
its session (keep-alive), its token form and its throttle. What it returns are values: the
`data` of a document, or a `ListPage` of one list response. It knows nothing of streams.
The HTTP session and header parsing live in session.py, one exchange's limits in wire.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar, cast

import backoff
import msgspec
import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_ocpi import __version__, redaction, wire
from tap_ocpi.errors import AuthRejectedError, NotAListError, OCPIError, OCPIStatusError
from tap_ocpi.salvage import BOM, Unreadable, UnscannableError, salvage
from tap_ocpi.session import (
    PlatformSession,
    Throttle,
    ascii_int,
    ca_bundle,
    int_header,
    link_values,
    retry_after_seconds,
    shown_path,
)
from tap_ocpi.versions import traits

if TYPE_CHECKING:
    from tap_ocpi.auth import TokenAuth
    from tap_ocpi.fastpath import PageDecoder
    from tap_ocpi.settings import Settings

# Configuration modules never carry routing headers (OCPI 2.2.1 §4.1.4).
CONFIGURATION_MODULES = frozenset({"versions", "credentials", "hubclientinfo"})
#: OCPI statuses that mean "try again later": server errors, and a hub's forwarding timeout.
_TRANSIENT_STATUS = frozenset({4002})
_decode = msgspec.json.Decoder().decode
T = TypeVar("T")


@dataclass(frozen=True)
class ListPage:
    """One validated list response, as a value: its objects and what its headers said."""

    url: str
    data: list[Any]
    #: Whether `data` holds output records already (decoded by the fast path).
    final: bool
    links: list[str]
    total: int | None
    limit: int | None
    #: Elements of `data` that could not be decoded (reported as bad records by key).
    unreadable: tuple[Unreadable, ...] = ()

    @property
    def received(self) -> int:
        """How many objects the platform sent (what offset paging advances by)."""
        return len(self.data) + len(self.unreadable)


class OCPIClient:
    """The transport of one run: session, token, OCPI headers, envelope checks, retries."""

    def __init__(self, settings: Settings, auth: TokenAuth, logger: Any) -> None:
        self.settings = settings
        self.auth = auth
        self.logger = logger
        self.version: str | None = None
        # URLs and the token come from here: the logs are made safe for them before any
        # request (urllib3 logs request lines with their queries at DEBUG).
        redaction.install(auth.token)
        self.session = PlatformSession()
        wire.mount(self.session)
        self.session.verify = ca_bundle(settings.ca_bundle)
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = f"tap-ocpi/{__version__}"
        self.throttle = Throttle(settings.max_requests_per_second)
        self.timeout = settings.request_timeout
        self.max_tries = max(1, settings.max_retries)
        self.max_wait = settings.retry_max_wait
        self.max_bytes = settings.max_response_mb << 20
        #: Requests sent and retries made this run (for the streams' summary lines).
        self.requests = self.retries = 0

    # -- requests -------------------------------------------------------------------------
    def headers(self, module: str) -> dict[str, str]:
        """OCPI headers for one request: tracing ids (2.2+), routing on functional modules."""
        if self.version is None or not traits(self.version).tracing_headers:
            return {}
        headers = {"X-Request-ID": str(uuid.uuid4()), "X-Correlation-ID": str(uuid.uuid4())}
        if module not in CONFIGURATION_MODULES:
            for header, key in (
                ("OCPI-from-country-code", "from_country_code"),
                ("OCPI-from-party-id", "from_party_id"),
                ("OCPI-to-country-code", "to_country_code"),
                ("OCPI-to-party-id", "to_party_id"),
            ):
                value = getattr(self.settings, key)
                if value:
                    headers[header] = value
        return headers

    def retrying(self, func: Callable[[], T]) -> Callable[[], T]:
        """Retry transient failures with backoff, honouring Retry-After (capped)."""
        return cast(  # type: ignore[redundant-cast]  # backoff is untyped on some versions
            "Callable[[], T]",
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
        self.retries += 1
        exc = details.get("exception")
        self.logger.warning(
            "Retrying in %.1f s after try %d: %s",
            details.get("wait", 0.0),
            details.get("tries", 0),
            self.auth.redact(describe(exc)),
        )

    def send(self, url: str, module: str) -> requests.Response:
        """One GET with headers and throttle, its body read whole within request_timeout
        (connect, headers and body together) and max_response_mb; the HTTP status is
        checked (no retries)."""
        self.throttle.wait()
        self.requests += 1
        with wire.deadline(self.timeout) as watch:
            try:
                # verify is passed explicitly: Session.get would otherwise let
                # REQUESTS_CA_BUNDLE override the configured ca_bundle (requests prefers the
                # environment over session.verify).
                response = self.session.get(
                    url,
                    headers=self.headers(module),
                    auth=self.auth,
                    timeout=self.timeout,
                    verify=self.session.verify,
                    stream=True,
                )
            except requests.RequestException as exc:
                if watch.fired:
                    raise wire.RequestDeadline(wire.DEADLINE_TEXT) from exc
                raise
            try:
                body = wire.read_body(response, watch, self.max_bytes, f"GET {shown_path(url)}")
            finally:
                response.close()
        # The body is read whole (the connection went back to the pool at its end, or was
        # closed on a failure): the response is a plain value now.
        response._content = body
        self.check_status(response)
        return response

    def with_fallback(self, func: Callable[[], T], *, prove: bool) -> T:
        """Call a retried request; on a rejected token, once more with the other token form.

        `prove`: an accepted module request settles the token form for the run. Answers to
        the versions documents do not: some platforms serve them to any token."""
        try:
            result = func()
        except AuthRejectedError:
            if not self.auth.can_fall_back:
                raise
            self.auth.fall_back()
            result = func()
        if prove:
            self.auth.prove()
        return result

    def get(self, url: str, module: str) -> Any:
        """GET a single OCPI document and return its `data`, with token fallback."""
        fetch = self.retrying(lambda: self.document(self.send(url, module)))
        return self.with_fallback(fetch, prove=False).get("data")

    def get_list(
        self,
        url: str,
        module: str,
        decoder: PageDecoder | None = None,
        on_response: Callable[[requests.Response], None] | None = None,
    ) -> ListPage:
        """GET one page of a module list, with retries and token fallback.

        With a ``decoder``, a page of canonical records is decoded straight into its output
        records (``fastpath.PageDecoder``); anything else takes the general path.
        """

        def fetch() -> ListPage:
            response = self.send(url, module)
            if on_response is not None:
                on_response(response)
            return self.list_page(response, decoder)

        return self.with_fallback(self.retrying(fetch), prove=True)

    # -- responses ------------------------------------------------------------------------
    def check_status(self, response: requests.Response) -> None:
        """Classify a response by its HTTP status and type: retriable, auth, fatal, or OK."""
        status, where = response.status_code, f"GET {shown_path(response.url)}"
        if status in (401, 403):
            raise AuthRejectedError(f"{where}: HTTP {status}: the platform rejected the token")
        if status in (404, 405, 501):
            raise NotAListError(f"{where}: HTTP {status}{_phrase(status)}{ocpi_suffix(response)}")
        # 408 (a proxy or server timing the request out) is as transient as 429 and 5xx.
        if status in (408, 429) or status >= 500:
            raise RetriableAPIError(f"{where}: HTTP {status}", response)
        if status >= 400:
            raise OCPIError(f"{where}: HTTP {status}{_phrase(status)}{ocpi_suffix(response)}")
        content_type = response.headers.get("Content-Type", "json").lower()
        if "json" not in content_type:
            kind = content_type.split(";")[0].strip()
            raise NotAListError(
                f"{where}: HTTP {status}, but the body is {kind}, not an OCPI response"
            )

    def document(self, response: requests.Response) -> dict[str, Any]:
        """The decoded OCPI envelope of a response whose status was checked."""
        where = f"GET {shown_path(response.url)}"
        try:
            body = _decode(_without_bom(response.content))
        except (msgspec.DecodeError, RecursionError) as exc:
            # Truncated or garbled bodies are usually transient (a proxy, a dropped stream).
            raise RetriableAPIError(f"{where}: the response is not valid JSON", response) from exc
        return self._envelope(where, body, response)

    def _envelope(self, where: str, body: Any, response: requests.Response) -> dict[str, Any]:
        if not isinstance(body, dict) or "status_code" not in body:
            raise NotAListError(
                f"{where}: HTTP {response.status_code}, but the body is not an OCPI response"
            )
        body["status_code"] = self._checked_status(where, body.get("status_code"), response)
        return cast("dict[str, Any]", body)

    def _checked_status(self, where: str, value: Any, response: requests.Response) -> int:
        code = status_number(value)
        if code is None or not 1000 <= code < 2000:
            self._status_error(where, code, response)
        return cast("int", code)

    def list_page(self, response: requests.Response, decoder: PageDecoder | None) -> ListPage:
        """The page value of a list response: its objects and paging headers."""
        content = _without_bom(response.content)
        records = decoder.decode(content) if decoder is not None else None
        unreadable: tuple[Unreadable, ...] = ()
        if records is None:
            data, unreadable = self._list_data(response, content)
        return ListPage(
            url=response.url,
            data=data if records is None else records,
            final=records is not None,
            links=link_values(response),
            total=int_header(response, "X-Total-Count"),
            limit=int_header(response, "X-Limit"),
            unreadable=unreadable,
        )

    def _list_data(
        self, response: requests.Response, content: bytes
    ) -> tuple[list[Any], tuple[Unreadable, ...]]:
        """`data` of a list page; where one element spoils the whole body, the readable
        elements and the unreadable ones (salvage.py)."""
        where = f"GET {shown_path(response.url)}"
        try:
            body = _decode(content)
        except (msgspec.DecodeError, RecursionError):
            return self._salvaged(where, content, response)
        data = self._envelope(where, body, response).get("data") or []
        if not isinstance(data, list):
            raise OCPIError(f"{where}: `data` is not a list")
        return data, ()

    def _salvaged(
        self, where: str, content: bytes, response: requests.Response
    ) -> tuple[list[Any], tuple[Unreadable, ...]]:
        try:
            page = salvage(content)
        except UnscannableError as exc:
            # Truncated or garbled bodies are usually transient (a proxy, a dropped stream).
            raise RetriableAPIError(
                f"{where}: the response is not valid JSON ({exc}); no object of it can be read",
                response,
            ) from exc
        if page.status_code is None:
            raise OCPIError(
                f"{where}: HTTP {response.status_code}, but the body is not an OCPI response"
            )
        self._checked_status(where, page.status_code, response)
        return page.data, tuple(page.unreadable)

    def _status_error(self, where: str, code: int | None, response: requests.Response) -> None:
        if code is None:
            message = f"{where}: OCPI status missing or not a number"
        else:
            message = f"{where}: OCPI status {code} ({status_meaning(code)})"
        # A server error says nothing about the token: retry it even while the token form is
        # unproven, or one 3000 on a first page would switch to the wrong form for the run.
        if isinstance(code, int) and (3000 <= code < 4000 or code in _TRANSIENT_STATUS):
            raise RetriableAPIError(message, response)
        if self.auth.can_fall_back:
            raise AuthRejectedError(message)
        raise OCPIStatusError(message)


def describe(exc: BaseException | None) -> str:
    """One line about a transport failure, without URLs' queries, bodies or tokens."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, wire.RequestDeadline):
        return wire.DEADLINE_TEXT
    if isinstance(exc, requests.exceptions.Timeout):
        return "the request timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS certificate verification failed (for a private CA, set ca_bundle)"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "could not connect, or the connection was dropped"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the response was cut off"
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
        return "a URL the platform gave or the settings hold is not valid"
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    # Backstop: whatever a library put in its message, no token and no query leaves here.
    return redaction.REDACTOR(text.splitlines()[0] if text else type(exc).__name__)


def _phrase(status: int) -> str:
    """The standard reason phrase of a status: the server's own may hold anything."""
    try:
        return f" {HTTPStatus(status).phrase}"
    except ValueError:
        return ""


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
        body = _decode(_without_bom(response.content))
    except (msgspec.DecodeError, RecursionError):
        return ""
    code = status_number(body.get("status_code")) if isinstance(body, dict) else None
    return "" if code is None else f", OCPI status {code} ({status_meaning(code)})"


def status_number(value: Any) -> int | None:
    """An envelope's status_code as a number: an int, or a string of ASCII digits
    (`"1000"`, as some platforms send it)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return ascii_int(value, max_digits=6) if isinstance(value, str) else None


def _without_bom(content: bytes) -> bytes:
    return content[3:] if content.startswith(BOM) else content
