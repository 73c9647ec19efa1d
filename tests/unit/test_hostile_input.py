"""Pure functions that face hostile input: the page salvager, header numbers, the Link
parser's time on pathological headers, and log redaction. The whole tap against a hostile
server is tests/platform/test_hostile.py."""

from __future__ import annotations

import json
import logging
import time

import pytest

from tap_ocpi import redaction
from tap_ocpi.pagination import next_link
from tap_ocpi.salvage import UnscannableError, salvage
from tap_ocpi.session import ascii_int
from tap_ocpi.transport import status_number


def test_salvage_cuts_elements_with_tricky_strings_and_keeps_keys_of_bad_ones() -> None:
    good = {"id": "a", "note": 'a "quoted" ] } [ { \\ value', "nested": [[{"x": "]"}]]}
    body = (
        b'{"status_code": "1000", "data": ['
        + json.dumps(good).encode()
        + b', {"country_code": "NL", "party_id": "X", "id": "b", "v": NaN}'
        + b', {"id": "c\\"d", "v": "\xff"}'
        + b', {"id": {"nested": 1}, "v": ['
        + b"[" * 5000
        + b"]" * 5000
        + b"]}]}"
    )
    page = salvage(body)
    assert page.status_code == "1000"  # the transport reads it as a number
    assert page.data == [good]
    keys = [{k: v for k, v in u.key.items() if not k.startswith("\x00")} for u in page.unreadable]
    assert keys == [{"country_code": "NL", "party_id": "X", "id": "b"}, {"id": 'c"d'}, {}]
    reasons = [u.reason for u in page.unreadable]
    assert reasons == [
        "a value is not valid JSON",
        "a text value is not valid UTF-8",
        "a value is nested too deeply",
    ]
    # Bad elements without a readable key still count apart.
    assert len({u.key["\x00element"] for u in page.unreadable}) == 3


@pytest.mark.parametrize(
    "body",
    [
        b'{"status_code": 1000, "data": [{"id": "a"',
        b'{"status_code": 1000, "data": [{"id": "a}]}',
        b'[{"id": "a"}]',
        b"",
        b'{"status_code": 1000, "data": [' + b"[" * 100_000,
    ],
)
def test_salvage_refuses_bodies_whose_elements_cannot_be_told_apart(body: bytes) -> None:
    with pytest.raises(UnscannableError):
        salvage(body)


def test_header_numbers_are_plain_ascii_digits() -> None:
    assert ascii_int(" 42 ") == 42
    for value in ("²", "\u0661\u0660", "-1", "1e3", "", None, "9" * 19, "4 2"):
        assert ascii_int(value) is None, value
    assert status_number("1000") == 1000
    assert status_number(1000) == 1000
    assert status_number(True) is None
    assert status_number("1000.0") is None


@pytest.mark.parametrize(
    "header",
    [
        "<" * 600_000,
        "<a>;" * 16_000,
        ";rel=" * 100_000,
        '<a>; rel="' + " " * 600_000,
        "<" + "a" * 600_000,
    ],
)
def test_link_parsing_is_linear_on_hostile_headers(header: str) -> None:
    start = time.monotonic()
    assert next_link([header], "http://x/") is None
    assert time.monotonic() - start < 1.0


def test_link_parsing_still_reads_real_headers() -> None:
    header = '<http://x/a>; rel="prev", </b?c=1>; REL="next last"; title="a, <b>"'
    assert next_link([header], "http://x/list") == "http://x/b?c=1"
    assert next_link(["</n>; rel=next, </p>; rel=prev"], "http://x/y") == "http://x/n"


def test_log_records_lose_token_queries_and_length(caplog: pytest.LogCaptureFixture) -> None:
    token = "tok-en/with+chars=="
    factory = logging.getLogRecordFactory()
    redaction.install(token)
    try:
        logger = logging.getLogger("test.redaction")
        with caplog.at_level(logging.DEBUG, logger="test.redaction"):
            logger.debug('"GET /ocpi/2.2.1/sessions?cursor=uid-1&access_token=%s HTTP/1.1"', token)
            logger.warning("Token %s in a path /t/%s/x", "dG9rLWVu", "tok-en%2Fwith%2Bchars%3D%3D")
            logger.info("%s", "x" * 100_000)
        first, second, third = (r.getMessage() for r in caplog.records)
        assert first == '"GET /ocpi/2.2.1/sessions HTTP/1.1"'
        assert "tok-en%2F" not in second
        assert second.endswith("/t/***/x")
        assert len(third) < redaction.MAX_MESSAGE + 40
        assert "characters cut" in third
    finally:  # the factory is process-wide: the other tests get the usual one back
        logging.setLogRecordFactory(factory)
        redaction.REDACTOR.set_token(None)


def test_structured_log_lines_name_their_stream() -> None:
    """Meltano shows a JSON line's `stream_name`: METRIC lines and stream loggers carry it."""
    from singer_sdk.logging import StructuredFormatter  # noqa: PLC0415
    from singer_sdk.metrics import Metric, Point  # noqa: PLC0415

    factory = logging.getLogRecordFactory()
    redaction.install(None)
    formatter = StructuredFormatter()
    point = Point("counter", Metric.RECORD_COUNT, 3, {"stream": "sessions"})
    metric = logging.getLogger("singer_sdk.metrics").makeRecord(
        "singer_sdk.metrics", logging.INFO, __file__, 1, "METRIC: %s", (point,), None
    )
    line = logging.getLogger("tap-ocpi.cdrs").makeRecord(
        "tap-ocpi.cdrs", logging.INFO, __file__, 1, "cdrs: done", (), None
    )
    logging.setLogRecordFactory(factory)
    assert json.loads(formatter.format(metric))["stream_name"] == "sessions"
    assert json.loads(formatter.format(line))["stream_name"] == "cdrs"
