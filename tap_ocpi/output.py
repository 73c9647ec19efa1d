"""Singer output: the SDK's msgspec writer, with RECORD messages written in blocks.

The SDK writes and flushes each message on its own, one system call per record, and builds
a ``RecordMessage`` object per record only to turn it back into a dict for the encoder.
``SingerOutput.write_record`` encodes the message dict straight into a block buffer;
``OCPIStream`` calls it when the SDK's own path would write the same bytes (see
``OCPIStream._write_record_message``). Every other message (SCHEMA, STATE, ...) writes the
pending records first and is flushed at once, so the order of messages is the SDK's, and a
STATE never reaches the target before the records it covers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
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
            # Only when a signal handler writes the final STATE between a record's JSON and
            # its newline (write_record): end that record's line, or the STATE continues it.
            pending += b"\n"
        pending += self.format_message(message)
        self.flush()

    def write_record(self, message: dict[str, Any]) -> None:
        """One RECORD message, given as the dict ``RecordMessage.to_dict`` would return."""
        pending = self._pending
        encoder.encode_into(message, pending, -1)  # -1: append
        pending += b"\n"
        if len(pending) >= BLOCK_BYTES:
            self.flush()

    def encode(self, value: Any) -> bytes:
        """``value`` as this writer encodes it within a message."""
        return encoder.encode(value)

    def write_json_records(self, head: bytes, lines: bytes, time_extracted: Any) -> None:
        """RECORD messages around JSON lines (one record a line, encoded by ``encode``):
        ``head`` is the message up to its record (``{"type":"RECORD","stream":…,"record":``);
        the bytes ``write_record`` writes for the same records and ``time_extracted``, made
        in C (a JSON line has no raw newline but its end)."""
        if not lines:
            return
        tail = b',"time_extracted":' + encoder.encode(time_extracted) + b"}\n"
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
        data, self._pending = self._pending, bytearray()
        self._writing = True
        try:
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
