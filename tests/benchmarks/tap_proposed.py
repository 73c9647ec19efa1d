"""Run tap-ocpi with the speed-ups proposed for client.py / tap.py applied as patches
(benchmark only: `bench.py --proposed` adds it as a contender).

    python tap_proposed.py --config … --catalog …

Each patch is what the tap's own code could do; docs/performance.md lists them with their
measured gains. TAP_OCPI_PROPOSED picks a comma-separated subset of PATCHES (default: all
but the alternatives). Already applied in the tap itself, so no longer here: no per-record
state or child contexts where unused, child SCHEMA once per run, no set per record in
post_process.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

import requests.models
from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from singer_sdk.helpers._util import utc_now
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib import RecordMessage

from tap_ocpi.client import OCPIStream
from tap_ocpi.tap import main

#: Where RECORD messages go: stdout itself (flushed per message, as the SDK does), or the
#: buffer of `buffered_records`. Every message takes the same way, so the order is kept.
_out: IO[bytes] = sys.stdout.buffer
_flush_records = True


def big_reads() -> None:
    """The fetch thread reads each response body in one go, not in 10 KiB chunks: it then
    needs the GIL a few times per page instead of ~130, each time a thread switch."""
    requests.models.CONTENT_CHUNK_SIZE = 4 << 20  # type: ignore[attr-defined]


def buffered_records() -> None:
    """RECORD messages go into a 64 KiB buffer of their own (PYTHONUNBUFFERED, which many
    images set, makes sys.stdout unbuffered), flushed with every other message (STATE,
    SCHEMA, ...) and at exit: one write per ~60 records instead of one per record. Each
    write releases the GIL; while the fetch thread waits for it, each release can cost a
    thread switch (a futex wake-up, tens of microseconds on a VM)."""
    global _out, _flush_records  # noqa: PLW0603 - one process-wide output
    _out = open(sys.stdout.fileno(), "wb", buffering=1 << 16, closefd=False)  # noqa: SIM115
    _flush_records = False
    atexit.register(_out.flush)

    def write_message(self: MsgSpecWriter, message: Any) -> None:
        _out.write(self.format_message(message))
        if _flush_records or type(message) is not RecordMessage:
            _out.flush()

    MsgSpecWriter.write_message = write_message  # type: ignore[method-assign]


def gc_tuning() -> None:
    """Startup objects leave the collector's reach; young collections run less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def lean_record_write() -> None:
    """Write RECORD messages straight from the record: no RecordMessage object, no to_dict,
    no writer layers, no per-record selection walk (pop_deselected_record_properties). Only
    where that is exactly what the SDK would write: the default stream map, every property
    selected, the msgspec writer. Otherwise the SDK's own path."""
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
        _out.write(buffer)
        if _flush_records:
            _out.flush()
        self.state_manager.is_flushed = False

    OCPIStream._write_record_message = write_record  # type: ignore[method-assign]


def no_pop_deselected() -> None:
    """(Alternative to lean_write.) Skip only the SDK's per-record selection walk when every
    property is selected."""
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


PATCHES = {
    "big_reads": big_reads,
    "buffered": buffered_records,
    "gc": gc_tuning,
    "lean_write": lean_record_write,
    "no_pop_deselected": no_pop_deselected,
}
ALTERNATIVES = {"no_pop_deselected"}

if __name__ == "__main__":
    default = ",".join(name for name in PATCHES if name not in ALTERNATIVES)
    for name in (os.environ.get("TAP_OCPI_PROPOSED") or default).split(","):
        PATCHES[name.strip()]()
    main()
