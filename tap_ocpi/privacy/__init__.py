"""Privacy filter: which values leave the tap, and which become null or a pseudonym.

The promise: a field keeps its value only when

* it is on the built-in safe list of its stream (it can never identify or locate a person),
* it is a public-place field (address, coordinates, ...) of a record that is not private, or
* the user allow-listed it (``privacy_pass``).

Everything else becomes null with its key kept, including keys the tap does not know (vendor
extensions, fields of later OCPI versions), at any depth, so nothing leaks by surprise.
Fields in ``privacy_hash``, and personal fields that are part of a primary key (``tokens.uid``),
become keyed pseudonyms: lowercase hex HMAC-SHA256(privacy_salt, value).

Paths are dotted field names that skip arrays: ``charging_periods.dimensions.volume`` reaches
every dimension of every period; a path may name a subtree; ``.`` is the whole record.

The rules are compiled once per stream (and per place context, public or private) from the
stream's JSON Schema into a tree of small closures, because the filter runs on every record.

The package: ``fields`` (the tables people review), ``context`` (public or private place),
``shapes`` (schemas reduced to objects and leaves), ``settings`` (reading the settings),
``rules`` (the compiler, priority levels named), ``filters`` (rules -> closures), ``policy``
(``PrivacyPolicy``), ``docs`` (the docs/privacy.md tables). What other modules use is named here.
"""

from tap_ocpi.privacy.context import is_private
from tap_ocpi.privacy.docs import safe_fields_markdown
from tap_ocpi.privacy.fields import DEFAULT_HASH_FIELDS, PUBLIC_PLACE_FIELDS, SAFE_FIELDS
from tap_ocpi.privacy.policy import PrivacyPolicy, RecordFilter

__all__ = [
    "DEFAULT_HASH_FIELDS",
    "PUBLIC_PLACE_FIELDS",
    "SAFE_FIELDS",
    "PrivacyPolicy",
    "RecordFilter",
    "is_private",
    "safe_fields_markdown",
]
