"""The streams: one thin class per OCPI module, plus EVSEs and connectors as children.

EVSEs and connectors are nested inside a Location on the wire. They are emitted as flat child
streams carrying their parents' keys, so analysts can join sessions to EVSEs and connectors
without unnesting JSON. Children get no HTTP request: the locations stream hands them the
current location's EVSEs directly, and only keys go into the SDK context (contexts appear in
metric log lines and must never hold personal data).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from tap_ocpi.client import OCPIStream
from tap_ocpi.normalize import split_location
from tap_ocpi.privacy import is_private

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class LocationsStream(OCPIStream):
    """Charging locations (addresses of public ones are public data)."""

    name = "locations"
    module = "locations"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The children of the location being emitted: (evses, connectors, private).
        self.current_children: tuple[list[dict[str, Any]], list[dict[str, Any]], bool] = (
            [],
            [],
            False,
        )

    def emit(self, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
        location, evses, connectors = split_location(record)
        self.current_children = (evses, connectors, is_private(self.name, location))
        yield location

    def get_child_context(self, record: dict, context: Context | None) -> dict:
        return {
            "country_code": record["country_code"],
            "party_id": record["party_id"],
            "location_id": record["id"],
        }


class _LocationChild(OCPIStream):
    """Base of the streams that are nested in a Location: no requests of their own."""

    parent_stream_type = LocationsStream
    state_partitioning_keys: ClassVar[list[str]] = []  # one bookmark, not one per location
    schema_once = True  # the SDK would re-send the SCHEMA for every location (sdk.py)
    position: ClassVar[int]  # 0: evses, 1: connectors in LocationsStream.current_children

    @property
    def parent(self) -> LocationsStream:
        parent = self.ocpi_tap.streams["locations"]
        assert isinstance(parent, LocationsStream)
        return parent

    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        children = self.parent.current_children[self.position]
        assert isinstance(children, list)
        return children

    def private_flag(self, record: dict[str, Any]) -> bool:
        return self.parent.current_children[2]


class EvsesStream(_LocationChild):
    """EVSEs of each location, with the location's keys."""

    name = "evses"
    module = "locations"
    position = 0


class ConnectorsStream(_LocationChild):
    """Connectors of each EVSE, with the location's and the EVSE's keys."""

    name = "connectors"
    module = "locations"
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
