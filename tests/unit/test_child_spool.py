"""ChildSpool: the EVSEs and connectors of a locations read, replayed exactly as spooled."""

from __future__ import annotations

import copy
from typing import Any

import msgspec

from tap_ocpi.mock_platform import MockPlatform, PlatformConfig
from tap_ocpi.normalize import normalizer, split_location
from tap_ocpi.privacy import is_private
from tap_ocpi.streams import ChildSpool, OCPIStream
from tap_ocpi.tap import TapOCPI

CONFIG = {"versions_url": "http://127.0.0.1:9/ocpi/versions"}


def child_streams() -> tuple[OCPIStream, OCPIStream]:
    tap = TapOCPI(config=CONFIG, parse_env_config=False, validate_config=False)
    evses, connectors = tap.streams["evses"], tap.streams["connectors"]
    assert isinstance(evses, OCPIStream)
    assert isinstance(connectors, OCPIStream)
    return evses, connectors


def platform_children() -> list[tuple[list[dict], list[dict], bool]]:
    """(EVSEs, connectors, private) of each location of the test platform, as the tap sees
    them: decoded from JSON, normalised, split."""
    platform = MockPlatform(PlatformConfig(sessions=10, locations=400))
    raws = msgspec.json.decode(msgspec.json.encode(list(platform.expected("locations", "2.2.1"))))
    normalize = normalizer("locations", "2.2.1", ("DE", "VLT"))
    out = []
    for raw in raws:
        location, evses, connectors = split_location(normalize(raw))
        out.append((evses, connectors, is_private("locations", location)))
    return out


def test_replay_returns_every_output_record_in_order_across_frames() -> None:
    evses, connectors = child_streams()
    children = platform_children()
    expected: tuple[list[Any], list[Any]] = ([], [])
    spool = ChildSpool(evses, connectors)
    spool.FRAME_RECORDS = 7  # many frames, and records of one location split across two
    try:
        for evse_records, connector_records, private in children:
            for stream, records, out in (
                (evses, evse_records, expected[0]),
                (connectors, connector_records, expected[1]),
            ):
                out.extend(stream.output_record(r, private) for r in copy.deepcopy(records))
            spool.add(evse_records, connector_records, private)
        assert len(expected[0]) > 3 * spool.FRAME_RECORDS
        assert len(expected[1]) > 3 * spool.FRAME_RECORDS
        for position in (0, 1, 0):  # a replay can be repeated
            assert list(spool.records(position)) == expected[position]
    finally:
        spool.close()


def test_values_come_back_with_their_types() -> None:
    evses, _ = child_streams()
    spool = ChildSpool(evses, None)
    try:
        record = {
            "country_code": "DE",
            "party_id": "VLT",
            "location_id": "L1",
            "uid": "E1",
            "status": "AVAILABLE",
            "floor_level": "-1 ünïcode",
            "coordinates": {"latitude": "52.1", "longitude": "4.2"},
            "capabilities": ["RFID_READER"],
            "physical_reference": None,
            "last_updated": "2026-01-01T00:00:00Z",
        }
        spool.add([dict(record)], [], False)
        (replayed,) = list(spool.records(0))
        assert replayed == evses.output_record(dict(record), False)
        assert list(spool.records(1)) == []  # connectors not selected: nothing kept
    finally:
        spool.close()


def test_blocks_hold_whole_lines_of_the_records_replayed() -> None:
    evses, connectors = child_streams()
    spool = ChildSpool(evses, connectors)
    spool.BLOCK_BYTES = 100  # smaller than most records: lines span reads
    try:
        for evse_records, connector_records, private in platform_children()[:60]:
            spool.add(evse_records, connector_records, private)
        for position in (0, 1):
            blocks = list(spool.blocks(position))
            assert len(blocks) > 10
            assert all(block.endswith(b"\n") for block in blocks)
            lines = b"".join(blocks).splitlines()
            assert [msgspec.json.decode(line) for line in lines] == list(spool.records(position))
            assert len(lines) == spool.count(position)
    finally:
        spool.close()
