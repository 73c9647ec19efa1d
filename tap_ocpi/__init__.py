"""tap-ocpi: a Singer tap that turns any OCPI platform into a privacy-safe data export."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("tap-ocpi")
except metadata.PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

__all__ = ["__version__"]
