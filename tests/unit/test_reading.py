"""The list reader's decisions with pages as values (no HTTP): discovery, stop rules, links."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tap_ocpi.errors import NotAListError
from tap_ocpi.pagination import KeySet
from tap_ocpi.reading import ListReader, Tally
from tap_ocpi.transport import ListPage

BASE = "https://cpo.example.com/ocpi/2.1.1"
WINDOW = {"date_to": "2030-01-01T00:00:00Z"}


def serve(
    objects: list[dict[str, Any]],
    *,
    links: Callable[[str, int], list[str]] = lambda url, nxt: [],
    total: bool = False,
    ignore_offset: bool = False,
) -> Callable[[str], ListPage]:
    """A list endpoint as a function: offset/limit from the URL's query."""

    def fetch(url: str) -> ListPage:
        query = dict(parse_qsl(urlsplit(url).query))
        offset = 0 if ignore_offset else int(query.get("offset", 0))
        limit = int(query.get("limit", 10))
        data = objects[offset : offset + limit]
        return ListPage(
            url=url,
            data=data,
            final=False,
            links=links(url, offset + len(data)),
            total=len(objects) if total else None,
            limit=None,
        )

    return fetch


def process(page: ListPage, seen: KeySet, read: Tally) -> Iterator[dict[str, Any]]:
    for obj in page.data:
        key = (obj["id"],)
        if read.add(key, seen.add(key)):
            yield obj


def reader(fetch: Callable[[str], ListPage], urls: list[str], **kw: Any) -> ListReader:
    return ListReader(
        "tariffs",
        urls,
        window=WINDOW,
        page_size=10,
        fetch=fetch,
        logger=logging.getLogger("test"),
        **kw,
    )


OBJECTS = [{"id": f"T{i:03}"} for i in range(25)]


def test_no_headers_full_pages_go_on_by_offset_until_a_short_page() -> None:
    calls: list[str] = []
    fetch = serve(OBJECTS)

    def counted(url: str) -> ListPage:
        calls.append(url)
        return fetch(url)

    r = reader(counted, [f"{BASE}/tariffs"])
    assert [o["id"] for o in r.records(process)] == [o["id"] for o in OBJECTS]
    assert r.incomplete is None
    assert len(calls) == 3  # 10 + 10 + 5 (short: the end)


def test_a_full_page_with_nothing_new_ends_the_read_incomplete() -> None:
    r = reader(serve(OBJECTS, ignore_offset=True), [f"{BASE}/tariffs"])
    assert len(list(r.records(process))) == 10
    assert r.incomplete is not None
    assert "page 2 was full but brought no object not seen before" in r.incomplete


def test_discovery_moves_to_the_next_url_on_the_first_request_only() -> None:
    good = serve(OBJECTS)
    asked: list[str] = []

    def fetch(url: str) -> ListPage:
        asked.append(urlsplit(url).path)
        if url.startswith(f"{BASE}/cpo/"):
            raise NotAListError("GET /cpo/tariffs: HTTP 404")
        return good(url)

    r = reader(fetch, [f"{BASE}/cpo/tariffs", f"{BASE}/emsp/tariffs"], discover=True)
    assert len(list(r.records(process))) == 25
    assert asked == ["/ocpi/2.1.1/cpo/tariffs"] + ["/ocpi/2.1.1/emsp/tariffs"] * 3
    assert r.module_url == f"{BASE}/emsp/tariffs"

    def later_fails(url: str) -> ListPage:
        if "offset=10" in url:
            raise NotAListError("GET /emsp/tariffs: HTTP 404")
        return good(url)

    r = reader(later_fails, [f"{BASE}/emsp/tariffs", f"{BASE}/other/tariffs"], discover=True)
    with pytest.raises(NotAListError):
        list(r.records(process))


def test_without_discovery_a_url_that_answers_no_list_is_an_error() -> None:
    def fetch(url: str) -> ListPage:
        raise NotAListError("GET /tariffs: HTTP 404")

    with pytest.raises(NotAListError):
        list(reader(fetch, [f"{BASE}/tariffs", f"{BASE}/x/tariffs"]).records(process))
    skipped = reader(fetch, [f"{BASE}/tariffs"], discover=True)
    assert list(skipped.records(process)) == []
    assert skipped.unavailable is not None


def test_a_refused_link_is_not_followed_again_in_the_stream() -> None:
    # Every page links to another host: refused once, then offset paging without re-checks.
    def elsewhere(url: str, nxt: int) -> list[str]:
        return [f'<https://elsewhere.example.com/t?offset={nxt}>; rel="next"']

    r = reader(serve(OBJECTS, links=elsewhere, total=True), [f"{BASE}/tariffs"])
    assert len(list(r.records(process))) == 25
    assert r.incomplete is None
    assert not r._follow_links
