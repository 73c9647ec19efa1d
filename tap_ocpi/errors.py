"""User-facing errors: one line, no personal values, no tokens."""

from __future__ import annotations


class OCPIError(Exception):
    """A user-facing error: one line, no values, no tokens."""
