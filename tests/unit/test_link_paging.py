"""Link parsing and the cursor's next-page decisions (pure logic, no HTTP)."""

from __future__ import annotations

import itertools

import pytest

from tap_ocpi.errors import OCPIError
from tap_ocpi.pagination import Cursor, KeySet, Page, next_link, split_window, with_query

BASE = "https://cpo.example.com/ocpi/2.2.1/sessions"
REQUEST = f"{BASE}?date_from=2024-01-01T00:00:00Z&limit=100"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f'<{BASE}?offset=100&limit=100>; rel="next"', f"{BASE}?offset=100&limit=100"),
        (f"<{BASE}?offset=100>; rel=next", f"{BASE}?offset=100"),
        (f'<{BASE}?offset=100>;REL="NEXT"', f"{BASE}?offset=100"),
        (f'<{BASE}?offset=100>; rel="Next"', f"{BASE}?offset=100"),
        (f'<{BASE}?offset=100>; rel="next last"', f"{BASE}?offset=100"),
        (f'<{BASE}?offset=0>; rel="prev", <{BASE}?offset=200>; rel="next"', f"{BASE}?offset=200"),
        ('</ocpi/2.2.1/sessions?offset=5>; rel="next"', f"{BASE}?offset=5"),
        ('<?offset=5&limit=5>; rel="next"', f"{BASE}?offset=5&limit=5"),
        (f'<{BASE}?a=1,2&offset=3>; title="x, y"; rel="next"', f"{BASE}?a=1,2&offset=3"),
        (f'<{BASE}?offset=100>; rel="last"', None),
        ("", None),
        ("garbage", None),
    ],
)
def test_next_link_variants(header: str, expected: str | None) -> None:
    assert next_link([header], REQUEST) == expected


def test_next_link_is_used_as_given_with_its_own_query() -> None:
    link = f"{BASE}?date_from=2024-01-01T00%3A00%3A00Z&offset=100&limit=100&vendor=x"
    cursor = Cursor(BASE, {"date_from": "2024-01-01T00:00:00Z"}, 100)
    page = Page(url=REQUEST, received=100, link=link, total=None, limit=100)
    assert cursor.advance(page) == link
    assert cursor.followed_link


def test_first_url_sends_window_and_limit() -> None:
    cursor = Cursor(BASE + "/", {"date_from": "2024-01-01T00:00:00Z", "date_to": "X"}, 250)
    assert cursor.first_url() == (BASE + "/?date_from=2024-01-01T00%3A00%3A00Z&date_to=X&limit=250")


def test_no_link_and_a_short_page_means_done() -> None:
    cursor = Cursor(BASE, {}, 100)
    assert cursor.advance(Page(REQUEST, 99, None, None, None)) is None
    # X-Limit says how full a page can be: 40 of 40 is full, 39 is short
    assert Cursor(BASE, {}, 100).advance(Page(REQUEST, 39, None, None, 40)) is None


def test_no_link_and_no_total_but_a_full_page_goes_on_by_offset() -> None:
    # Issue 12: a server without paging headers ends its list with a short or empty page.
    cursor = Cursor(BASE, {"date_from": "D"}, 100)
    assert cursor.advance(Page(REQUEST, 100, None, None, None)) == (
        f"{BASE}?date_from=D&offset=100&limit=100"
    )
    capped = Cursor(BASE, {}, 100)
    assert capped.advance(Page(REQUEST, 40, None, None, 40)) == f"{BASE}?offset=40&limit=100"
    assert capped.advance(Page(REQUEST, 0, None, None, 40)) is None


def test_links_off_for_the_stream_means_offset_paging() -> None:
    cursor = Cursor(BASE, {}, 10, follow_links=False)
    nxt = cursor.advance(Page(REQUEST, 10, f"{BASE}?offset=10&limit=10&x=1", None, None))
    assert nxt == f"{BASE}?offset=10&limit=10"
    assert cursor.refused_link is None  # not refused again: no second warning
    assert cursor.after_failed_link() == f"{BASE}?offset=10&limit=10"
    assert not cursor.follow_links


def test_pages_are_capped_relative_to_the_total() -> None:
    # A server whose links never end although X-Total-Count says 20 (pages of 10).
    cursor = Cursor(BASE, {}, 10)
    urls = []
    for n in range(100):
        url = cursor.advance(Page(f"{BASE}?p={n}", 10, f"{BASE}?p={n + 1}", 20, 10))
        if url is None:
            break
        urls.append(url)
    assert len(urls) + 1 == 2 * 2 + 2  # pages read: twice what the total needs, plus two
    assert cursor.stopped is not None
    assert "X-Total-Count announced 20 objects" in cursor.stopped


def test_missing_link_with_total_falls_back_to_offset_by_received_count() -> None:
    cursor = Cursor(BASE, {"date_from": "D"}, 100)
    # The server capped the page at 40 although we asked for 100: advance by 40.
    nxt = cursor.advance(Page(REQUEST, 40, None, 130, 40))
    assert nxt == f"{BASE}?date_from=D&offset=40&limit=100"
    assert cursor.fallbacks == 1
    assert not cursor.followed_link


def test_link_to_other_host_or_scheme_is_not_followed() -> None:
    for bad in (
        "https://evil.example.com/ocpi/2.2.1/sessions?offset=10",
        "http://cpo.example.com/ocpi/2.2.1/sessions?offset=10",
    ):
        cursor = Cursor(BASE, {}, 10)
        nxt = cursor.advance(Page(REQUEST, 10, bad, 30, 10))
        assert nxt == f"{BASE}?offset=10&limit=10"


def test_link_that_skips_past_received_objects_is_replaced_by_offset_paging() -> None:
    cursor = Cursor(BASE, {}, 100)
    nxt = cursor.advance(Page(REQUEST, 40, f"{BASE}?offset=100&limit=100", 300, 40))
    assert nxt == f"{BASE}?offset=40&limit=100"


def test_link_back_to_a_page_already_read_is_an_error_not_a_loop() -> None:
    cursor = Cursor(BASE, {}, 10)
    first = cursor.first_url()
    cursor.advance(Page(first, 10, f"{BASE}?offset=10&limit=10", None, None))
    with pytest.raises(OCPIError, match="already read"):
        cursor.advance(Page(f"{BASE}?offset=10&limit=10", 10, first, None, None))


def test_empty_page_ends_offset_fallback() -> None:
    cursor = Cursor(BASE, {}, 10)
    assert cursor.advance(Page(REQUEST, 0, None, 50, 10)) is None


def test_with_query_keeps_module_query_and_overrides() -> None:
    assert with_query(f"{BASE}?party=NL&limit=1", {"limit": 5}) == f"{BASE}?party=NL&limit=5"


def test_split_window_is_adjacent_and_covers_the_window() -> None:
    window = {"date_from": "2024-01-01T00:00:00Z", "date_to": "2024-01-02T00:00:00Z"}
    parts = split_window(window, 4)
    assert [p["date_from"] for p in parts] == [
        "2024-01-01T00:00:00Z",
        "2024-01-01T06:00:00Z",
        "2024-01-01T12:00:00Z",
        "2024-01-01T18:00:00Z",
    ]
    assert parts[-1]["date_to"] == window["date_to"]
    assert all(a["date_to"] == b["date_from"] for a, b in itertools.pairwise(parts))
    assert split_window(window, 1) == [window]


def test_split_window_without_date_from_starts_at_epoch() -> None:
    parts = split_window({"date_to": "2024-01-01T00:00:00Z"}, 2)
    assert parts[0]["date_from"] == "1970-01-01T00:00:00Z"


def test_keyset_counts_distinct_keys_and_grows() -> None:
    keys = KeySet()
    assert all(keys.add(("NL", "TNM", str(i))) for i in range(5000))
    assert not keys.add(("NL", "TNM", "42"))
    assert len(keys) == 5000
