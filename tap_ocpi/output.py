"""Singer output: the SDK's msgspec writer, with RECORD messages written in blocks.

The SDK writes and flushes each message on its own, one system call per record, and builds
a ``RecordMessage`` object per record only to turn it back into a dict for the encoder.
``SingerOutput.write_framed`` encodes the record straight into a block buffer, between
the bytes every RECORD line of the page shares (``RecordFrame``, encoded once per page);
``OCPIStream`` calls it when the SDK's own path would write the same bytes (see
``OCPIStream._write_record_message``). Every other message (SCHEMA, STATE, ...) writes the
pending records first and is flushed at once, so the order of messages is the SDK's, and a
STATE never reaches the target before the records it covers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from singer_sdk.singerlib.encoding.simple import Message

#: Pending records are written once they reach this size (and before any other message).
BLOCK_BYTES = 1 << 16
_NEWLINE = ord("\n")


class SingerOutput(MsgSpecWriter):
    """Singer messages on stdout, encoded by msgspec; records written in 64 KiB blocks."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._writing = False
        self._after_write: Callable[[], None] | None = None

    def write_message(self, message: Message) -> None:
        pending = self._pending
        if pending and pending[-1] != _NEWLINE:
            # Only when a signal handler writes the final STATE in the middle of a record's
            # line (write_framed): that record was not written yet, and its part would make
            # the STATE's line invalid. The state does not cover it (bookmarks move only at
            # the end of a complete read), so leaving it out loses nothing.
            del pending[pending.rfind(b"\n") + 1 :]
        pending += self.format_message(message)
        self.flush()

    def write_framed(self, frame: RecordFrame, record: Any) -> None:
        """One RECORD message: the record (a dict or a fast-path Struct) in its frame."""
        pending = self._pending
        start = len(pending)
        pending += frame.head
        try:
            encoder.encode_into(record, pending, -1)
        except BaseException:
            del pending[start:]  # no torn line for the final flush to write
            raise
        pending += frame.tail
        if len(pending) >= BLOCK_BYTES:
            self.flush()

    def write_json_records(self, frame: RecordFrame, lines: bytes) -> None:
        """RECORD messages around JSON lines (one record a line, encoded by this writer's
        encoder): the bytes ``write_framed`` writes for the same records, made in C (a JSON
        line has no raw newline but its end)."""
        if not lines:
            return
        head, tail = frame.head, frame.tail
        pending = self._pending
        # One append: a signal handler that writes the final STATE (write_message) finds
        # whole lines only.
        pending += b"".join((head, lines[:-1].replace(b"\n", tail + head), tail))
        if len(pending) >= BLOCK_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write what is pending, all of it: the reader never sees a torn line."""
        if not self._pending:
            return
        # Writing before the swap: a signal handler that lands between the two would find
        # nothing pending and end the run without the records being swapped out.
        self._writing = True
        try:
            data, self._pending = self._pending, bytearray()
            _write_all(data)
        finally:
            self._writing = False
            action, self._after_write = self._after_write, None
            if action is not None:
                action()

    def when_idle(self, action: Callable[[], None]) -> None:
        """Run ``action`` now, or as soon as the write in progress is done.

        For signal handlers: a signal that lands while a block is being written (a reader
        that is slow to drain the pipe keeps the write waiting) runs its handler in the
        middle of that write, where writing again would fail ("reentrant call") or tear a
        line. The write finishes first, then ``action`` runs.
        """
        if self._writing:
            self._after_write = action
        else:
            action()


@dataclass(frozen=True)
class RecordFrame:
    """What every RECORD line of one stream and one page (or spool block) has around its
    record, encoded once: the SDK's message, record aside."""

    head: bytes
    tail: bytes
    extracted: datetime

    @classmethod
    def of(cls, stream: str, version: int | None, extracted: datetime) -> RecordFrame:
        # The SDK's key order: type, stream, record, version, time_extracted.
        head = encoder.encode({"type": "RECORD", "stream": stream})[:-1] + b',"record":'
        rest: dict[str, Any] = {} if version is None else {"version": version}
        rest["time_extracted"] = extracted
        tail = b"," + encoder.encode(rest)[1:] + b"\n"
        return cls(head, tail, extracted)


def _write_all(data: bytearray) -> None:
    """Write to stdout's file descriptor until every byte is out.

    Not through ``sys.stdout.buffer``: a signal that interrupts a write to a pipe after part
    of a block went out made it return without the rest (seen under SIGTERM, with a reader
    slower than the tap), and the final STATE then continued a torn line. ``os.write``
    reports how much it wrote, and a signal without an exception only retries it.
    """
    out = sys.stdout.buffer  # looked up each time: tests and callers may redirect stdout
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stdout (tests)
        out.write(data)
        out.flush()
        return
    out.flush()  # whatever was written there before goes first
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
