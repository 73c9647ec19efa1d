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

The reader fetches pages (values) through a function it is given and hands each page to the
stream's `process`, which turns objects into records and counts their keys: it knows nothing
of HTTP, the SDK or privacy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_ocpi.errors import AuthRejectedError, OCPIError
from tap_ocpi.pagination import Cursor, KeySet, Page, next_link, split_window
from tap_ocpi.transport import ListPage, describe

#: How often a window whose distinct keys fall short of X-Total-Count is re-read.
REREAD_ROUNDS = 3

Fetch = Callable[[str], ListPage]


class Tally:
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


#: Turns one page into output records: (page, the run's keys, this read's tally) → records.
Process = Callable[[ListPage, KeySet, Tally], Iterable[dict[str, Any]]]


class ListReader:
    """Every object of one module list in one date window, each key once, or a loud failure."""

    def __init__(
        self,
        name: str,
        module_url: str,
        *,
        window: dict[str, str],
        page_size: int,
        fetch: Fetch,
        logger: logging.Logger,
    ) -> None:
        self.name = name
        self.module_url = module_url
        self.window = window
        self.page_size = page_size
        self.fetch = fetch
        self.logger = logger
        #: Why the read is incomplete (objects still missing), if it is.
        self.incomplete: str | None = None
        self.pages_read = 0
        self._started = time.monotonic()
        self._warned: set[str] = set()

    def records(self, process: Process) -> Iterator[dict[str, Any]]:
        """The window's records: first one read, then re-reads of short parts if needed."""
        seen, expected = KeySet(), None
        parts = [self.window]
        for attempt in range(REREAD_ROUNDS + 1):
            short: list[tuple[dict[str, str], Tally, int | None]] = []
            for part in parts:
                cursor = Cursor(self.module_url, part, self.page_size)
                read = Tally(seen, shared=True) if attempt == 0 else Tally(KeySet())
                for page in self.pages(cursor):
                    yield from process(page, seen, read)
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
                return
            if attempt == REREAD_ROUNDS:
                self._give_up(expected, len(seen))
                return
            parts = [half for part, _, _ in short for half in split_window(part, 2)]
            self.logger.warning(
                "%s: %s; re-reading in %d narrower windows",
                self.name,
                _shortfall(short),
                len(parts),
            )

    def _give_up(self, expected: int | None, received: int) -> None:
        if expected is not None:
            lacking = (
                f"{expected - received} of the {expected} objects X-Total-Count "
                f"announced did not arrive"
            )
        else:
            lacking = (
                "the order changed while paging and the platform sends no "
                "X-Total-Count to check against"
            )
        self.incomplete = f"{lacking}, after {REREAD_ROUNDS} re-reads in narrower windows"
        self.logger.error("%s: %s", self.name, self.incomplete)

    def pages(self, cursor: Cursor) -> Iterator[ListPage]:
        """Every page of one date window, fetching one page ahead of processing."""
        self.logger.info(
            "%s: reading %s from %s to %s",
            self.name,
            urlsplit(cursor.module_url).path or "/",
            cursor.window.get("date_from", "the beginning"),
            cursor.window["date_to"],
        )
        url: str | None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-fetch") as pool:
            pending: Future[ListPage] | None = pool.submit(self.fetch, cursor.first_url())
            while pending is not None:
                try:
                    page = pending.result()
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
                    pending = pool.submit(self.fetch, cursor.after_failed_link())
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
                    self._warn_once(
                        f"{self.name}: the next link is not followed ({cursor.refused_link}); "
                        f"paging by offset instead"
                    )
                pending = pool.submit(self.fetch, url) if url else None
                self.pages_read += 1
                self._log_page(cursor)
                yield page

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.logger.warning("%s", message)

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


def _shortfall(short: list[tuple[dict[str, str], Tally, int | None]]) -> str:
    """What the short reads of a round lacked, for the re-read warning."""
    counted = [(read, announced) for _, read, announced in short if announced is not None]
    if counted:
        received = sum(len(read.keys) for read, _ in counted)
        announced = sum(a for _, a in counted)
        return f"only {received} of {announced} objects arrived (objects changed while paging)"
    repeats = sum(read.repeats for _, read, _ in short)
    return f"{repeats} objects came twice (the order changed while paging)"
