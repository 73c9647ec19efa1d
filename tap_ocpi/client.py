"""The base stream: the SDK glue between a module list and the Singer output.

`OCPIStream` is the one base stream. It asks `reading.ListReader` for the run's window of
its module list, normalises each object (or takes the fast path's output records as they
are), applies privacy, and leaves bookmarks, selection and writing to the SDK. Overrides
of SDK internals live in sdk.py; talking HTTP lives in transport.py.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_ocpi.errors import BadRecord
from tap_ocpi.fastpath import PageDecoder, page_decoder, record_normalizer, to_record
from tap_ocpi.pagination import KeySet
from tap_ocpi.privacy import is_private
from tap_ocpi.reading import ListReader, Progress, Tally
from tap_ocpi.schemas import PRIMARY_KEYS, REPLICATION_KEY, STREAM_SCHEMAS
from tap_ocpi.sdk import StreamInternals
from tap_ocpi.timestamps import EPOCH, parse_utc, utc_text
from tap_ocpi.transport import ListPage

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_ocpi.settings import Settings
    from tap_ocpi.tap import TapOCPI
    from tap_ocpi.transport import OCPIClient
    from tap_ocpi.versions import Platform


class OCPIStream(StreamInternals):
    """The one base stream: an OCPI module list, read window by window, page by page."""

    module: ClassVar[str]
    #: Whether the list GET requires `date_from` (Sessions, in every version).
    requires_date_from: ClassVar[bool] = False
    #: Whether the stream's objects carry other streams' records (locations: EVSEs and
    #: connectors), which the fast path would not see.
    spools_children: ClassVar[bool] = False
    replication_key = REPLICATION_KEY
    # normalize already emits schema types; the SDK's generic walk would double the cost.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    url_base = ""  # module URLs come from the platform's version details
    records_jsonpath = "$.data[*]"

    def __init__(self, tap: TapOCPI, **kwargs: Any) -> None:
        # The schema says what privacy emits: a pseudonymised number is a string.
        schema = tap.privacy.schema_for(self.name, STREAM_SCHEMAS[self.name])
        super().__init__(tap, schema=schema, **kwargs)
        self.primary_keys = list(PRIMARY_KEYS[self.name])
        self.ocpi_tap = tap
        self.path = self.module  # names the endpoint in the SDK's request metrics
        #: Distinct objects that could not be read this run (reported by key, never values).
        self.bad_records = 0
        #: Why this run's read of the stream is incomplete (objects still missing), if it is.
        self.incomplete: str | None = None
        #: Why the module was skipped (no URL listed for it serves a list), if it was.
        self.unavailable: str | None = None
        self._columns = frozenset(self.schema["properties"])
        #: Whether the records being yielded are output records already (`_new_records`).
        self._records_final = False
        #: Records yielded by this run's read so far (for its summary line).
        self._emitted = 0
        self._warned: set[str] = set()

    # -- wiring to the shared transport ---------------------------------------------------
    @property
    def client(self) -> OCPIClient:
        return self.ocpi_tap.client

    @property
    def platform(self) -> Platform:
        return self.ocpi_tap.platform

    @property
    def settings(self) -> Settings:
        return self.ocpi_tap.settings

    @cached_property
    def _page_decoder(self) -> PageDecoder | None:
        """Pages decoded straight into output records, where privacy and version allow."""
        if self.spools_children:
            return None
        platform = self.platform
        return page_decoder(self.ocpi_tap.privacy, self.name, platform.version, platform.owner)

    # -- the date window ------------------------------------------------------------------
    def date_window(self, context: Context | None) -> dict[str, str]:
        """`date_from` = later of start_date and (bookmark - lookback); `date_to` = run start
        or end_date. Sessions always get a date_from (the spec requires it)."""
        settings = self.settings
        starts: list[str] = []
        if settings.start_date:
            starts.append(utc_text(settings.start_date))
        bookmark = self.get_context_state(context).get("replication_key_value")
        if bookmark:
            lookback = timedelta(minutes=settings.lookback_minutes)
            starts.append(utc_text(parse_utc(str(bookmark), "the saved bookmark") - lookback))
        window = {"date_to": self.ocpi_tap.window_end}
        if starts:
            window["date_from"] = max(starts)
        elif self.requires_date_from:
            window["date_from"] = EPOCH
        return window

    def get_replication_key_signpost(self, context: Context | None = None) -> str:
        # Same text format as the records' last_updated, so the cap compares correctly.
        return self.ocpi_tap.window_end

    # -- reading ----------------------------------------------------------------------------
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Every object of the run's window, each key once, or a loud failure (see
        reading.py). A window that stays short, or holds objects that cannot be read, keeps
        the stream's saved bookmark, and the tap fails at the end of the run (other streams
        finish first)."""
        module_urls = self.platform.urls(self.module)
        if not module_urls:
            return
        started = Progress.start(self.client)
        reader = ListReader(
            self.name,
            module_urls,
            window=self.date_window(context),
            page_size=self.settings.page_size,
            fetch=lambda url: self.fetch(url, context),
            logger=self.logger,
            discover=not self.platform.roles_known,
            show_key=self.shown_key,
        )
        self._emitted = 0  # counted page by page (_new_records): no work per record here
        yield from reader.records(self._new_records)
        self.unavailable = reader.unavailable
        if reader.unavailable:
            return
        self.incomplete = reader.incomplete
        self.settle_bookmark(context)
        self.logger.info("%s", started.summary(self.name, self._emitted, reader.pages_read))

    def settle_bookmark(self, context: Context | None) -> None:
        """Move the bookmark to the window end if everything was read, else keep it."""
        if self.incomplete or (self.bad_records and not self.settings.skip_bad_records):
            self._hold_bookmark(context)
        else:
            self._mark_complete(context)

    def fetch(self, url: str, context: Context | None) -> ListPage:
        """One page of the list, as a value (retries and the token fallback included)."""
        return self.client.get_list(
            url,
            self.module,
            self._page_decoder,
            on_response=lambda response: self.write_request_metric(response, context),
        )

    def _mark_complete(self, context: Context | None) -> None:
        """The window was read completely: the next run starts at its end (minus lookback).

        OCPI's `date_from` is inclusive and `date_to` exclusive, so consecutive windows
        neither overlap nor leave a gap; a bookmark at the highest `last_updated` seen would
        re-read that boundary object every run. The SDK caps the bookmark at the signpost
        (the same window end) and promotes it only when the stream ends.
        """
        if self.selected:
            self.set_bookmark(self.ocpi_tap.window_end, context)

    def _hold_bookmark(self, context: Context | None) -> None:
        """The window was not read completely: keep the saved bookmark, so the next run reads
        the window again. The SDK promotes this run's progress markers (the highest
        `last_updated` emitted) when the stream ends; dropping them leaves nothing to promote,
        and the tap fails the run afterwards (`TapOCPI.fail_on_incomplete_streams`)."""
        self.drop_progress(context)
        self.logger.warning(
            "%s: the bookmark stays where it was, so the next run reads this window again",
            self.name,
        )

    def _new_records(self, page: ListPage, seen: KeySet, read: Tally) -> Iterable[Any]:
        """Normalise and emit the objects of a page not seen before in this run; `read`
        counts the distinct keys of this one read (the completeness check), `seen` those of
        the run."""
        for bad in page.unreadable:  # elements that did not decode (transport.py)
            key = _raw_key(bad.key, self.primary_keys)
            if read.add(key, seen.add(key)):
                self.report_bad_record(BadRecord(bad.reason), bad.key)
        # Read by post_process, which the SDK calls on each record as it is yielded.
        self._records_final = page.final
        self.mark_extracted()
        if page.final:
            return self._new_final_records(page.data, seen, read)
        if self._output_key is not None:
            read.final = True  # its keys are counted (and shown) as emitted
        return self._new_raw_records(page.data, seen, read)

    def _new_final_records(self, records: list[Any], seen: KeySet, read: Tally) -> list[Any]:
        # Never a stream with children (see _page_decoder): no `emit` generator per record.
        # A list, not a generator: the SDK's loop takes the records with no frame between.
        key_of = self._struct_key
        new = []
        for record in records:
            key = key_of(record)
            if read.add(key, seen.add(key)):
                new.append(record)
        self._emitted += len(new)
        return new

    @cached_property
    def _struct_key(self) -> Callable[[Any], tuple[Any, ...]]:
        """The key of a PageDecoder Struct (its key fields are never absent)."""
        keys = self.primary_keys
        if len(keys) == 1:
            return lambda record: (getattr(record, keys[0]),)
        return operator.attrgetter(*keys)

    def _new_raw_records(self, raws: list[Any], seen: KeySet, read: Tally) -> Iterator[dict]:
        normalize = self._normalize
        keys = self.primary_keys
        output_key = self._output_key
        children = self.spools_children  # only then `emit` does more than yield the record
        for raw in raws:
            try:
                record = normalize(raw)
            except BadRecord as exc:
                # Counted as received (the platform did send it), reported once per object.
                key = _raw_key(raw, keys)
                if read.add(key, seen.add(key)):
                    self.report_bad_record(exc, raw)
                continue
            key = tuple([record.get(k) for k in keys])
            if output_key is not None:
                key = output_key(key)
            if not read.add(key, seen.add(key)):
                continue
            self._emitted += 1
            if children:
                yield from self.emit(record)
            else:
                yield record

    @cached_property
    def _output_key(self) -> Callable[[tuple[Any, ...]], tuple[Any, ...]] | None:
        """Where privacy pseudonymises a key field (tokens.uid), a key as it is emitted.

        Fast-path pages carry emitted keys, and one run can mix them with general-path
        pages: both must count one object as one key, or a repeat hides a missing object.
        """
        hashed = set(self.ocpi_tap.privacy.field_paths(self.name)["pseudonymised"])
        if not hashed & set(self.primary_keys):
            return None
        keys = self.primary_keys
        privacy = self._privacy

        def emitted(key: tuple[Any, ...]) -> tuple[Any, ...]:
            safe = privacy(dict(zip(keys, key, strict=True)), True)
            return tuple([safe.get(k) for k in keys])

        return emitted

    def normalize_raw(self, raw: Any) -> dict[str, Any]:
        """One raw object in the stream's shape (raises BadRecord), before privacy."""
        return self._normalize(raw)

    @cached_property
    def _normalize(self) -> Callable[[Any], dict[str, Any]]:
        return record_normalizer(self.name, self.platform.version, self.platform.owner)

    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict | None:
        """Schema-stable, privacy-safe output: unknown top-level fields are dropped (the
        table's columns do not change under you), then the privacy rules apply. Records
        that `PageDecoder` built are that output already."""
        if not self._records_final:
            return self.output_record(row, self.private_flag(row))
        if type(row) is not dict:  # a fast-path Struct
            if self._writes_structs:
                return row
            row = to_record(row)
        for path in self._flattened_objects:
            _drop_null(row, path)
        return row

    @cached_property
    def _writes_structs(self) -> bool:
        """Whether fast-path Structs go to the writer as they are: only the lean RECORD write
        without flattening encodes them directly; every other path takes dicts (BATCH files
        would hold a Struct's repr). Asked at the first record, as `_lean_output` is."""
        return (
            self._lean_output
            and self._lean_flatten is None
            and not self._flattened_objects
            and self.get_batch_config(self.config) is None
        )

    def output_record(self, row: dict[str, Any], private: bool) -> dict[str, Any]:
        """What the stream writes for a normalised object: only the schema's top-level
        fields, privacy applied (`private`: the object describes a non-public place)."""
        if not self._columns.issuperset(row):  # no set built per record, commonly
            extra = row.keys() - self._columns
            self._warn_extra(extra)
            for key in extra:
                del row[key]
        record = self._privacy(row, private)
        for path in self._flattened_objects:
            _drop_null(record, path)
        return record

    @cached_property
    def _flattened_objects(self) -> list[tuple[str, ...]]:
        """Object properties the SDK's flattening expands into columns. A null object would
        reach the target as one unknown column (`cdr_token`), which typed targets reject;
        without the key, the flattened columns are simply null."""
        if not self.settings.flattening_enabled:
            return []
        return _object_paths(self.schema, self.settings.flattening_max_depth)

    @cached_property
    def _privacy(self) -> Callable[[dict[str, Any], bool], dict[str, Any]]:
        return self.ocpi_tap.privacy.filter_for(self.name)

    def private_flag(self, record: dict[str, Any]) -> bool:
        """Whether the record describes a non-public place (decides address fields)."""
        return is_private(self.name, record)

    def _warn_extra(self, names: set[str]) -> None:
        new = names - self._warned
        if new:
            self._warned |= new
            self.logger.warning(
                "%s: fields not in the schema are left out: %s", self.name, ", ".join(sorted(new))
            )

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.logger.warning("%s", message)

    def emit(self, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Hook for streams with children (locations); most streams yield the record."""
        yield record

    def shown_key(self, key: tuple[Any, ...], final: bool) -> str:
        """A key for a log line, as it is emitted (personal key parts pseudonymised)."""
        values = dict(zip(self.primary_keys, key, strict=True))
        safe = values if final else self._privacy(dict(values), True)
        return ", ".join(f"{k}={safe.get(k)}" for k in self.primary_keys)

    def report_bad_record(self, exc: BadRecord, raw: Any) -> None:
        """Log stream, key and reason of an unreadable object: never its values. The key is
        shown as it would be emitted (personal key parts such as tokens.uid pseudonymised)."""
        self.bad_records += 1
        key = dict(zip(self.primary_keys, _raw_key(raw, self.primary_keys), strict=True))
        if any(isinstance(v, str) and v.startswith(_UNREADABLE) for v in key.values()):
            shown = "key not readable"
        else:
            shown = self.shown_key(tuple(key.values()), False)
        self.logger.error(
            "%s: an object could not be read and was skipped (%s): %s", self.name, shown, exc
        )


_UNREADABLE = "\x00unreadable:"


def _raw_key(raw: Any, keys: Sequence[str]) -> tuple[Any, ...]:
    """The key of an object that could not be normalised, for counting and reporting: its
    key fields when they are plain strings or numbers, else a digest of the whole object (so
    a re-read does not count or report it twice). The digest is never shown."""
    values = [raw.get(k) for k in keys] if isinstance(raw, dict) else [None]
    if all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
        return tuple(str(v)[:200] for v in values)
    try:
        digest = hash(msgspec.json.encode(raw))
    except RecursionError:  # nested too deeply to encode: this object, this read only
        digest = id(raw)
    return tuple(f"{_UNREADABLE}{digest}" for _ in keys)


def _object_paths(schema: dict[str, Any], depth: int, prefix: tuple[str, ...] = ()) -> list:
    """Paths of the object-typed properties down to `depth` levels, parents first."""
    paths: list[tuple[str, ...]] = []
    for name, sub in schema.get("properties", {}).items():
        if depth > 0 and "properties" in sub:
            paths.append((*prefix, name))
            paths += _object_paths(sub, depth - 1, (*prefix, name))
    return paths


def _drop_null(record: dict[str, Any], path: tuple[str, ...]) -> None:
    parent: Any = record
    for name in path[:-1]:
        parent = parent.get(name) if isinstance(parent, dict) else None
    if isinstance(parent, dict) and path[-1] in parent and parent[path[-1]] is None:
        del parent[path[-1]]
