"""The HTTP session of a run, and what a response's headers may be trusted to say.

Redirects are followed only within the platform's own host (the token never leaves it),
certificates are always verified, requests are throttled across streams, and headers are
read defensively: numbers only when they are plain ASCII digits, Link headers capped before
parsing, Retry-After as seconds or an HTTP date. Paths in messages are cut short.
"""

from __future__ import annotations

import email.utils
import os
import threading
import time
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

import requests

from tap_ocpi.errors import OCPIError
from tap_ocpi.pagination import same_origin

#: Link headers of one response, together, beyond this are refused (real ones hold a few
#: links of a few hundred bytes); parsing stays linear below it.
MAX_LINK_HEADER = 64 * 1024
#: Paths in messages are cut here: a hostile link can make a path of megabytes.
_MAX_SHOWN_PATH = 120


def shown_path(url: str) -> str:
    path = urlsplit(url).path or "/"
    return path if len(path) <= _MAX_SHOWN_PATH else f"{path[:_MAX_SHOWN_PATH]}…"


def ascii_int(value: str | None, max_digits: int = 18) -> int | None:
    """A header's value as a number when it is plain ASCII digits (`²` passes isdigit and
    breaks int), else None: such a header counts as absent."""
    if value is None:
        return None
    value = value[: max_digits + 64].strip()
    if not value or len(value) > max_digits or not (value.isascii() and value.isdigit()):
        return None
    return int(value)


def retry_after_seconds(response: requests.Response | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), if any."""
    value = response.headers.get("Retry-After") if response is not None else None
    if not value or len(value) > 64:
        return None
    seconds = ascii_int(value)
    if seconds is not None:
        return float(seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
        if when.tzinfo is None:  # `-0000` means UTC with no zone stated
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


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

    max_redirects = 10

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is None:
            return None
        # requests would read a redirect's body whole (and decompressed) to reuse the
        # connection: a hostile body there is not capped. Drop it and the connection.
        resp._content = b""
        resp.close()
        if not redirect_allowed(resp.url, urljoin(resp.url, target)):
            # host and port, never the netloc: it may hold user:password
            host = urlsplit(urljoin(resp.url, target)).netloc.rpartition("@")[2][:100] or "?"
            raise OCPIError(
                f"GET {shown_path(resp.url)}: HTTP {resp.status_code} redirects to another host "
                f"({host}); not followed, so the token and the request stay with the platform"
            )
        return target


def ca_bundle(bundle: str | None) -> str | bool:
    """What every request of the run verifies certificates against: the ca_bundle setting
    (settings.py checked that it exists), else a bundle named by REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE (requests' own convention), else the default trust store. Verification
    is always on; there is no switch for it."""
    if bundle:
        return bundle
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


def link_values(response: requests.Response) -> list[str]:
    """The Link header (requests joins repeated ones with commas), refused when longer than
    any real one: the parse is linear, but a link of megabytes is no link to follow."""
    value = response.headers.get("Link")
    if not value:
        return []
    if len(value) > MAX_LINK_HEADER:
        raise OCPIError(
            f"GET {shown_path(response.url)}: the Link header is longer than {MAX_LINK_HEADER} "
            f"characters ({len(value)}); not a next link to follow"
        )
    return [value]


def int_header(response: requests.Response, name: str) -> int | None:
    return ascii_int(response.headers.get(name))
