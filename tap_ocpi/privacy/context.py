"""The place context: whether a record describes a non-public place.

The decision reads enum values without case and surrounding whitespace, and fails closed:
a value it does not recognise makes the place private.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec


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
    get = _field_reader(record)
    if get is None:
        return True
    if stream == "locations":
        if get("publish") is not True:
            return True
        parking = get("parking_type")
        return parking is not None and enum_text(parking) not in PUBLIC_PARKING_TYPES
    if stream == "cdrs":
        return get("home_charging_compensation") is not False
    return stream in _PLACE_CHILDREN


def _field_reader(record: Any) -> Callable[[str], Any] | None:
    """A record's field values by name (None for an absent one), whether the record is a
    dict or a Struct of the fast path (fastpath/); None for anything else."""
    if isinstance(record, Mapping):
        return record.get
    if isinstance(record, msgspec.Struct):
        return lambda name: _unset_as_none(getattr(record, name, None))
    return None


def _unset_as_none(value: Any) -> Any:
    return None if value is msgspec.UNSET else value


_PLACE_CHILDREN = frozenset({"evses", "connectors"})

#: OCPI ParkingType values of places open to the public (ON_DRIVEWAY is a home's driveway).
PUBLIC_PARKING_TYPES = frozenset(
    {"ALONG_MOTORWAY", "PARKING_GARAGE", "PARKING_LOT", "ON_STREET", "UNDERGROUND_GARAGE"}
)


def enum_text(value: Any) -> str | None:
    """An enum value as compared in privacy decisions: stripped, upper case; None if not text."""
    return value.strip().upper() if isinstance(value, str) else None
