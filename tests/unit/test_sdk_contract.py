"""What tap_ocpi/sdk.py relies on in the Singer SDK's internals: fails loudly on an upgrade
that changes a name, a signature or a behaviour, instead of letting the tap drift."""

from __future__ import annotations

import inspect
import io
import json
from contextlib import redirect_stdout
from functools import cached_property
from typing import Any

import pytest
from singer_sdk import RESTStream, Stream, Tap
from singer_sdk.helpers import _state
from singer_sdk.plugin_base import PluginBase
from singer_sdk.streams import core

from tap_ocpi.output import SingerOutput
from tap_ocpi.sdk import StreamInternals, TapInternals
from tap_ocpi.streams import STREAM_TYPES
from tap_ocpi.tap import TapOCPI

CONFIG = {"versions_url": "http://127.0.0.1:9/ocpi/versions"}


def tap() -> TapOCPI:
    return TapOCPI(config=CONFIG, parse_env_config=False, validate_config=False)


def params(func: Any) -> list[str]:
    return list(inspect.signature(func).parameters)


def test_every_sdk_internal_used_still_has_its_signature() -> None:
    assert params(Stream._increment_stream_state) == ["self", "latest_record", "context"]
    assert params(Stream._write_record_message) == ["self", "record"]
    assert params(Stream._sync_records) == ["self", "context", "write_messages"]
    assert params(RESTStream._write_request_duration_log) == [
        "self",
        "endpoint",
        "response",
        "context",
        "extra_tags",
    ]
    assert params(Tap.load_streams) == ["self"]
    assert params(Tap.sync_all) == ["self"]
    assert params(PluginBase._handle_termination) == ["self", "signum", "_"] or params(
        PluginBase._handle_termination
    ) == ["self", "signum", "frame"]
    assert _state.PROGRESS_MARKERS == "progress_markers"
    for name in ("_stream_version", "stream_maps", "mask", "state_manager", "_tap"):
        assert hasattr(Stream, name) or name in inspect.getsource(Stream.__init__), name


def _internals(*classes: type) -> set[str]:
    """Underscored or final methods and properties of SDK classes."""
    names = set()
    for klass in classes:
        for name, value in vars(klass).items():
            func = value.fget if isinstance(value, property) else value
            if not (inspect.isfunction(func) or isinstance(value, cached_property)):
                continue
            final = getattr(func, "__final__", False)
            if final or (name.startswith("_") and not name.startswith("__")):
                names.add(name)
    return names


def _own_overrides(klass: type, internals: set[str], allowed: tuple[type, ...]) -> set[str]:
    found = set()
    for base in klass.__mro__:
        if base in allowed or base.__module__.startswith(("singer_sdk", "builtins", "abc")):
            continue
        found |= internals & set(vars(base))
    return found


def test_every_override_of_an_sdk_internal_is_in_sdk_py() -> None:
    """Overrides of underscored or final SDK methods live in sdk.py only (one place to
    check on an upgrade): the tap's own stream and tap classes override none."""
    stream_internals = _internals(Stream, RESTStream)
    for stream_type in STREAM_TYPES:
        assert not _own_overrides(stream_type, stream_internals, (StreamInternals,))
    assert not _own_overrides(TapOCPI, _internals(Tap, PluginBase), (TapInternals,))
    # and sdk.py's overrides still name something the SDK has
    own = {"_lean_output", "_lean_flatten", "_sync_json_records"}
    for name in _internals(StreamInternals) - own:
        assert name in stream_internals, name
    for name in _internals(TapInternals) - {"_terminate"}:
        assert name in _internals(Tap, PluginBase), name


def test_sdk_syncs_streams_in_load_order_and_children_follow_locations() -> None:
    source = inspect.getsource(Tap.sync_all)
    assert "for stream in self.streams.values()" in source
    names = list(tap().streams)
    where = names.index("locations")
    assert set(names[where + 1 : where + 3]) == {"evses", "connectors"}
    assert isinstance(tap(), TapInternals)


def test_set_bookmark_survives_the_sdk_finalising_the_stream() -> None:
    instance = tap()
    stream = instance.streams["sessions"]
    assert isinstance(stream, StreamInternals)
    stream.set_bookmark("2026-01-01T00:00:00Z", None)
    stream.finalize_state_progress_markers()
    state = instance.state["bookmarks"]["sessions"]
    assert state["replication_key_value"] == "2026-01-01T00:00:00Z"
    assert _state.PROGRESS_MARKERS not in state


def test_skipping_per_record_state_loses_no_bookmark_the_sdk_would_keep() -> None:
    """The SDK's own increment on a window read would end, after finalising, at most at the
    signpost: the window end that set_bookmark writes."""
    instance = tap()
    stream = instance.streams["tariffs"]
    state = stream.get_context_state(None)
    _state.write_replication_key_signpost(state, "2026-01-01T00:00:00Z")
    core.Stream._increment_stream_state(
        stream, {"last_updated": "2025-06-01T00:00:00Z"}, context=None
    )
    stream.finalize_state_progress_markers()
    assert state["replication_key_value"] <= "2026-01-01T00:00:00Z"


@pytest.mark.parametrize("lean", [True, False])
def test_lean_record_message_matches_the_sdks(lean: bool) -> None:
    instance = tap()
    assert isinstance(instance.message_writer, SingerOutput)
    stream = instance.streams["tariffs"]
    record = {"country_code": "NL", "party_id": "ABC", "id": "t1", "currency": "EUR"}
    out = io.TextIOWrapper(io.BytesIO())
    stream.__dict__["_lean_output"] = lean
    with redirect_stdout(out):
        stream._write_record_message(dict(record))
        instance.message_writer.flush()
    out.flush()
    message = json.loads(out.buffer.getvalue())
    assert message.pop("time_extracted")
    assert message == {"type": "RECORD", "stream": "tariffs", "record": record}


def test_the_sdk_record_loop_does_what_the_block_loop_repeats() -> None:
    """sdk.StreamInternals._sync_json_records repeats, per block, what the SDK's
    `_sync_records` does around each record of a stream without context or partitions;
    tests/platform/test_fast_paths.py compares the two runs' output."""
    source = inspect.getsource(Stream._sync_records)
    for part in (
        "record_counter = self.get_record_counter()",
        "timer = self.get_sync_timer()",
        "with record_counter, timer:",
        "record_counter.with_context(context_element)",
        "self._write_starting_replication_value(current_context)",
        "record = self.post_process(record, current_context)",
        "self._write_record_message(record)",
        "self._increment_stream_state(record, context=current_context)",
        "% self.STATE_MSG_FREQUENCY == 0 and write_messages",
        "self._write_state_message()",
        "record_counter.increment()",
        "self._finalize_state(state)",
        "self._finalize_state(self.stream_state)",
    ):
        assert part in source, part
    assert "def sync(" in inspect.getsource(Stream)
    assert "self._sync_records(context=context)" in inspect.getsource(Stream.sync)
