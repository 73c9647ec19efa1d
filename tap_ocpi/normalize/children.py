"""Child records: a normalized location's EVSEs and connectors, each keyed by its parents."""

from __future__ import annotations

import logging
from typing import Any

from tap_ocpi.schemas import REPLICATION_KEY

Record = dict[str, Any]

LOGGER = logging.getLogger("tap_ocpi.normalize")


def _set_if_null(obj: Record, key: str, value: Any) -> None:
    if obj.get(key) is None and value is not None:
        obj[key] = value


def split_location(location: Record) -> tuple[Record, list[Record], list[Record]]:
    """(location without evses, EVSE records, connector records) of a normalized location.

    Children get their parents' keys. A child without ``last_updated`` inherits its parent's
    (a change to a child must bump the parent's, so that is an upper bound). Children without
    their own key (EVSE ``uid``, connector ``id``) cannot be keyed and are skipped (logged).
    """
    parent = dict(location)
    evses = parent.pop("evses", None)
    evse_records: list[Record] = []
    connector_records: list[Record] = []
    if type(evses) is not list:
        return parent, evse_records, connector_records
    base = {
        "country_code": parent["country_code"],
        "party_id": parent["party_id"],
        "location_id": parent["id"],
    }
    for evse in evses:
        if type(evse) is not dict:
            continue
        if evse.get("uid") is None:
            LOGGER.warning("Skipped an EVSE without 'uid' in a location.")
            continue
        record = {**base, **evse}
        record.update(base)
        connectors = record.pop("connectors", None)
        _set_if_null(record, REPLICATION_KEY, parent[REPLICATION_KEY])
        evse_records.append(record)
        connector_records.extend(_connector_records(record, connectors))
    return parent, evse_records, connector_records


def _connector_records(evse: Record, connectors: Any) -> list[Record]:
    if type(connectors) is not list:
        return []
    base = {
        "country_code": evse["country_code"],
        "party_id": evse["party_id"],
        "location_id": evse["location_id"],
        "evse_uid": evse["uid"],
    }
    records = []
    for connector in connectors:
        if type(connector) is not dict:
            continue
        if connector.get("id") is None:
            LOGGER.warning("Skipped a connector without 'id' in an EVSE.")
            continue
        record = {**base, **connector}
        record.update(base)
        _set_if_null(record, REPLICATION_KEY, evse[REPLICATION_KEY])
        records.append(record)
    return records
