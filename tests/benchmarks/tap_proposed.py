"""Run tap-ocpi with the proposed speed-ups of client.py / streams.py / tap.py applied as
patches (benchmark only: `bench.py --proposed` adds it as a contender).

    python tap_proposed.py --config … --catalog …

Each patch is what the tap's own code could do; the README (Performance) lists them with their
measured gains. Set TAP_OCPI_PROPOSED to a comma-separated subset of the names below to try
them one at a time (default: all).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from typing import Any

import requests.models
from singer_sdk.helpers._util import utc_now
from singer_sdk.singerlib import RecordMessage

from tap_ocpi.client import OCPIStream
from tap_ocpi.schemas import REPLICATION_KEY
from tap_ocpi.streams import _LocationChild
from tap_ocpi.tap import main


def big_reads() -> None:
    """Read each response body in one go, not in 10 KiB chunks: the fetch thread then
    takes the GIL a few times per page instead of ~130 (each a futex wake-up)."""
    requests.models.CONTENT_CHUNK_SIZE = 4 << 20  # type: ignore[attr-defined]


def gc_tuning() -> None:
    """Startup objects leave the collector's reach; young collections run less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def no_pop_deselected() -> None:
    """Skip the SDK's per-record selection walk when every property is selected."""
    sdk_generate = OCPIStream._generate_record_messages

    def generate(self: OCPIStream, record: dict[str, Any]) -> Iterator[Any]:
        everything = self.__dict__.get("_everything_selected")
        if everything is None:
            everything = self.__dict__["_everything_selected"] = all(self.mask.values())
        if not everything:
            yield from sdk_generate(self, record)
            return
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=utc_now(),
                )

    OCPIStream._generate_record_messages = generate  # type: ignore[method-assign]


def no_record_state() -> None:
    """No per-record bookmark bookkeeping in streams that read a window (their bookmark is
    the window end, set by _mark_complete); child streams keep it."""
    sdk_increment = OCPIStream._increment_stream_state

    def increment(self: OCPIStream, record: dict[str, Any], *, context: Any = None) -> None:
        if isinstance(self, _LocationChild) or (len(record) == 1 and REPLICATION_KEY in record):
            sdk_increment(self, record, context=context)

    OCPIStream._increment_stream_state = increment  # type: ignore[method-assign]


def no_child_contexts() -> None:
    """Streams without children make no child context per record."""
    sdk_contexts = OCPIStream.generate_child_contexts

    def contexts(self: OCPIStream, record: dict[str, Any], context: Any) -> Any:
        return sdk_contexts(self, record, context) if self.child_streams else ()

    OCPIStream.generate_child_contexts = contexts  # type: ignore[method-assign]


def child_schema_once() -> None:
    """EVSEs and connectors write SCHEMA once per run, not once per location."""

    def write_schema(self: _LocationChild) -> None:
        if not self.__dict__.get("_schema_sent"):
            self.__dict__["_schema_sent"] = True
            OCPIStream._write_schema_message(self)

    _LocationChild._write_schema_message = write_schema  # type: ignore[method-assign]


def issuperset_check() -> None:
    """post_process tests for unknown fields without building a set per record."""
    sdk_post = OCPIStream.post_process

    def post_process(self: OCPIStream, row: dict[str, Any], context: Any = None) -> Any:
        if self._columns.issuperset(row):
            return self._privacy(row, self.private_flag(row))
        return sdk_post(self, row, context)

    OCPIStream.post_process = post_process  # type: ignore[method-assign]


def lean_record_write() -> None:
    """Write RECORD messages straight from the record: no RecordMessage object, no to_dict,
    no writer layers, no selection walk. Only where that is exactly what the SDK would write:
    the default stream map, every property selected, the msgspec writer."""
    import sys  # noqa: PLC0415

    from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder  # noqa: PLC0415
    from singer_sdk.mapper import SameRecordTransform  # noqa: PLC0415

    sdk_write = OCPIStream._write_record_message
    buffer = bytearray(64)

    def write_record(self: OCPIStream, record: dict[str, Any]) -> None:
        lean = self.__dict__.get("_lean_write")
        if lean is None:
            maps = self.stream_maps
            lean = self.__dict__["_lean_write"] = (
                len(maps) == 1
                and type(maps[0]) is SameRecordTransform
                and maps[0].stream_alias == self.name
                and isinstance(self._tap.message_writer, MsgSpecWriter)
                and all(self.mask.values())
            )
        if not lean:
            sdk_write(self, record)
            return
        message: dict[str, Any] = {"type": "RECORD", "stream": self.name, "record": record}
        if self._stream_version is not None:
            message["version"] = self._stream_version
        message["time_extracted"] = utc_now()
        encoder.encode_into(message, buffer)
        buffer.extend(b"\n")
        sys.stdout.buffer.write(buffer)
        self.state_manager.is_flushed = False

    OCPIStream._write_record_message = write_record  # type: ignore[method-assign]


def buffered_records() -> None:
    """RECORD messages go into a 64 KiB buffer of its own (PYTHONUNBUFFERED, which many
    images set, makes sys.stdout unbuffered), flushed with every other message (STATE,
    SCHEMA, ...) and at exit: one write per ~60 records instead of one per record. Each
    write releases the GIL, and with the fetch thread waiting for it, each one can cost a
    thread switch (a futex wake-up; tens of microseconds on a VM)."""
    import atexit  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from singer_sdk.contrib.msgspec import MsgSpecWriter  # noqa: PLC0415
    from singer_sdk.singerlib import RecordMessage as Record  # noqa: PLC0415

    out = open(sys.stdout.fileno(), "wb", buffering=1 << 16, closefd=False)  # noqa: SIM115
    atexit.register(out.flush)

    def write_message(self: MsgSpecWriter, message: Any) -> None:
        out.write(self.format_message(message))
        if type(message) is not Record:
            out.flush()

    MsgSpecWriter.write_message = write_message  # type: ignore[method-assign]


PATCHES = {
    "big_reads": big_reads,
    "gc": gc_tuning,
    "no_pop_deselected": no_pop_deselected,
    "no_record_state": no_record_state,
    "no_child_contexts": no_child_contexts,
    "child_schema_once": child_schema_once,
    "issuperset": issuperset_check,
    "lean_write": lean_record_write,
    "buffered": buffered_records,
}

if __name__ == "__main__":
    chosen = os.environ.get("TAP_OCPI_PROPOSED") or ",".join(
        p for p in PATCHES if p != "lean_write"
    )
    for name in chosen.split(","):
        PATCHES[name.strip()]()
    main()
