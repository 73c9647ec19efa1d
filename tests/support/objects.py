"""Small hand-written OCPI 2.2.1 objects for tests that need one object of a known shape."""

from __future__ import annotations

from typing import Any

STAMP = "2025-01-01T01:00:00Z"


def session(id_: Any = "S1", **fields: Any) -> dict[str, Any]:
    """A complete, canonical session; `fields` replace or add top-level fields."""
    return {
        "country_code": "DE",
        "party_id": "VLT",
        "id": id_,
        "start_date_time": "2025-01-01T00:00:00Z",
        "kwh": 1.5,
        "auth_method": "WHITELIST",
        "currency": "EUR",
        "status": "COMPLETED",
        "cdr_token": {"country_code": "DE", "party_id": "VLT", "uid": "U1", "type": "RFID"},
        "last_updated": STAMP,
        **fields,
    }
