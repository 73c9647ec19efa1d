"""`ocpi-mock-platform`: run the test platform until SIGINT/SIGTERM.

Prints one JSON line ``{"versions_url": ..., "token": ..., "admin_url": ...}`` on start.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from tap_ocpi.mock_platform.config import TOKEN_ENCODINGS, VERSIONS, PlatformConfig
from tap_ocpi.mock_platform.faults import parse_fault_args
from tap_ocpi.mock_platform.platform import MockPlatform


def build_parser() -> argparse.ArgumentParser:
    d = PlatformConfig()
    p = argparse.ArgumentParser(
        prog="ocpi-mock-platform",
        description="A deterministic OCPI 2.1.1/2.2.1/2.3.0 platform for tests and demos.",
    )
    p.add_argument("--host", default=d.host)
    p.add_argument("--port", type=int, default=d.port, help="0 picks a free port")
    p.add_argument(
        "--versions",
        default=",".join(d.versions),
        help=f"comma-separated subset of {','.join(VERSIONS)}",
    )
    p.add_argument("--token", default=None, help="credentials token (default: from the seed)")
    p.add_argument(
        "--token-encoding",
        choices=TOKEN_ENCODINGS,
        default=d.token_encoding,
        help="auto: plain on 2.1.1, Base64 on 2.2+; both: either form anywhere",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    for name in ("locations", "sessions", "tariffs", "tokens", "clients"):
        p.add_argument(
            f"--{name}",
            type=int,
            default=getattr(d, name),
            help=f"number of {name} (default {getattr(d, name)})",
        )
    p.add_argument("--page-cap", type=int, default=d.page_cap, help="max page size (X-Limit)")
    p.add_argument(
        "--span-days",
        type=float,
        default=d.span_days,
        help="last_updated values spread over this many days before --now",
    )
    p.add_argument(
        "--now",
        default=d.now,
        help="end of the generated history (ISO 8601) or 'wall' for the real clock",
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="enable a fault mode (repeatable); see docs/test-platform.md or faults.py",
    )
    p.add_argument(
        "--cache-mb", type=int, default=d.cache_mb, help="memory budget for serialized records"
    )
    p.add_argument(
        "--prewarm",
        default="",
        help="pre-render into the cache after start: comma-separated versions or "
        "version:module entries (e.g. 2.2.1:sessions)",
    )
    return p


def config_from_args(argv: list[str] | None = None) -> PlatformConfig:
    args = build_parser().parse_args(argv)
    return PlatformConfig(
        host=args.host,
        port=args.port,
        versions=tuple(v.strip() for v in args.versions.split(",") if v.strip()),
        token=args.token,
        token_encoding=args.token_encoding,
        seed=args.seed,
        locations=args.locations,
        sessions=args.sessions,
        tariffs=args.tariffs,
        tokens=args.tokens,
        clients=args.clients,
        page_cap=args.page_cap,
        span_days=args.span_days,
        now=args.now,
        faults=parse_fault_args(args.fault),
        cache_mb=args.cache_mb,
        prewarm=tuple(v.strip() for v in args.prewarm.split(",") if v.strip()),
    )


def main(argv: list[str] | None = None) -> int:
    try:
        config = config_from_args(argv)
        platform = MockPlatform(config)
    except ValueError as exc:
        print(f"ocpi-mock-platform: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with platform:
        line = {
            "versions_url": platform.versions_url,
            "token": platform.token,
            "admin_url": platform.admin_url,
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
