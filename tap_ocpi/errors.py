"""Every exception class of the tap. User-facing ones carry one line: no values, no tokens."""

from __future__ import annotations


class OCPIError(Exception):
    """A user-facing error: one line, no values, no tokens."""


class AuthRejectedError(OCPIError):
    """The platform refused the token (HTTP 401/403, or an OCPI error on a first request)."""


class OCPIStatusError(OCPIError):
    """The platform answered with an OCPI error status (possibly inside HTTP 200)."""


class BadRecord(ValueError):  # noqa: N818 -- name fixed by the module contract
    """A record that cannot be read at all. The message names fields, never values."""
