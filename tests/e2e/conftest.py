"""Fixtures of the Meltano end-to-end tests (they live with the helpers in support/meltano_e2e)."""

from support.meltano_e2e import (  # noqa: F401 - re-exported fixtures
    meltano,
    meltano_installed,
    pg_database,
    pg_server,
    pg_system_database,
    platform,
)
