"""Fault modes: the ways real OCPI platforms misbehave, off by default.

Set them with ``--fault name=value`` (repeatable), ``POST /admin/faults`` (a JSON object
``{"name": value}`` that *replaces* the active set; ``{}`` clears it) or
``MockPlatform.set_faults(name=value, ...)``. Random faults draw from a generator seeded
with the platform seed and the fault set, one fixed set of draws per request, so the same
request sequence meets the same faults.

Unless ``scope=all``, faults hit only module requests (list pages and single objects);
versions, version details and credentials stay healthy so a client can always connect.

==================  =======  ==============================================================
name                value    effect
==================  =======  ==============================================================
error_rate          0..1     that share of requests gets HTTP 500/502/503/504 (502 with an
                             HTML body, as a proxy would send; the others an OCPI 3000
                             envelope)
throttle_rate       0..1     that share gets HTTP 429 with ``Retry-After: <retry_after>``
retry_after         seconds  the Retry-After value sent with 429 (default 1)
truncate_rate       0..1     that share gets HTTP 200 with the JSON body cut in half
                             (Content-Length matches the cut body)
drop_rate           0..1     that share gets no response: the connection is closed
latency_ms          ms       sleep this long before answering each list page
page_cap            n        the page-size cap (X-Limit) becomes n, overriding --page-cap
short_pages         n        serve at most n objects per page without saying so (X-Limit
                             still shows the cap; Link points at the right next offset)
no_total            true     omit X-Total-Count and X-Limit
link                mode     next-page Link header variant: ``relative`` (path only),
                             ``upper_rel`` (``REL="NEXT"``), ``unquoted_rel`` (``rel=next``),
                             ``missing`` (no Link at all), ``wrong_host`` (host
                             ``ocpi.invalid``), ``wrong_port`` (127.0.0.1, another port),
                             ``wrong_scheme`` (https instead of http), ``skip_ahead`` (the
                             offset skips one page: offset + 2 x served), ``not_found`` (a
                             path below the module that answers HTTP 404)
timestamps          mode     ``no_z``: DateTimes without the Z designator; ``offset``: the
                             same instants written in +01:00 local time
ocpi_error_rate     0..1     that share gets HTTP 200 carrying OCPI status 3000 and no data
fail_from_page      k        list pages k, k+1, ... (numbered from 1: offset // limit + 1)
                             always answer HTTP 500 with OCPI 3000
unstable_every      n        every n-th list request of a module (with offset > 0) first
                             moves one already-served record of that window to the end of
                             the ordering with last_updated = the platform clock, so
                             offsets shift under the client (the spec's concurrency case)
quirk               mode     a server that bends the rules of paging or discovery:
                             ``no_headers``: no Link, no X-Total-Count, no X-Limit at all;
                             ``nonce_link``: offset ignored (always the first page), every
                             full page links to a new URL (``nonce=<n>``);
                             ``huge_total``: offset ignored, no Link, X-Total-Count 1000000;
                             ``duplicate``: one object of each list window listed twice
                             (adjacent; which one is seeded), X-Total-Count counts entries;
                             ``details_twice``: 2.1.1 details list every module twice, a CPO
                             URL (``/ocpi/cpo/2.1.1/<module>``, HTTP 404) before the real one;
                             ``details_in_list``: version details wrapped in a one-element
                             list; ``kwh_case``: sessions carry ``kWh`` instead of ``kwh``
scope               mode     ``lists`` (default) or ``all`` (also versions, details and
                             credentials)
==================  =======  ==============================================================
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tap_ocpi.mock_platform.rng import Rng, key

LINK_MODES = (
    "ok",
    "relative",
    "upper_rel",
    "unquoted_rel",
    "missing",
    "wrong_host",
    "wrong_port",
    "wrong_scheme",
    "skip_ahead",
    "not_found",
)
QUIRKS = (
    "none",
    "no_headers",
    "nonce_link",
    "huge_total",
    "duplicate",
    "details_twice",
    "details_in_list",
    "kwh_case",
)
#: Quirks whose list pages ignore `offset` (always the window's first page).
OFFSET_IGNORED = ("nonce_link", "huge_total")
TIMESTAMP_MODES = ("z", "no_z", "offset")
SCOPES = ("lists", "all")


@dataclass(frozen=True)
class Faults:
    """The active fault set; every field's default means "behave"."""

    error_rate: float = 0.0
    throttle_rate: float = 0.0
    retry_after: int = 1
    truncate_rate: float = 0.0
    drop_rate: float = 0.0
    latency_ms: int = 0
    page_cap: int = 0
    short_pages: int = 0
    no_total: bool = False
    link: str = "ok"
    timestamps: str = "z"
    ocpi_error_rate: float = 0.0
    fail_from_page: int = 0
    unstable_every: int = 0
    quirk: str = "none"
    scope: str = "lists"

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Faults:
        """Build from ``{name: value}``; values may be strings (CLI) or JSON scalars."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for name, raw in values.items():
            if name not in fields:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(fields)}")
            kwargs[name] = _coerce(name, fields[name].type, raw)
        faults = cls(**kwargs)
        faults.validate()
        return faults

    def validate(self) -> None:
        for name in (
            "error_rate",
            "throttle_rate",
            "truncate_rate",
            "drop_rate",
            "ocpi_error_rate",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"fault {name} must be between 0 and 1")
        _check_choice("link", self.link, LINK_MODES)
        _check_choice("timestamps", self.timestamps, TIMESTAMP_MODES)
        _check_choice("quirk", self.quirk, QUIRKS)
        _check_choice("scope", self.scope, SCOPES)
        for name in (
            "retry_after",
            "latency_ms",
            "page_cap",
            "short_pages",
            "fail_from_page",
            "unstable_every",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"fault {name} must not be negative")

    def active(self) -> dict[str, Any]:
        """Only the fields that differ from the defaults (for /admin/faults and logs)."""
        default = Faults()
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"fault {name} must be one of {', '.join(choices)}")


def _coerce(name: str, type_name: Any, raw: Any) -> Any:
    """Convert a CLI string or JSON value to the field's type (annotations are strings)."""
    kind = str(type_name)
    try:
        if kind == "bool":
            if isinstance(raw, str):
                return raw.strip().lower() in ("1", "true", "yes", "on")
            return bool(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"fault {name}: cannot read {raw!r} as {kind}") from None
    return str(raw)


def parse_fault_args(items: list[str]) -> dict[str, str]:
    """``["error_rate=0.1", "link=missing"]`` -> ``{"error_rate": "0.1", ...}``."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--fault expects name=value, got {item!r}")
        out[name.strip()] = value.strip()
    return out


@dataclass(frozen=True)
class Verdict:
    """What the dice decided for one request (at most one of the first five is set)."""

    drop: bool = False
    throttle: bool = False
    error_status: int = 0
    ocpi_error: bool = False
    truncate: bool = False


class FaultDice:
    """Seeded, thread-safe fault decisions: a fixed number of draws per request."""

    def __init__(self, seed: int, faults: Faults) -> None:
        self.faults = faults
        self._rng = Rng(
            seed, key(*(hash_text(f"{k}={v}") for k, v in sorted(faults.active().items())))
        )
        self._lock = threading.Lock()

    def roll(self) -> Verdict:
        f = self.faults
        with self._lock:
            draws = [self._rng.uniform(0.0, 1.0) for _ in range(6)]
        if draws[0] < f.drop_rate:
            return Verdict(drop=True)
        if draws[1] < f.throttle_rate:
            return Verdict(throttle=True)
        if draws[2] < f.error_rate:
            return Verdict(error_status=(500, 502, 503, 504)[int(draws[5] * 4) % 4])
        if draws[3] < f.ocpi_error_rate:
            return Verdict(ocpi_error=True)
        return Verdict(truncate=draws[4] < f.truncate_rate)


def hash_text(text: str) -> int:
    """Stable (unsalted, unlike hash()) 64-bit hash of a string."""
    h = 0
    for byte in text.encode():
        h = key(h, byte)
    return h
