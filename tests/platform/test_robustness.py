"""Issue 5: tap-ocpi survives real OCPI servers. Each quirk is proven end to end: the real
tap runs as a subprocess against the bundled platform's seeded fault modes, or against a
scripted server (robustness_helpers.Scripted) for what the platform cannot play.

Sections: pagination that cannot be fooled; tolerant reading, strict reporting; retries and
throttling; security; the seeded fault run. Crash safety is in test_crash_safety.py.
"""

from __future__ import annotations

import copy
import email.utils
import itertools
import json
import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from support.config import tap_config
from support.robustness_helpers import (
    SALT,
    VERSION,
    Hit,
    Recorder,
    Reply,
    Scripted,
    counting_faults,
    emitted_keys,
    envelope,
    expected_keys,
    paged,
    spec_link,
    timed_requests,
)
from support.seeded_fault_run import fault_run
from support.tap_runner import TapRun, discover, run_tap, select
from tap_ocpi.auth import TokenAuth, encode_token
from tap_ocpi.errors import OCPIError
from tap_ocpi.mock_platform import MockPlatform, PlatformConfig
from tap_ocpi.settings import Settings
from tap_ocpi.tap import SETTINGS
from tap_ocpi.transport import OCPIClient

TOKEN = "robust-token-0815"


@pytest.fixture(scope="module")
def platform() -> Iterator[MockPlatform]:
    config = PlatformConfig(seed=11, locations=8, sessions=120, tariffs=4, tokens=30, clients=2)
    with MockPlatform(config) as running:
        yield running


@pytest.fixture(autouse=True)
def _healthy_platform(platform: MockPlatform) -> Iterator[None]:
    platform.set_faults()
    platform.clear_request_log()
    yield
    platform.set_faults()


@pytest.fixture(scope="module")
def catalog() -> dict[str, Any]:
    return discover({"versions_url": "http://127.0.0.1:9/ocpi/versions"})


# This file's settings for tap_config; scripted servers have no token of their own: TOKEN.
RUN = {
    "token": TOKEN,
    "ocpi_version": VERSION,
    "page_size": 20,
    "privacy_salt": SALT,
    "lookback_minutes": 0,
    "retry_max_wait": 0,
    "max_retries": 4,
}


def ok(run: TapRun) -> TapRun:
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    return run


def one_line_error(run: TapRun, *expected: str) -> str:
    assert run.returncode != 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-ocpi: error:"), run.stderr[-3000:]
    for text in expected:
        assert text in last, last
    return last


def assert_complete(run: TapRun, platform: MockPlatform, streams: tuple[str, ...]) -> None:
    """Every expected key arrived, and each exactly once."""
    expected = expected_keys(platform, streams)
    got = emitted_keys(run.messages)
    for stream in streams:
        keys = got.get(stream, [])
        assert len(keys) == len(set(keys)), f"{stream}: duplicates"
        assert set(keys) == expected[stream], stream


def module_requests(platform: MockPlatform, module: str) -> list[str]:
    return [r.path for r in platform.request_log if f"/{VERSION}/{module}" in r.path]


def query_of(path: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(path).query))


def follows_link(path: str) -> bool:
    """The platform writes offset first in its links; the tap's own offset URLs start with
    the date window. So the query order tells a followed link from offset paging."""
    return "?offset=" in path


# == 1. Pagination that cannot be fooled ======================================================


@pytest.mark.parametrize("mode", ["relative", "upper_rel", "unquoted_rel"])
def test_link_variants_are_followed_as_given(
    platform: MockPlatform, catalog: dict[str, Any], mode: str
) -> None:
    platform.set_faults(link=mode)
    run = ok(run_tap(tap_config(platform, RUN), catalog=select(catalog, {"sessions"})))
    assert_complete(run, platform, ("sessions",))
    paths = module_requests(platform, "sessions")
    assert len(paths) == 6  # 120 sessions, 20 a page: no extra request
    assert all(follows_link(p) for p in paths[1:]), paths


def test_missing_link_pages_by_offset_from_the_position_in_the_same_window(
    platform: MockPlatform, catalog: dict[str, Any]
) -> None:
    # No Link at all, and pages shorter than X-Limit says: X-Total-Count says there is more,
    # so page by offset, advancing by what arrived (7 a page), never by what was asked (20).
    platform.set_faults(link="missing", short_pages=7)
    run = ok(run_tap(tap_config(platform, RUN), catalog=select(catalog, {"sessions"})))
    assert_complete(run, platform, ("sessions",))
    queries = [query_of(p) for p in module_requests(platform, "sessions")]
    assert [int(q.get("offset", 0)) for q in queries] == list(range(0, 120, 7))
    first = queries[0]
    for q in queries:
        assert (q["date_from"], q["date_to"]) == (first["date_from"], first["date_to"])
        assert q["limit"] == "20"


def test_page_cap_below_page_size_advances_by_received_count(
    platform: MockPlatform, catalog: dict[str, Any]
) -> None:
    platform.set_faults(page_cap=9)
    run = ok(run_tap(tap_config(platform, RUN), catalog=select(catalog, {"sessions"})))
    assert_complete(run, platform, ("sessions",))
    offsets = [int(query_of(p).get("offset", 0)) for p in module_requests(platform, "sessions")]
    assert offsets == list(range(0, 120, 9))


def test_link_to_another_host_is_not_followed_and_gets_no_token(
    platform: MockPlatform, catalog: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every request the tap makes to a host other than 127.0.0.1 goes through this "proxy",
    # which records it: the links point at ocpi.invalid, so any attempt would show here.
    platform.set_faults(link="wrong_host")
    with Recorder() as proxy:
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.setenv(name, proxy.base)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(name, "127.0.0.1,localhost")
        run = ok(run_tap(tap_config(platform, RUN), catalog=select(catalog, {"sessions"})))
    assert proxy.hits == []
    assert_complete(run, platform, ("sessions",))
    assert run.stderr.count("next link is not followed (it points to another host") == 1
    assert not any(follows_link(p) for p in module_requests(platform, "sessions"))


def test_link_with_another_scheme_is_not_followed(
    platform: MockPlatform, catalog: dict[str, Any]
) -> None:
    platform.set_faults(link="wrong_scheme")
    run = ok(
        run_tap(tap_config(platform, RUN), catalog=select(catalog, {"sessions"}), loglevel="DEBUG")
    )
    assert_complete(run, platform, ("sessions",))
    assert "Starting new HTTP connection" in run.stderr  # urllib3 does log at DEBUG ...
    assert "Starting new HTTPS connection" not in run.stderr  # ... and never tried https


def _link_scripted(objects: list[Any], link: Any) -> Scripted:
    server = Scripted({"tariffs": "/ocpi/2.2.1/tariffs"})
    server.route("/ocpi/2.2.1/tariffs", paged(objects, cap=3, link=link))
    return server


@pytest.fixture(scope="module")
def tariffs(platform: MockPlatform) -> list[dict[str, Any]]:
    """Ten real 2.2.1 tariffs (the platform's generator), for scripted servers."""
    with MockPlatform(
        PlatformConfig(seed=5, locations=2, sessions=2, tariffs=10, tokens=2, clients=1)
    ) as source:
        return list(source.expected("tariffs", VERSION))


def _ids(run: TapRun, stream: str = "tariffs") -> list[str]:
    return [r["id"] for r in run.records[stream]]


@pytest.mark.parametrize(
    "kind", ["http_404", "http_500", "html_200", "malformed", "redirect_elsewhere"]
)
def test_broken_next_link_falls_back_to_offset_paging(
    tariffs: list[dict[str, Any]], catalog: dict[str, Any], kind: str
) -> None:
    with Recorder() as elsewhere:

        def link(hit: Hit, offset: int, limit: int) -> str:
            if kind == "malformed":
                return f'<http://[{hit.headers["Host"]}/broken?offset={offset}>; rel="next"'
            return f'</broken/{kind}?offset={offset}&limit={limit}>; rel="next"'

        server = _link_scripted(tariffs, link)
        server.route(
            "/broken/http_404",
            lambda hit: Reply(404, b"<html>gone</html>", content_type="text/html"),
        )
        server.route("/broken/http_500", lambda hit: Reply(500, b'{"status_code": 3000}'))
        server.route(
            "/broken/html_200",
            lambda hit: Reply(200, b"<html>login</html>", content_type="text/html"),
        )
        server.route(
            "/broken/redirect_elsewhere",
            lambda hit: Reply(302, headers={"Location": f"{elsewhere.base}/x"}),
        )
        with server:
            run = ok(run_tap(tap_config(server, RUN), catalog=select(catalog, {"tariffs"})))
    assert sorted(_ids(run)) == sorted(t["id"] for t in tariffs)
    offsets = [int(h.query.get("offset", 0)) for h in server.hits_to("/ocpi/2.2.1/tariffs")]
    assert offsets == [0, 3, 6, 9]  # offset paging from the position, by received count
    if kind != "malformed":
        assert "the next link failed" in run.stderr
    assert elsewhere.hits == []
    if kind == "http_500":  # retried like any 5xx before giving the link up, and only once
        assert len(server.hits_to("/broken/http_500")) == 1 * 4  # (issue 12: not on every page)


def test_link_back_to_a_page_already_read_is_an_error_not_a_loop(
    tariffs: list[dict[str, Any]], catalog: dict[str, Any]
) -> None:
    first: list[str] = []

    def link(hit: Hit, offset: int, limit: int) -> str:
        if not first:
            first.append(hit.target)
            return spec_link(hit, offset, limit)
        return f'<http://{hit.headers["Host"]}{first[0]}>; rel="next"'  # back to page 1

    with _link_scripted(tariffs, link) as server:
        run = run_tap(tap_config(server, RUN), catalog=select(catalog, {"tariffs"}))
    one_line_error(run, "leads back to a page already read", "/ocpi/2.2.1/tariffs")
    assert len(server.hits_to("/ocpi/2.2.1/tariffs")) == 2


def test_link_that_skips_objects_is_replaced_by_offset_paging(
    tariffs: list[dict[str, Any]], catalog: dict[str, Any]
) -> None:
    # A server that caps pages at 3 but advances its link by the limit asked (20).
    def link(hit: Hit, offset: int, limit: int) -> str:
        return spec_link(hit, int(hit.query.get("offset", 0)) + int(hit.query["limit"]), limit)

    server = Scripted({"tariffs": "/ocpi/2.2.1/tariffs"})
    server.route("/ocpi/2.2.1/tariffs", paged(tariffs, cap=3, link=link))
    with server:
        run = ok(run_tap(tap_config(server, RUN), catalog=select(catalog, {"tariffs"})))
    assert sorted(_ids(run)) == sorted(t["id"] for t in tariffs)
    assert "the next link is not followed (its offset skips objects" in run.stderr


def test_empty_last_page_linking_to_itself_ends_the_list(
    tariffs: list[dict[str, Any]], catalog: dict[str, Any]
) -> None:
    # A server that always sends a next link (offset + what it served): the last page links
    # to an empty page, and the empty page links to itself. That is the end, not a loop.
    def answer(hit: Hit) -> Reply:
        offset = int(hit.query.get("offset", 0))
        page = tariffs[offset : offset + 5]
        query = urlencode({**hit.query, "offset": offset + len(page), "limit": 5})
        link = f'<http://{hit.headers["Host"]}{hit.path}?{query}>; rel="next"'
        return envelope(page, headers={"X-Total-Count": str(len(tariffs)), "Link": link})

    server = Scripted({"tariffs": "/ocpi/2.2.1/tariffs"})
    server.route("/ocpi/2.2.1/tariffs", answer)
    with server:
        run = ok(run_tap(tap_config(server, RUN), catalog=select(catalog, {"tariffs"})))
    assert sorted(_ids(run)) == sorted(t["id"] for t in tariffs)
    offsets = [h.query.get("offset", "0") for h in server.hits_to("/ocpi/2.2.1/tariffs")]
    assert offsets == ["0", "5", "10"]


def test_unstable_order_is_detected_and_reread_in_narrower_windows(
    platform: MockPlatform, catalog: dict[str, Any]
) -> None:
    with counting_faults(platform, unstable_every=2) as counts:
        run = ok(run_tap(tap_config(platform, RUN), catalog=select(catalog, {"sessions"})))
    assert counts["shifted"] > 0
    assert re.search(r"sessions: only \d+ of 120 objects arrived .* re-reading", run.stderr)
    assert_complete(run, platform, ("sessions",))


def test_unstable_order_without_total_fails_loudly_instead_of_losing_silently(
    platform: MockPlatform, catalog: dict[str, Any]
) -> None:
    # No X-Total-Count: a skipped object cannot be counted. An object that arrives twice in
    # one read proves the order moved under the offsets, so the window is re-read; when it
    # keeps moving, the stream keeps its bookmark and the run fails (nothing is lost).
    platform.set_faults(no_total=True, unstable_every=2, page_cap=9)
    state = {
        "bookmarks": {
            "sessions": {
                "replication_key": "last_updated",
                "replication_key_value": "2000-01-01T00:00:00Z",
            }
        }
    }
    run = run_tap(
        tap_config(platform, RUN), state=state, catalog=select(catalog, {"sessions", "tariffs"})
    )
    one_line_error(
        run,
        "sessions: the order changed while paging and the platform sends no "
        "X-Total-Count to check against, after 3 re-reads",
    )
    assert re.search(r"sessions: \d+ objects came twice .* re-reading", run.stderr)
    assert run.bookmark("sessions") == "2000-01-01T00:00:00Z"
    assert run.bookmark("tariffs") is not None


def test_object_that_leaves_the_window_before_it_is_read_is_not_missing(
    tariffs: list[dict[str, Any]], catalog: dict[str, Any]
) -> None:
    # A live platform: after the first page, an object not read yet is updated, so it leaves
    # the window [date_from, run start) and the total drops. The first read falls short of
    # the first total; a re-read of narrower windows finds the rest complete. The updated
    # object belongs to the next run's window.
    served = copy.deepcopy(tariffs)
    listing = paged(served, cap=3)

    def answer(hit: Hit) -> Reply:
        reply = listing(hit)
        if len(server.hits_to("/ocpi/2.2.1/tariffs")) == 1:
            served.pop()  # updated just now: last_updated is past date_to
        return reply

    server = Scripted({"tariffs": "/ocpi/2.2.1/tariffs"})
    server.route("/ocpi/2.2.1/tariffs", answer)
    with server:
        run = ok(run_tap(tap_config(server, RUN), catalog=select(catalog, {"tariffs"})))
    assert "tariffs: only 9 of 10 objects arrived" in run.stderr
    assert sorted(_ids(run)) == sorted(t["id"] for t in tariffs[:-1])
    assert run.bookmark("tariffs") is not None


def test_total_that_never_adds_up_keeps_the_bookmark_and_fails_at_the_end(
    tariffs: list[dict[str, Any]], catalog: dict[str, Any]
) -> None:
    # X-Total-Count two higher than what the server has (a real server bug): re-read a
    # bounded number of times, report, keep tariffs' bookmark, let tokens finish, exit 1.
    server = Scripted({"tariffs": "/ocpi/2.2.1/tariffs", "tokens": "/ocpi/2.2.1/tokens"})
    server.route("/ocpi/2.2.1/tariffs", paged(tariffs, cap=5, total=lambda n: n + 2))
    server.route("/ocpi/2.2.1/tokens", paged([], cap=5))
    state = {
        "bookmarks": {
            "tariffs": {
                "replication_key": "last_updated",
                "replication_key_value": "2020-01-01T00:00:00Z",
            }
        }
    }
    with server:
        run = run_tap(
            tap_config(server, RUN),
            state=state,
            catalog=select(catalog, {"tariffs", "tokens"}),
        )
    one_line_error(
        run, "tariffs: 2 of the 12 objects X-Total-Count announced did not arrive, after 3 re-reads"
    )
    assert run.stderr.count("re-reading in") == 3
    assert run.bookmark("tariffs") == "2020-01-01T00:00:00Z"
    assert run.bookmark("tokens") is not None  # the healthy stream finished
    assert sorted(set(_ids(run))) == sorted(t["id"] for t in tariffs)
    assert len(_ids(run)) == len(tariffs)  # re-reads emit nothing twice


# == 2. Tolerant reading, strict reporting ====================================================


@pytest.mark.parametrize("mode", ["no_z", "offset"])
def test_timestamps_without_z_or_with_offsets_become_utc_z(
    platform: MockPlatform, catalog: dict[str, Any], mode: str
) -> None:
    platform.set_faults(timestamps=mode)
    run = ok(
        run_tap(
            tap_config(platform, RUN), catalog=select(catalog, {"sessions", "locations", "evses"})
        )
    )
    assert_complete(run, platform, ("sessions", "locations"))
    served = {s["id"]: s for s in platform.expected("sessions", VERSION)}
    sample = served[next(iter(served))]["last_updated"]
    assert not sample.endswith("Z")  # the platform really served the odd form
    for record in run.records["sessions"]:
        moment = datetime.fromisoformat(served[record["id"]]["last_updated"])
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        utc = moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert record["last_updated"] == utc
    stamps = [
        s
        for stream in ("sessions", "locations", "evses")
        for r in run.records[stream]
        for s in _strings(r)
        if DATE_TIME.match(s)
    ]
    assert len(stamps) >= sum(len(run.records[s]) for s in ("sessions", "locations", "evses"))
    assert all(s.endswith("Z") for s in stamps), [s for s in stamps if not s.endswith("Z")][:3]
    assert (run.bookmark("sessions") or "").endswith("Z")


DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _odd(location: dict[str, Any]) -> dict[str, Any]:
    """Readable but unusual: numbers as strings and back, offsets and fractions, nulls,
    unknown enum values and vendor fields."""
    loc = copy.deepcopy(location)
    moment = datetime.fromisoformat(loc["last_updated"].replace("Z", "+00:00"))
    loc["last_updated"] = (moment + timedelta(hours=1, milliseconds=250)).strftime(
        "%Y-%m-%dT%H:%M:%S.%f+01:00"
    )
    loc["facilities"] = None
    loc["directions"] = None
    loc["x_vendor_rating"] = 5
    for evse in loc["evses"]:
        evse["status"] = "SOMETHING_NEW"
        evse["last_updated"] = evse["last_updated"].rstrip("Z")
        evse["images"] = None
        for connector in evse["connectors"]:
            connector["id"] = int(connector["id"])
            for name in ("max_voltage", "max_amperage", "max_electric_power"):
                connector[name] = str(connector[name])
            connector["last_updated"] = connector["last_updated"].replace("Z", ".000Z")
    return loc


def _odd_tariff(tariff: dict[str, Any]) -> dict[str, Any]:
    tariff = copy.deepcopy(tariff)
    tariff["type"] = "SURGE_PRICING"
    tariff["x_vendor_flag"] = True
    for element in tariff["elements"]:
        for component in element["price_components"]:
            component["price"] = str(component["price"])
            component["step_size"] = str(component["step_size"])
    return tariff


def test_odd_but_readable_objects_give_the_same_records(catalog: dict[str, Any]) -> None:
    streams = {"locations", "evses", "connectors", "tariffs"}
    with MockPlatform(
        PlatformConfig(seed=5, locations=6, sessions=2, tariffs=6, tokens=2, clients=1)
    ) as source:
        clean = ok(run_tap(tap_config(source, RUN), catalog=select(catalog, streams)))
        locations = [_odd(loc) for loc in source.expected("locations", VERSION)]
        tariffs = [_odd_tariff(t) for t in source.expected("tariffs", VERSION)]
    server = Scripted({"locations": "/ocpi/2.2.1/locations", "tariffs": "/ocpi/2.2.1/tariffs"})
    server.route("/ocpi/2.2.1/locations", paged(locations, cap=4))
    server.route("/ocpi/2.2.1/tariffs", paged(tariffs, cap=4))
    with server:
        odd = ok(run_tap(tap_config(server, RUN), catalog=select(catalog, streams)))

    def by_key(run: TapRun, stream: str) -> dict[Any, dict[str, Any]]:
        keys = run.schemas[stream]["key_properties"]
        return {tuple(r[k] for k in keys): r for r in run.records[stream]}

    for stream in sorted(streams):
        got, want = by_key(odd, stream), by_key(clean, stream)
        assert got.keys() == want.keys(), stream
        for key, record in got.items():
            expected = dict(want[key])
            if stream == "locations":
                expected.update(facilities=None, directions=None)
            if stream == "evses":
                expected.update(status="SOMETHING_NEW", images=None)
            if stream == "tariffs":
                expected["type"] = "SURGE_PRICING"
            assert record == expected, (stream, key)
    # Vendor fields: one warning per field name, not one per object; enum values: silent.
    assert odd.stderr.count("fields not in the schema are left out: x_vendor_rating") == 1
    assert odd.stderr.count("fields not in the schema are left out: x_vendor_flag") == 1
    assert "SOMETHING_NEW" not in odd.stderr
    assert "SURGE_PRICING" not in odd.stderr


def test_wrapped_versions_trailing_slash_and_same_host_redirect(
    tariffs: list[dict[str, Any]], catalog: dict[str, Any]
) -> None:
    # The versions list wrapped in an object; one module URL with a trailing slash; one
    # module URL that redirects (301) to its trailing-slash form, query kept.
    server = Scripted(
        {"tariffs": "/ocpi/2.2.1/tariffs/", "tokens": "/ocpi/2.2.1/tokens"}, wrap_versions=True
    )
    server.route("/ocpi/2.2.1/tariffs/", paged(tariffs, cap=4))
    server.route(
        "/ocpi/2.2.1/tokens",
        lambda hit: Reply(301, headers={"Location": hit.target.replace("/tokens?", "/tokens/?")}),
    )
    server.route("/ocpi/2.2.1/tokens/", paged([], cap=4))
    with server:
        run = ok(run_tap(tap_config(server, RUN), catalog=select(catalog, {"tariffs", "tokens"})))
    assert sorted(_ids(run)) == sorted(t["id"] for t in tariffs)
    redirected = server.hits_to("/ocpi/2.2.1/tokens/")
    assert len(redirected) == 1
    assert redirected[0].query["limit"] == "20"  # the query survived the redirect
    assert redirected[0].headers["Authorization"] == f"Token {encode_token(TOKEN, 'base64')}"
    assert run.bookmark("tokens") is not None


def test_redirect_to_another_host_is_refused_and_sends_nothing_there(
    catalog: dict[str, Any],
) -> None:
    with Recorder() as elsewhere:
        server = Scripted({"tariffs": "/ocpi/2.2.1/tariffs"})
        server.route(
            "/ocpi/2.2.1/tariffs",
            lambda hit: Reply(302, headers={"Location": f"{elsewhere.base}{hit.target}"}),
        )
        with server:
            run = run_tap(tap_config(server, RUN), catalog=select(catalog, {"tariffs"}))
    one_line_error(
        run,
        "GET /ocpi/2.2.1/tariffs: HTTP 302 redirects to another host",
        f"127.0.0.1:{elsewhere.port}",
    )
    assert elsewhere.hits == []
    assert len(server.hits_to("/ocpi/2.2.1/tariffs")) == 1  # not retried either


@pytest.mark.parametrize(
    ("reply", "expected", "tries"),
    [
        (
            Reply(404, b'{"timestamp":"x","status":404,"error":"Not Found","path":"/t"}'),
            "GET /ocpi/2.2.1/tariffs: HTTP 404 Not Found",
            1,
        ),
        (
            Reply(
                400,
                json.dumps(
                    {
                        "status_code": 2001,
                        "status_message": "DE*VLT*E1 bad",
                        "timestamp": "2026-01-01T00:00:00Z",
                    }
                ).encode(),
            ),
            "GET /ocpi/2.2.1/tariffs: HTTP 400 Bad Request, OCPI status 2001 (invalid or "
            "missing parameters)",
            1,
        ),
        (
            Reply(502, b"<html><body>Bad Gateway</body></html>", content_type="text/html"),
            "giving up after retries: GET /ocpi/2.2.1/tariffs: HTTP 502",
            4,
        ),
        (
            Reply(200, b"<html><body>Please log in</body></html>", content_type="text/html"),
            "GET /ocpi/2.2.1/tariffs: HTTP 200, but the body is text/html, not an OCPI",
            1,
        ),
        (
            Reply(200, b'{"items": []}'),
            "GET /ocpi/2.2.1/tariffs: HTTP 200, but the body is not an OCPI response",
            1,
        ),
    ],
    ids=["404_framework_json", "400_ocpi", "502_html", "200_html", "200_other_json"],
)
def test_error_bodies_that_are_not_ocpi_name_status_and_path(
    catalog: dict[str, Any], reply: Reply, expected: str, tries: int
) -> None:
    server = Scripted({"tariffs": "/ocpi/2.2.1/tariffs"})
    server.route("/ocpi/2.2.1/tariffs", lambda hit: reply)
    with server:
        run = run_tap(tap_config(server, RUN), catalog=select(catalog, {"tariffs"}))
    last = one_line_error(run, expected)
    assert "DE*VLT*E1" not in run.stderr  # the server's own message may hold personal data
    assert "date_from" not in last
    assert "?" not in last
    assert len(server.hits_to("/ocpi/2.2.1/tariffs")) == tries


def _unreadable(tariffs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = copy.deepcopy(tariffs)
    out[2]["last_updated"] = "yesterday"
    out[2]["tariff_alt_url"] = "https://secret.example/only-in-a-bad-record"
    out[5].pop("id")
    out[5]["tariff_alt_url"] = "https://secret.example/another-bad-record"
    return out


@pytest.fixture
def bad_server(tariffs: list[dict[str, Any]]) -> Iterator[Scripted]:
    tokens = [
        {
            "country_code": "DE",
            "party_id": "VLE",
            "uid": "PERSONAL-UID-42",
            "type": "RFID",
            "contract_id": "DE-VLE-C1",
            "issuer": "x",
            "valid": True,
            "whitelist": "ALLOWED",
            "last_updated": "not a date",
        },
        {
            "country_code": "DE",
            "party_id": "VLE",
            "uid": "uid-2",
            "type": "RFID",
            "contract_id": "DE-VLE-C2",
            "issuer": "x",
            "valid": True,
            "whitelist": "ALLOWED",
            "last_updated": "2025-01-01T00:00:00Z",
        },
    ]
    server = Scripted(
        {
            "tariffs": "/ocpi/2.2.1/tariffs",
            "tokens": "/ocpi/2.2.1/tokens",
            "sessions": "/ocpi/2.2.1/sessions",
        }
    )
    server.route("/ocpi/2.2.1/tariffs", paged(_unreadable(tariffs), cap=4))
    server.route("/ocpi/2.2.1/tokens", paged(tokens, cap=4))
    server.route("/ocpi/2.2.1/sessions", paged([], cap=4))
    with server:
        yield server


STATE_2020 = {
    "bookmarks": {
        name: {"replication_key": "last_updated", "replication_key_value": "2020-01-01T00:00:00Z"}
        for name in ("tariffs", "tokens", "sessions")
    }
}


def test_unreadable_objects_are_reported_and_keep_their_streams_bookmark(
    bad_server: Scripted, tariffs: list[dict[str, Any]], catalog: dict[str, Any]
) -> None:
    run = run_tap(
        tap_config(bad_server, RUN),
        state=STATE_2020,
        catalog=select(catalog, {"tariffs", "tokens", "sessions"}),
    )
    one_line_error(run, "tariffs: 2 unreadable", "tokens: 1 unreadable", "skip_bad_records")
    # Reported by stream, key and reason; no values (tokens.uid only as its pseudonym).
    ids = [t["id"] for t in tariffs]
    assert (
        f"tariffs: an object could not be read and was skipped (country_code=DE, "
        f"party_id=VLT, id={ids[2]}): 'last_updated' is not a readable date-time" in run.stderr
    )
    assert (
        "tariffs: an object could not be read and was skipped (key not readable): "
        "'id' is missing or null" in run.stderr
    )
    assert re.search(
        r"tokens: an object could not be read and was skipped \(country_code=DE, "
        r"party_id=VLE, uid=[0-9a-f:]{20,}, type=RFID\)",
        run.stderr,
    )
    for value in ("secret.example", "PERSONAL-UID-42", "yesterday", "not a date"):
        assert value not in run.stderr + run.stdout
    # The good objects were emitted, the streams with bad ones kept their bookmark, the
    # healthy stream (sessions) moved on.
    assert len(run.records["tariffs"]) == len(tariffs) - 2
    assert run.bookmark("tariffs") == "2020-01-01T00:00:00Z"
    assert run.bookmark("tokens") == "2020-01-01T00:00:00Z"
    assert (run.bookmark("sessions") or "") > "2026-01-01T00:00:00Z"


def test_skip_bad_records_accepts_them_but_still_reports(
    bad_server: Scripted, tariffs: list[dict[str, Any]], catalog: dict[str, Any]
) -> None:
    run = ok(
        run_tap(
            tap_config(bad_server, RUN, skip_bad_records=True),
            state=STATE_2020,
            catalog=select(catalog, {"tariffs", "tokens"}),
        )
    )
    assert run.stderr.count("an object could not be read and was skipped") == 3
    assert "tariffs: 2 objects could not be read and were skipped (skip_bad_records)" in run.stderr
    assert len(run.records["tariffs"]) == len(tariffs) - 2
    assert (run.bookmark("tariffs") or "") > "2026-01-01T00:00:00Z"


# == 3. Retries and throttling ================================================================

TRANSIENT = {
    "error_rate": ("http_500", "http_502", "http_503", "http_504"),
    "throttle_rate": ("throttle",),
    "truncate_rate": ("truncate",),
    "drop_rate": ("drop",),
    "ocpi_error_rate": ("ocpi_error",),
}


@pytest.mark.parametrize("fault", sorted(TRANSIENT))
def test_transient_faults_are_retried_and_nothing_is_lost(
    platform: MockPlatform, catalog: dict[str, Any], fault: str
) -> None:
    with counting_faults(platform, **{fault: 0.3}) as counts:
        run = ok(
            run_tap(
                tap_config(platform, RUN, max_retries=8),
                catalog=select(catalog, {"sessions", "locations", "evses"}),
            )
        )
    assert sum(counts[name] for name in TRANSIENT[fault]) >= 2, counts
    assert "Retrying in 0.0 s after try" in run.stderr
    assert_complete(run, platform, ("sessions", "locations"))


@pytest.mark.parametrize(
    ("retry_after", "max_wait", "low", "high"),
    [(1, 5, 0.95, 2.5), (30, 1, 0.95, 2.5), (3, 0, 0.0, 0.5)],
    ids=["honoured", "capped", "cap_zero"],
)
def test_retry_after_is_honoured_and_capped_by_retry_max_wait(  # noqa: PLR0917 - parametrized
    platform: MockPlatform,
    catalog: dict[str, Any],
    retry_after: int,
    max_wait: int,
    low: float,
    high: float,
) -> None:
    with (
        timed_requests(platform) as seen,
        counting_faults(platform, throttle_rate=0.25, retry_after=retry_after) as counts,
    ):
        ok(
            run_tap(
                tap_config(platform, RUN, retry_max_wait=max_wait, max_retries=8, page_size=10),
                catalog=select(catalog, {"sessions"}),
            )
        )
    gaps = [seen[i + 1][0] - at for i, (at, _, status) in enumerate(seen[:-1]) if status == 429]
    assert counts["throttle"] == len(gaps) >= 2
    assert all(low <= gap <= high for gap in gaps), gaps


@pytest.mark.parametrize(("max_wait", "low", "high"), [(10, 1.9, 3.5), (1, 0.9, 1.6)])
def test_retry_after_as_http_date(
    tariffs: list[dict[str, Any]], catalog: dict[str, Any], max_wait: int, low: float, high: float
) -> None:
    listing = paged(tariffs, cap=5)

    def answer(hit: Hit) -> Reply:
        if len(server.hits_to("/ocpi/2.2.1/tariffs")) == 1:
            when = datetime.now(timezone.utc) + timedelta(seconds=3)
            return Reply(429, b"{}", {"Retry-After": email.utils.format_datetime(when, True)})
        return listing(hit)

    server = Scripted({"tariffs": "/ocpi/2.2.1/tariffs"})
    server.route("/ocpi/2.2.1/tariffs", answer)
    with server:
        ok(
            run_tap(
                tap_config(server, RUN, retry_max_wait=max_wait),
                catalog=select(catalog, {"tariffs"}),
            )
        )
    first, second = server.hits_to("/ocpi/2.2.1/tariffs")[:2]
    assert low <= second.at - first.at <= high


@pytest.mark.parametrize("status_code", [3000, 4002])
def test_server_error_inside_http_200_on_the_first_page_keeps_the_token_form(
    tariffs: list[dict[str, Any]], catalog: dict[str, Any], status_code: int
) -> None:
    # Before the token form is proven, an OCPI error on a first request could mean "wrong
    # token"; a server error (3xxx, a hub's 4002 timeout) cannot: retry it, same form.
    listing = paged(tariffs, cap=5)

    def answer(hit: Hit) -> Reply:
        if len(server.hits_to("/ocpi/2.2.1/tariffs")) == 1:
            return envelope(None, status_code)
        return listing(hit)

    server = Scripted({"tariffs": "/ocpi/2.2.1/tariffs"})
    server.route("/ocpi/2.2.1/tariffs", answer)
    with server:
        run = ok(run_tap(tap_config(server, RUN), catalog=select(catalog, {"tariffs"})))
    assert f"OCPI status {status_code}" in run.stderr
    assert "Retrying in" in run.stderr
    forms = {h.headers["Authorization"] for h in server.hits_to("/ocpi/2.2.1/tariffs")}
    assert forms == {f"Token {encode_token(TOKEN, 'base64')}"}
    assert sorted(_ids(run)) == sorted(t["id"] for t in tariffs)


def test_http_408_is_retried(tariffs: list[dict[str, Any]], catalog: dict[str, Any]) -> None:
    listing = paged(tariffs, cap=5)

    def answer(hit: Hit) -> Reply:
        if len(server.hits_to("/ocpi/2.2.1/tariffs")) == 1:
            return Reply(408, b"<html>Request Timeout</html>", content_type="text/html")
        return listing(hit)

    server = Scripted({"tariffs": "/ocpi/2.2.1/tariffs"})
    server.route("/ocpi/2.2.1/tariffs", answer)
    with server:
        run = ok(run_tap(tap_config(server, RUN), catalog=select(catalog, {"tariffs"})))
    assert "after try 1: GET /ocpi/2.2.1/tariffs: HTTP 408" in run.stderr
    assert sorted(_ids(run)) == sorted(t["id"] for t in tariffs)


def test_a_timeout_is_retried(tariffs: list[dict[str, Any]], catalog: dict[str, Any]) -> None:
    listing = paged(tariffs, cap=5)

    def answer(hit: Hit) -> Reply:
        reply = listing(hit)
        if len(server.hits_to("/ocpi/2.2.1/tariffs")) == 1:
            reply.delay = 2.5  # longer than request_timeout
        return reply

    server = Scripted({"tariffs": "/ocpi/2.2.1/tariffs"})
    server.route("/ocpi/2.2.1/tariffs", answer)
    with server:
        run = ok(
            run_tap(
                tap_config(server, RUN, request_timeout=1),
                catalog=select(catalog, {"tariffs"}),
            )
        )
    assert "after try 1: the request timed out" in run.stderr
    assert sorted(_ids(run)) == sorted(t["id"] for t in tariffs)


def test_latency_beyond_request_timeout_gives_up_after_max_retries(
    platform: MockPlatform, catalog: dict[str, Any]
) -> None:
    platform.set_faults(latency_ms=1600)
    run = run_tap(
        tap_config(platform, RUN, request_timeout=1, max_retries=2),
        catalog=select(catalog, {"tariffs"}),
    )
    one_line_error(run, "giving up after retries: the request timed out")
    assert len(module_requests(platform, "tariffs")) == 2


def test_max_retries_is_the_number_of_tries(
    platform: MockPlatform, catalog: dict[str, Any]
) -> None:
    platform.set_faults(error_rate=1.0)
    run = run_tap(tap_config(platform, RUN, max_retries=3), catalog=select(catalog, {"tariffs"}))
    one_line_error(run, "giving up after retries: GET /ocpi/2.2.1/tariffs: HTTP 50")
    assert len(module_requests(platform, "tariffs")) == 3
    assert run.stderr.count("Retrying in") == 2


def test_max_requests_per_second_spaces_every_request_of_the_run(
    platform: MockPlatform, catalog: dict[str, Any]
) -> None:
    rate = 8.0
    with timed_requests(platform) as seen:
        ok(
            run_tap(
                tap_config(platform, RUN, max_requests_per_second=rate),
                catalog=select(catalog, {"sessions", "tariffs", "tokens"}),
            )
        )
    times = [at for at, _, _ in seen]
    assert len(times) >= 10  # versions, details and every page of three streams
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Arrival times carry connection set-up jitter (the first request opens the
    # connection), so each gap is checked loosely and the whole span tightly.
    assert min(gaps) >= 0.7 / rate, gaps
    assert sorted(gaps)[len(gaps) // 2] >= 0.95 / rate, gaps
    assert times[-1] - times[0] >= (len(times) - 1) / rate - 0.05


# == 4. Security ==============================================================================


def test_certificates_are_verified_by_default_and_there_is_no_switch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def client(**config: Any) -> OCPIClient:
        settings = Settings.from_config({"versions_url": "https://x/", **config})
        return OCPIClient(settings, TokenAuth("t"), None)

    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    assert client().session.verify is True
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert client(ca_bundle=str(bundle)).session.verify == str(bundle)
    # requests' environment convention still verifies, and ca_bundle wins over it.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    assert client().session.verify == "/etc/ssl/certs/ca-certificates.crt"
    assert client(ca_bundle=str(bundle)).session.verify == str(bundle)
    with pytest.raises(OCPIError, match=r"^ca_bundle: no file or directory at /nowhere/ca\.pem$"):
        client(ca_bundle="/nowhere/ca.pem")
    names = " ".join(SETTINGS["properties"]).lower()
    assert not any(word in names for word in ("verify", "insecure", "ssl", "tls"))


def test_missing_ca_bundle_is_a_one_line_error(
    platform: MockPlatform, catalog: dict[str, Any]
) -> None:
    run = run_tap(
        tap_config(platform, RUN, ca_bundle="/nowhere/ca.pem"), catalog=select(catalog, {"tariffs"})
    )
    one_line_error(run, "ca_bundle: no file or directory at /nowhere/ca.pem")
    assert platform.request_log == []


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_unknown_certificate_fails_without_retries_and_ca_bundle_admits_it(
    self_signed: tuple[Path, Path], tariffs: list[dict[str, Any]], catalog: dict[str, Any]
) -> None:
    cert, key = self_signed
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Scripted({"tariffs": "/ocpi/2.2.1/tariffs"}, tls=context)
    server.route("/ocpi/2.2.1/tariffs", paged(tariffs, cap=5))
    with server:
        refused = run_tap(tap_config(server, RUN), catalog=select(catalog, {"tariffs"}))
        accepted = ok(
            run_tap(
                tap_config(server, RUN, ca_bundle=str(cert)),
                catalog=select(catalog, {"tariffs"}),
            )
        )
    last = one_line_error(refused, "TLS certificate verification failed", "set ca_bundle")
    assert "giving up after retries" not in last
    assert "Retrying" not in refused.stderr  # a certificate does not get better by waiting
    assert sorted(_ids(accepted)) == sorted(t["id"] for t in tariffs)


def test_token_never_appears_in_debug_output(catalog: dict[str, Any]) -> None:
    # DEBUG level (urllib3's connection lines included), a rejected first token form, retries
    # of every kind and a next link to another host: the token shows up in neither form.
    token = "very-secret-token-4711"
    config = PlatformConfig(
        seed=3,
        locations=4,
        sessions=60,
        tariffs=3,
        tokens=10,
        clients=1,
        token=token,
        token_encoding="plain",
        versions=(VERSION,),
    )
    with MockPlatform(config) as plain_platform:
        plain_platform.set_faults(
            error_rate=0.15, throttle_rate=0.15, truncate_rate=0.1, drop_rate=0.1, link="wrong_host"
        )
        run = ok(
            run_tap(
                tap_config(plain_platform, RUN, token=token, max_retries=10),
                catalog=select(catalog, {"sessions", "tariffs", "tokens"}),
                loglevel="DEBUG",
            )
        )
        forms = {r.headers.get("Authorization") for r in plain_platform.request_log}
    assert f"Token {encode_token(token, 'base64')}" in forms  # both forms were on the wire
    assert f"Token {token}" in forms
    assert "Starting new HTTP connection" in run.stderr
    assert "DEBUG" in run.stderr
    assert "Retrying in" in run.stderr
    for form in (token, encode_token(token, "base64")):
        assert form not in run.stderr
        assert form not in run.stdout


# == 5. The seeded fault run ==================================================================


def test_seeded_fault_run_loses_nothing() -> None:
    numbers = fault_run()
    print(json.dumps({k: v for k, v in numbers.items() if k != "streams"}, indent=1))
    assert numbers["exit_status"] == 0, numbers["stderr_tail"]
    assert numbers["lost"] == 0
    assert numbers["duplicates"] == 0
    assert numbers["unexpected"] == 0
    assert numbers["received"] == numbers["expected"] > 1000
    assert numbers["faulty_responses"] > 30
    assert numbers["faults_injected"]["shifted"] > 10
