"""Helpers of the robustness and crash-safety tests: a scripted OCPI server, a recording
listener, and key/fault bookkeeping.

`Scripted` plays what real servers do that the bundled test platform does not (looping or
broken links, odd objects, redirects, HTML error pages): each test scripts the routes it
needs. `Recorder` is a second listener that answers nothing useful and records whatever
arrives, to prove that no request (and no token) went somewhere it should not.
"""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from support.config import TOP_LEVEL
from tap_ocpi.mock_platform import MockPlatform
from tap_ocpi.privacy import PrivacyPolicy
from tap_ocpi.schemas import PRIMARY_KEYS, STREAM_SCHEMAS

VERSION = "2.2.1"
SALT = "robustness-salt-0123456789abcdef"


# -- a scripted OCPI server -----------------------------------------------------------------


@dataclass
class Hit:
    """One request that reached a scripted server."""

    method: str
    target: str  # path with query
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query))


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    delay: float = 0.0


Handler = Callable[[Hit], Reply]


def envelope(data: Any, status_code: int = 1000, headers: dict[str, str] | None = None) -> Reply:
    body = {
        "data": data,
        "status_code": status_code,
        "status_message": "Success",
        "timestamp": "2026-01-01T00:00:00Z",
    }
    return Reply(200, json.dumps(body).encode(), dict(headers or {}))


ListenerT = TypeVar("ListenerT", bound="Listener")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Listener:
    """A threaded HTTP(S) server on 127.0.0.1 calling `answer(hit)` for every request."""

    def __init__(self, answer: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.hits: list[Hit] = []
        self._answer = answer
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                hit = Hit("GET", self.path, dict(self.headers.items()))
                outer.hits.append(hit)
                reply = outer._answer(hit)
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up (timeout tests)
                    self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), _H)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        scheme = "https" if tls is not None else "http"
        self.base = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self: ListenerT) -> ListenerT:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class Recorder(Listener):
    """Records every request that arrives (as a server or as an HTTP proxy) and refuses it."""

    def __init__(self) -> None:
        super().__init__(lambda hit: Reply(502, b"not here", content_type="text/plain"))


class Scripted(Listener):
    """A small OCPI 2.2.1 platform: versions, details, and list routes a test scripts.

    `modules` maps a module identifier to its URL path; `route(path, handler)` answers one
    path (query ignored for routing, available on the hit). Unrouted paths answer 404.
    """

    def __init__(
        self,
        modules: dict[str, str],
        tls: ssl.SSLContext | None = None,
        wrap_versions: bool = False,
    ) -> None:
        self.routes: dict[str, Handler] = {}
        super().__init__(self._dispatch, tls)
        self.modules = modules
        versions = [{"version": VERSION, "url": f"{self.base}/ocpi/{VERSION}"}]
        self.route(
            "/ocpi/versions",
            lambda hit: envelope({"versions": versions} if wrap_versions else versions),
        )
        self.route(
            f"/ocpi/{VERSION}",
            lambda hit: envelope(
                {
                    "version": VERSION,
                    "endpoints": [
                        {"identifier": m, "role": "SENDER", "url": self.base + p}
                        for m, p in self.modules.items()
                    ],
                }
            ),
        )

    @property
    def versions_url(self) -> str:
        return f"{self.base}/ocpi/versions"

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def hits_to(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    def _dispatch(self, hit: Hit) -> Reply:
        handler = self.routes.get(hit.path)
        if handler is None:
            return Reply(404, b"<html><body>Not Found</body></html>", content_type="text/html")
        return handler(hit)


def paged(
    objects: list[Any],
    cap: int = 1000,
    link: Callable[[Hit, int, int], str | None] | None = None,
    total: Callable[[int], int | None] = lambda n: n,
) -> Handler:
    """A list endpoint: those of `objects` (a list the test may change) in the request's
    [date_from, date_to) window of last_updated, paged by offset/limit (capped), with
    X-Total-Count from `total` and a Link from `link(hit, next_offset, page_size)` (default:
    the spec's absolute link with the request's filters)."""

    def answer(hit: Hit) -> Reply:
        query = hit.query
        low, high = query.get("date_from", ""), query.get("date_to", "~")
        window = [o for o in objects if not _dated(o) or low <= o["last_updated"] < high]
        offset = int(query.get("offset", 0))
        size = min(int(query.get("limit", cap)), cap)
        page = window[offset : offset + size]
        headers = {"X-Limit": str(size)}
        count = total(len(window))
        if count is not None:
            headers["X-Total-Count"] = str(count)
        nxt = offset + len(page)
        if page and nxt < len(window):
            make = link or spec_link
            value = make(hit, nxt, size)
            if value:
                headers["Link"] = value
        return envelope(page, headers=headers)

    return answer


CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _dated(obj: Any) -> bool:
    """Whether an object has a canonical last_updated (unreadable ones are always served)."""
    stamp = obj.get("last_updated") if isinstance(obj, dict) else None
    return isinstance(stamp, str) and CANONICAL.fullmatch(stamp) is not None


def spec_link(hit: Hit, offset: int, limit: int) -> str:
    host = hit.headers.get("Host", "")
    query = {**hit.query, "offset": str(offset), "limit": str(limit)}
    return f'<http://{host}{hit.path}?{urlencode(query)}>; rel="next"'


# -- keys, expectations, faults -------------------------------------------------------------


def key_of(stream: str, record: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(record.get(k) for k in PRIMARY_KEYS[stream])


def expected_keys(
    platform: MockPlatform, streams: tuple[str, ...] = TOP_LEVEL, version: str = VERSION
) -> dict[str, set[tuple[Any, ...]]]:
    """The keys every stream must emit, as the tap emits them (tokens.uid pseudonymised)."""
    return {
        stream: {key for key, _ in rows}
        for stream, rows in expected_stamps(platform, streams, version).items()
    }


def expected_stamps(
    platform: MockPlatform, streams: tuple[str, ...] = TOP_LEVEL, version: str = VERSION
) -> dict[str, list[tuple[tuple[Any, ...], str]]]:
    """(key as emitted, last_updated as served) of every object the platform serves now;
    for locations also its EVSEs and connectors."""
    policy = PrivacyPolicy.from_config({"privacy_salt": SALT}, STREAM_SCHEMAS)
    out: dict[str, list[tuple[tuple[Any, ...], str]]] = {}
    for stream in streams:
        if stream in ("evses", "connectors"):
            continue
        rows = list(platform.expected(stream, version))
        keyed = rows
        if stream == "tokens":
            hashed = policy.filter_for("tokens")
            keyed = [hashed({k: r[k] for k in PRIMARY_KEYS["tokens"]}, False) for r in rows]
        out[stream] = [
            (key_of(stream, k), r["last_updated"]) for k, r in zip(keyed, rows, strict=True)
        ]
        if stream == "locations":
            evses, connectors = [], []
            for loc in rows:
                for evse in loc.get("evses") or []:
                    evses.append(
                        (
                            (loc["country_code"], loc["party_id"], loc["id"], evse["uid"]),
                            evse["last_updated"],
                        )
                    )
                    for conn in evse.get("connectors") or []:
                        connectors.append(
                            (
                                (
                                    loc["country_code"],
                                    loc["party_id"],
                                    loc["id"],
                                    evse["uid"],
                                    conn["id"],
                                ),
                                conn["last_updated"],
                            )
                        )
            out["evses"], out["connectors"] = evses, connectors
    return out


def emitted_keys(messages: list[dict[str, Any]]) -> dict[str, list[tuple[Any, ...]]]:
    """Keys of the RECORD messages per stream, in order (duplicates kept)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for m in messages:
        if m["type"] == "RECORD":
            out.setdefault(m["stream"], []).append(key_of(m["stream"], m["record"]))
    return out


@contextmanager
def counting_faults(platform: MockPlatform, **faults: Any) -> Iterator[Counter[str]]:
    """Set faults and count what the platform's dice decided, request by request."""
    platform.set_faults(faults)
    counts: Counter[str] = Counter()
    dice = platform.app.dice
    roll = dice.roll

    def counted() -> Any:
        verdict = roll()
        for name in ("drop", "throttle", "ocpi_error", "truncate"):
            if getattr(verdict, name):
                counts[name] += 1
        if verdict.error_status:
            counts[f"http_{verdict.error_status}"] += 1
        counts["rolled"] += 1
        return verdict

    dice.roll = counted  # type: ignore[method-assign]
    moves = platform.store.moves
    try:
        yield counts
    finally:
        counts["shifted"] = platform.store.moves - moves
        platform.set_faults()


@contextmanager
def timed_requests(platform: MockPlatform) -> Iterator[list[tuple[float, str, int]]]:
    """(monotonic time, path, HTTP status) of each request the platform answered."""
    seen: list[tuple[float, str, int]] = []
    app = platform.app
    handle = app.handle

    def timed(method: str, target: str, headers: Any, body: bytes) -> Any:
        at = time.monotonic()
        response = handle(method, target, headers, body)
        seen.append((at, target, 0 if response.drop else response.status))
        return response

    app.handle = timed  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        del app.handle
