"""Child records: a normalized location's EVSEs and connectors, each keyed by its parents."""

from __future__ import annotations

import logging
from typing import Any

from tap_ocpi.schemas import REPLICATION_KEY

Record = dict[str, Any]

LOGGER = logging.getLogger("tap_ocpi.normalize")


def split_location(location: Record) -> tuple[Record, list[Record], list[Record]]:
    """(location without evses, EVSE records, connector records) of a normalized location.

    Children get their parents' keys. A child without ``last_updated`` inherits its parent's
    (a change to a child must bump the parent's, so that is an upper bound). Children without
    their own key (EVSE ``uid``, connector ``id``) cannot be keyed and are skipped (logged).
    Runs for every location, about eight children each: one loop, no call per child.
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
    parent_updated = parent.get(REPLICATION_KEY)
    for evse in evses:
        if type(evse) is not dict:
            continue
        if evse.get("uid") is None:
            LOGGER.warning("Skipped an EVSE without 'uid' in a location.")
            continue
        # The parents' keys first, and theirs whatever the child says.
        record = {**base, **evse, **base}
        connectors = record.pop("connectors", None)
        updated = record.get(REPLICATION_KEY)
        if updated is None and parent_updated is not None:
            record[REPLICATION_KEY] = updated = parent_updated
        evse_records.append(record)
        if type(connectors) is not list:
            continue
        keys = {**base, "evse_uid": record["uid"]}
        for connector in connectors:
            if type(connector) is not dict:
                continue
            if connector.get("id") is None:
                LOGGER.warning("Skipped a connector without 'id' in an EVSE.")
                continue
            child = {**keys, **connector, **keys}
            if updated is not None and child.get(REPLICATION_KEY) is None:
                child[REPLICATION_KEY] = updated
            connector_records.append(child)
    return parent, evse_records, connector_records
