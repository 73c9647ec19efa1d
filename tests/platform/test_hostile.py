"""The tap against a hostile OCPI server on 127.0.0.1 (issue 13), as a subprocess.

Each row of CASES says what the server answers, the settings, and the outcome expected.
For every case: the run ends within its time bound with the expected exit status; a failed
run ends with exactly one line `tap-ocpi: error: …`; stderr holds no traceback, no line
longer than MAX_LINE and, like stdout, never the token (in either form) nor the case's
hidden values; a failed run keeps the saved bookmark. tests/benchmarks/hostile_report.py
runs the same table and reports exit, first error line, peak RSS and time of each case.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from support.hostile import (
    HostileServer,
    Request,
    by_query,
    chunked_forever,
    drip,
    gzip_of_zeros,
    head,
    hold,
    page,
    raw,
    raw_page,
    respond,
    sequence,
)
from support.tap_runner import TapRun, clean_env

TOKEN = "hostile-test-token-0123456789"  # HostileServer.config's token
TOKEN_FORMS = (TOKEN, base64.b64encode(TOKEN.encode()).decode())
BOOKMARK = "2025-01-01T00:00:00Z"
STATE = {
    "bookmarks": {
        "sessions": {"replication_key_value": BOOKMARK},
        "tokens": {"replication_key_value": BOOKMARK},
    }
}
#: The longest stderr line allowed (redaction.MAX_MESSAGE, plus level, logger and the note
#: on what was cut).
MAX_LINE = 2200
SUBPROCESS_TIMEOUT = 60
#: Every case's server settings: a short deadline and one retry.
BASE_CONFIG = {"request_timeout": 2, "max_retries": 2, "retry_max_wait": 1}
JSON = {"Content-Type": "application/json"}


def session(id_: str, **extra: Any) -> dict[str, Any]:
    """A valid 2.2.1 Session."""
    return {
        "country_code": "BE",
        "party_id": "BEC",
        "id": id_,
        "start_date_time": "2025-06-29T22:39:09Z",
        "end_date_time": "2025-06-29T23:50:16Z",
        "kwh": 41.12,
        "cdr_token": {"country_code": "NL", "party_id": "TST", "uid": "123abc", "type": "RFID"},
        "auth_method": "WHITELIST",
        "location_id": "LOC1",
        "evse_uid": "3256",
        "connector_id": "1",
        "currency": "EUR",
        "status": "COMPLETED",
        "last_updated": "2026-01-01T00:00:00Z",
        **extra,
    }


def element(id_: str, **extra: Any) -> bytes:
    return json.dumps(session(id_, **extra)).encode()


def with_raw(id_: str, name: str, value: bytes) -> bytes:
    """A session whose field `name` holds these exact bytes."""
    return element(id_)[:-1] + b', "' + name.encode() + b'": ' + value + b"}"


def token_element(uid: str, extra: bytes = b"") -> bytes:
    token = {
        "country_code": "DE",
        "party_id": "TNM",
        "uid": uid,
        "type": "RFID",
        "contract_id": "DE8ACC12E46L89",
        "issuer": "TheNewMotion",
        "valid": True,
        "whitelist": "ALLOWED",
        "last_updated": "2026-01-01T00:00:00Z",
    }
    return json.dumps(token).encode()[:-1] + extra + b"}"


@dataclass
class Outcome:
    run: TapRun
    seconds: float
    server: HostileServer
    other: HostileServer


Setup = Callable[[HostileServer, HostileServer], None]


@dataclass(frozen=True)
class Case:
    name: str
    #: Which point of issue 13 the case covers ("holds" for what already held).
    point: str
    setup: Setup
    config: dict[str, Any] = field(default_factory=dict)
    exit: int = 0
    #: Text the one error line must contain (failing cases).
    error: str = ""
    seconds: float = 30.0
    loglevel: str = "INFO"
    module: str = "sessions"
    #: Values that must appear in neither stdout nor stderr (besides the token).
    hidden: tuple[str, ...] = ()
    check: Callable[[Outcome], None] | None = None
    #: SIGTERM the tap once this holds (None: let it run to its end).
    terminate_when: Callable[[HostileServer], bool] | None = None
    #: Serve HTTPS (a self-signed certificate, passed as ca_bundle) instead of HTTP.
    tls: bool = False


# -- running a case ----------------------------------------------------------------------
def run_case(case: Case) -> Outcome:
    """Start the servers, install the case's answers, run the tap, time it."""
    modules = (case.module,)
    with contextlib.ExitStack() as stack:
        tls, settings = None, {**BASE_CONFIG, **case.config}
        if case.tls:
            tls, settings["ca_bundle"] = _tls(
                Path(stack.enter_context(tempfile.TemporaryDirectory()))
            )
        server = stack.enter_context(HostileServer(modules=modules, tls=tls))
        other = stack.enter_context(HostileServer(modules=modules))
        case.setup(server, other)
        config = server.config(**settings)
        start = time.monotonic()
        if case.terminate_when is None:
            run = _run(config, case.loglevel)
        else:
            run = _run_and_terminate(config, case.loglevel, lambda: case.terminate_when(server))  # type: ignore[misc]
        seconds = time.monotonic() - start
    return Outcome(run, seconds, server, other)


def _tls(where: Path) -> tuple[ssl.SSLContext, str]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and its file."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = where / "cert.pem", where / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
    command += ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    command += ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        timeout=30,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, str(cert)


def _command(work: Path, config: dict[str, Any]) -> list[str]:
    (work / "config.json").write_text(json.dumps(config))
    (work / "state.json").write_text(json.dumps(STATE))
    return [
        sys.executable,
        "-m",
        "tap_ocpi",
        "--config",
        str(work / "config.json"),
        "--state",
        str(work / "state.json"),
    ]


def _run(config: dict[str, Any], loglevel: str) -> TapRun:
    with tempfile.TemporaryDirectory(prefix="tap-ocpi-hostile-") as tmp:
        work = Path(tmp)
        proc = subprocess.run(
            _command(work, config),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=SUBPROCESS_TIMEOUT,
            cwd=work,
            env=clean_env(work, TAP_OCPI_LOGLEVEL=loglevel),
            check=False,
        )
    return TapRun(proc.returncode, proc.stdout, proc.stderr, _messages(proc.stdout))


def _run_and_terminate(config: dict[str, Any], loglevel: str, ready: Callable[[], bool]) -> TapRun:
    with tempfile.TemporaryDirectory(prefix="tap-ocpi-hostile-") as tmp:
        work = Path(tmp)
        proc = subprocess.Popen(
            _command(work, config),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            cwd=work,
            env=clean_env(work, TAP_OCPI_LOGLEVEL=loglevel),
        )
        try:
            waited_until = time.monotonic() + SUBPROCESS_TIMEOUT / 2
            while not ready() and proc.poll() is None and time.monotonic() < waited_until:
                time.sleep(0.05)
            time.sleep(0.3)  # the records of the first page reach stdout
            proc.send_signal(signal.SIGTERM)
            stdout, stderr = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return TapRun(proc.returncode, stdout, stderr, _messages(stdout))


def _messages(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith('{"type"')]


def bookmarks(run: TapRun, module: str) -> list[Any]:
    """The stream's bookmark in every STATE the run wrote."""
    return [s.get("bookmarks", {}).get(module, {}).get("replication_key_value") for s in run.states]


def ids(run: TapRun, module: str = "sessions") -> list[str]:
    return [r.get("id", r.get("uid")) for r in run.records.get(module, [])]


# -- the cases -----------------------------------------------------------------------------
def _module(server: HostileServer, handler: Any, module: str = "sessions") -> None:
    server.route(module, handler)


def _link(server: HostileServer, query: str, base: str | None = None) -> str:
    return f'<{base or server.base}{server.module_path("sessions")}?{query}>; rel="next"'


def drip_headers(server: HostileServer, other: HostileServer) -> None:
    data = json.dumps({"status_code": 1000, "data": [session("s1")]}).encode()
    answer = head(200, {**JSON, "Content-Length": str(len(data))}) + data
    _module(server, drip(answer, delay=0.25, stop=server.stopping))


def drip_body(server: HostileServer, other: HostileServer) -> None:
    data = json.dumps({"status_code": 1000, "data": [session("s1")]}).encode()
    first = head(200, {**JSON, "Content-Length": str(len(data))})
    _module(server, drip(data, delay=0.25, stop=server.stopping, first=first))


def gzip_bomb(server: HostileServer, other: HostileServer) -> None:
    _module(server, respond(gzip_of_zeros(2), headers={"Content-Encoding": "gzip"}))


def endless_chunked(server: HostileServer, other: HostileServer) -> None:
    _module(server, chunked_forever(stop=server.stopping))


def huge_content_length(server: HostileServer, other: HostileServer) -> None:
    _module(server, hold(server.stopping, head(200, {**JSON, "Content-Length": str(10**12)})))


def redirect_with_bomb(server: HostileServer, other: HostileServer) -> None:
    target = f"{server.base}/elsewhere/sessions"
    bomb = gzip_of_zeros(2)
    headers = {**JSON, "Location": target, "Content-Encoding": "gzip"}
    headers["Content-Length"] = str(len(bomb))
    _module(server, raw(head(302, headers) + bomb))
    server.route("/elsewhere/sessions", page([session("s1")], headers={"X-Total-Count": "1"}))


def ten_link_headers(server: HostileServer, other: HostileServer) -> None:
    data = json.dumps({"status_code": 1000, "data": [session("s1")]}).encode()
    filler = "<" + "a" * 60_000 + '>; rel="next"'
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    headers += [("Link", filler)] * 10
    _module(server, raw(head(200, headers) + data))


def junk_link_under_cap(server: HostileServer, other: HostileServer) -> None:
    headers = {"Link": "<" * 60_000, "X-Total-Count": "1"}
    _module(server, page([session("s1")], headers=headers))


def odd_count_headers(server: HostileServer, other: HostileServer) -> None:
    # Pass isdigit, break int or mean something else: each is no header at all.
    headers = {"X-Total-Count": "²", "X-Limit": "\u0661\u0660"}
    _module(server, page([session("s1"), session("s2")], headers=headers))


def odd_retry_after(server: HostileServer, other: HostileServer) -> None:
    busy = respond(b"busy", status=503, headers={"Retry-After": "²"}, content_type="text/plain")
    _module(server, sequence(busy, page([session("s1")], headers={"X-Total-Count": "1"})))


BAD_IDS = ("bad-nan", "bad-surrogate", "bad-utf8", "bad-deep")


def bad_values(server: HostileServer, other: HostileServer) -> None:
    deep = b"[" * 10_000 + b"]" * 10_000
    elements = [
        element("s1"),
        with_raw("bad-nan", "kwh_extra", b"NaN"),
        with_raw("bad-surrogate", "location_id_note", b'"\\ud800"'),
        element("bad-utf8")[:-1] + b', "auth_method_note": "\xff\xfe"}',
        with_raw("bad-deep", "unknown_nested", deep),
        element("s2"),
    ]
    _module(server, raw_page(elements, headers={"X-Total-Count": "6"}))


def deep_only(server: HostileServer, other: HostileServer) -> None:
    deep = b'{"a": ' * 10_000 + b"1" + b"}" * 10_000
    elements = [element("s1"), with_raw("bad-deep", "unknown_nested", deep)]
    _module(server, raw_page(elements, headers={"X-Total-Count": "2"}))


SECRET_UID = "SECRET-UID-4711"


def bad_token(server: HostileServer, other: HostileServer) -> None:
    elements = [token_element("uid-ok-1"), token_element(SECRET_UID, b', "note": NaN')]
    _module(server, raw_page(elements, headers={"X-Total-Count": "2"}), "tokens")


def bom_and_text_status(server: HostileServer, other: HostileServer) -> None:
    handler = raw_page(
        [element("s1"), element("s2")],
        status_code=b'"1000"',
        prefix=b"\xef\xbb\xbf",
        headers={"X-Total-Count": "2"},
    )
    _module(server, handler)


def truncated_page(server: HostileServer, other: HostileServer) -> None:
    _module(server, respond(b'{"status_code": 1000, "data": [{"id": "s1", "kwh": 1'))


CURSOR_UID = "uid-SECRET-CURSOR-99"


def debug_queries(server: HostileServer, other: HostileServer) -> None:
    link = _link(server, f"cursor={CURSOR_UID}&access_token={TOKEN}")
    first = page([session("s1")], headers={"Link": link})
    _module(server, by_query({CURSOR_UID: page([])}, first, param="cursor"))


def link_to_other_origin(server: HostileServer, other: HostileServer) -> None:
    link = _link(server, "page=2", base=other.base)
    _module(server, page([session("s1")], headers={"Link": link, "X-Total-Count": "1"}))
    _module(other, page([session("s2")]))


def redirect_to_other_origin(server: HostileServer, other: HostileServer) -> None:
    location = f"{other.base}{other.module_path('sessions')}"
    _module(server, respond(b"", status=302, headers={"Location": location}))
    _module(other, page([session("s2")]))


def stall_on_page_2(server: HostileServer, other: HostileServer) -> None:
    first = page([session("s1")], headers={"Link": _link(server, "page=2")})
    _module(server, by_query({"2": hold(server.stopping)}, first))


def fail_on_page_3(server: HostileServer, other: HostileServer) -> None:
    error = respond(b"oops", status=500, content_type="text/plain")

    def answer(request: Request) -> None:
        query = dict(parse_qsl(request.query))
        number = int(query.get("page", "1"))
        if "offset" in query or number >= 3:
            error(request)
            return
        page([session(f"s{number}")], headers={"Link": _link(server, f"page={number + 1}")})(
            request
        )

    _module(server, answer)


# -- checks beyond the common ones ---------------------------------------------------------
def _records(*expected: str, module: str = "sessions") -> Callable[[Outcome], None]:
    def check(outcome: Outcome) -> None:
        assert sorted(ids(outcome.run, module)) == sorted(expected), outcome.run.stderr[-2000:]

    return check


def _bad_records_reported(outcome: Outcome) -> None:
    _records("s1", "s2")(outcome)
    for id_ in BAD_IDS:
        assert f"id={id_})" in outcome.run.stderr, outcome.run.stderr[-3000:]


def _skipped_and_moved(outcome: Outcome) -> None:
    _records("s1", "s2")(outcome)
    assert bookmarks(outcome.run, "sessions")[-1] not in (None, BOOKMARK)


def _token_reported_by_pseudonym(outcome: Outcome) -> None:
    assert len(outcome.run.records["tokens"]) == 1  # the readable one (uid pseudonymised)
    assert "could not be read and was skipped (country_code=DE, party_id=TNM, uid=" in (
        outcome.run.stderr
    )


def _debug_paths_without_queries(outcome: Outcome) -> None:
    _records("s1")(outcome)
    stderr = outcome.run.stderr
    path = outcome.server.module_path("sessions")
    # urllib3's request lines were logged (DEBUG), with the path and without the query.
    assert f'"GET {path} HTTP/1.1" 200' in stderr, stderr[-3000:]
    for query_part in ("access_token", "cursor=", "date_from="):
        assert query_part not in stderr
    assert len(outcome.server.module_requests("sessions")) == 2  # the link was followed


def _nothing_to_other(outcome: Outcome) -> None:
    assert outcome.other.requests == []


def _terminated_with_state(outcome: Outcome) -> None:
    run = outcome.run
    last = run.stdout.strip().splitlines()[-1]
    assert json.loads(last)["type"] == "STATE", last
    assert bookmarks(run, "sessions")[-1] == BOOKMARK
    assert "Interrupted by SIGTERM" in run.stderr


def _two_pages_then_kept(outcome: Outcome) -> None:
    _records("s1", "s2")(outcome)


CASES = [
    Case(
        "drip-headers",
        "1",
        drip_headers,
        exit=1,
        error="giving up after retries: the request timed out (not complete within request_",
        seconds=20,
    ),
    Case(
        "drip-body",
        "1",
        drip_body,
        exit=1,
        error="giving up after retries: the request timed out (not complete within request_",
        seconds=20,
    ),
    Case(
        "drip-body-https",
        "1",
        drip_body,
        tls=True,
        exit=1,
        error="giving up after retries: the request timed out (not complete within request_",
        seconds=20,
    ),
    Case(
        "drip-headers-https",
        "1",
        drip_headers,
        tls=True,
        exit=1,
        error="giving up after retries: the request timed out (not complete within request_",
        seconds=20,
    ),
    Case(
        "gzip-bomb-2gib",
        "2",
        gzip_bomb,
        exit=1,
        error="larger than max_response_mb (256 MB) after decompression",
        seconds=30,
    ),
    Case(
        "endless-chunked",
        "2",
        endless_chunked,
        config={"max_response_mb": 16},
        exit=1,
        error="larger than max_response_mb (16 MB) on the wire",
        seconds=20,
    ),
    Case(
        "content-length-1tb",
        "2",
        huge_content_length,
        exit=1,
        error="larger than max_response_mb (256 MB) on the wire",
        seconds=15,
    ),
    Case(
        "redirect-body-bomb",
        "2",
        redirect_with_bomb,
        check=_records("s1"),
        seconds=20,
    ),
    Case(
        "ten-60kb-link-headers",
        "3",
        ten_link_headers,
        exit=1,
        error="the Link header is longer than 65536 characters",
        seconds=15,
    ),
    Case(
        "junk-link-60kb",
        "3",
        junk_link_under_cap,
        check=_records("s1"),
        seconds=15,
    ),
    Case("count-headers-not-ascii", "5", odd_count_headers, check=_records("s1", "s2")),
    Case("retry-after-not-ascii", "5", odd_retry_after, check=_records("s1")),
    Case(
        "unreadable-values",
        "4/12",
        bad_values,
        exit=1,
        error="sessions: 4 unreadable (see the log); set skip_bad_records",
        check=_bad_records_reported,
    ),
    Case(
        "unreadable-values-skipped",
        "4/12",
        bad_values,
        config={"skip_bad_records": True},
        check=_skipped_and_moved,
    ),
    Case(
        "nested-10000-deep",
        "4",
        deep_only,
        exit=1,
        error="sessions: 1 unreadable",
        check=_records("s1"),
    ),
    Case(
        "unreadable-token-key-pseudonymised",
        "4/12",
        bad_token,
        module="tokens",
        exit=1,
        error="tokens: 1 unreadable",
        hidden=(SECRET_UID,),
        check=_token_reported_by_pseudonym,
    ),
    Case("bom-and-text-status", "12", bom_and_text_status, check=_records("s1", "s2")),
    Case(
        "truncated-page",
        "12",
        truncated_page,
        exit=1,
        error="the response is not valid JSON",
        seconds=20,
    ),
    Case(
        "debug-log-queries",
        "8",
        debug_queries,
        loglevel="DEBUG",
        hidden=(CURSOR_UID,),
        check=_debug_paths_without_queries,
    ),
    Case(
        "link-to-other-origin",
        "holds",
        link_to_other_origin,
        check=_nothing_to_other,
    ),
    Case(
        "redirect-to-other-origin",
        "holds",
        redirect_to_other_origin,
        exit=1,
        error="redirects to another host",
        check=_nothing_to_other,
    ),
    Case(
        "sigterm-mid-read",
        "holds",
        stall_on_page_2,
        config={"request_timeout": 20},
        exit=143,
        terminate_when=lambda server: any("page=2" in r.query for r in server.requests),
        check=_terminated_with_state,
    ),
    Case(
        "error-on-page-3",
        "holds",
        fail_on_page_3,
        exit=1,
        error="giving up after retries: GET /ocpi/2.2.1/sessions: HTTP 500",
        check=_two_pages_then_kept,
    ),
]
BY_NAME = {case.name: case for case in CASES}


def common_failures(case: Case, outcome: Outcome) -> list[str]:
    """What every case must hold, as a list of failures (empty: all held)."""
    run, problems = outcome.run, []
    if outcome.seconds >= case.seconds:
        problems.append(f"took {outcome.seconds:.1f} s (bound {case.seconds} s)")
    if run.returncode != case.exit:
        problems.append(f"exit {run.returncode}, expected {case.exit}")
    errors = [line for line in run.stderr.splitlines() if line.startswith("tap-ocpi: error:")]
    if case.exit in (0, 143) and errors:
        problems.append(f"error lines: {errors}")
    if case.exit not in (0, 143):
        last = run.stderr.strip().splitlines()[-1:] or [""]
        if len(errors) != 1 or last[0] != errors[0] or case.error not in errors[0]:
            problems.append(f"expected one last line with {case.error!r}: {errors or last}")
        kept = {b for b in bookmarks(run, case.module) if b is not None}
        if kept - {BOOKMARK}:
            problems.append(f"the bookmark moved on a failed run: {kept}")
    if "Traceback" in run.stderr:
        problems.append("Traceback in stderr")
    for secret in (*TOKEN_FORMS, *case.hidden):
        if secret in run.stdout or secret in run.stderr:
            what = "the token" if secret in TOKEN_FORMS else "a hidden value"
            problems.append(f"{what} was printed")
    longest = max((len(line) for line in run.stderr.splitlines()), default=0)
    if longest > MAX_LINE:
        problems.append(f"a stderr line of {longest} characters")
    return problems


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_server(case: Case) -> None:
    outcome = run_case(case)
    problems = common_failures(case, outcome)
    assert not problems, f"{problems}\n{outcome.run.stderr[-3000:]}"
    if case.check is not None:
        case.check(outcome)
