"""The hand-written baselines of the benchmark: fetch OCPI list pages, write JSON lines.

    python minimal_client.py {orjson|json|raw} AUTH_HEADER URL [URL ...] > /dev/null

For each URL (a module list's first page: filters and `limit`), follow `Link: <…>;
rel="next"` to the end with one keep-alive `requests` session. `orjson` and `json` parse
each page and write each object of `data` as one JSON line to stdout; `raw` only downloads
the pages (the network and server share of any client). At the end one JSON line goes to
stderr: `{"pages": …, "records": …}`, which the benchmark checks against the tap.

This is the practical floor for a tap: nothing is normalised, filtered or validated.
"""

from __future__ import annotations

import json
import sys

import orjson
import requests


def crawl(session: requests.Session, url: str, mode: str, out: object) -> tuple[int, int]:
    """Every page of one list; returns (pages, records)."""
    write = out.write  # type: ignore[attr-defined]
    pages = records = 0
    total = None
    next_url: str | None = url
    loads, dumps = orjson.loads, orjson.dumps
    while next_url:
        response = session.get(next_url)
        response.raise_for_status()
        pages += 1
        if mode == "orjson":
            for record in loads(response.content)["data"]:
                write(dumps(record) + b"\n")
                records += 1
        elif mode == "json":
            for record in json.loads(response.content)["data"]:
                write((json.dumps(record) + "\n").encode())
                records += 1
        elif total is None:
            total = int(response.headers.get("X-Total-Count", "0"))
        next_url = response.links.get("next", {}).get("url")
    return pages, records if total is None else total


def main(argv: list[str]) -> int:
    mode, auth, *urls = argv
    if mode not in ("orjson", "json", "raw"):
        raise SystemExit(f"unknown mode {mode!r}")
    session = requests.Session()
    session.headers["Authorization"] = auth
    session.headers["Accept"] = "application/json"
    # Block-buffered whatever PYTHONUNBUFFERED says: what a hand-written client gets.
    out = open(sys.stdout.fileno(), "wb", buffering=1 << 16, closefd=False)  # noqa: SIM115
    pages = records = 0
    for url in urls:
        p, r = crawl(session, url, mode, out)
        pages += p
        records += r
    out.flush()
    sys.stderr.write(json.dumps({"pages": pages, "records": records}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
