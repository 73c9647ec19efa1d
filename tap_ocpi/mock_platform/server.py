"""HTTP side: routing, auth, OCPI envelope, pagination headers, faults and the admin API.

`OcpiApp.handle` turns one request into one `Response`; the handler only moves bytes.
Responses go out in a single write with Nagle disabled: a keep-alive client otherwise
waits ~40 ms per request for a delayed ACK (see measuring.md).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import msgspec

from tap_ocpi.mock_platform.config import (
    CPO_PARTY,
    EMSP_PARTY,
    HUB_PARTY,
    V211,
    V230,
    PlatformConfig,
    b64,
)
from tap_ocpi.mock_platform.faults import OFFSET_IGNORED, FaultDice, Faults, Verdict, hash_text
from tap_ocpi.mock_platform.render import OPERATOR
from tap_ocpi.mock_platform.rng import key
from tap_ocpi.mock_platform.store import MODULES_BY_VERSION, Store
from tap_ocpi.mock_platform.timeline import parse_datetime

LOGGED_HEADERS = (
    "Authorization",
    "X-Request-ID",
    "X-Correlation-ID",
    "OCPI-from-country-code",
    "OCPI-from-party-id",
    "OCPI-to-country-code",
    "OCPI-to-party-id",
    "Accept",
    "Content-Type",
    "User-Agent",
)
_ECHOED = ("X-Request-ID", "X-Correlation-ID")
_encode = msgspec.json.Encoder().encode
_HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"


class Headers(Protocol):
    """Case-insensitive header lookup (http.client's Message; a dict in unit tests)."""

    def get(self, name: str, /) -> str | None: ...


class RequestRecord(NamedTuple):
    """One logged request: method, path with query, and the headers in LOGGED_HEADERS."""

    method: str
    path: str
    headers: dict[str, str]


class Response(NamedTuple):
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"
    drop: bool = False  # close the connection without answering


class Route(NamedTuple):
    kind: str  # versions | details | credentials | list | object | unknown
    version: str | None = None
    module: str | None = None
    rest: tuple[str, ...] = ()


class OcpiApp:
    """The platform's request logic, independent of the socket handling."""

    def __init__(self, config: PlatformConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.base_url = f"http://{config.host}:{config.port}"
        token = config.effective_token
        self._plain, self._b64 = {token}, {b64(token)}
        self.log: deque[RequestRecord] = deque(maxlen=config.request_log_size)
        self.requests = 0
        self._list_counts: dict[str, int] = {}
        self._nonce = 0
        self._lock = threading.Lock()
        self.set_faults(config.faults)

    # ---- configuration -----------------------------------------------------------------

    def set_faults(self, values: Mapping[str, Any]) -> dict[str, Any]:
        faults = Faults.from_mapping(values)
        with self._lock:
            self.faults = faults
            self.dice = FaultDice(self.config.seed, faults)
            self._list_counts.clear()
            self._nonce = 0
        self.store.set_timestamp_mode(faults.timestamps)
        return faults.active()

    # ---- entry point -------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Headers, body: bytes) -> Response:
        self._record(method, target, headers)
        url = urlsplit(target)
        segments = [s for s in url.path.split("/") if s]
        query = parse_qsl(url.query, keep_blank_values=True)
        echo = tuple((h, v) for h in _ECHOED if (v := headers.get(h)))
        if segments[:1] == ["admin"]:
            return self._admin(method, segments[1:], body)
        route = self._route(segments)
        if not self._authorized(headers.get("Authorization"), route.version):
            return self._error(
                401,
                2000,
                "Unauthorized: missing or unknown token",
                echo,
                (("WWW-Authenticate", "Token"),),
            )
        if route.kind == "unknown":
            return self._error(404, 2000, f"Unknown path {url.path}", echo)
        if method != "GET":
            return self._error(405, 2000, f"{method} is not supported here", echo)
        in_scope = route.kind in ("list", "object") or self.faults.scope == "all"
        verdict = self.dice.roll() if in_scope else Verdict()
        faulty = self._fault_response(verdict, echo)
        if faulty is not None:
            return faulty
        resp = self._dispatch(route, url.path, query, echo)
        if verdict.truncate and resp.status == 200:
            resp = resp._replace(body=resp.body[: len(resp.body) // 2])
        return resp

    def _record(self, method: str, target: str, headers: Headers) -> None:
        picked = {h: v for h in LOGGED_HEADERS if (v := headers.get(h)) is not None}
        with self._lock:
            self.requests += 1
            self.log.append(RequestRecord(method, target, picked))

    def _route(self, segments: list[str]) -> Route:
        if segments[:1] != ["ocpi"]:
            return Route("unknown")
        rest = segments[1:]
        if rest == ["versions"]:
            return Route("versions")
        if not rest or rest[0] not in self.config.versions:
            return Route("unknown", rest[0] if rest and rest[0] in MODULES_BY_VERSION else None)
        version, rest = rest[0], rest[1:]
        if not rest:
            return Route("details", version)
        if rest == ["credentials"]:
            return Route("credentials", version)
        module = rest[0]
        if module not in MODULES_BY_VERSION[version]:
            return Route("unknown", version)
        if len(rest) == 1:
            return Route("list", version, module)
        if module == "locations" and len(rest) <= 4:
            return Route("object", version, module, tuple(rest[1:]))
        return Route("unknown", version)

    def _authorized(self, header: str | None, version: str | None) -> bool:
        scheme, _, value = (header or "").strip().partition(" ")
        if scheme.lower() != "token":
            return False
        enc = self.config.token_encoding
        if enc == "auto" and version is not None:
            enc = "plain" if version == V211 else "base64"
        accepted = {"plain": self._plain, "base64": self._b64}.get(enc, self._plain | self._b64)
        return value.strip() in accepted

    # ---- OCPI responses ----------------------------------------------------------------

    def _envelope(self, data: bytes | None, code: int = 1000, message: str = "Success") -> bytes:
        return self._envelope_parts([data] if data is not None else None, code, message)

    def _envelope_parts(
        self, data: list[bytes] | None, code: int = 1000, message: str = "Success"
    ) -> bytes:
        """The envelope around pre-serialized `data` parts, joined with a single copy
        (pages are a megabyte; repeated concatenation would copy them many times)."""
        tail = (
            b'"status_code":'
            + str(code).encode()
            + b',"status_message":'
            + _encode(message)
            + b',"timestamp":"'
            + self.store.timestamp().encode()
            + b'"}'
        )
        if data is None:
            return b"{" + tail
        return b"".join([b'{"data":', *data, b",", tail])

    def _error(
        self,
        status: int,
        code: int,
        message: str,
        echo: tuple[tuple[str, str], ...],
        extra: tuple[tuple[str, str], ...] = (),
    ) -> Response:
        return Response(status, self._envelope(None, code, message), echo + extra)

    def _ok(self, data: Any, echo: tuple[tuple[str, str], ...]) -> Response:
        return Response(200, self._envelope(_encode(data)), echo)

    def _fault_response(self, v: Verdict, echo: tuple[tuple[str, str], ...]) -> Response | None:
        if v.drop:
            return Response(0, drop=True)
        if v.throttle:
            retry = (("Retry-After", str(self.faults.retry_after)),)
            return self._error(429, 2000, "Too many requests", echo, retry)
        if v.error_status == 502:
            return Response(502, _HTML_502, echo, content_type="text/html")
        if v.error_status:
            return self._error(v.error_status, 3000, "Temporary server error", echo)
        if v.ocpi_error:
            return self._error(200, 3000, "Generic server error", echo)
        return None

    def _dispatch(
        self,
        route: Route,
        path: str,
        query: list[tuple[str, str]],
        echo: tuple[tuple[str, str], ...],
    ) -> Response:
        version = route.version or ""
        if route.kind == "versions":
            return self._ok(
                [{"version": v, "url": f"{self.base_url}/ocpi/{v}"} for v in self.config.versions],
                echo,
            )
        if route.kind == "details":
            details = self._details(version)
            return self._ok([details] if self.faults.quirk == "details_in_list" else details, echo)
        if route.kind == "credentials":
            return self._ok(self._credentials(version), echo)
        if route.kind == "object":
            obj = self.store.location_object(version, list(route.rest))
            if obj is None:
                return self._error(404, 2003, "Unknown location, EVSE or connector", echo)
            return self._ok(obj, echo)
        return self._list(version, route.module or "", path, query, echo)

    def _details(self, version: str) -> dict[str, Any]:
        endpoints = []
        for module in ("credentials", *MODULES_BY_VERSION[version]):
            ep: dict[str, str] = {"identifier": module}
            if version != V211:
                ep["role"] = "SENDER"
            ep["url"] = f"{self.base_url}/ocpi/{version}/{module}"
            if version == V211 and module != "credentials" and self.faults.quirk == "details_twice":
                # No roles in 2.1.1: a CPO-side URL that answers 404, listed first.
                endpoints.append({**ep, "url": f"{self.base_url}/ocpi/cpo/{version}/{module}"})
            endpoints.append(ep)
        return {"version": version, "endpoints": endpoints}

    def _credentials(self, version: str) -> dict[str, Any]:
        url = f"{self.base_url}/ocpi/versions"
        token = self.config.effective_token
        if version == V211:
            return {
                "url": url,
                "token": token,
                "party_id": CPO_PARTY[1],
                "country_code": CPO_PARTY[0],
                "business_details": OPERATOR,
            }
        roles = [("CPO", CPO_PARTY, OPERATOR), ("EMSP", EMSP_PARTY, {"name": "Voltaro eMobility"})]
        if version != V230:  # 2.3.0 dropped the HUB role in favour of hub_party_id
            roles.append(("HUB", HUB_PARTY, {"name": "Voltaro Roaming Hub"}))
        out: dict[str, Any] = {"token": token, "url": url}
        if version == V230:
            out["hub_party_id"] = "".join(HUB_PARTY)
        out["roles"] = [
            {
                "role": role,
                "business_details": details,
                "party_id": party[1],
                "country_code": party[0],
            }
            for role, party, details in roles
        ]
        return out

    def _list(
        self,
        version: str,
        module: str,
        path: str,
        query: list[tuple[str, str]],
        echo: tuple[tuple[str, str], ...],
    ) -> Response:
        params: dict[str, str] = {}
        for k, v in query:
            params.setdefault(k, v)
        try:
            offset = int(params.get("offset", "0"))
            limit = int(params["limit"]) if "limit" in params else None
            date_from = parse_datetime(params["date_from"]) if "date_from" in params else None
            date_to = parse_datetime(params["date_to"]) if "date_to" in params else None
        except ValueError as exc:
            return self._error(400, 2001, f"Invalid parameter: {exc}", echo)
        if offset < 0 or (limit is not None and limit < 1):
            return self._error(400, 2001, "offset must be >= 0 and limit >= 1", echo)
        if module == "sessions" and date_from is None:
            return self._error(400, 2001, "date_from is required for sessions", echo)
        f = self.faults
        cap = f.page_cap or self.config.page_cap
        size = cap if limit is None else min(limit, cap)
        if f.fail_from_page and offset // size + 1 >= f.fail_from_page:
            return self._error(500, 3000, "Internal server error", echo)
        self._maybe_shift(module, date_from, date_to, offset)
        serve = min(size, f.short_pages) if f.short_pages else size
        if f.quirk in OFFSET_IGNORED:
            offset = 0
        window = (date_from, date_to)
        if f.quirk == "duplicate":
            total, served, chunks = self._page_with_duplicate(
                module, version, window, offset, serve
            )
        else:
            total, served, chunks = self.store.page(
                module, version, date_from=date_from, date_to=date_to, offset=offset, count=serve
            )
        if f.quirk == "kwh_case" and module == "sessions":
            chunks = [c.replace(b'"kwh":', b'"kWh":') for c in chunks]
        headers = list(echo) + self._paging_headers(
            path, query, offset=offset, served=served, size=size, total=total, cap=cap
        )
        if f.latency_ms:
            time.sleep(f.latency_ms / 1000)
        return Response(200, self._envelope_parts(_array_parts(chunks)), tuple(headers))

    def _paging_headers(
        self,
        path: str,
        query: list[tuple[str, str]],
        *,
        offset: int,
        served: int,
        size: int,
        total: int,
        cap: int,
    ) -> list[tuple[str, str]]:
        """X-Total-Count, X-Limit and the next Link, as the faults and quirks shape them."""
        f = self.faults
        if f.quirk == "no_headers":
            return []
        if f.quirk == "huge_total":
            return [("X-Total-Count", "1000000"), ("X-Limit", str(cap))]
        out = [] if f.no_total else [("X-Total-Count", str(total)), ("X-Limit", str(cap))]
        if f.quirk == "nonce_link":
            if served >= size:  # every full page says "there is more", at a new URL
                with self._lock:
                    self._nonce += 1
                    nonce = self._nonce
                extra = [(k, v) for k, v in query if k not in ("offset", "nonce")]
                extra.append(("nonce", str(nonce)))
                target = f"{path}?{urlencode(extra, quote_via=quote, safe=':')}"
                out.append(("Link", f'<{self.base_url}{target}>; rel="next"'))
            return out
        nxt = offset + served
        if served and nxt < total:
            link = self._link(path, query, nxt, size, served)
            if link is not None:
                out.append(("Link", link))
        return out

    def _page_with_duplicate(
        self,
        module: str,
        version: str,
        window: tuple[float | None, float | None],
        offset: int,
        count: int,
    ) -> tuple[int, int, list[bytes]]:
        """A window's list with one object listed twice (entry d+1 repeats entry d, d seeded
        per module): (entries, served, chunks) for entries [offset, offset + count)."""
        date_from, date_to = window
        real_total = self.store.page(
            module, version, date_from=date_from, date_to=date_to, offset=0, count=0
        )[0]
        if not real_total:
            return 0, 0, []
        d = key(self.config.seed, hash_text(module)) % real_total
        end = min(offset + count, real_total + 1)
        # Entry i is object i up to d, object i - 1 after it: at most three runs of objects.
        runs = [(offset, min(end, d + 1) - offset), (d, 1 if offset <= d + 1 < end else 0)]
        runs.append((max(offset, d + 2) - 1, end - max(offset, d + 2)))
        chunks: list[bytes] = []
        for start, n in runs:
            if n > 0:
                chunks += self.store.page(
                    module, version, date_from=date_from, date_to=date_to, offset=start, count=n
                )[2]
        return real_total + 1, max(0, end - offset), chunks

    def _maybe_shift(
        self, module: str, date_from: float | None, date_to: float | None, offset: int
    ) -> None:
        every = self.faults.unstable_every
        if not every:
            return
        with self._lock:
            n = self._list_counts[module] = self._list_counts.get(module, 0) + 1
        if n % every == 0 and offset > 0:
            self.store.shift_one(module, date_from, date_to, offset)

    def _link(
        self, path: str, query: list[tuple[str, str]], offset: int, limit: int, served: int
    ) -> str | None:
        """The next-page Link: all original filters, new offset and limit (plus faults)."""
        mode = self.faults.link
        if mode == "missing":
            return None
        if mode == "skip_ahead":
            offset += served  # as if one page had been served twice over
        if mode == "not_found":
            path = path.rstrip("/") + "/page"
        params = [("offset", str(offset)), ("limit", str(limit))]
        params += [(k, v) for k, v in query if k not in ("offset", "limit")]
        target = f"{path}?{urlencode(params, quote_via=quote, safe=':')}"
        base = self.base_url
        if mode == "wrong_host":
            base = "http://ocpi.invalid:" + base.rsplit(":", 1)[1]
        elif mode == "wrong_port":
            base = f"http://127.0.0.1:{int(base.rsplit(':', 1)[1]) % 65535 + 1}"
        elif mode == "wrong_scheme":
            base = "https://" + base.split("://", 1)[1]
        url = target if mode == "relative" else base + target
        rel = {"upper_rel": 'REL="NEXT"', "unquoted_rel": "rel=next"}.get(mode, 'rel="next"')
        return f"<{url}>; {rel}"

    # ---- admin API (no OCPI token) -----------------------------------------------------

    def stats(self) -> dict[str, Any]:
        out = self.store.stats()
        out["requests"] = self.requests
        out["faults"] = self.faults.active()
        return out

    def _admin(self, method: str, segments: list[str], body: bytes) -> Response:
        name = "/".join(segments)
        allowed = {
            "stats": ("GET",),
            "requests": ("GET",),
            "faults": ("GET", "POST"),
            "advance": ("POST",),
        }
        if name not in allowed:
            return _json(404, {"error": f"unknown admin endpoint /admin/{name}"})
        if method not in allowed[name]:
            return _json(405, {"error": f"/admin/{name} accepts {', '.join(allowed[name])}"})
        try:
            payload = msgspec.json.decode(body) if body.strip() else {}
            if not isinstance(payload, dict):
                raise ValueError("body must be a JSON object")
            return _json(200, self._admin_call(name, method, payload))
        except (ValueError, TypeError, msgspec.DecodeError) as exc:
            return _json(400, {"error": str(exc)})

    def _admin_call(self, name: str, method: str, payload: dict[str, Any]) -> Any:
        if name == "stats":
            return self.stats()
        if name == "requests":
            with self._lock:
                return [r._asdict() for r in self.log]
        if name == "faults":
            return self.set_faults(payload) if method == "POST" else self.faults.active()
        known = {"new_sessions", "updated_sessions", "updated_locations", "minutes"}
        unknown = set(payload) - known
        if unknown:
            raise ValueError(f"unknown advance fields: {', '.join(sorted(unknown))}")
        ints = {k: int(payload.get(k, 0)) for k in known - {"minutes"}}
        return self.store.advance(minutes=float(payload.get("minutes", 0)), **ints)


def _array_parts(chunks: list[bytes]) -> list[bytes]:
    """["[", c1, ",", c2, ..., "]"]: a JSON array of serialized chunks, not yet joined."""
    if not chunks:
        return [b"[]"]
    parts = [b","] * (2 * len(chunks) + 1)
    parts[0], parts[-1] = b"[", b"]"
    parts[1::2] = chunks
    return parts


def _json(status: int, data: Any) -> Response:
    return Response(status, _encode(data))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections give their thread back eventually
    server: PlatformServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        resp = self.server.app.handle(method, self.path, self.headers, body)
        if resp.drop:
            self.close_connection = True
            return
        lines = [
            f"HTTP/1.1 {resp.status} {HTTPStatus(resp.status).phrase}",
            f"Content-Type: {resp.content_type}",
            f"Content-Length: {len(resp.body)}",
        ]
        lines += [f"{k}: {v}" for k, v in resp.headers]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(b"".join((head, resp.body)))  # one write per response

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request log is kept in OcpiApp.log instead."""


class PlatformServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that can cut its open keep-alive connections on stop."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: OcpiApp) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.app = app
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request (a killed tap) is no server error: stay quiet."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
