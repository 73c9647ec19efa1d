"""ocpi-mock-platform: a deterministic OCPI 2.1.1 / 2.2.1 / 2.3.0 platform for tests.

It serves versions, version details, credentials and the list endpoints of locations,
sessions, cdrs, tariffs, tokens and hubclientinfo (2.2+) with real pagination, date
windows, version-exact object shapes, seeded fault modes (see ``faults.py``) and an admin
API that moves data forward in time. The tap never imports this package.

Modules: ``config`` (options), ``world`` (facts from the seed), ``render`` (per-version
shapes), ``timeline`` (order and date windows), ``store`` (state, cache, changes),
``faults``, ``server`` (HTTP), ``platform`` (the Python API), ``__main__`` (CLI).
"""

from tap_ocpi.mock_platform.config import VERSIONS, PlatformConfig
from tap_ocpi.mock_platform.faults import Faults
from tap_ocpi.mock_platform.platform import MockPlatform
from tap_ocpi.mock_platform.server import RequestRecord
from tap_ocpi.mock_platform.store import MODULES, MODULES_BY_VERSION

__all__ = [
    "MODULES",
    "MODULES_BY_VERSION",
    "VERSIONS",
    "Faults",
    "MockPlatform",
    "PlatformConfig",
    "RequestRecord",
]
