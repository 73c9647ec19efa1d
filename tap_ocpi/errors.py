"""User-facing errors: one line, no personal values, no tokens."""

from __future__ import annotations


class OCPIError(Exception):
    """A user-facing error: one line, no values, no tokens."""


class OutputClosedError(OCPIError):
    """The reader of stdout went away (a closed pipe): the run stops, state not confirmed."""
