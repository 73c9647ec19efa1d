"""Issue 12: complete lists from any server, endpoints found wherever they are.

The real tap runs as a subprocess against each quirk mode of the bundled test platform
(tests/support/quirks.py). What must hold per quirk: every object on the platform is emitted
once, requests stay bounded, and where the server makes completeness impossible the run
fails with one clear line, keeps its bookmark, and a second run from the saved state (the
server fixed) delivers what the first missed.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from support.config import tap_config
from support.quirks import BY_NAME, PAGE, Result, measure
from support.robustness_helpers import SALT, Hit, Reply, Scripted, envelope, paged
from support.tap_runner import discover, run_tap, select
from tap_ocpi.mock_platform import MockPlatform, PlatformConfig

#: Requests of a complete read: the pages (the last may be empty) per stream, plus versions,
#: details (and 2.1.1 credentials) and one spare per stream.
NEGOTIATION = 3


@pytest.fixture(scope="module")
def catalog() -> dict[str, Any]:
    return discover({"versions_url": "http://127.0.0.1:9/ocpi/versions"})


def _complete(result: Result, extra_requests: int = 0) -> None:
    run = result.first
    assert run is not None, "the tap was killed"
    assert result.exit_status == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert result.emitted == result.on_platform
    assert sum(result.duplicates.values()) == 0
    assert result.requests <= _pages(result) + NEGOTIATION + extra_requests, result.requests
    for stream in result.case.streams:
        assert run.bookmark(stream) is not None, stream


def _pages(result: Result) -> int:
    """Pages a complete read needs, plus at most one empty page, per stream."""
    return sum(math.ceil(n / PAGE) + 1 for n in result.on_platform.values())


def _impossible(result: Result, stream_words: str) -> None:
    """A clear failure, bookmarks kept, bounded requests, and the rerun catches up."""
    run = result.first
    assert run is not None, "the tap was killed (paging did not stop)"
    assert result.exit_status not in (0, "killed")
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-ocpi: error:"), last
    assert stream_words in last, last
    for stream in result.case.streams:
        assert run.bookmark(stream) is None, stream
    assert result.requests <= 4 * len(result.case.streams) + NEGOTIATION, result.requests
    assert sum(result.duplicates.values()) == 0
    assert result.second is not None
    assert result.two_runs_complete, (result.missed, result.recovered, result.second.stderr)


@pytest.mark.parametrize(
    "name", ["no_headers", "link_wrong_host", "link_wrong_port", "link_skip_ahead"]
)
def test_full_pages_without_a_usable_link_page_by_offset(
    catalog: dict[str, Any], name: str
) -> None:
    result = measure(BY_NAME[name], catalog)
    _complete(result)
    assert result.first is not None
    if name != "no_headers":  # a refused link: one warning per stream, not per page
        for stream in result.case.streams:
            warnings = re.findall(rf"{stream}: the next link is not followed", result.first.stderr)
            assert len(warnings) == 1, (stream, result.first.stderr[-2000:])


def test_a_failing_link_is_tried_once_per_stream(catalog: dict[str, Any]) -> None:
    result = measure(BY_NAME["link_not_found"], catalog)
    _complete(result, extra_requests=2)
    assert result.first is not None
    failed = [p for p in result.log if "/page?" in p]
    assert len(failed) == len(result.case.streams), failed
    for stream in result.case.streams:
        assert result.first.stderr.count(f"{stream}: the next link failed") == 1


@pytest.mark.parametrize("name", ["nonce_link", "huge_total"])
def test_offset_ignored_ends_with_a_clear_error(catalog: dict[str, Any], name: str) -> None:
    result = measure(BY_NAME[name], catalog, timeout=60)
    _impossible(result, "sessions")
    assert result.first is not None
    assert "brought no object not seen before" in result.first.stderr


def test_a_duplicate_entry_is_a_warning_not_a_blocked_stream(catalog: dict[str, Any]) -> None:
    result = measure(BY_NAME["duplicate"], catalog)
    # One re-read (in two narrower windows) tells a listed-twice object from an order that
    # changed under the offsets: the same key comes twice again, and nothing new arrives.
    _complete(result, extra_requests=_pages(result) + 2)
    run = result.first
    assert run is not None
    for stream in result.case.streams:
        lines = [line for line in run.stderr.splitlines() if f"{stream}: listed twice" in line]
        assert len(lines) == 1, run.stderr[-3000:]
    # the key is shown as emitted: tokens.uid pseudonymised, the raw uid nowhere
    token_line = next(x for x in run.stderr.splitlines() if "tokens: listed twice" in x)
    emitted_uids = {r["uid"] for r in run.records["tokens"]}
    assert any(uid in token_line for uid in emitted_uids), token_line
    for stream in result.case.streams:
        assert run.stderr.count(f"{stream}: only") == 1, run.stderr[-3000:]


def test_211_module_listed_twice_uses_the_url_that_answers(catalog: dict[str, Any]) -> None:
    result = measure(BY_NAME["details_twice"], catalog)
    _complete(result, extra_requests=len(result.case.streams))
    assert result.first is not None
    tried = [p for p in result.log if p.startswith("/ocpi/cpo/")]
    assert len(tried) == len(result.case.streams), tried  # each 404 once, then the real URL


def test_details_wrapped_in_a_list(catalog: dict[str, Any]) -> None:
    _complete(measure(BY_NAME["details_in_list"], catalog))


def test_kwh_in_camel_case_is_read(catalog: dict[str, Any]) -> None:
    result = measure(BY_NAME["kwh_case"], catalog)
    _complete(result)
    assert result.first is not None
    sessions = result.first.records["sessions"]
    assert sessions
    assert all(isinstance(s["kwh"], (int, float)) for s in sessions)


# == Endpoint discovery without roles (OCPI 2.1.1), against a scripted server ==================


def _scripted_211(endpoints: list[tuple[str, str]]) -> Scripted:
    """A 2.1.1 platform whose details list `endpoints` (identifier, path) in that order."""
    server = Scripted({})
    server.route(
        "/ocpi/versions",
        lambda hit: envelope([{"version": "2.1.1", "url": f"{server.base}/ocpi/2.1.1"}]),
    )
    server.route(
        "/ocpi/2.1.1",
        lambda hit: envelope(
            {
                "version": "2.1.1",
                "endpoints": [{"identifier": m, "url": server.base + p} for m, p in endpoints],
            }
        ),
    )
    return server


def _config_211(server: Scripted) -> dict[str, Any]:
    return tap_config(
        server,
        token="discovery-token",
        privacy_salt=SALT,
        to_country_code="DE",
        to_party_id="VLT",
        page_size=4,
        lookback_minutes=0,
        retry_max_wait=0,
        max_retries=2,
    )


@pytest.fixture(scope="module")
def tariffs_211() -> list[dict[str, Any]]:
    with MockPlatform(
        PlatformConfig(seed=5, locations=2, sessions=2, tariffs=10, tokens=2, clients=1)
    ) as source:
        return list(source.expected("tariffs", "2.1.1"))


def test_211_discovery_tries_every_url_then_skips_with_one_warning(
    catalog: dict[str, Any], tariffs_211: list[dict[str, Any]]
) -> None:
    server = _scripted_211(
        [
            ("tariffs", "/html/tariffs"),  # HTTP 200, but an HTML page
            ("tariffs", "/refuses/tariffs"),  # HTTP 405
            ("tariffs", "/ocpi/2.1.1/tariffs"),
            ("tokens", "/cpo/tokens"),  # HTTP 404 (unrouted)
            ("tokens", "/emsp/tokens"),  # HTTP 501
        ]
    )
    server.route(
        "/html/tariffs", lambda hit: Reply(200, b"<html>login</html>", content_type="text/html")
    )
    server.route("/refuses/tariffs", lambda hit: Reply(405, b'{"status_code": 2000}'))
    server.route(
        "/emsp/tokens", lambda hit: Reply(501, b"not implemented", content_type="text/plain")
    )
    server.route("/ocpi/2.1.1/tariffs", paged(tariffs_211, cap=4))
    with server:
        run = run_tap(_config_211(server), catalog=select(catalog, {"tariffs", "tokens"}))
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(r["id"] for r in run.records["tariffs"]) == sorted(t["id"] for t in tariffs_211)
    assert run.bookmark("tariffs") is not None
    assert not run.records.get("tokens")
    # each URL that answered no list was asked once, on the module's first request only
    for path in ("/html/tariffs", "/refuses/tariffs", "/cpo/tokens", "/emsp/tokens"):
        assert len(server.hits_to(path)) == 1, path
    assert len(server.hits_to("/ocpi/2.1.1/tariffs")) == 3  # 10 objects in pages of 4
    skipped = [line for line in run.stderr.splitlines() if "tokens: skipped" in line]
    assert len(skipped) == 1, run.stderr[-3000:]
    assert "no URL listed for it answers a list" in skipped[0]
    assert "tariffs: skipped" not in run.stderr


def test_211_discovery_applies_to_the_first_request_only(
    catalog: dict[str, Any], tariffs_211: list[dict[str, Any]]
) -> None:
    listing = paged(tariffs_211, cap=4)

    def flaky(hit: Hit) -> Reply:  # the first page is a list; a later page answers 404
        if int(hit.query.get("offset", 0)) > 0:
            return Reply(404, b'{"status_code": 2000}')
        return listing(hit)

    server = _scripted_211([("tariffs", "/first/tariffs"), ("tariffs", "/second/tariffs")])
    server.route("/first/tariffs", flaky)
    server.route("/second/tariffs", listing)
    with server:
        run = run_tap(_config_211(server), catalog=select(catalog, {"tariffs"}))
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-ocpi: error:"), run.stderr[-3000:]
    assert "HTTP 404" in last
    assert server.hits_to("/second/tariffs") == []


def test_a_sender_url_that_answers_404_is_an_error_when_roles_are_known(
    catalog: dict[str, Any],
) -> None:
    server = Scripted({"tariffs": "/ocpi/2.2.1/nowhere"})
    with server:
        run = run_tap(_config_211(server), catalog=select(catalog, {"tariffs"}))
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("tap-ocpi: error:"), run.stderr[-3000:]
    assert "/ocpi/2.2.1/nowhere: HTTP 404" in last
