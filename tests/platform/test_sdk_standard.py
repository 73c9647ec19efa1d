"""The Singer SDK's standard tap tests, run against the bundled test platform."""

from __future__ import annotations

import atexit

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from support.config import tap_config
from tap_ocpi.mock_platform import MockPlatform, PlatformConfig
from tap_ocpi.tap import TapOCPI

# The SDK builds the test class at import time from a config, so the platform starts here
# (and stops when the test process ends).
_PLATFORM = MockPlatform(
    PlatformConfig(seed=5, locations=6, sessions=40, tariffs=3, tokens=8, clients=2)
).start()
atexit.register(_PLATFORM.stop)

TestTapOCPI = get_tap_test_class(
    tap_class=TapOCPI,
    config=tap_config(_PLATFORM, privacy_salt="sdk-standard-tests-salt-0123", page_size=10),
    parse_env_config=False,  # CI's TAP_OCPI_* variables must not leak into the tests
    suite_config=SuiteConfig(max_records_limit=25),
)
