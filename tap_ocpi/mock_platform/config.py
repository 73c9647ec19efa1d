"""PlatformConfig: every knob of the mock platform, shared by the CLI and the Python API."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tap_ocpi.mock_platform.rng import Rng

V211, V221, V230 = "2.1.1", "2.2.1", "2.3.0"
VERSIONS: tuple[str, ...] = (V211, V221, V230)
TOKEN_ENCODINGS = ("auto", "plain", "base64", "both")
MODULE_NAMES = ("locations", "sessions", "cdrs", "tariffs", "tokens", "hubclientinfo")
DEFAULT_NOW = "2026-01-01T00:00:00Z"

# The parties this platform plays: a CPO and an eMSP (token owner) behind one hub.
CPO_PARTY = ("DE", "VLT")
EMSP_PARTY = ("DE", "VLE")
HUB_PARTY = ("DE", "VLH")


@dataclass(frozen=True)
class PlatformConfig:
    """Options of `ocpi-mock-platform`; the CLI flag for each field is ``--field-name``.

    now: the instant the generated history ends and the platform clock starts. A fixed
    default keeps runs byte-identical; ``"wall"`` uses the current time instead, and then
    ``advance(minutes=0)`` stamps changes with the wall clock (what a tap whose bookmark is
    its own run start needs to see them).
    prewarm: ``"2.2.1"`` (every module of a version) or ``"2.2.1:sessions"`` entries whose
    records a background thread renders into the cache after start (benchmarks then
    measure serving, not generation; progress in /admin/stats).
    token_encoding: ``auto`` accepts the plain token on 2.1.1 and Base64 on 2.2+ (both on
    the versions endpoint), ``plain``/``base64`` only that form, ``both`` either form.
    """

    host: str = "127.0.0.1"
    port: int = 0
    versions: tuple[str, ...] = VERSIONS
    token: str | None = None
    token_encoding: str = "auto"  # noqa: S105 - an encoding name, not a secret
    seed: int = 1
    locations: int = 40
    sessions: int = 500
    tariffs: int = 8
    tokens: int = 120
    clients: int = 6
    page_cap: int = 1000
    span_days: float = 365.0
    now: str = DEFAULT_NOW
    faults: Mapping[str, Any] = field(default_factory=dict)
    cache_mb: int = 768
    prewarm: tuple[str, ...] = ()
    request_log_size: int = 10_000

    def __post_init__(self) -> None:
        prewarm = [p.partition(":") for p in self.prewarm]
        unknown = [v for v in (*self.versions, *(p[0] for p in prewarm)) if v not in VERSIONS]
        if any(p[2] not in ("", *MODULE_NAMES) for p in prewarm):
            raise ValueError(f"prewarm modules must be among {', '.join(MODULE_NAMES)}")
        if unknown or not self.versions:
            raise ValueError(f"versions must be a non-empty subset of {', '.join(VERSIONS)}")
        if self.token_encoding not in TOKEN_ENCODINGS:
            raise ValueError(f"token_encoding must be one of {', '.join(TOKEN_ENCODINGS)}")
        if self.locations < 1 or self.tokens < 1 or self.tariffs < 1:
            raise ValueError("locations, tokens and tariffs must be at least 1")
        if min(self.sessions, self.clients) < 0:
            raise ValueError("sessions and clients must not be negative")
        if self.page_cap < 1 or self.span_days <= 0:
            raise ValueError("page_cap must be >= 1 and span_days > 0")
        if self.token is not None and not _printable_token(self.token):
            raise ValueError("token must be 1-64 printable non-whitespace ASCII characters")

    @property
    def effective_token(self) -> str:
        """The configured token, or a UUID-shaped one derived from the seed."""
        if self.token is not None:
            return self.token
        r = Rng(self.seed, 0x70CE)
        h = r.hex(32).lower()
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _printable_token(token: str) -> bool:
    return 0 < len(token) <= 64 and all(0x21 <= ord(c) <= 0x7E for c in token)


def b64(token: str) -> str:
    """The 2.2.1-d2 form: Base64 of the UTF-8 bytes, standard alphabet, padded."""
    return base64.b64encode(token.encode()).decode()
