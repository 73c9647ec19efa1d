"""Reading one module list for one run: date windows, pages, completeness, prefetch.

Offset paging over a list that changes between requests can skip objects. Objects can only
leave a window that ends at the run's start (an update stamps them later), never enter it.
So the window is complete when either
- the distinct keys of the whole run reach the first page's `X-Total-Count` (objects that
  moved within the window were caught by a re-read), or
- every read of the last round received as many distinct objects as its own first page
  announced (objects that left the window before we read them are not missing: their new
  version falls into the next run's window). Without X-Total-Count, a read counts as
  complete unless an object came twice: the order changed under it, and whatever moved past
  the offset may have pushed another object out of sight.
Short reads are re-read in two narrower `last_updated` windows each, for a bounded number of
rounds; only unseen keys are emitted. A window that stays short sets `ListReader.incomplete`.
A platform that lists an object twice looks like a changed order at first; when a re-read
finds nothing new, lists every entry its X-Total-Count counts and repeats the same keys,
the duplicates are a warning (stream, key as emitted), and the window is complete.

Paging is bounded: a full page that brings no key not seen before ends the read as
incomplete (a server that ignores `offset`, or links to the same list under new URLs), and
`pagination.Cursor` caps the pages relative to X-Total-Count. A next link that was refused
or failed is not followed again in the stream's run (one warning).

The reader fetches pages (values) through a function it is given and hands each page to the
stream's `process`, which turns objects into records and counts their keys: it knows nothing
of HTTP, the SDK or privacy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_ocpi.errors import AuthRejectedError, NotAListError, OCPIError
from tap_ocpi.pagination import Cursor, KeySet, Page, next_link, split_window
from tap_ocpi.transport import ListPage, describe

#: Pages in a row that bring nothing new before a read stops (a full page: at once).
STALE_PAGES = 2
#: How often a window whose distinct keys fall short of X-Total-Count is re-read.
REREAD_ROUNDS = 3

Fetch = Callable[[str], ListPage]


class Tally:
    """The distinct keys of one read of one window, and how many objects came twice (the
    first few of those keys are kept, to name them in a warning)."""

    __slots__ = ("_shared", "final", "keys", "repeated", "repeats")

    KEEP = 5

    def __init__(self, keys: KeySet, shared: bool = False) -> None:
        self.keys = keys
        self._shared = shared  # keys is the run's own set (the first read): no second copy
        self.repeats = 0
        #: Whether the page being counted holds output records (keys as emitted).
        self.final = False
        self.repeated: list[tuple[tuple[Any, ...], bool]] = []

    def add(self, key: tuple[Any, ...], new_in_run: bool) -> bool:
        """Count a key of this read; returns `new_in_run` (whether to emit the object)."""
        new_in_read = new_in_run if self._shared else self.keys.add(key)
        if not new_in_read:
            self.repeats += 1
            if len(self.repeated) < self.KEEP:
                self.repeated.append((key, self.final))
        return new_in_run


#: Turns one page into output records: (page, the run's keys, this read's tally) → records.
Process = Callable[[ListPage, KeySet, Tally], Iterable[dict[str, Any]]]
#: A key as the stream emits it, for a log line: (key, whether it is an output key already).
ShowKey = Callable[[tuple[Any, ...], bool], str]


@dataclass
class _Short:
    """A read of one window part that fell short: what it announced and what it listed."""

    part: dict[str, str]
    read: Tally
    announced: int | None
    listed: int


class ListReader:
    """Every object of one module list in one date window, each key once, or a loud failure.

    `module_urls` are the URLs listed for the module, in order. With `discover` (the version
    lists no roles, so a URL may belong to another role), the module's first request moves
    on to the next URL when one answers 404/405/501 or with something that is not an OCPI
    list; the first that answers one is used for the run. If none does, the module is
    skipped with one warning (`unavailable`). Later errors stay errors.
    """

    def __init__(
        self,
        name: str,
        module_urls: Sequence[str],
        *,
        window: dict[str, str],
        page_size: int,
        fetch: Fetch,
        logger: logging.Logger,
        discover: bool = False,
        show_key: ShowKey | None = None,
    ) -> None:
        self.name = name
        self.module_urls = list(module_urls)
        self.module_url = self.module_urls[0]
        self.window = window
        self.page_size = page_size
        self.fetch = fetch
        self.logger = logger
        self.show_key = show_key or _key_not_shown
        #: Why the read is incomplete (objects still missing), if it is.
        self.incomplete: str | None = None
        #: Why the module was skipped (no listed URL answers a list), if it was.
        self.unavailable: str | None = None
        self._discover = discover
        #: Off for the rest of the stream's run once a next link was refused or failed.
        self._follow_links = True
        self.pages_read = 0
        self._started = time.monotonic()

    def records(self, process: Process) -> Iterator[dict[str, Any]]:
        """The window's records: first one read, then re-reads of short parts if needed."""
        seen, expected = KeySet(), None
        parts = [self.window]
        first_repeats: list[tuple[tuple[Any, ...], bool]] = []
        for attempt in range(REREAD_ROUNDS + 1):
            short: list[_Short] = []
            seen_before = len(seen)
            for part in parts:
                cursor = Cursor(self.module_url, part, self.page_size)
                cursor.follow_links = self._follow_links
                read = Tally(seen, shared=True) if attempt == 0 else Tally(KeySet())
                stale = 0  # pages in a row that brought no object not seen before
                for page in self.pages(cursor):
                    count = len(read.keys)
                    read.final = page.final
                    yield from process(page, seen, read)
                    stale = stale + 1 if page.received and len(read.keys) == count else 0
                    # One page of repeats can be an order that shifted under the offsets; a
                    # full one, or two in a row, is a platform repeating its list: bounded.
                    full = cursor.full(len(page.data), page.limit)
                    if cursor.has_next and stale and (full or stale >= STALE_PAGES):
                        pages = (
                            f"page {cursor.pages} was full but"
                            if full
                            else (f"{stale} pages in a row up to page {cursor.pages}")
                        )
                        cursor.stop(
                            f"{pages} brought no object not seen before "
                            f"(the platform repeats its list instead of paging on)"
                        )
                if self.unavailable:
                    return
                announced = cursor.first_total
                if attempt == 0:
                    expected = announced
                    first_repeats = read.repeated
                if cursor.stopped and not (announced is not None and len(read.keys) >= announced):
                    self._give_up(cursor.stopped)
                    return
                if announced is not None:
                    complete = len(read.keys) >= announced
                else:
                    complete = not read.repeats
                if not complete:
                    short.append(_Short(part, read, announced, cursor.position))
            if not short or (expected is not None and len(seen) >= expected):
                return
            if attempt > 0 and len(seen) == seen_before and _listed_twice(short, first_repeats):
                # A re-read found nothing new and the platform listed every entry it counted
                # again: it lists some objects twice. Each was emitted once.
                self._warn_listed_twice(first_repeats, short)
                return
            if attempt == REREAD_ROUNDS:
                self._give_up(_lacking(expected, len(seen)))
                return
            parts = [half for s in short for half in split_window(s.part, 2)]
            self.logger.warning(
                "%s: %s; re-reading in %d narrower windows",
                self.name,
                _shortfall(short),
                len(parts),
            )

    def _give_up(self, why: str) -> None:
        self.incomplete = why
        self.logger.error("%s: %s", self.name, self.incomplete)

    def _warn_listed_twice(
        self, repeated: list[tuple[tuple[Any, ...], bool]], short: list[_Short]
    ) -> None:
        twice = sum(s.read.repeats for s in short)
        shown = "; ".join(self.show_key(key, final) for key, final in repeated)
        more = f" and {twice - len(repeated)} more" if twice > len(repeated) else ""
        self.logger.warning(
            "%s: listed twice by the platform, emitted once (X-Total-Count counts both "
            "entries): %s%s",
            self.name,
            shown,
            more,
        )

    def pages(self, cursor: Cursor) -> Iterator[ListPage]:
        """Every page of one date window, fetching one page ahead of processing. After each
        page is processed, `cursor.stopped` (set by the caller) ends the window."""
        self.logger.info(
            "%s: reading %s from %s to %s",
            self.name,
            urlsplit(cursor.module_url).path or "/",
            cursor.window.get("date_from", "the beginning"),
            cursor.window["date_to"],
        )
        first = self._first_page(cursor)
        if first is None:
            return
        url: str | None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-fetch") as pool:
            pending: Future[ListPage] | None = None
            page: ListPage | None = first
            while True:
                if page is None:
                    assert pending is not None
                    try:
                        page = pending.result()
                    except (OCPIError, RetriableAPIError, requests.RequestException) as exc:
                        # A rejected token is not the link's fault; anything else about a
                        # followed link (5xx after retries, 4xx, a redirect away) is.
                        if not cursor.followed_link or isinstance(exc, AuthRejectedError):
                            raise
                        self._links_off(f"the next link failed ({describe(exc)})")
                        pending = pool.submit(self.fetch, cursor.after_failed_link())
                        page = None
                        continue
                url = cursor.advance(
                    Page(
                        url=page.url,
                        received=page.received,
                        link=next_link(page.links, page.url),
                        total=page.total,
                        limit=page.limit,
                    )
                )
                if cursor.refused_link:
                    self._links_off(f"the next link is not followed ({cursor.refused_link})")
                    cursor.follow_links = False
                pending = pool.submit(self.fetch, url) if url else None
                self.pages_read += 1
                self._log_page(cursor)
                yield page
                if cursor.stopped or pending is None:
                    if pending is not None:
                        pending.cancel()
                    return
                page = None

    def _first_page(self, cursor: Cursor) -> ListPage | None:
        """The window's first page. On the module's first request with `discover`, a URL
        that answers no list gives way to the next one listed (None: none does)."""
        while True:
            try:
                page = self.fetch(cursor.first_url())
            except NotAListError as exc:
                if not self._discover:
                    raise
                tried = self.module_urls.pop(0)
                if not self.module_urls:
                    self.unavailable = f"no URL listed for it answers a list ({describe(exc)})"
                    self.logger.warning(
                        "%s: skipped: the platform lists the module, but %s",
                        self.name,
                        self.unavailable,
                    )
                    return None
                self.logger.info(
                    "%s: %s answers no list (%s); trying the next URL listed",
                    self.name,
                    urlsplit(tried).path,
                    describe(exc),
                )
                self.module_url = cursor.module_url = self.module_urls[0]
                continue
            self._discover = False  # found: later errors stay errors
            return page

    def _links_off(self, why: str) -> None:
        """A refused or failed next link: page by offset for the rest of the stream's run."""
        if self._follow_links:
            self._follow_links = False
            self.logger.warning("%s: %s; paging by offset instead", self.name, why)

    def _log_page(self, cursor: Cursor) -> None:
        """One line per page; with X-Total-Count, the rate and the time left."""
        if cursor.total is None:
            self.logger.info("%s: %d read", self.name, cursor.position)
            return
        elapsed = time.monotonic() - self._started
        rate = cursor.position / elapsed if elapsed > 0 else 0.0
        left = max(cursor.total - cursor.position, 0)
        eta = f", about {left / rate:.0f} s left" if rate > 0 and left else ""
        self.logger.info(
            "%s: %d of %d read (%.0f/s%s)", self.name, cursor.position, cursor.total, rate, eta
        )


class Counters(Protocol):
    """What the transport counts over a run."""

    requests: int
    retries: int


@dataclass
class Progress:
    """A stream's start, for the summary line at its end."""

    counters: Counters
    requests: int
    retries: int
    started: float

    @classmethod
    def start(cls, counters: Counters) -> Progress:
        return cls(counters, counters.requests, counters.retries, time.monotonic())

    def summary(self, name: str, records: int, pages: int) -> str:
        """`name: done: records, pages, requests (retries), seconds, records/s`. Streams
        are read one after another, so the transport's counters' growth is this stream's."""
        seconds = time.monotonic() - self.started
        rate = records / seconds if seconds > 0 else 0.0
        return (
            f"{name}: done: {records} records, {pages} pages, "
            f"{self.counters.requests - self.requests} requests "
            f"({self.counters.retries - self.retries} retried), {seconds:.1f} s, "
            f"{rate:.0f} records/s"
        )


def _key_not_shown(_key: tuple[Any, ...], _final: bool) -> str:
    return "key not shown"


def _listed_twice(short: list[_Short], first: list[tuple[tuple[Any, ...], bool]]) -> bool:
    """Whether a re-read round's short reads are explained by objects the platform lists
    twice: each listed as many entries as its X-Total-Count counted, and the keys that came
    twice are the ones that came twice in the first read (an order that changes under the
    offsets repeats whatever moved, and skips another object)."""
    again = [key for s in short for key, _ in s.read.repeated]
    first_keys = [key for key, _ in first]
    # Listed twice means twice: a key repeated more often is a platform repeating its list.
    once_more = len(set(first_keys)) == len(first_keys) and all(
        len(set(k)) == len(k) for k in ([key for key, _ in s.read.repeated] for s in short)
    )
    return _listed_in_full(short) and once_more and bool(again) and set(again) <= set(first_keys)


def _listed_in_full(short: list[_Short]) -> bool:
    """Whether every short read listed as many entries as its X-Total-Count counted."""
    return all(s.announced is not None and s.listed >= s.announced for s in short)


def _lacking(expected: int | None, received: int) -> str:
    if expected is not None:
        lacking = (
            f"{expected - received} of the {expected} objects X-Total-Count announced did not "
            f"arrive"
        )
    else:
        lacking = (
            "the order changed while paging and the platform sends no X-Total-Count to "
            "check against"
        )
    return f"{lacking}, after {REREAD_ROUNDS} re-reads in narrower windows"


def _shortfall(short: list[_Short]) -> str:
    """What the short reads of a round lacked, for the re-read warning."""
    counted = [s for s in short if s.announced is not None]
    if counted:
        received = sum(len(s.read.keys) for s in counted)
        announced = sum(s.announced or 0 for s in counted)
        if _listed_in_full(counted):
            twice = sum(s.read.repeats for s in counted)
            return (
                f"only {received} of {announced} objects arrived ({twice} came twice: the "
                f"order changed while paging, or the platform lists objects twice)"
            )
        return f"only {received} of {announced} objects arrived (objects changed while paging)"
    repeats = sum(s.read.repeats for s in short)
    return f"{repeats} objects came twice (the order changed while paging)"
