"""The fast path: a page of canonical records decoded straight into output records.

Where every privacy rule of a stream keeps a field whole or nulls it, privacy and the
normalisation's types compile into one msgspec type per stream (``normalize.projected_type``):
what privacy drops is skipped by the decoder, never built, and the records need no
normalising or filtering. Anything odd (a record to fix, an unknown field, an error status)
sends the page to the general path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from tap_ocpi.normalize import to_record
from tap_ocpi.privacy import Projection, is_private


class PageDecoder:
    """Decodes a page of canonical records straight into the stream's output records.

    A page it cannot take is decoded as usual, record by record. After a few such pages and
    none taken, it stops trying: a platform whose records always need fixing would pay for a
    failed decode per page.
    """

    GIVE_UP_AFTER = 3

    def __init__(self, stream: str, record_type: Any, projection: Projection) -> None:
        self.stream = stream
        self.projection = projection
        envelope_type = msgspec.defstruct(
            "Envelope",
            [("status_code", int), ("data", list[record_type])],
        )
        self._decode: Callable[[bytes], Any] = msgspec.json.Decoder(envelope_type).decode
        self.taken = self.refused = 0

    def decode(self, content: bytes) -> list[dict[str, Any]] | None:
        """The page's output records, or None when the page must take the general path."""
        if self.refused >= self.GIVE_UP_AFTER and not self.taken:
            return None
        try:
            page = self._decode(content)
        except msgspec.DecodeError:  # ValidationError included
            self.refused += 1
            return None
        if not 1000 <= page.status_code < 2000:
            return None
        records: list[dict[str, Any]] = to_record(page.data)
        if self.projection.private_drops:
            for record in records:
                if is_private(self.stream, record):
                    self.projection.drop_private(record)
        self.taken += 1
        return records
