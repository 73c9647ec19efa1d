"""Meltano's system database in PostgreSQL, and concurrent jobs with distinct state ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from meltano_e2e import (
    ADVANCE,
    PG_SCHEMA,
    Meltano,
    PgDatabase,
    expected_keys,
    output_keys,
    sandbox_env,
)

from tap_ocpi.mock_platform import MockPlatform

pytestmark = pytest.mark.e2e

PLACES = ["locations.*", "evses.*", "connectors.*"]
CHARGING = ["sessions.*", "cdrs.*"]


def test_postgres_system_db_and_concurrent_jobs(
    meltano_installed: Path,
    tmp_path: Path,
    platform: MockPlatform,
    pg_database: PgDatabase,
    pg_system_database: PgDatabase,
) -> None:
    env = sandbox_env(
        tmp_path,
        platform,
        MELTANO_DATABASE_URI=pg_system_database.sqlalchemy_url,
        OCPI_TEST_PG_DATABASE=pg_database.name,
    )
    meltano = Meltano(tmp_path, env)
    # Both jobs load into one database; create the schema once so the two loaders do not race
    # on CREATE SCHEMA (each creates only its own tables).
    pg_database.execute(f"create schema if not exists {PG_SCHEMA}")

    def job(select: list[str], suffix: str, *extra: str):  # noqa: ANN202
        return meltano.start(
            "run",
            "--no-install",
            f"--state-id-suffix={suffix}",
            *extra,
            "tap-ocpi",
            "target-postgres",
            env={"TAP_OCPI__SELECT": json.dumps(select)},
        )

    # Create the system database's tables once, before the jobs: two processes migrating an
    # empty database at the same moment collide (both CREATE TABLE alembic_version).
    assert meltano.state_ids() == []

    places, charging = job(PLACES, "places"), job(CHARGING, "charging")
    first_places, first_charging = places.wait().check(), charging.wait().check()
    # they really ran at the same time
    assert places.started < charging.started + first_charging.seconds
    assert charging.started < places.started + first_places.seconds

    ids = meltano.state_ids()
    assert {"test:tap-ocpi-to-target-postgres:places",
            "test:tap-ocpi-to-target-postgres:charging"} <= set(ids)  # fmt: skip
    places_state = meltano.state("test:tap-ocpi-to-target-postgres:places")["bookmarks"]
    charging_state = meltano.state("test:tap-ocpi-to-target-postgres:charging")["bookmarks"]
    assert {"locations", "evses", "connectors"} <= set(places_state)
    assert not {"sessions", "cdrs"} & set(places_state)
    assert {"sessions", "cdrs"} <= set(charging_state)
    assert not {"locations", "evses", "connectors"} & set(charging_state)

    want = expected_keys(platform)
    for stream in ("locations", "evses", "connectors", "sessions", "cdrs"):
        assert output_keys({stream: pg_database.rows(stream)})[stream] == want[stream], stream
    assert "tariffs" not in pg_database.tables()

    # The state lives in PostgreSQL, not in a SQLite file.
    assert not (tmp_path / "meltano-sys" / "meltano.db").exists()
    tables = {
        r[0]
        for r in pg_system_database.query(
            "select table_name from information_schema.tables where table_schema = 'public'"
        )
    }
    assert {"state", "runs"} <= tables, tables
    stored = {r[0] for r in pg_system_database.query("select state_id from state")}
    assert "test:tap-ocpi-to-target-postgres:places" in stored

    # One job moves on; the other's bookmarks stay exactly as they were.
    platform.advance(**ADVANCE)
    job(CHARGING, "charging").wait().check()
    assert meltano.state("test:tap-ocpi-to-target-postgres:places")["bookmarks"] == places_state
    moved = meltano.state("test:tap-ocpi-to-target-postgres:charging")["bookmarks"]
    assert (
        moved["sessions"]["replication_key_value"]
        > charging_state["sessions"]["replication_key_value"]
    )
    want = expected_keys(platform)
    assert output_keys({"sessions": pg_database.rows("sessions")})["sessions"] == want["sessions"]
