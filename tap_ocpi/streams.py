"""The streams: one thin class per OCPI module, plus EVSEs and connectors from locations.

EVSEs and connectors are nested inside a Location on the wire. They are emitted as flat
streams of their own carrying their parents' keys, so analysts can join sessions to EVSEs
and connectors without unnesting JSON. They get no HTTP request: while locations is read,
each location's EVSEs and connectors go, privacy applied, into temporary spool files, and
the two streams replay it after locations (or read locations first when it is not
selected). Each is then one ordinary stream: one sync, one bookmark, one batch file, a log
that grows with pages, not with locations.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any, ClassVar

import msgspec
from singer_sdk.contrib.msgspec import encoder

from tap_ocpi.client import OCPIStream
from tap_ocpi.normalize import split_location
from tap_ocpi.privacy import is_private

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_ocpi.privacy.unchanged import Unchanged


class ChildSpool:
    """The EVSEs and connectors of one run's locations, as output records, on disk.

    One anonymous temporary file per kind (no name, removed when closed): memory stays flat
    however many locations a platform has, and each replay reads only its own kind. Records
    go to disk as JSON lines, encoded by the Singer writer's own encoder, a location's
    children of one kind in one call: the replay hands blocks of lines to the writer as
    they are (``blocks``: the bytes it would encode from the records, sdk.py) or, where the
    SDK must see dicts, decodes them (``records``: output records hold JSON values only,
    which come back as they were). Only selected children are kept.
    """

    #: Records kept in memory before they are written to their file.
    FRAME_RECORDS = 1000
    #: Bytes read at a time by ``blocks``.
    BLOCK_BYTES = 1 << 18

    def __init__(self, evses: _LocationChild | None, connectors: _LocationChild | None) -> None:
        self._streams = (evses, connectors)
        # Closed with the spool (close) or the process; a context manager cannot span the
        # locations read and the children's replays.
        self._files: tuple[IO[bytes], ...] = tuple(
            tempfile.TemporaryFile() if stream else io.BytesIO()  # noqa: SIM115
            for stream in self._streams
        )
        self._pending = (bytearray(), bytearray())
        self._counts = [0, 0]
        self._totals = [0, 0]

    def add(self, evses: list[dict], connectors: list[dict], private: bool) -> None:
        """Keep one location's children, as their streams will write them."""
        for position, records in enumerate((evses, connectors)):
            stream = self._streams[position]
            if stream is None or not records:
                continue
            pending = self._pending[position]
            pending += self._encoded(stream, records, private)
            self._counts[position] += len(records)
            self._totals[position] += len(records)
            if self._counts[position] >= self.FRAME_RECORDS:
                self._write(position)

    @staticmethod
    def _encoded(stream: _LocationChild, records: list[dict], private: bool) -> bytes:
        """The output records as JSON lines: in one call each where privacy leaves every one
        of them as it is (commonly), else record by record."""
        check = stream.unchanged_check(private)
        outputs = None if check is None else check.outputs(records)
        if outputs is None:  # output_record tries the check first, record by record
            outputs = [stream.output_record(record, private) for record in records]
        return encoder.encode_lines(outputs)

    def _write(self, position: int) -> None:
        pending = self._pending[position]
        if pending:
            file = self._files[position]
            file.seek(0, io.SEEK_END)  # after a replay too
            file.write(pending)
            pending.clear()
        self._counts[position] = 0

    def records(self, position: int) -> Iterator[dict[str, Any]]:
        """Replay one kind (0: EVSEs, 1: connectors) in the order the locations came."""
        decode = msgspec.json.Decoder(dict[str, Any]).decode
        for line in self._file(position):
            yield decode(line)

    def blocks(self, position: int) -> Iterator[bytes]:
        """The same records as ``records``, as blocks of whole JSON lines (for the writer)."""
        file = self._file(position)
        rest = b""
        while chunk := file.read(self.BLOCK_BYTES):
            cut = chunk.rfind(b"\n") + 1
            if cut:
                yield rest + chunk[:cut]
                rest = chunk[cut:]
            else:
                rest += chunk
        if rest:  # unreachable: every record ends with a newline
            yield rest

    def count(self, position: int) -> int:
        """How many records of one kind are kept."""
        return self._totals[position]

    def _file(self, position: int) -> IO[bytes]:
        self._write(position)
        file = self._files[position]
        file.flush()
        file.seek(0)
        return file

    def close(self) -> None:
        for file in self._files:
            file.close()


class _PlaceStream(OCPIStream):
    """Locations, EVSEs and connectors: records that privacy nearly always leaves as they
    are (public places' fields pass, private places' are blanked whole)."""

    def output_record(self, row: dict[str, Any], private: bool) -> dict[str, Any]:
        """The record itself (blanked fields nulled) where privacy would leave it unchanged,
        which a check in C (privacy/unchanged.py) tells faster than the filter rebuilds it;
        else the general path. `row` is the caller's to give away (a record just normalised
        and split, or decoded from the spool): no copy."""
        check = self._unchanged[private]
        if check is not None:
            output = check.output(row, copy=False)
            if output is not None:
                return output
        return super().output_record(row, private)

    def unchanged_check(self, private: bool) -> Unchanged | None:
        """The check that tells a record ``output_record`` returns as it is (nulls apart)."""
        return self._unchanged[private]

    @cached_property
    def _unchanged(self) -> tuple[Unchanged | None, Unchanged | None]:
        if self._flattened_objects:  # output_record also drops null objects then
            return None, None
        return self.ocpi_tap.privacy.unchanged(self.name)


class LocationsStream(_PlaceStream):
    """Charging locations (addresses of public ones are public data)."""

    name = "locations"
    module = "locations"
    spools_children = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._spool: ChildSpool | None = None
        self._read = False

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        evses, connectors = (self._child(name) for name in ("evses", "connectors"))
        self._spool = ChildSpool(evses, connectors)
        yield from super().get_records(context)
        self._read = True

    def date_window(self, context: Context | None) -> dict[str, str]:
        """The locations read also feeds EVSEs and connectors, so it starts at the earliest
        of their windows: a child selected after locations already has a bookmark has none
        yet, and needs every location (locations then repeats some, as a lookback does)."""
        window = super().date_window(context)
        for child in filter(None, (self._child(n) for n in ("evses", "connectors"))):
            if "date_from" not in window:
                break  # already from the beginning
            start = child.date_window(None).get("date_from")
            if start is None:
                del window["date_from"]
            else:
                window["date_from"] = min(window["date_from"], start)
        return window

    def _child(self, name: str) -> _LocationChild | None:
        stream = self.ocpi_tap.streams[name]
        return stream if isinstance(stream, _LocationChild) and stream.selected else None

    def emit(self, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
        location, evses, connectors = split_location(record)
        if self._spool is not None:
            self._spool.add(evses, connectors, is_private(self.name, location))
        yield location

    def children(self) -> ChildSpool:
        """This run's EVSEs and connectors; locations is read first if it was not synced."""
        if not self._read:
            for _ in self.get_records(None):
                pass
        assert self._spool is not None
        return self._spool

    @property
    def read_complete(self) -> bool:
        """Whether this run read every location (the children's bookmarks follow it)."""
        accepted = not self.bad_records or self.settings.skip_bad_records
        return self._read and not self.incomplete and not self.unavailable and accepted


class _LocationChild(_PlaceStream):
    """Base of the streams that are nested in a Location: no requests of their own."""

    module = "locations"
    position: ClassVar[int]  # 0: evses, 1: connectors (ChildSpool.records)

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        return self._replay(context, ChildSpool.records)

    def json_records(self, context: Context | None) -> Iterator[bytes] | None:
        """The spooled JSON lines, written as they are (sdk.py), unless flattening needs
        the records as dicts (it also drops their null objects, see `output_record`)."""
        if self._flattened_objects:
            return None
        return self._replay(context, ChildSpool.blocks)

    def _replay(
        self, context: Context | None, read: Callable[[ChildSpool, int], Iterator[Any]]
    ) -> Iterator[Any]:
        if self.module not in self.platform.modules:
            return
        locations = self.ocpi_tap.streams["locations"]
        assert isinstance(locations, LocationsStream)
        spool = locations.children()
        if locations.unavailable:  # no URL served the list: nothing read, nothing settled
            return
        self._records_final = True  # privacy was applied when they were spooled
        self.mark_extracted()
        yield from read(spool, self.position)
        self.incomplete = locations.incomplete
        if not locations.read_complete:
            self._hold_bookmark(context)
        else:
            self._mark_complete(context)
        self.logger.info(
            "%s: done: %d records (from the locations read)", self.name, spool.count(self.position)
        )


class EvsesStream(_LocationChild):
    """EVSEs of each location, with the location's keys."""

    name = "evses"
    position = 0


class ConnectorsStream(_LocationChild):
    """Connectors of each EVSE, with the location's and the EVSE's keys."""

    name = "connectors"
    position = 1


class SessionsStream(OCPIStream):
    """Charging sessions (behavioural data: personal fields blanked by default)."""

    name = "sessions"
    module = "sessions"
    requires_date_from = True


class CdrsStream(OCPIStream):
    """Charge detail records: final, priced sessions."""

    name = "cdrs"
    module = "cdrs"


class TariffsStream(OCPIStream):
    """Tariffs: public price structures, no personal data."""

    name = "tariffs"
    module = "tariffs"


class TokensStream(OCPIStream):
    """Tokens (RFID cards, apps): about people, so nearly all blanked or pseudonymised."""

    name = "tokens"
    module = "tokens"


class HubClientInfoStream(OCPIStream):
    """Parties connected to a hub (OCPI 2.2+, served by hubs only)."""

    name = "hubclientinfo"
    module = "hubclientinfo"


STREAM_TYPES: tuple[type[OCPIStream], ...] = (
    LocationsStream,
    EvsesStream,
    ConnectorsStream,
    SessionsStream,
    CdrsStream,
    TariffsStream,
    TokensStream,
    HubClientInfoStream,
)
