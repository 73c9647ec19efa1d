"""docs/loaders.md's PostgreSQL caveat, checked with the real loader: target-postgres 0.8.1
stores date-times as `timestamp without time zone` holding UTC, and the documented query
(`AT TIME ZONE 'UTC'`) gives the right instant whatever the session's time zone.

(The BATCH and stream-map caveats are checked in test_outside_user.py; the DuckDB one was
verified by hand, see docs/loaders.md.)
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from support.meltano_e2e import Meltano, PgDatabase, served_version
from tap_ocpi.mock_platform import MockPlatform

pytestmark = pytest.mark.e2e


def test_postgres_datetimes_are_naive_utc(
    meltano: Meltano, platform: MockPlatform, pg_database: PgDatabase
) -> None:
    env = {"OCPI_TEST_PG_DATABASE": pg_database.name, "TAP_OCPI__SELECT": '["tariffs.*"]'}
    meltano.run("run", "--no-install", "tap-ocpi", "target-postgres", env=env)

    assert pg_database.columns("tariffs")["last_updated"] == "timestamp without time zone"
    want = {
        t["id"]: dt.datetime.fromisoformat(t["last_updated"].replace("Z", "+00:00"))
        for t in platform.expected("tariffs", served_version(platform))
    }
    with psycopg.connect(pg_database.dsn) as conn:
        conn.execute("set time zone 'America/New_York'")
        with_zone = conn.execute(
            "select id, last_updated, last_updated at time zone 'UTC' from ocpi.tariffs"
        ).fetchall()
    assert {row[0] for row in with_zone} == set(want)
    for object_id, naive, aware in with_zone:
        assert naive.tzinfo is None
        assert naive == want[object_id].replace(tzinfo=None), "the naive value is UTC"
        assert aware == want[object_id], "AT TIME ZONE 'UTC' gives the instant"
