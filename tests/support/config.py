"""The one builder of tap configs for tests, and the tap's stream names.

`tap_config(server, *defaults, **overrides)`: a test file keeps its usual settings in a dict
(page size, retries, salt) and passes it as `defaults`; the server's versions URL and token
come from the server (a MockPlatform, a scripted server, or a versions URL as a string);
keyword overrides win over both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tap_ocpi.streams import STREAM_TYPES

# The tap's streams, in its order, and the top-level ones: those that read the OCPI module of
# their own name (EVSEs and connectors come from the locations module).
STREAMS: tuple[str, ...] = tuple(t.name for t in STREAM_TYPES)
TOP_LEVEL: tuple[str, ...] = tuple(t.name for t in STREAM_TYPES if t.name == t.module)


def tap_config(server: Any, *defaults: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """The config to run the tap against `server`.

    `defaults` apply in order; then the server's `versions_url` and, if it has one, its
    `token`; then `overrides`. A server without a token (a scripted one) takes it from
    `defaults` or `overrides`.
    """
    config: dict[str, Any] = {}
    for settings in defaults:
        config.update(settings)
    if isinstance(server, str):
        config["versions_url"] = server
    else:
        config["versions_url"] = server.versions_url
        token = getattr(server, "token", None)
        if token is not None:
            config["token"] = token
    config.update(overrides)
    return config
