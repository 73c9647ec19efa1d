"""Every exception class of the tap. User-facing ones carry one line: no values, no tokens."""

from __future__ import annotations


class OCPIError(Exception):
    """A user-facing error: one line, no values, no tokens."""


class AuthRejectedError(OCPIError):
    """The platform refused the token (HTTP 401/403, or an OCPI error on a first request)."""


class OCPIStatusError(OCPIError):
    """The platform answered with an OCPI error status (possibly inside HTTP 200)."""


class NotAListError(OCPIError):
    """A URL answered HTTP 404/405/501 or a body that is not OCPI: no list is served there
    (on a module's first request, endpoint discovery may try the next URL listed)."""


class BadRecord(ValueError):  # noqa: N818 -- name fixed by the module contract
    """A record that cannot be read at all. The message names fields, never values."""


class OutputClosedError(OCPIError):
    """The reader of stdout went away (a closed pipe): the run stops, state not confirmed."""
