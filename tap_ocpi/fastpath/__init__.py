"""The fast path: records already in the one shape skip the general path's work.

Most platforms send records that are already canonical (every known field of the right
JSON type, every date-time canonical, no null array items, no NaN): the fixers of
``normalize`` would leave them unchanged. Two shortcuts, both checked in C by msgspec, both
falling back to the general path for anything else, so the output is the same either way
(tests/platform/test_fast_paths.py and tests/unit/test_normalize.py compare them record by record):

- ``record_normalizer``: a record its stream's ``record_type`` accepts is only copied
  instead of being fixed field by field.
- ``PageDecoder``: where every privacy rule of a stream keeps a field whole, nulls it or
  pseudonymises a scalar (``projection_for``), a page is decoded straight into output
  records with a type that holds only what is kept (``projected_type``): dropped fields are
  skipped by the decoder, never built, and become null; pseudonymised ones get the filter's
  own pseudonym of the decoded value (tokens.uid by default); unknown fields, anything the
  fixers would change, or an error status make the decode fail, and the page takes the
  general path. The output records stay msgspec Structs: the Singer writer encodes them as
  they are (``to_record`` makes dicts where something else needs them), which spares
  building a dict per object, the largest cost left once a stream keeps most fields.
  2.1.1 objects are decoded as sent and reshaped as they are decoded (each struct's
  ``__post_init__`` does what ``mapping``'s transforms do: reshape.py).

The types are derived from the very fixer each field gets (``FAST_LEAF``), so the two paths
cannot disagree about a field. (msgspec would also accept a tuple for a list or another
mapping for an object, which JSON never produces.)

Modules: leaves.py (the leaf types), canonical.py (``record_normalizer``), projected.py
(projected types and output records), reshape.py (2.1.1, reshaped as decoded), decoder.py
(``Projection``, ``PageDecoder``).
"""

from tap_ocpi.fastpath.canonical import FAST_PATH_TRIAL, record_normalizer, record_type
from tap_ocpi.fastpath.decoder import PageDecoder, Projection, page_decoder, projection_for
from tap_ocpi.fastpath.leaves import FAST_LEAF
from tap_ocpi.fastpath.projected import projected_type, to_record

__all__ = [
    "FAST_LEAF",
    "FAST_PATH_TRIAL",
    "PageDecoder",
    "Projection",
    "page_decoder",
    "projected_type",
    "projection_for",
    "record_normalizer",
    "record_type",
    "to_record",
]
