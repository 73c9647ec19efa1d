"""OCPI list pagination: follow `Link: <…>; rel="next"` as given, and never be fooled by it.

The spec's rule is simple (follow the next link; none means done), but servers send relative
links, upper-case `REL`, several relations, no link at all although `X-Total-Count` says more,
links to another host, links that fail, links that lead back to a page already read, or no
paging headers at all. `Cursor` decides the next URL from what a page said; the list reader
(reading.py) only asks it.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from tap_ocpi.errors import OCPIError
from tap_ocpi.timestamps import format_timestamp, parse_timestamp


def next_link(headers: Iterable[str], request_url: str) -> str | None:
    """Return the absolute `rel=next` URL among Link header values, or None.

    Matches rel case-insensitively, quoted or not, among several relation types and several
    links; a relative reference is resolved against the request URL. A target that is not a
    URL at all (an unclosed IPv6 bracket, a bad port) counts as no link: the caller then
    pages by offset while pages are full or X-Total-Count says there is more. Linear in the
    header (`find` and `split`, no regex): a hostile header of `<<<<…` must not cost
    quadratic time.
    """
    for header in headers:
        for target, params in _link_values(header):
            if _is_next(params):
                return _absolute(request_url, target.strip())
    return None


def _link_values(header: str) -> Iterator[tuple[str, str]]:
    """RFC 8288 link-values: `<uri>` then `;name=value` parameters (quoted values may hold
    commas), so each link's parameters run up to the next `<`."""
    pos = 0
    while (start := header.find("<", pos)) >= 0:
        end = header.find(">", start + 1)
        if end < 0:
            return
        following = header.find("<", end + 1)
        pos = len(header) if following < 0 else following
        yield header[start + 1 : end], header[end + 1 : pos]


def _is_next(params: str) -> bool:
    for param in params.split(";")[1:]:
        name, equals, value = param.partition("=")
        if not equals or name.strip().lower() != "rel":
            continue
        value = value.strip()
        quoted = value.startswith('"')
        value = value[1:].partition('"')[0] if quoted else value.partition(",")[0]
        if "next" in value.lower().split():
            return True
    return False


def _absolute(base: str, target: str) -> str | None:
    try:
        url = urljoin(base, target)
        urlsplit(url).port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    return url


def _parse(text: str) -> datetime:
    moment = parse_timestamp(text)
    if moment is None:  # windows are built by the tap itself, always canonical
        raise ValueError(text)
    return moment


def _text(moment: datetime) -> str:
    return format_timestamp(moment, fraction=False)


def split_window(window: dict[str, str], parts: int) -> list[dict[str, str]]:
    """Cut a [date_from, date_to) window into `parts` adjacent windows of equal length."""
    if parts <= 1:
        return [window]
    start = _parse(window.get("date_from") or "1970-01-01T00:00:00Z")
    end = _parse(window["date_to"])
    step = (end - start) / parts
    edges = [start + step * i for i in range(parts)] + [end]
    return [
        {"date_from": _text(a), "date_to": _text(b)}
        for a, b in pairwise(edges)
        if _text(a) < _text(b)
    ]


def same_origin(url: str, base: str) -> bool:
    """Whether url has the scheme, host and port of base (the token may go there)."""
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme.lower(), a.netloc.lower()) == (b.scheme.lower(), b.netloc.lower())


def with_query(url: str, params: dict[str, str | int]) -> str:
    """The module URL with its own query plus params (params win), for offset paging."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update({k: str(v) for k, v in params.items()})
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass
class Page:
    """What one list response told us, reduced to what pagination needs."""

    url: str
    received: int
    link: str | None
    total: int | None
    limit: int | None


@dataclass
class Cursor:
    """Walks one date window of one module list.

    `position` counts objects received in this window, so offset paging resumes where we
    are, whatever the server's page cap was (never advance by what was asked for).
    Without a usable next link (none, refused, failed), paging goes on by offset while the
    last page was full (the limit asked for, or X-Limit) or X-Total-Count says there is
    more; it stops on an empty or short page. The reader stops it earlier (`stop`) when a
    page brought no object not seen before.
    """

    module_url: str
    window: dict[str, str]
    page_size: int
    position: int = 0
    total: int | None = None
    #: X-Total-Count of the window's first page: objects can only leave a window that ends
    #: at the run's start while we page, so this bounds what a complete read must see.
    first_total: int | None = None
    fallbacks: int = 0
    #: Pages received in this window.
    pages: int = 0
    #: Whether next links may be followed (off for the stream once one was refused or failed).
    follow_links: bool = True
    #: Whether the URL just handed out came from the server's Link header.
    followed_link: bool = False
    #: Why the last page's next link was not followed (logged once per stream), if it was not.
    refused_link: str | None = None
    #: Why paging ended before the list did (the read is then incomplete), if it did.
    stopped: str | None = None
    #: Whether the last page handed out a next URL (the list goes on).
    has_next: bool = False
    _seen: set[str] = field(default_factory=set)
    _first_received: int = 0

    def first_url(self) -> str:
        """The first request of the window: filters plus `limit`, offset 0."""
        params: dict[str, str | int] = {**self.window, "limit": self.page_size}
        return with_query(self.module_url, params)

    def offset_url(self) -> str:
        """Offset/limit paging from the current position, with the same date window."""
        params: dict[str, str | int] = {
            **self.window,
            "offset": self.position,
            "limit": self.page_size,
        }
        return with_query(self.module_url, params)

    def advance(self, page: Page) -> str | None:
        """Record a page and return the next URL to request, or None when the list is done."""
        url = self._advance(page)
        self.has_next = url is not None
        return url

    def _advance(self, page: Page) -> str | None:
        self._seen.add(page.url)
        self.position += page.received
        self.pages += 1
        if self.pages == 1:
            self._first_received = page.received
        if page.total is not None:
            if self.total is None:
                self.first_total = page.total
            self.total = max(page.total, self.total or 0)
        if self._beyond_total():
            return None
        self.refused_link = None
        link = page.link if self.follow_links else None
        if link is not None:
            self.refused_link = self._refusal(link)
        if link is not None and self.refused_link is None:
            if link in self._seen:
                if page.received == 0:
                    # An empty page that links back: the end, said clumsily (no loop).
                    self.followed_link = False
                    return None
                raise OCPIError(
                    f"the platform's next link leads back to a page already read "
                    f"({urlsplit(link).path}); stopping instead of looping"
                )
            self.followed_link = True
            return link
        self.followed_link = False
        if page.received > 0 and self._more(page):
            self.fallbacks += 1
            return self.offset_url()
        return None

    def _more(self, page: Page) -> bool:
        """Whether the list may go on after a page that gave no usable next link."""
        if self.total is not None:
            return self.position < self.total
        # No total: a full page says there may be more; a short one is the last.
        return self.full(page.received, page.limit)

    def full(self, received: int, limit: int | None) -> bool:
        """Whether a page is full: the limit asked for, or X-Limit if the server caps lower."""
        return received >= min(self.page_size, limit or self.page_size)

    def _beyond_total(self) -> bool:
        """Pages are capped relative to X-Total-Count: twice the pages it needs, plus two."""
        if self.total is None:
            return False
        needed = -(-self.total // max(1, self._first_received))
        if self.pages < 2 * needed + 2:
            return False
        self.stopped = (
            f"paging went on for {self.pages} pages although X-Total-Count announced "
            f"{self.total} objects"
        )
        return True

    def stop(self, reason: str) -> None:
        """End paging here: the read is incomplete for `reason`."""
        self.stopped = reason

    def after_failed_link(self) -> str:
        """A next link failed after retries: continue by offset from where we are."""
        self.fallbacks += 1
        self.followed_link = False
        self.follow_links = False
        return self.offset_url()

    def _refusal(self, link: str) -> str | None:
        """Why a next link is not followed (None: it is)."""
        # The token is only ever sent to the platform's own scheme and host.
        parts = urlsplit(link)
        if not (parts.scheme and parts.netloc) or not same_origin(link, self.module_url):
            return "it points to another host or scheme"
        # A link whose offset jumps past what we received would skip objects (a server that
        # advances by the limit asked for, not by its page cap): page by offset instead.
        offset = dict(parse_qsl(parts.query)).get("offset", "")
        # ASCII digits only (`²` passes isdigit and breaks int), and no absurd length.
        if (
            offset.isascii()
            and offset.isdigit()
            and len(offset) <= 18
            and int(offset) > self.position
        ):
            return "its offset skips objects not received yet"
        return None


class KeySet:
    """A compact set of record keys (64-bit hashes in one array, open addressing).

    Completeness checks need the distinct keys of a whole window; a Python set of a million
    keys costs ~60 MB, this costs ~16 MB. A hash collision could only hide one duplicate in
    ~10^12 windows of a million keys. ``add`` runs once per record: it is written for speed
    (slots, one probe in the common case, the load limit precomputed).
    """

    __slots__ = ("_limit", "_mask", "_table", "count")

    def __init__(self) -> None:
        self._table = array("q", bytes(8 * 1024))
        self._mask = 1023
        self._limit = self._mask // 2  # grow beyond half full: probes stay short
        self.count = 0

    def add(self, key: tuple[object, ...]) -> bool:
        """Add a key; True when it was not there yet."""
        h = hash(key) or 1  # 0 marks an empty slot
        table = self._table
        mask = self._mask
        i = h & mask
        value = table[i]
        while value:
            if value == h:
                return False
            i = (i + 1) & mask
            value = table[i]
        table[i] = h
        self.count += 1
        if self.count > self._limit:
            self._grow()
        return True

    def __len__(self) -> int:
        return self.count

    def _grow(self) -> None:
        old = self._table
        self._mask = mask = self._mask * 2 + 1
        self._limit = mask // 2
        self._table = table = array("q", bytes(8 * (mask + 1)))
        for h in old:
            if h:
                i = h & mask
                while table[i]:
                    i = (i + 1) & mask
                table[i] = h
