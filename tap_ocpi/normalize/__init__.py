"""Map OCPI 2.1.1 / 2.2.1 / 2.3.0 objects onto the one shape of ``schemas``.

``fixers`` reads one value of a schema type; ``mapping`` holds the version differences as
data; ``records`` compiles a stream's schema into fixers and gives the stream's
``normalizer``; ``children`` splits a location into its EVSE and connector records.
What the rest of the tap uses is named here.
"""

from tap_ocpi.normalize.children import split_location
from tap_ocpi.normalize.mapping import rules_version
from tap_ocpi.normalize.records import normalizer

__all__ = ["normalizer", "rules_version", "split_location"]
