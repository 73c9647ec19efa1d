"""Meltano's system database in PostgreSQL, and concurrent jobs with distinct state ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.meltano_e2e import (
    ADVANCE,
    PG_SCHEMA,
    Meltano,
    PgDatabase,
    RunningMeltano,
    expected_keys,
    output_keys,
    sandbox_env,
)
from tap_ocpi.mock_platform import MockPlatform

pytestmark = pytest.mark.e2e

PLACES = ["locations.*", "evses.*", "connectors.*"]
CHARGING = ["sessions.*", "cdrs.*"]
PLACES_ID = "test:tap-ocpi-to-target-postgres:places"
CHARGING_ID = "test:tap-ocpi-to-target-postgres:charging"


def test_postgres_system_db_and_concurrent_jobs(
    meltano_installed: Path,
    tmp_path: Path,
    platform: MockPlatform,
    pg_database: PgDatabase,
    pg_system_database: PgDatabase,
) -> None:
    """Two "machines" (each its own .meltano folder, HOME and output) run one job each, at the
    same time, sharing one system database in PostgreSQL, told apart by --state-id-suffix.

    (On one machine, two runs of the same extractor must not share a .meltano folder:
    Meltano 4.4.1 writes the extractor's config and catalog to .meltano/run/<extractor>/, and
    concurrent runs overwrite each other's. See docs/multiple-machines.md.)
    """
    shared = {
        "MELTANO_DATABASE_URI": pg_system_database.sqlalchemy_url,
        "OCPI_TEST_PG_DATABASE": pg_database.name,
    }
    machine_a = Meltano(tmp_path / "a", sandbox_env(tmp_path / "a", platform, **shared))
    machine_b = Meltano(tmp_path / "b", sandbox_env(tmp_path / "b", platform, **shared))
    # Both jobs load into one database; create the schema once so the two loaders do not race
    # on CREATE SCHEMA (each creates only its own tables).
    pg_database.execute(f"create schema if not exists {PG_SCHEMA}")
    # Create the system database's tables once, before the jobs: two processes migrating an
    # empty database at the same moment collide (both CREATE TABLE alembic_version).
    assert machine_a.state_ids() == []

    def job(meltano: Meltano, select: list[str], suffix: str) -> RunningMeltano:
        return meltano.start(
            "run",
            "--no-install",
            f"--state-id-suffix={suffix}",
            "tap-ocpi",
            "target-postgres",
            env={"TAP_OCPI__SELECT": json.dumps(select)},
        )

    places, charging = job(machine_a, PLACES, "places"), job(machine_b, CHARGING, "charging")
    first_places, first_charging = places.wait(), charging.wait()  # both, even if one failed
    first_places.check()
    first_charging.check()
    # they really ran at the same time
    assert places.started < charging.started + first_charging.seconds
    assert charging.started < places.started + first_places.seconds

    # either machine sees both state ids: the state lives in PostgreSQL
    ids = set(machine_b.state_ids())
    assert {PLACES_ID, CHARGING_ID} <= ids, ids
    places_state = machine_b.state(PLACES_ID)["bookmarks"]
    charging_state = machine_a.state(CHARGING_ID)["bookmarks"]
    assert set(places_state) == {"locations", "evses", "connectors"}
    assert set(charging_state) == {"sessions", "cdrs"}

    want = expected_keys(platform)
    for stream in ("locations", "evses", "connectors", "sessions", "cdrs"):
        assert output_keys({stream: pg_database.rows(stream)})[stream] == want[stream], stream
    assert "tariffs" not in pg_database.tables()

    # Not in a SQLite file: in the system database's own tables.
    assert not (tmp_path / "a" / "meltano-sys" / "meltano.db").exists()
    assert not (tmp_path / "b" / "meltano-sys" / "meltano.db").exists()
    tables = {
        r[0]
        for r in pg_system_database.query(
            "select table_name from information_schema.tables where table_schema = 'public'"
        )
    }
    assert {"state", "runs"} <= tables, tables
    stored = {r[0] for r in pg_system_database.query("select state_id from state")}
    assert {PLACES_ID, CHARGING_ID} <= stored

    # One job moves on; the other's bookmarks stay exactly as they were.
    platform.advance(**ADVANCE)
    job(machine_b, CHARGING, "charging").wait().check()
    assert machine_a.state(PLACES_ID)["bookmarks"] == places_state
    moved = machine_a.state(CHARGING_ID)["bookmarks"]
    assert set(moved) == {"sessions", "cdrs"}
    assert (
        moved["sessions"]["replication_key_value"]
        > charging_state["sessions"]["replication_key_value"]
    )
    want = expected_keys(platform)
    assert output_keys({"sessions": pg_database.rows("sessions")})["sessions"] == want["sessions"]
