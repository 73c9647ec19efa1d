"""The place context: whether a record describes a non-public place.

The decision reads enum values without case and surrounding whitespace, and fails closed:
a value it does not recognise makes the place private.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_private(stream: str, record: Mapping[str, Any]) -> bool:
    """Whether a top-level record describes a non-public place (its address fields blank).

    When the record cannot say, it is private: the address of a home must not leak because a
    platform speaks an old OCPI version. Locations: ``publish`` is not true (2.1.1 has no
    flag, and serves home chargers like any other), or ``parking_type`` (read without case
    and surrounding whitespace) is ``ON_DRIVEWAY`` or any value OCPI does not define.
    CDRs: ``home_charging_compensation`` is not explicitly false (2.1.1 and 2.2 have no such
    flag). EVSEs and connectors take their location's flag from the stream layer; asked
    directly they answer True, because a child record alone cannot tell. Other streams have
    no place context.
    """
    if not isinstance(record, Mapping):
        return True
    if stream == "locations":
        if record.get("publish") is not True:
            return True
        parking = record.get("parking_type")
        return parking is not None and enum_text(parking) not in PUBLIC_PARKING_TYPES
    if stream == "cdrs":
        return record.get("home_charging_compensation") is not False
    return stream in _PLACE_CHILDREN


_PLACE_CHILDREN = frozenset({"evses", "connectors"})

#: OCPI ParkingType values of places open to the public (ON_DRIVEWAY is a home's driveway).
PUBLIC_PARKING_TYPES = frozenset(
    {"ALONG_MOTORWAY", "PARKING_GARAGE", "PARKING_LOT", "ON_STREET", "UNDERGROUND_GARAGE"}
)


def enum_text(value: Any) -> str | None:
    """An enum value as compared in privacy decisions: stripped, upper case; None if not text."""
    return value.strip().upper() if isinstance(value, str) else None
