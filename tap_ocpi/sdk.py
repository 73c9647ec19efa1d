"""Every place the tap overrides or calls an internal of the Singer SDK, in one module.

The SDK's public hooks cover most of what a tap needs; these few do not, and each is here
for a measured reason (said at each). tests/unit/test_sdk_contract.py fails loudly when an
SDK upgrade changes a name, a signature or a behaviour relied on here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import datetime
from functools import cached_property
from types import FrameType
from typing import TYPE_CHECKING, Any

from singer_sdk import RESTStream, Stream, Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers._state import PROGRESS_MARKERS
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib import StateMessage
from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL

from tap_ocpi.errors import OCPIError, OutputClosedError
from tap_ocpi.output import RecordFrame, SingerOutput
from tap_ocpi.settings import invalid_settings

if TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context


class StreamInternals(RESTStream[str]):
    """The stream side: lean RECORD writes, bookmarks set once per stream, request metrics."""

    #: The replication key of every stream (set by the base stream).
    replication_key: str
    #: When the page being written was read: its records' ``time_extracted`` (the SDK
    #: stamps each record as it writes it; the records of one page were read at once).
    extracted_at: datetime | None = None
    #: The bytes around every record of that page (`_write_record_message`).
    _frame: RecordFrame | None = None

    def _increment_stream_state(
        self, latest_record: dict, *, context: Context | None = None
    ) -> None:
        """No per-record bookkeeping: OCPI lists are unsorted, so the SDK would only collect
        non-resumable progress markers (and warn that they are). A stream's bookmark is the
        window end, set by `set_bookmark` once the window was read completely."""

    def set_bookmark(self, value: str, context: Context | None) -> None:
        """Make `value` the stream's bookmark, final (written with the next STATE), as the
        SDK would: only for an incremental sync."""
        if self.replication_method != REPLICATION_INCREMENTAL:
            return
        state = self.get_context_state(context)
        state.pop(PROGRESS_MARKERS, None)
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = value
        self.state_manager.is_flushed = False

    def mark_extracted(self) -> None:
        """The records written from now on were read now (a page, or a spool's replay)."""
        self.extracted_at = utc_now()

    def drop_progress(self, context: Context | None) -> None:
        """Forget anything this run would promote, so the saved bookmark stays as it was."""
        self.get_context_state(context).pop(PROGRESS_MARKERS, None)

    def _write_record_message(self, record: dict) -> None:
        """The record as a RECORD message: the SDK's bytes, without its per-record detours.

        The SDK walks each record against the selection mask, conforms types, builds a
        `RecordMessage` and writes it unbuffered. When every field is selected, types need
        no conforming (normalize) and the only stream map is the default one, none of
        that changes a byte: the message dict goes straight to the block writer. Anything
        else (deselected fields, user stream maps, another writer) takes the SDK's path.
        """
        if not self._lean_output:
            super()._write_record_message(record)
            return
        flatten = self._lean_flatten
        mapped = record if flatten is None else flatten(record)
        if mapped is None:
            return
        extracted = self.extracted_at or utc_now()
        frame = self._frame
        if frame is None or frame.extracted is not extracted:
            frame = self._frame = RecordFrame.of(self.name, self._stream_version, extracted)
        writer = self._tap.message_writer
        assert isinstance(writer, SingerOutput)  # checked by _lean_output
        writer.write_framed(frame, mapped)
        self.state_manager.is_flushed = False

    @cached_property
    def _lean_output(self) -> bool:
        """Whether `_write_record_message` may skip the SDK's path (asked at the first
        record, when the catalog and the stream maps are settled)."""
        maps = self.stream_maps
        return (
            len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == self.name
            and self.TYPE_CONFORMANCE_LEVEL is TypeConformanceLevel.NONE
            and isinstance(self._tap.message_writer, SingerOutput)
            and all(self.mask.values())
        )

    @cached_property
    def _lean_flatten(self) -> Callable[[dict], dict | None] | None:
        """The SDK's flattening for the lean path, or None when it is off (then the map
        returns each record as it is, and calling it per record would only cost time)."""
        mapper = self.stream_maps[0]
        if mapper.flattening_enabled and mapper.flattening_options:
            return mapper.transform
        return None

    def json_records(self, context: Context | None) -> Iterator[bytes] | None:
        """Hook: the stream's output records as blocks of JSON lines (one record a line,
        encoded by the writer's encoder, each block ending with a newline), for
        `_sync_records` to write as they are; None: the SDK's record loop (the default)."""
        return None

    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> Generator[dict, Any, Any]:
        """The SDK's record loop, or, for a stream whose records are JSON already
        (`json_records`: EVSEs and connectors, streams.py), their RECORD messages written a
        block at a time. The SDK's loop costs about 2.4 µs a record with the write; there
        are eight children per location. Only where the loop would do nothing else per
        record: a selected stream, the lean write without flattening
        (`_write_record_message`), no partition, no record limit (dry runs), no stream
        version; `post_process`, `_process_record` and `_increment_stream_state` would pass
        the records on or do nothing (the records are final, no SDK child streams)."""
        if (
            write_messages
            and context is None
            and self.selected
            and self.ABORT_AT_RECORD_COUNT is None
            and self._stream_version is None
            and self._lean_output
            and self._lean_flatten is None
            and not self.partitions
        ):
            blocks = self.json_records(context)
            if blocks is not None:
                return self._sync_json_records(blocks)
        return super()._sync_records(context, write_messages=write_messages)

    def _sync_json_records(self, blocks: Iterable[bytes]) -> Generator[dict, Any, None]:
        """What the SDK's `_sync_records` does for a stream without context or partitions,
        per block instead of per record: the same messages in the same order (a STATE after
        every `STATE_MSG_FREQUENCY` records), the same record count and timer metrics. One
        `time_extracted` per block (the records were extracted before, anyway)."""
        record_counter = self.get_record_counter()
        timer = self.get_sync_timer()
        writer = self._tap.message_writer
        assert isinstance(writer, SingerOutput)  # checked by _lean_output
        every = self.STATE_MSG_FREQUENCY
        with record_counter, timer:
            record_counter.with_context({})
            timer.with_context({})
            self._write_starting_replication_value(None)
            partition = self._get_state_partition_context(None)
            written = 0
            for block in blocks:
                rest = block
                while rest:
                    room = every - written % every
                    part, rest, count = _split_lines(rest, room)
                    frame = RecordFrame.of(self.name, None, utc_now())  # no stream version
                    writer.write_json_records(frame, part)
                    self.state_manager.is_flushed = False
                    written += count
                    record_counter.increment(count)
                    if count == room:
                        self._write_state_message()
            if partition is None:
                self._finalize_state(self.get_context_state(None))
        self._finalize_state(self.stream_state)
        self._write_state_message()
        yield from ()  # a generator, as the SDK's: it runs as sync() iterates it

    def _process_record(
        self,
        record: dict,
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        """Nothing to do per record unless the stream has SDK child streams or partitions,
        which OCPI streams have not (EVSEs and connectors replay a spool, streams.py): the
        SDK's version would still build a child context and run the map's filter for each
        record (about a tenth of the default path's time per record)."""
        if self.child_streams or partition_context:
            super()._process_record(
                record, child_context=child_context, partition_context=partition_context
            )

    def write_request_metric(self, response: requests.Response, context: Context | None) -> None:
        """The SDK's `http_request_duration` METRIC for a request the transport made."""
        self._write_request_duration_log(
            endpoint=self.path, response=response, context=context, extra_tags=None
        )


#: Seconds an interrupted tap waits for a blocked write of records before it exits anyway.
TERMINATION_GRACE = 10.0


class TapInternals(Tap):
    """The tap side: a pre- and post-sync hook, stream order, and exits on signals."""

    message_writer: SingerOutput

    def before_sync(self) -> None:
        """Checks before the first message (the SDK has no pre-sync hook)."""

    def after_sync(self) -> None:
        """Checks after every stream ran; may raise to fail the run."""

    def sync_all(self) -> None:  # type: ignore[misc]  # final in the SDK
        self.before_sync()
        try:
            try:
                super().sync_all()
            finally:  # records still pending when a stream fails are written, not dropped
                self.message_writer.flush()
        except BrokenPipeError:  # `tap-ocpi … | head`: the reader of stdout went away
            raise OutputClosedError(
                "the reader of the output went away (broken pipe); stopped before the end "
                "of the run, so the bookmarks of the streams not finished did not move"
            ) from None
        self.after_sync()

    def load_streams(self) -> list[Stream]:  # type: ignore[misc]  # final in the SDK
        """The SDK's order (by name), except that EVSEs and connectors come right after
        locations: they replay what the locations read spooled (streams.py). The SDK syncs
        streams in this order."""
        return sorted(super().load_streams(), key=_sync_order)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """The SDK's validation (its built-in settings and their defaults included), with
        errors that name the setting and never show its value: the SDK's quote the value,
        so a token given as a number would be printed. One line (`OCPIError`)."""
        try:
            return super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            problems = invalid_settings(self.config, exc.schema or self.config_jsonschema)
            raise OCPIError(f"invalid settings: {'; '.join(problems)}") from None

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: write the state and exit 128+signal, never 0.

        The SDK writes the state and exits 0, so an interrupted export looks complete. The
        state is safe to resume from: a stream's bookmark moves only when it was read to
        the end, so the one being read keeps its old bookmark. If the signal lands while a
        block of records is being written, that write finishes first (`when_idle`); should
        the reader never drain it, the tap exits without the last STATE after
        `TERMINATION_GRACE` seconds (the last one written is as safe).
        """
        code = 128 + signum
        timer = threading.Timer(TERMINATION_GRACE, os._exit, (code,))
        timer.daemon = True
        timer.start()
        self.message_writer.when_idle(lambda: self._terminate(signum))

    def _terminate(self, signum: int) -> None:
        """`os._exit` because a page fetch may be in flight on the prefetch thread, and a
        normal exit would wait for it (up to request_timeout x max_retries)."""
        code = 128 + signum
        try:
            # Unconditionally (the SDK's state writer skips a state it wrote before): the
            # target sees a STATE last, after every record written.
            self.message_writer.write_message(StateMessage(value=self.state))
        finally:
            # Nothing may stop the exit: the signal can land inside a write to stdout, and
            # writing or flushing again from here then raises (a reentrant call).
            with contextlib.suppress(Exception):
                self.logger.error(
                    "Interrupted by %s: the state written last is safe to resume from; "
                    "exiting with status %d",
                    signal.Signals(signum).name,
                    code,
                )
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            with contextlib.suppress(Exception):
                logging.shutdown()
            os._exit(code)


def _split_lines(block: bytes, most: int) -> tuple[bytes, bytes, int]:
    """(the first `most` lines of a block, or all of them; the rest; how many lines)."""
    count = block.count(b"\n")
    if count <= most:
        return block, b"", count
    end = 0
    for _ in range(most):
        end = block.index(b"\n", end) + 1
    return block[:end], block[end:], most


def _sync_order(stream: Stream) -> tuple[str, bool, str]:
    module = str(getattr(stream, "module", stream.name))
    return (module, stream.name != module, stream.name)
