"""MockPlatform: the in-process handle tests use (serves on a background thread)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

from tap_ocpi.mock_platform.config import V211, PlatformConfig, b64
from tap_ocpi.mock_platform.server import OcpiApp, PlatformServer, RequestRecord
from tap_ocpi.mock_platform.store import MODULES_BY_VERSION, Store
from tap_ocpi.mock_platform.timeline import parse_datetime

When = str | datetime | float | None


class MockPlatform:
    """A running OCPI platform, for example::

        with MockPlatform(PlatformConfig(sessions=100)) as p:
            requests.get(p.versions_url, headers={"Authorization": p.auth_header()})

    Keyword arguments override fields of `config` (``MockPlatform(sessions=10)``).
    """

    def __init__(self, config: PlatformConfig | None = None, **overrides: Any) -> None:
        self.config = dataclasses.replace(config or PlatformConfig(), **overrides)
        self.store = Store(self.config)
        self.app = OcpiApp(self.config, self.store)
        self._server: PlatformServer | None = None
        self._thread: threading.Thread | None = None
        self._stop_prewarm = threading.Event()

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> MockPlatform:
        if self._server is not None:
            return self
        server = PlatformServer((self.config.host, self.config.port), self.app)
        host, port = server.server_address[:2]
        self.app.base_url = f"http://{_url_host(str(host))}:{port}"
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"ocpi-mock-platform:{port}",
            daemon=True,
        )
        self._thread.start()
        if self.config.prewarm:
            threading.Thread(
                target=self.store.prewarm,
                args=(self.config.prewarm, self._stop_prewarm),
                name="ocpi-mock-prewarm",
                daemon=True,
            ).start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stop_prewarm.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> MockPlatform:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- addresses and credentials -----------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.app.base_url

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    @property
    def versions_url(self) -> str:
        return f"{self.base_url}/ocpi/versions"

    @property
    def admin_url(self) -> str:
        return f"{self.base_url}/admin"

    @property
    def token(self) -> str:
        """The plain credentials token (Base64 it yourself for 2.2+, or use auth_header)."""
        return self.config.effective_token

    def details_url(self, version: str) -> str:
        return f"{self.base_url}/ocpi/{version}"

    def endpoint_url(self, version: str, module: str) -> str:
        return f"{self.base_url}/ocpi/{version}/{module}"

    def auth_header(self, version: str | None = None) -> str:
        """An Authorization value this platform accepts for `version`."""
        enc = self.config.token_encoding
        plain = enc == "plain" or (enc in ("auto", "both") and version in (None, V211))
        return f"Token {self.token if plain else b64(self.token)}"

    # ---- control -----------------------------------------------------------------------

    def advance(
        self,
        new_sessions: int = 0,
        updated_sessions: int = 0,
        updated_locations: int = 0,
        minutes: float = 0.0,
    ) -> dict[str, Any]:
        """Same as POST /admin/advance; returns what changed (counts and ids)."""
        return self.store.advance(
            new_sessions=new_sessions,
            updated_sessions=updated_sessions,
            updated_locations=updated_locations,
            minutes=minutes,
        )

    def set_faults(self, faults: Mapping[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """Replace the active fault set (``set_faults()`` clears it); see faults.py."""
        return self.app.set_faults({**(faults or {}), **kw})

    @property
    def faults(self) -> dict[str, Any]:
        return self.app.faults.active()

    def stats(self) -> dict[str, Any]:
        return self.app.stats()

    @property
    def request_log(self) -> list[RequestRecord]:
        """(method, path_with_query, selected headers) of recent requests, oldest first."""
        return list(self.app.log)

    def clear_request_log(self) -> None:
        self.app.log.clear()

    # ---- expectations for tests --------------------------------------------------------

    def expected(
        self, module: str, version: str, date_from: When = None, date_to: When = None
    ) -> Iterator[dict[str, Any]]:
        """Exactly the objects the list endpoint serves for this version and window
        (date_from inclusive, date_to exclusive on last_updated), in serving order."""
        if version not in self.config.versions or module not in MODULES_BY_VERSION[version]:
            raise ValueError(f"{module} is not served in version {version}")
        yield from self.store.expected(module, version, _epoch(date_from), _epoch(date_to))

    def personal_values(self) -> set[str]:
        """Personal strings in the dataset, for leak tests: token uids, contract ids,
        visual numbers, group ids and household energy contracts; name, address,
        coordinates and owner of private (unpublished/home) locations; meter ids;
        authorization references; invoice references; remarks naming a person; every
        string of signed meter data. Costs O(sessions)."""
        return self.store.personal_values()


def _epoch(value: When) -> float | None:
    if value is None or isinstance(value, (int, float)):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    return parse_datetime(value)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
