"""`tap-ocpi --diagnose`: what this platform does, and what the tap will do about it.

A bounded read (at most `PROBES` small requests per module, the throttle respected) through
the tap's own negotiation, transport, paging and normalisation: nothing here re-implements
them, it only asks them and writes down the answers. The report names field paths, header
names and counts, never a value from a record, a token, a salt or a query string. It writes
no RECORD and no STATE.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_ocpi.auth import default_encoding
from tap_ocpi.errors import BadRecord, NotAListError, OCPIError
from tap_ocpi.pagination import Cursor, next_link, same_origin, with_query
from tap_ocpi.redaction import REDACTOR
from tap_ocpi.transport import ListPage, describe

if TYPE_CHECKING:
    from tap_ocpi.client import OCPIStream
    from tap_ocpi.tap import TapOCPI

#: Objects asked for per probe page: enough to see shapes and paging, small for the server.
PROBE_LIMIT = 5
#: URLs tried for one module listed several times (2.1.1): a hostile list stays bounded.
MAX_URLS = 3
READY, FALLBACKS, BROKEN, SKIPPED = "ready", "works with fallbacks", "will not work", "skipped"
USABLE_LINK = "usable (same origin, answers, does not skip)"


@dataclass
class ModuleReport:
    """What one module's probe found (names and counts only)."""

    stream: str
    module: str
    url_path: str = ""
    role: str = ""
    first_request: str = ""
    objects_on_first_page: int = 0
    headers: dict[str, bool] = field(default_factory=dict)
    link: str = "absent"
    offset_paging: str = "not tried"
    page_size_cap: str = "not seen"
    date_filter: str = "not tried"
    timestamp_forms: dict[str, int] = field(default_factory=dict)
    case_differences: list[str] = field(default_factory=list)
    unknown_fields: list[str] = field(default_factory=list)
    fixes: dict[str, int] = field(default_factory=dict)
    unreadable_objects: int = 0
    fallbacks: list[str] = field(default_factory=list)
    privacy: str = ""
    privacy_paths: dict[str, list[str]] = field(default_factory=dict)
    requests: int = 0
    verdict: str = READY
    why: str = ""


@dataclass
class Report:
    """The whole diagnosis."""

    versions_offered: list[str]
    version_chosen: str
    why_version: str
    token_form: str
    roles: str
    modules_offered: list[str]
    modules: list[ModuleReport]
    requests: int = 0

    @property
    def ok(self) -> bool:
        return all(m.verdict in (READY, FALLBACKS, SKIPPED) for m in self.modules)


def diagnose(tap: TapOCPI) -> Report:
    """Negotiate, probe every selected stream's module, and say what the tap will do."""
    client = tap.client
    platform = tap.platform  # the tap's own negotiation (one-line errors on failure)
    pinned = tap.settings.ocpi_version
    why = f"pinned by ocpi_version {pinned}" if pinned else "the highest version both sides read"
    report = Report(
        versions_offered=list(platform.offered or (platform.wire_version,)),
        version_chosen=platform.wire_version,
        why_version=why,
        token_form="",
        roles="listed (OCPI 2.2+)" if platform.roles_known else "no roles: 2.1.1",
        modules_offered=sorted(platform.modules),
        modules=[],
    )
    done: set[str] = set()
    for name in tap.selected_stream_names():
        stream = tap.streams[name]
        module = getattr(stream, "module", name)
        if module in done and module != name:
            continue  # EVSEs and connectors come with locations
        done.add(module)
        report.modules.append(_module_report(tap, stream))  # type: ignore[arg-type]
    report.token_form = _token_form(tap, platform.wire_version)
    report.requests = client.requests
    return report


def _token_form(tap: TapOCPI, version: str) -> str:
    auth = tap.client.auth
    if auth.token is None:
        return "no token (open data: no Authorization header)"
    if auth.mode != "auto":
        return f"{auth.encoding} (as configured)"
    if auth.encoding == default_encoding(version):
        return f"{auth.encoding} (the form OCPI {version} prescribes)"
    return f"{auth.encoding} (not the form OCPI {version} prescribes: found by one fallback)"


def _module_report(tap: TapOCPI, stream: OCPIStream) -> ModuleReport:
    platform = tap.platform
    report = ModuleReport(stream.name, stream.module)
    report.privacy = tap.privacy.describe(stream.name)
    report.privacy_paths = tap.privacy.field_paths(stream.name)
    urls = platform.urls(stream.module)
    if not urls:
        report.verdict, report.why = SKIPPED, f"the platform does not offer {stream.module}"
        return report
    report.role = "SENDER" if platform.roles_known else "no roles (2.1.1)"
    try:  # the salt is checked as the run would: a stream that needs one and has none fails
        tap.privacy.check_salt([stream.name])
    except OCPIError as exc:
        report.verdict, report.why = BROKEN, describe(exc)
        return report
    if len(urls) > MAX_URLS:
        report.fallbacks.append(f"listed {len(urls)} times: the first {MAX_URLS} are tried")
        urls = urls[:MAX_URLS]
    before = tap.client.requests
    for index, url in enumerate(urls):
        report.url_path = urlsplit(url).path
        try:
            _probe(tap, stream, url, report)
        except NotAListError as exc:
            if platform.roles_known:  # a SENDER that serves no list: the run fails too
                report.verdict, report.why = BROKEN, describe(exc)
                break
            if index + 1 == len(urls):
                why = f"no URL listed for it answers a list ({describe(exc)})"
                report.verdict, report.why = SKIPPED, why
                break
            report.fallbacks.append(f"{report.url_path} serves no list: the next URL is used")
            continue
        except (OCPIError, RetriableAPIError, requests.RequestException) as exc:
            report.verdict, report.why = BROKEN, describe(exc)
        break
    report.requests = tap.client.requests - before
    if report.verdict == READY and report.fallbacks:
        report.verdict = FALLBACKS
    return report


def _fetch(tap: TapOCPI, stream: OCPIStream, url: str) -> ListPage:
    return tap.client.get_list(url, stream.module)


def _probe(tap: TapOCPI, stream: OCPIStream, url: str, report: ModuleReport) -> None:
    window = stream.date_window(None)
    cursor = Cursor(url, window, PROBE_LIMIT)
    first = _fetch(tap, stream, cursor.first_url())
    report.first_request = "HTTP 200, OCPI 1000-range status"
    report.objects_on_first_page = len(first.data)
    report.headers = {
        "X-Total-Count": first.total is not None,
        "X-Limit": first.limit is not None,
        "Link": bool(first.links),
    }
    _shapes(stream, first.data, report)
    _page_cap(first, report)
    _link(tap, stream, first, report)
    if _more(first):
        _offset(tap, stream, cursor, first, report)
    report.date_filter = _date_filter(tap, stream, url, window=window, first=first)
    if report.date_filter.startswith("ignored"):
        report.fallbacks.append("date filter ignored: every run reads the whole list")
    if first.total is None:
        report.fallbacks.append("no X-Total-Count: completeness is checked by repeats only")


def _more(first: ListPage) -> bool:
    """Whether the list goes on after the first page (by its total, else a full page)."""
    if first.total is not None:
        return first.total > len(first.data)
    return len(first.data) >= PROBE_LIMIT


def _page_cap(first: ListPage, report: ModuleReport) -> None:
    if first.limit is not None and first.limit < PROBE_LIMIT:
        report.page_size_cap = f"X-Limit {first.limit} (below the {PROBE_LIMIT} asked for)"
    elif first.total is not None and len(first.data) < min(PROBE_LIMIT, first.total):
        report.page_size_cap = "short pages without X-Limit"
        report.fallbacks.append("short pages: paging continues from the objects received")


def _link(tap: TapOCPI, stream: OCPIStream, first: ListPage, report: ModuleReport) -> None:
    link = next_link(first.links, first.url)
    if link is None:
        if first.links:
            report.link = "present, but no usable rel=next"
        if _more(first):
            report.fallbacks.append("no next link: paging by offset")
        return
    if not same_origin(link, first.url):
        report.link = "points to another host or scheme (not followed: the token stays)"
        report.fallbacks.append("next link refused: paging by offset")
        return
    offset = dict(parse_qsl(urlsplit(link).query)).get("offset", "")
    if offset.isdecimal() and int(offset) > len(first.data):
        report.link = "skips objects not received yet (not followed)"
        report.fallbacks.append("next link skips ahead: paging by offset")
        return
    try:
        second = _fetch(tap, stream, link)
    except (OCPIError, RetriableAPIError, requests.RequestException) as exc:
        report.link = f"same origin, but it fails ({describe(exc)})"
        report.fallbacks.append("next link fails: paging by offset")
        return
    if second.data and not _new_objects(stream, first, second):
        report.link = "answers with objects already read (it loops)"
        report.fallbacks.append("next link loops: paging by offset")
        return
    report.link = USABLE_LINK


def _offset(
    tap: TapOCPI, stream: OCPIStream, cursor: Cursor, first: ListPage, report: ModuleReport
) -> None:
    cursor.position = len(first.data)
    try:
        second = _fetch(tap, stream, cursor.offset_url())
    except (OCPIError, RetriableAPIError, requests.RequestException) as exc:
        report.offset_paging = f"fails ({describe(exc)})"
        if report.link != USABLE_LINK:
            report.verdict = BROKEN
            report.why = "offset paging fails and no usable next link: the list cannot be read"
        return
    if not second.data:
        report.offset_paging = "works (the list ended)"
    elif _new_objects(stream, first, second):
        report.offset_paging = "works"
    elif report.link == USABLE_LINK:
        report.offset_paging = "ignored (not needed while the next link works)"
    else:
        report.offset_paging = "ignored (the same objects again)"
        report.verdict = BROKEN
        report.why = "offset is ignored and no usable next link: the list cannot be read whole"


def _new_objects(stream: OCPIStream, first: ListPage, second: ListPage) -> bool:
    """Whether a later page brings an object the first one did not (by key)."""
    keys = {_key(stream, o) for o in first.data}
    return any(_key(stream, o) not in keys for o in second.data)


def _date_filter(
    tap: TapOCPI, stream: OCPIStream, url: str, *, window: dict[str, str], first: ListPage
) -> str:
    """Ask for the last day only: an honoured filter returns nothing older than its start."""
    start = datetime.now(timezone.utc) - timedelta(days=1)
    narrow = {**window, "date_from": start.strftime("%Y-%m-%dT%H:%M:%SZ")}
    page = _fetch(tap, stream, with_query(url, {**narrow, "limit": PROBE_LIMIT}))
    older = 0
    for raw in page.data:
        try:
            record = stream.normalize_raw(raw)
        except BadRecord:
            continue
        stamp = record.get("last_updated")
        if isinstance(stamp, str) and stamp < narrow["date_from"]:
            older += 1
    if older:
        return "ignored (older objects came back)"
    if first.total is not None and page.total is not None and page.total > first.total:
        return "doubtful (a narrower window announced more objects)"
    return "honoured"


def _key(stream: OCPIStream, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, dict):
        return ("?",)
    return tuple(str(raw.get(k, "")) for k in stream.primary_keys)


def _shapes(stream: OCPIStream, objects: list[Any], report: ModuleReport) -> None:
    """Timestamp forms, field names, and what normalising changed (kinds and counts)."""
    columns = set(stream.schema["properties"])
    lowered = {c.lower(): c for c in columns}
    forms: Counter[str] = Counter()
    fixes: Counter[str] = Counter()
    unknown: set[str] = set()
    cased: set[str] = set()
    for raw in objects:
        if not isinstance(raw, dict):
            report.unreadable_objects += 1
            continue
        forms[_timestamp_form(raw.get("last_updated"))] += 1
        try:
            record = stream.normalize_raw(raw)
        except BadRecord:
            report.unreadable_objects += 1
            continue
        # Names as the version mapping left them: what the stream would drop or rename.
        unknown |= {n for n in record if n not in columns and n != "evses"}
        cased |= {
            f"{n} -> {lowered[n.lower()]}"
            for n in raw
            if n not in columns and n.lower() in lowered and n not in record
        }
        for name, value in raw.items():
            if name in record and type(record[name]) is not type(value):
                fixes[f"{name}: {_kind(value)} -> {_kind(record[name])}"] += 1
    report.timestamp_forms = dict(forms)
    report.fixes = dict(fixes)
    report.unknown_fields = sorted(unknown)
    report.case_differences = sorted(cased)
    if cased:
        report.fallbacks.append("field names differing in letter case are read into the schema")
    if report.unreadable_objects:
        report.fallbacks.append("some objects cannot be read: reported by key, see the log")


def _timestamp_form(value: Any) -> str:
    if not isinstance(value, str):
        return "missing or not text"
    text = value.strip()
    if len(text) < 19 or len(text) > 40:
        return "not a date-time"
    zone = text[19:].lstrip(".0123456789")
    fraction = "with fraction" if text[19:20] == "." else "whole seconds"
    if zone in ("Z", "z"):
        return f"UTC Z, {fraction}"
    if zone[:1] in ("+", "-"):
        return f"offset, {fraction}"
    return f"no zone (read as UTC), {fraction}" if not zone else "not a date-time"


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# -- rendering ----------------------------------------------------------------------------


def run_diagnosis(tap: TapOCPI, output_format: str | None) -> int:
    """Print the report (text, or JSON with `--format json`); the exit status: 0 when every
    selected module is ready or works with fallbacks."""
    report = diagnose(tap)
    text = render_json(report) if output_format == "json" else render_text(report)
    # Backstop: the report names paths and counts; no token or query may ride along.
    sys.stdout.write(REDACTOR(text, limit=None) + "\n")
    sys.stdout.flush()
    return 0 if report.ok else 1


def render_json(report: Report) -> str:
    data = asdict(report)
    data["ok"] = report.ok
    return json.dumps(data, indent=2, ensure_ascii=False)


def render_text(report: Report) -> str:
    lines = [
        "tap-ocpi diagnosis",
        f"  versions offered: {', '.join(report.versions_offered)}",
        f"  version chosen:   {report.version_chosen} ({report.why_version})",
        f"  token form:       {report.token_form}",
        f"  roles:            {report.roles}",
        f"  modules offered:  {', '.join(report.modules_offered) or 'none'}",
        "",
    ]
    for m in report.modules:
        lines += _module_lines(m)
    verdicts = Counter(m.verdict for m in report.modules)
    summary = ", ".join(f"{n} {v}" for v, n in verdicts.items())
    lines.append(f"{len(report.modules)} modules: {summary}; {report.requests} requests made")
    return "\n".join(lines)


def _module_lines(m: ModuleReport) -> list[str]:
    head = f"{m.stream} ({m.module}): {m.verdict.upper()}"
    if m.why:
        head += f": {m.why}"
    lines = [head]
    if m.verdict == SKIPPED:
        return [*lines, ""]
    present = ", ".join(h for h, on in m.headers.items() if on) or "none"
    lines += [
        f"  url path:       {m.url_path} (role: {m.role})",
        f"  first page:     {m.first_request or 'failed'}; {m.objects_on_first_page} objects",
        f"  paging headers: {present}",
        f"  next link:      {m.link}",
        f"  offset paging:  {m.offset_paging}; page size cap: {m.page_size_cap}",
        f"  date filter:    {m.date_filter}",
        f"  last_updated:   {_counts(m.timestamp_forms) or 'no objects'}",
    ]
    if m.case_differences:
        lines.append(f"  letter case:    {', '.join(m.case_differences)}")
    if m.unknown_fields:
        lines.append(f"  unknown fields: {', '.join(m.unknown_fields)} (left out)")
    if m.fixes:
        lines.append(f"  values changed: {_counts(m.fixes)}")
    if m.unreadable_objects:
        lines.append(f"  unreadable:     {m.unreadable_objects} objects")
    if m.fallbacks:
        lines.append(f"  the tap will:   {'; '.join(m.fallbacks)}")
    paths = m.privacy_paths
    lines.append(f"  {m.privacy}")
    for kind in ("pseudonymised", "blanked"):
        if paths.get(kind):
            lines.append(f"  {kind + ':':15} {', '.join(paths[kind])}")
    lines += [f"  requests:       {m.requests}", ""]
    return lines


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} x{n}" for k, n in sorted(counts.items()))
