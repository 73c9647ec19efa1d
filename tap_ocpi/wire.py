"""One HTTP response, bounded: a deadline for the whole request and a cap on its bytes.

requests applies its timeout to each socket read, so a server that drips its headers or its
body a byte at a time is never timed out. Here every request gets a monotonic deadline: a
watchdog thread shuts the request's socket down when it passes (the blocked read then ends),
and the body is read in pieces against that deadline and against a byte cap, on the wire
and after decompression (a gzip bomb stops at the cap, never in a MemoryError).
"""

from __future__ import annotations

import contextlib
import heapq
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from tap_ocpi.errors import OCPIError

#: Bytes asked of the socket per read: a typical page arrives in one piece.
READ_SIZE = 4 << 20
#: What the tap accepts as compressed bodies (requests would add br/zstd when installed;
#: these two are decoded here under the byte cap).
ACCEPT_ENCODING = "gzip, deflate"


DEADLINE_TEXT = "the request timed out (not complete within request_timeout)"


class RequestDeadline(requests.exceptions.Timeout):
    """The whole request (connect, headers, body) took longer than request_timeout."""


class Watch:
    """The deadline of one request and the sockets it uses (shut down when it passes)."""

    __slots__ = ("deadline", "fired", "sockets")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self.sockets: list[socket.socket] = []

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def fire(self) -> None:
        self.fired = True
        for sock in self.sockets:
            # shutdown, not close: another thread is blocked in a read on this socket, and
            # closing would free its descriptor for reuse under that read. The plain socket's
            # shutdown: a TLS socket's own would drop its TLS state under that read.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class Watchdog:
    """One daemon thread firing the watches whose deadline passed (started on first use)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watch]] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._count = 0

    def arm(self, watch: Watch) -> None:
        with self._cond:
            self._count += 1
            heapq.heappush(self._heap, (watch.deadline, self._count, watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadline", daemon=True)
                self._thread.start()
            self._cond.notify()

    def disarm(self, watch: Watch) -> None:
        with self._cond:
            # Lazy removal: a disarmed watch is dropped when it reaches the top of the heap.
            watch.deadline = float("-inf")
            watch.sockets = []

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap:
                    self._cond.wait()
                deadline, _, watch = self._heap[0]
                delay = deadline - time.monotonic()
                if watch.deadline == float("-inf"):
                    heapq.heappop(self._heap)
                    continue
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
                watch.fire()


WATCHDOG = Watchdog()
_current = threading.local()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[Watch]:
    """The request made inside this block (in this thread) ends by `seconds` from now."""
    watch = Watch(time.monotonic() + seconds)
    _current.watch = watch
    WATCHDOG.arm(watch)
    try:
        yield watch
    finally:
        _current.watch = None
        WATCHDOG.disarm(watch)


def _watch_socket(sock: Any) -> None:
    watch: Watch | None = getattr(_current, "watch", None)
    if watch is not None and sock is not None:
        watch.sockets.append(sock)
        if watch.remaining() <= 0:
            watch.fire()


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_socket(sock)  # a TLS handshake that drips is bounded too
        return sock

    def getresponse(self) -> Any:
        _watch_socket(self.sock)  # a kept-alive connection made by an earlier request
        return super().getresponse()


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_socket(sock)
        return sock

    def getresponse(self) -> Any:
        _watch_socket(self.sock)
        return super().getresponse()


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """An adapter whose connections register their sockets with the current deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def mount(session: requests.Session) -> None:
    """Make every request of the session watchable, and ask only for encodings we cap."""
    adapter = WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["Accept-Encoding"] = ACCEPT_ENCODING


# -- the body ------------------------------------------------------------------------------
class ResponseTooLargeError(OCPIError):
    """A response beyond max_response_mb."""


class _Inflater:
    """gzip/deflate decoding in pieces of at most READ_SIZE (a bomb never expands at once)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        # 32 + 15: zlib or gzip header, detected. Raw deflate (no header) is tried on failure.
        self._z = zlib.decompressobj(47)
        self._started = False

    def inflate(self, data: bytes) -> Iterator[bytes]:
        while data:
            yield self._decompress(data)
            data = self._z.unconsumed_tail

    def _decompress(self, data: bytes) -> bytes:
        try:
            out = self._z.decompress(data, READ_SIZE)
        except zlib.error:
            if self._started or self.encoding != "deflate":
                raise
            self._z = zlib.decompressobj(-15)
            out = self._z.decompress(data, READ_SIZE)
        self._started = True
        return out

    def flush(self) -> bytes:
        return self._z.flush()  # what is left after all input was inflated: one window


def _inflater(response: requests.Response, where: str) -> _Inflater | None:
    value = response.headers.get("Content-Encoding", "")[:64].strip().lower()
    if value in ("", "identity"):
        return None
    if value in ("gzip", "x-gzip", "deflate"):
        return _Inflater("deflate" if value == "deflate" else "gzip")
    raise OCPIError(f"{where}: unsupported Content-Encoding (only gzip and deflate are read)")


def read_body(response: requests.Response, watch: Watch, limit: int, where: str) -> bytes:
    """The whole body of a streamed response, within the deadline and `limit` bytes on the
    wire and after decompression. Raises RequestDeadline, ResponseTooLargeError, or a requests error
    for a connection that broke."""
    too_large = (
        f"{where}: the response is larger than max_response_mb ({limit >> 20} MB) "
        "{}; raise the setting if the platform's pages really are this large"
    )
    length = response.headers.get("Content-Length", "")
    if 0 < len(length) <= 20 and length.isascii() and length.isdigit() and int(length) > limit:
        raise ResponseTooLargeError(too_large.format("on the wire"))
    inflater = _inflater(response, where)
    raw = response.raw
    chunks: list[bytes] = []
    wire = size = 0
    try:
        while True:
            if watch.remaining() <= 0:
                raise RequestDeadline(DEADLINE_TEXT)
            piece = raw.read(min(READ_SIZE, limit + 1 - wire), decode_content=False)
            if not piece:
                break
            wire += len(piece)
            if wire > limit:
                raise ResponseTooLargeError(too_large.format("on the wire"))
            for part in (piece,) if inflater is None else inflater.inflate(piece):
                size += len(part)
                if size > limit:
                    raise ResponseTooLargeError(too_large.format("after decompression"))
                chunks.append(part)
        if inflater is not None:
            tail = inflater.flush()
            if size + len(tail) > limit:
                raise ResponseTooLargeError(too_large.format("after decompression"))
            chunks.append(tail)
    except (urllib3.exceptions.HTTPError, OSError, zlib.error) as exc:
        if watch.fired:
            raise RequestDeadline(DEADLINE_TEXT) from exc
        if isinstance(exc, zlib.error):
            raise requests.exceptions.ContentDecodingError("the body is not valid gzip") from exc
        if isinstance(exc, (urllib3.exceptions.ReadTimeoutError, TimeoutError)):
            raise requests.exceptions.ReadTimeout("the request timed out") from exc
        raise requests.exceptions.ChunkedEncodingError("the response was cut off") from exc
    if watch.fired:  # the socket was shut down just as the body ended: it may be short
        raise RequestDeadline(DEADLINE_TEXT)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
