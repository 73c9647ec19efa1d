"""A small, deliberately hostile OCPI server on 127.0.0.1 for tests.

It answers the versions and version-details documents like a healthy platform, and every
module URL with whatever a test installs: canned OCPI pages, raw bytes, headers dripped one
byte at a time, endless or compressed bodies. Every handler writes straight to the socket,
so a test controls each byte and each pause. Requests are recorded (path and query).

    with HostileServer(modules=("sessions",)) as server:
        server.route("sessions", page([{"id": "s1", ...}], headers={"X-Total-Count": "1"}))
        run = run_tap(server.config(token="..."))
"""

from __future__ import annotations

import functools
import json
import socketserver
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from support.config import tap_config

# The settings of a run against this server (it has no token of its own).
RUN: dict[str, Any] = {
    "token": "hostile-test-token-0123456789",
    "privacy_salt": "a-salt-of-sixteen-or-more-chars",
    "request_timeout": 5,
    "max_retries": 1,
    "retry_max_wait": 1,
    "start_date": "2020-01-01T00:00:00Z",
}


@dataclass
class Request:
    """One request as the server saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    wfile: Any = field(repr=False)


Handler = Callable[[Request], None]


def raw(data: bytes) -> Handler:
    """Write these exact bytes (status line, headers and body) and close."""

    def handle(request: Request) -> None:
        request.wfile.write(data)

    return handle


def respond(
    body: bytes | str = b"",
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> Handler:
    """A complete HTTP response with Content-Length."""
    payload = body.encode() if isinstance(body, str) else body
    fields = {"Content-Type": content_type, "Content-Length": str(len(payload)), **(headers or {})}
    return raw(head(status, fields) + payload)


def page(
    data: Any,
    *,
    headers: dict[str, str] | None = None,
    status_code: Any = 1000,
    status: int = 200,
) -> Handler:
    """An OCPI envelope holding `data` (a list for list pages)."""
    body = {
        "status_code": status_code,
        "status_message": "Success",
        "timestamp": "2026-01-01T00:00:00Z",
        "data": data,
    }
    return respond(json.dumps(body), status=status, headers=headers)


def raw_page(
    elements: Iterable[bytes],
    *,
    status_code: bytes = b"1000",
    prefix: bytes = b"",
    headers: dict[str, str] | None = None,
) -> Handler:
    """An OCPI list page whose `data` elements are these exact bytes (invalid JSON, invalid
    UTF-8, whatever a test needs), after `prefix` (e.g. a BOM)."""
    body = (
        prefix
        + b'{"status_code": '
        + status_code
        + b', "status_message": "Success", "timestamp": "2026-01-01T00:00:00Z", "data": ['
        + b", ".join(elements)
        + b"]}"
    )
    return respond(body, headers=headers)


def by_query(handlers: dict[str, Handler], default: Handler, param: str = "page") -> Handler:
    """Dispatch on one query parameter's value (`?page=2` → handlers["2"])."""

    def handle(request: Request) -> None:
        query = dict(parse_qsl(request.query))
        handlers.get(query.get(param, ""), default)(request)

    return handle


def hold(stop: threading.Event, head: bytes = b"") -> Handler:
    """Write `head` (possibly nothing) and then nothing more until `stop` is set."""

    def handle(request: Request) -> None:
        if head:
            request.wfile.write(head)
            request.wfile.flush()
        stop.wait(120)

    return handle


def chunked_forever(piece: bytes = b" " * 65536, stop: threading.Event | None = None) -> Handler:
    """A 200 JSON response with a chunked body that never ends (until the client hangs up)."""

    def chunks() -> Iterator[bytes]:
        frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        while stop is None or not stop.is_set():
            yield frame

    return stream(
        head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}),
        chunks(),
    )


@functools.cache
def gzip_of_zeros(gib: int) -> bytes:
    """A valid gzip member of `gib` GiB of zero bytes, about 1 MB per GiB, built in a second:
    one deflate block of 16 MiB repeated (a full flush makes blocks independent)."""
    zeros = bytes(16 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    count = gib * 64
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    size = (count * len(zeros)) & 0xFFFFFFFF
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + block * count + compressor.flush() + struct.pack("<II", crc, size)


def drip(
    data: bytes,
    *,
    delay: float,
    chunk: int = 1,
    stop: threading.Event | None = None,
    first: bytes = b"",
) -> Handler:
    """Write `first` at once, then `data` `chunk` bytes at a time with `delay` seconds
    between writes (a slow loris); stops early when the client hangs up or `stop` is set."""

    def handle(request: Request) -> None:
        if first:
            request.wfile.write(first)
            request.wfile.flush()
        for i in range(0, len(data), chunk):
            if stop is not None and stop.is_set():
                return
            request.wfile.write(data[i : i + chunk])
            request.wfile.flush()
            time.sleep(delay)

    return handle


def stream(head: bytes, chunks: Iterable[bytes]) -> Handler:
    """Write `head` then every chunk as it comes (e.g. an endless generator)."""

    def handle(request: Request) -> None:
        request.wfile.write(head)
        for chunk in chunks:
            request.wfile.write(chunk)

    return handle


def sequence(*handlers: Handler) -> Handler:
    """The n-th request gets the n-th handler; the last one repeats."""
    calls = {"n": 0}
    lock = threading.Lock()

    def handle(request: Request) -> None:
        with lock:
            index = min(calls["n"], len(handlers) - 1)
            calls["n"] += 1
        handlers[index](request)

    return handle


def head(status: int, headers: dict[str, str] | Iterable[tuple[str, str]]) -> bytes:
    """A status line and headers (and `Connection: close`), for raw handlers; pairs allow
    a header more than once."""
    pairs = headers.items() if isinstance(headers, dict) else headers
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in pairs]
    lines.append("Connection: close")
    # Latin-1 where it fits (the client reads `²` as `²`), else UTF-8 bytes, as servers do.
    return b"".join(_bytes(line) + b"\r\n" for line in lines) + b"\r\n"


def _bytes(line: str) -> bytes:
    try:
        return line.encode("latin-1")
    except UnicodeEncodeError:
        return line.encode("utf-8")


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def setup(self) -> None:
        self.handshake_failed = False
        if isinstance(self.request, ssl.SSLSocket):
            try:
                self.request.settimeout(10)
                self.request.do_handshake()
                self.request.settimeout(None)
            except OSError:  # the client refused the certificate, or hung up
                self.handshake_failed = True
        super().setup()

    def handle(self) -> None:
        if self.handshake_failed:
            return
        try:
            line = self.rfile.readline(65537).decode("latin-1").strip()
            if not line:
                return
            method, target, _ = line.split(" ", 2)
            headers: dict[str, str] = {}
            while True:
                header = self.rfile.readline(65537).decode("latin-1")
                if header in ("\r\n", "\n", ""):
                    break
                name, _, value = header.partition(":")
                headers[name.strip().lower()] = value.strip()
            parts = urlsplit(target)
            request = Request(method, parts.path, parts.query, headers, self.wfile)
            self.server.owner.record(request)
            self.server.owner.handler_for(parts.path)(request)
        except OSError:
            pass  # the client hung up (broken pipe, reset): what a timeout or a byte cap does


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: HostileServer
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.tls is not None:  # the handshake runs in the handler's thread (setup)
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address


class HostileServer:
    """A loopback OCPI server whose module URLs answer what the test installs."""

    def __init__(
        self,
        version: str = "2.2.1",
        modules: Iterable[str] = ("sessions",),
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.version = version
        self.modules = tuple(modules)
        self.requests: list[Request] = []
        self._routes: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._server.tls = tls
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        #: Set when the server stops: long-running handlers should end then.
        self.stopping = threading.Event()

    @property
    def base(self) -> str:
        host, port = str(self._server.server_address[0]), int(self._server.server_address[1])
        scheme = "https" if self._server.tls is not None else "http"
        return f"{scheme}://{host}:{port}"

    @property
    def versions_url(self) -> str:
        return f"{self.base}/ocpi/versions"

    def module_path(self, module: str) -> str:
        return f"/ocpi/{self.version}/{module}"

    def route(self, module_or_path: str, handler: Handler) -> None:
        """Install the handler for a module (by name) or an exact path."""
        path = module_or_path
        if not path.startswith("/"):
            path = self.module_path(module_or_path)
        self._routes[path] = handler

    def config(self, **overrides: Any) -> dict[str, Any]:
        """A tap config pointing at this server, with short timeouts and few retries."""
        return tap_config(self, RUN, **overrides)

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def module_requests(self, module: str) -> list[Request]:
        return [r for r in self.requests if r.path == self.module_path(module)]

    def handler_for(self, path: str) -> Handler:
        if path in self._routes:
            return self._routes[path]
        if path == "/ocpi/versions":
            url = f"{self.base}/ocpi/{self.version}"
            return page([{"version": self.version, "url": url}])
        if path == f"/ocpi/{self.version}":
            return page(self._details())
        if path.startswith(f"/ocpi/{self.version}/"):
            return page([], headers={"X-Total-Count": "0"})
        return respond(b'{"error": "not found"}', status=404)

    def _details(self) -> dict[str, Any]:
        endpoints = [
            {"identifier": m, "role": "SENDER", "url": f"{self.base}{self.module_path(m)}"}
            for m in self.modules
        ]
        return {"version": self.version, "endpoints": endpoints}

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
