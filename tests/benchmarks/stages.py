"""Per-record cost of each step of tap-ocpi's record path, in microseconds (dev tool).

    .venv/bin/python tests/benchmarks/stages.py [--stream sessions] [--n 20000] [--repeat 5]

Generates the objects with the test platform's own renderer (no HTTP), then times each step
on its own over all of them, best of ``--repeat`` (the machine is noisy; the minimum is the
cost, the rest is interference), and finally the whole path through the SDK's
``_sync_records`` with the pages already in memory, so the steps can be checked against
the total. Output goes to stdout as a Markdown table; records are written to /dev/null.
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from tap_ocpi.fastpath import record_normalizer
from tap_ocpi.mock_platform import MockPlatform, PlatformConfig
from tap_ocpi.normalize import split_location
from tap_ocpi.output import RecordFrame
from tap_ocpi.pagination import KeySet
from tap_ocpi.privacy import is_private
from tap_ocpi.tap import TapOCPI
from tap_ocpi.transport import ListPage


def best(fn: Callable[[], Any], repeat: int) -> float:
    # The inputs (hundreds of thousands of dicts) are frozen out of the collector's reach:
    # in the tap only a page or two is alive at a time, so full collections are cheap there.
    gc.collect()
    gc.freeze()
    times = []
    for _ in range(repeat):
        started = time.process_time()  # CPU time: other processes' load does not count
        fn()
        times.append(time.process_time() - started)
    return min(times)


def raw_objects(stream: str, n: int, version: str) -> list[dict[str, Any]]:
    cache = Path(tempfile.gettempdir()) / f"tap-ocpi-stages-{stream}-{n}-{version}.json"
    if cache.exists():
        return msgspec.json.decode(cache.read_bytes())
    module = "locations" if stream in ("evses", "connectors") else stream
    sizes = {"sessions": n, "locations": max(40, n // 10), "tokens": n}
    config = PlatformConfig(
        sessions=sizes["sessions"], locations=sizes["locations"], tokens=sizes["tokens"]
    )
    platform = MockPlatform(config)
    encoded = msgspec.json.encode(list(platform.expected(module, version)))
    cache.write_bytes(encoded)
    return msgspec.json.decode(encoded)  # as the tap gets them: fresh dicts from JSON


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--stream", default="sessions", choices=["sessions", "cdrs", "locations", "tokens"]
    )
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--version", default="2.2.1")
    ap.add_argument("--pass-all", action="store_true", help="privacy_pass: {stream: ['.']}")
    args = ap.parse_args()

    raws = raw_objects(args.stream, args.n, args.version)
    n = len(raws)
    owner = ("DE", "VLT")
    config: dict[str, Any] = {
        "versions_url": "http://127.0.0.1:9/ocpi/versions",
        "token": "t",
        "privacy_salt": "stages-salt-not-a-secret",  # tokens.uid is pseudonymised by default
    }
    if args.pass_all:
        config["privacy_pass"] = {args.stream: ["."]}
    # stdout (fd 1) goes to /dev/null for the writer; the report goes to the real stdout.
    report = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)

    tap = TapOCPI(config=config, parse_env_config=False, validate_config=False)
    stream = tap.streams[args.stream]
    for name, other in tap.streams.items():
        other.selected = name == args.stream or (
            args.stream == "locations" and name in ("evses", "connectors")
        )
    normalize = record_normalizer(args.stream, args.version, owner)
    keys = stream.primary_keys
    rows: list[tuple[str, float]] = []

    def step(name: str, fn: Callable[[], Any]) -> None:
        rows.append((name, best(fn, args.repeat) / n * 1e6))

    encoded_pages = [
        msgspec.json.encode({"status_code": 1000, "data": raws[i : i + 1000]})
        for i in range(0, n, 1000)
    ]
    decode = msgspec.json.Decoder().decode
    step("decode the page (msgspec, fetch thread)", lambda: each(decode, encoded_pages))

    import orjson  # noqa: PLC0415

    def floor() -> None:
        out = sys.stdout.buffer
        for page in encoded_pages:
            for record in orjson.loads(page)["data"]:
                out.write(orjson.dumps(record) + b"\n")

    step("FLOOR: orjson loads page + dumps + write each record", floor)
    step("normalize", lambda: each(normalize, raws))
    normalized = [normalize(r) for r in raws]
    if args.stream == "locations":
        normalized = [split_location(r)[0] for r in normalized]

    step("key tuple + KeySet.add", lambda: _keyset(normalized, keys))
    step("key tuple + set.add (for comparison)", lambda: _pyset(normalized, keys))

    columns = stream._columns
    step("post_process: extra-keys check", lambda: each(lambda r: r.keys() - columns, normalized))
    step("post_process: is_private", lambda: each(lambda r: is_private(args.stream, r), normalized))
    privacy = stream._privacy
    step("post_process: privacy filter", lambda: each(lambda r: privacy(r, False), normalized))
    step("post_process (whole)", lambda: each(lambda r: stream.post_process(dict(r)), normalized))
    filtered = [stream.post_process(dict(r)) for r in normalized]

    from singer_sdk.helpers._catalog import pop_deselected_record_properties  # noqa: PLC0415
    from singer_sdk.helpers._util import utc_now  # noqa: PLC0415
    from singer_sdk.singerlib import RecordMessage  # noqa: PLC0415

    mask, schema = stream.mask, stream.schema
    copies = [copy.deepcopy(filtered) for _ in range(2 * args.repeat + 1)]
    step(
        "SDK: pop_deselected_record_properties",
        lambda: each(lambda r: pop_deselected_record_properties(r, schema, mask), copies.pop()),
    )
    step("SDK: utc_now() per record", lambda: each(lambda _: utc_now(), filtered))
    mapper = stream.stream_maps[0]
    step("SDK: stream map transform (identity)", lambda: each(mapper.transform, filtered))
    step(
        "SDK: RecordMessage(...) + utc_now()",
        lambda: each(
            lambda r: RecordMessage(stream="s", record=r, version=None, time_extracted=utc_now()),
            filtered,
        ),
    )
    messages = [
        RecordMessage(stream=args.stream, record=r, version=None, time_extracted=utc_now())
        for r in filtered
    ]
    step("SDK: message.to_dict()", lambda: each(lambda m: m.to_dict(), messages))
    writer = tap.message_writer
    step("SDK writer: serialize (msgspec)", lambda: each(writer.format_message, messages))
    step("SDK writer: write + flush per record", lambda: each(tap.write_message, messages))
    out = sys.stdout.buffer
    step(
        "writer without the flush per record",
        lambda: each(lambda m: out.write(writer.format_message(m)), messages),
    )
    step(
        "SDK: _generate_record_messages (pop + conform + map + message)",
        lambda: each(lambda r: list(stream._generate_record_messages(r)), copies.pop()),
    )
    step(
        "SDK: _increment_stream_state",
        lambda: each(lambda r: stream._increment_stream_state(r, context=None), filtered),
    )
    counter = stream.get_record_counter()
    step("SDK: record_counter.increment()", lambda: each(lambda _: counter.increment(), filtered))
    step(
        "SDK: _process_record (child contexts)",
        lambda: each(lambda r: stream._process_record(r, child_context=None), filtered),
    )

    frame = RecordFrame.of(args.stream, None, utc_now())
    step(
        "lean RECORD write (SingerOutput.write_framed, blocks)",
        lambda: each(lambda r: writer.write_framed(frame, r), filtered),
    )
    writer.flush()

    from tap_ocpi.versions import Platform  # noqa: PLC0415

    tap.__dict__["platform"] = Platform(
        version=args.version,
        wire_version=args.version,
        modules={"locations": "http://127.0.0.1:9/locations"} if args.stream == "locations" else {},
        owner=owner,
        roles_known=True,
    )
    page_decoder = stream._page_decoder
    if page_decoder is not None:

        def projected() -> None:
            for page in encoded_pages:
                assert page_decoder.decode(page) is not None

        step("FAST PATH: projected page decode (PageDecoder, fetch thread)", projected)

    # The whole path with the pages in memory: get_records -> ... -> stdout.
    def pages(fast: bool) -> Iterator[ListPage]:
        for page in encoded_pages:
            records = page_decoder.decode(page) if fast and page_decoder is not None else None
            data = decode(page)["data"] if records is None else records
            yield ListPage("", data, records is not None, [], None, None)

    def whole_children() -> None:
        """Locations read (children spooled), then the EVSE and connector replays."""
        from tap_ocpi.streams import ChildSpool, LocationsStream  # noqa: PLC0415

        assert isinstance(stream, LocationsStream)
        seen = KeySet()
        read = first_read(seen)
        records = (r for page in pages(False) for r in stream._new_records(page, seen, read))
        children = [tap.streams[name] for name in ("evses", "connectors")]
        stream._spool = ChildSpool(*children)  # type: ignore[arg-type]
        stream.get_records = lambda _context: records  # type: ignore[method-assign]
        for _ in stream._sync_records(None):
            pass
        stream._read = True
        for child in children:
            for _ in child._sync_records(None):
                pass
        stream._spool.close()
        writer.flush()

    def whole(fast: bool) -> Callable[[], None]:
        def run() -> None:
            seen = KeySet()
            read = first_read(seen)
            records = (r for page in pages(fast) for r in stream._new_records(page, seen, read))
            stream.get_records = lambda _context: records  # type: ignore[method-assign]
            for _ in stream._sync_records(None):
                pass
            writer.flush()

        return run

    step("WHOLE, general path: decode + normalize + privacy + SDK + write", whole(False))
    if args.stream == "locations":
        step("WHOLE + children: locations, then EVSEs and connectors replayed", whole_children)
    if page_decoder is not None:
        step("WHOLE, fast path: PageDecoder + SDK + write", whole(True))

    width = max(len(name) for name, _ in rows)
    report.write(f"{args.stream}: {n} objects, {args.version}, best of {args.repeat}\n\n")
    report.write(f"| {'step'.ljust(width)} | µs/record |\n|{'-' * (width + 2)}|---:|\n")
    for name, micro in rows:
        report.write(f"| {name.ljust(width)} | {micro:8.2f} |\n")
    report.flush()
    return 0


def first_read(seen: KeySet) -> Any:
    """What the stream's _new_records takes as the first read of a window."""
    from tap_ocpi.reading import Tally  # noqa: PLC0415

    return Tally(seen, shared=True)


def each(fn: Callable[[Any], Any], items: list[Any]) -> None:
    """Call fn on every item, keeping no result alive (as the tap's pipeline does)."""
    for item in items:
        fn(item)


def _keyset(records: list[dict[str, Any]], keys: list[str]) -> None:
    seen = KeySet()
    for r in records:
        seen.add(tuple([r.get(k) for k in keys]))


def _pyset(records: list[dict[str, Any]], keys: list[str]) -> None:
    seen: set[tuple[Any, ...]] = set()
    for r in records:
        seen.add(tuple([r.get(k) for k in keys]))


if __name__ == "__main__":
    sys.exit(main())
