"""Every place the tap overrides or calls an internal of the Singer SDK, in one module.

The SDK's public hooks cover most of what a tap needs; these few do not, and each is here
for a measured reason (said at each). tests/unit/test_sdk_contract.py fails loudly when an
SDK upgrade changes a name, a signature or a behaviour relied on here.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from singer_sdk import RESTStream
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform

from tap_ocpi.output import SingerOutput

if TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

#: Where the SDK keeps a run's unpromoted bookmark candidates (singer_sdk.helpers._state).
PROGRESS_MARKERS = "progress_markers"


class StreamInternals(RESTStream[str]):
    """The stream side: lean RECORD writes, per-record state skipped, one child SCHEMA."""

    #: The replication key of every stream (set by the base stream).
    replication_key: str
    #: Whether the SDK re-sends this stream's SCHEMA for each parent record (children).
    schema_once = False
    _schema_sent = False

    def _increment_stream_state(
        self, latest_record: dict, *, context: Context | None = None
    ) -> None:
        """Per-record bookkeeping is pointless for a window read: its bookmark is the window
        end, set once the window was read completely (the value the SDK would reach too:
        every object is older than the window end, which caps the bookmark). Skipping it
        saves a state update per record. Children keep it."""
        if self.parent_stream_type is not None:
            super()._increment_stream_state(latest_record, context=context)

    def set_bookmark(self, value: str, context: Context | None) -> None:
        """Offer `value` as the stream's bookmark (the SDK caps it at the signpost and
        promotes it when the stream ends)."""
        super()._increment_stream_state({self.replication_key: value}, context=context)

    def drop_progress(self, context: Context | None) -> None:
        """Forget this run's bookmark candidates, so the saved bookmark stays as it was."""
        self.get_context_state(context).pop(PROGRESS_MARKERS, None)

    def _write_record_message(self, record: dict) -> None:
        """The record as a RECORD message: the SDK's bytes, without its per-record detours.

        The SDK walks each record against the selection mask, conforms types, builds a
        `RecordMessage` and writes it unbuffered. When every field is selected, types need
        no conforming (normalize.py) and the only stream map is the default one, none of
        that changes a byte: the message dict goes straight to the block writer. Anything
        else (deselected fields, user stream maps, another writer) takes the SDK's path.
        """
        if not self._lean_output:
            super()._write_record_message(record)
            return
        mapped = self.stream_maps[0].transform(record)  # the SDK's flattening, if enabled
        if mapped is None:
            return
        message: dict[str, Any] = {"type": "RECORD", "stream": self.name, "record": mapped}
        if self._stream_version is not None:
            message["version"] = self._stream_version
        message["time_extracted"] = utc_now()
        writer = self._tap.message_writer
        assert isinstance(writer, SingerOutput)  # checked by _lean_output
        writer.write_record(message)
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

    def _write_schema_message(self) -> None:
        # The SDK re-sends a child's SCHEMA for every parent record; once per run suffices.
        if self.schema_once:
            if self._schema_sent:
                return
            self._schema_sent = True
        super()._write_schema_message()

    def write_request_metric(self, response: requests.Response, context: Context | None) -> None:
        """The SDK's `http_request_duration` METRIC for a request the transport made."""
        self._write_request_duration_log(
            endpoint=self.path, response=response, context=context, extra_tags=None
        )
