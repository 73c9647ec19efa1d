"""Real `meltano run tap-ocpi <loader>` pipelines against the test platform.

Each test: its own platform (so it can move the data), its own Meltano system database and
output folders (see conftest.py), its own throwaway PostgreSQL database where one is used.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from support.about import about_settings
from support.config import STREAMS
from support.meltano_e2e import (
    ADVANCE,
    Meltano,
    PgDatabase,
    blank_columns,
    csv_files,
    expected_keys,
    incremental_windows,
    leaves,
    output_keys,
    personal_values,
    read_csv,
    read_jsonl,
    schema_of,
    served_version,
)
from tap_ocpi.mock_platform import MockPlatform
from tap_ocpi.schemas import PRIMARY_KEYS
from tap_ocpi.timestamps import utc_text

pytestmark = pytest.mark.e2e

RUN = ("run", "--no-install")


def state_id(extractor: str, loader: str, suffix: str | None = None) -> str:
    return f"test:{extractor}-to-{loader}" + (f":{suffix}" if suffix else "")


def assert_same_keys(
    got: dict[str, Counter[tuple[Any, ...]]], want: dict[str, Counter[tuple[Any, ...]]]
) -> None:
    for stream in STREAMS:
        missing = want[stream] - got[stream]
        extra = got[stream] - want[stream]
        problem = (
            f"{stream}: {sum(missing.values())} expected keys missing (e.g. "
            f"{list(missing)[:3]}), {sum(extra.values())} unexpected (e.g. {list(extra)[:3]})"
        )
        assert not missing, problem
        assert not extra, problem


def assert_no_personal_values(platform: MockPlatform, where: str, values: set[str]) -> None:
    leaked = personal_values(platform) & values
    assert not leaked, f"{where}: {len(leaked)} personal values leaked, e.g. {sorted(leaked)[:3]}"


def bookmarks(state: dict[str, Any]) -> dict[str, str]:
    return {
        stream: entry["replication_key_value"]
        for stream, entry in state.get("bookmarks", {}).items()
        if entry.get("replication_key_value")
    }


def max_last_updated(records: list[dict[str, Any]]) -> str:
    return max(str(r["last_updated"]) for r in records)


# --- target-jsonl: one file set per run, so each run's records can be counted ----------------


def test_jsonl_incremental_state_and_full_refresh(meltano: Meltano, platform: MockPlatform) -> None:
    run1, run2, run3 = (meltano.output / name for name in ("run1", "run2", "run3"))

    meltano.run(*RUN, "tap-ocpi", "target-jsonl", env={"OCPI_TEST_OUTPUT_DIR": str(run1)})
    first = read_jsonl(run1 / "jsonl")
    assert_same_keys(output_keys(first), expected_keys(platform))
    values = {leaf for rows in first.values() for row in rows for leaf in leaves(row)}
    assert_no_personal_values(platform, "JSONL", values)

    state = meltano.state(state_id("tap-ocpi", "target-jsonl"))
    marks = bookmarks(state)
    now = utc_text(dt.datetime.now(dt.timezone.utc))
    for stream, records in first.items():
        # read completely: the bookmark is at or after the newest object, before now
        assert max_last_updated(records) <= marks[stream] <= now, stream
    windows = incremental_windows(state)

    changes = platform.advance(**ADVANCE)
    meltano.run(*RUN, "tap-ocpi", "target-jsonl", env={"OCPI_TEST_OUTPUT_DIR": str(run2)})
    second = read_jsonl(run2 / "jsonl")
    # Exactly the objects changed since bookmark - lookback: the new and updated ones (plus
    # any that were already inside the 15-minute lookback), nothing else.
    assert_same_keys(output_keys(second), expected_keys(platform, windows))
    session_ids = {r["id"] for r in second.get("sessions", [])}
    assert set(changes["created_sessions"]) <= session_ids
    assert set(changes["updated_sessions"]) <= session_ids
    assert set(changes["updated_locations"]) <= {r["id"] for r in second.get("locations", [])}
    assert set(changes["created_cdrs"]) <= {r["id"] for r in second.get("cdrs", [])}
    assert sum(map(len, second.values())) < sum(map(len, first.values())) / 4
    # streams whose data did not move are read for nothing or almost nothing
    for stream in ("tariffs", "tokens"):
        assert len(second.get(stream, [])) <= len(first.get(stream, [])) / 4, stream

    state2 = meltano.state(state_id("tap-ocpi", "target-jsonl"))
    marks2 = bookmarks(state2)
    assert set(marks2) == set(marks)
    for stream, mark in marks2.items():
        assert mark >= marks[stream], stream
    for stream, records in second.items():
        assert max_last_updated(records) <= marks2[stream], stream

    meltano.run(
        *RUN, "--full-refresh", "tap-ocpi", "target-jsonl", env={"OCPI_TEST_OUTPUT_DIR": str(run3)}
    )
    third = read_jsonl(run3 / "jsonl")
    assert_same_keys(output_keys(third), expected_keys(platform))
    marks3 = bookmarks(meltano.state(state_id("tap-ocpi", "target-jsonl")))
    assert set(marks3) == set(marks2)
    assert all(marks3[s] >= marks2[s] for s in marks3)


# --- target-csv: one file per stream and run, so a run only adds files -----------------------


def test_csv_incremental_files_and_privacy(meltano: Meltano, platform: MockPlatform) -> None:
    folder = meltano.output / "csv"
    meltano.run(*RUN, "tap-ocpi", "target-csv")
    files1 = {p: p.read_bytes() for paths in csv_files(folder).values() for p in paths}
    want = expected_keys(platform)
    assert {p.parent.name for p in files1} >= {s for s in STREAMS if want[s]}
    first = read_csv(folder)
    assert_same_keys(output_keys(first), want)

    values = {leaf for rows in first.values() for row in rows for leaf in leaves(row)}
    assert_no_personal_values(platform, "CSV", values)
    for stream, rows in first.items():
        for column in blank_columns(stream):
            filled = [row[column] for row in rows if row.get(column) not in ("", None)]
            assert not filled, f"{stream}.{column} should be blank, e.g. {filled[:2]}"
    # public places keep their address; tokens.uid is a 64-hex pseudonym, not the card id
    assert any(row["address"] for row in first["locations"])
    assert all(len(row["uid"]) == 64 for row in first["tokens"])

    windows = incremental_windows(meltano.state(state_id("tap-ocpi", "target-csv")))
    platform.advance(**ADVANCE)
    meltano.run(*RUN, "tap-ocpi", "target-csv")
    # the first run's files are untouched; the second run wrote new files holding only the
    # new and changed objects
    assert {p: p.read_bytes() for p in files1} == files1
    new_files = {p for paths in csv_files(folder).values() for p in paths} - set(files1)
    assert new_files
    second = read_csv(folder, new_files)
    assert_same_keys(output_keys(second), expected_keys(platform, windows))
    assert len(second["sessions"]) >= ADVANCE["new_sessions"] + ADVANCE["updated_sessions"]


# --- target-postgres: upserts, types, privacy -------------------------------------------------

_NUMERIC = {"numeric", "double precision", "real", "decimal"}
_INTEGER = {"bigint", "integer", "smallint", "numeric"}


def expected_pg_types(prop: dict[str, Any]) -> set[str]:
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else types
    if prop.get("format") == "date-time":
        return {"timestamp without time zone", "timestamp with time zone"}
    if "object" in types:
        return {"jsonb", "json"}
    if "array" in types:
        return {"ARRAY", "jsonb", "json"}
    if "integer" in types:
        return _INTEGER
    if "number" in types:
        return _NUMERIC
    if "boolean" in types:
        return {"boolean"}
    return {"text", "character varying"}


def pg_values(rows: list[dict[str, Any]]) -> set[str]:
    out: set[str] = set()
    for row in rows:
        for value in row.values():
            if isinstance(value, (dt.datetime, dt.date)):
                continue
            out.update(leaves(value))
    return out


def test_postgres_upsert_types_and_privacy(
    meltano: Meltano, platform: MockPlatform, pg_database: PgDatabase
) -> None:
    env = {"OCPI_TEST_PG_DATABASE": pg_database.name}
    meltano.run(*RUN, "tap-ocpi", "target-postgres", env=env)

    want = expected_keys(platform)
    served = {s for s in STREAMS if want[s]}
    assert pg_database.tables() >= served
    for stream in served:
        rows = pg_database.rows(stream)
        assert_same_keys(
            {**{s: Counter() for s in STREAMS}, **output_keys({stream: rows})},
            {**{s: Counter() for s in STREAMS}, stream: want[stream]},
        )
        dupes = pg_database.duplicate_keys(stream, PRIMARY_KEYS[stream])
        assert not dupes, f"{stream}: duplicate keys {dupes[:3]}"

        columns = pg_database.columns(stream)
        for name, prop in schema_of(stream)["properties"].items():
            assert name in columns, f"{stream}.{name}: no column"
            assert columns[name] in expected_pg_types(prop), (
                f"{stream}.{name}: {columns[name]} for {prop.get('type')}"
            )
        assert "_sdc_extracted_at" in columns

        assert_no_personal_values(platform, f"table {stream}", pg_values(rows))
        for column in blank_columns(stream):
            filled = [r[column] for r in rows if r[column] is not None]
            assert not filled, f"{stream}.{column} should be null, e.g. {filled[:2]}"

    # spot checks of the types as an analyst sees them
    assert pg_database.columns("sessions")["last_updated"].startswith("timestamp")
    assert pg_database.columns("sessions")["cdr_token"] == "jsonb"
    assert pg_database.columns("sessions")["kwh"] in _NUMERIC

    counts_before = {s: len(pg_database.rows(s)) for s in served}
    changes = platform.advance(**ADVANCE)
    meltano.run(*RUN, "tap-ocpi", "target-postgres", env=env)

    want = expected_keys(platform)
    for stream in served:
        rows = pg_database.rows(stream)
        got = output_keys({stream: rows})[stream]
        assert got == want[stream], stream  # upserted: every key once, new ones added
    assert len(pg_database.rows("sessions")) == counts_before["sessions"] + ADVANCE["new_sessions"]
    assert len(pg_database.rows("locations")) == counts_before["locations"]
    counts_after = {s: len(pg_database.rows(s)) for s in served}
    print(f"\npostgres rows, run 1: {counts_before}\npostgres rows, run 2: {counts_after}")

    # updated objects carry the platform's new last_updated
    version = served_version(platform)
    latest = {o["id"]: o["last_updated"] for o in platform.expected("sessions", version)}
    for sid in changes["updated_sessions"] + changes["created_sessions"]:
        value = pg_database.value("sessions", "last_updated", sid)
        assert _utc(value) == _parse(latest[sid]), sid
    latest = {o["id"]: o["last_updated"] for o in platform.expected("locations", version)}
    for lid in changes["updated_locations"]:
        value = pg_database.value("locations", "last_updated", lid)
        assert _utc(value) == _parse(latest[lid]), lid

    state = meltano.state(state_id("tap-ocpi", "target-postgres"))
    assert set(bookmarks(state)) >= served


def _utc(value: dt.datetime) -> dt.datetime:
    """A timestamp column's value as aware UTC (naive columns hold UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc)


# --- flattening for CSV users: the inherited tap-ocpi--flat extractor -------------------------


def test_flat_extractor_writes_columns_not_reprs(meltano: Meltano, platform: MockPlatform) -> None:
    meltano.run(*RUN, "tap-ocpi--flat", "target-csv")
    rows = read_csv(meltano.output / "csv")
    assert_same_keys(output_keys(rows), expected_keys(platform))
    header = set(rows["locations"][0])
    assert {"coordinates__latitude", "coordinates__longitude"} <= header
    assert "coordinates" not in header
    published = [r for r in rows["locations"] if r["coordinates__latitude"]]
    assert published, "public locations keep their coordinates"
    float(published[0]["coordinates__latitude"])
    # depth 2: objects at depth <= 2 became columns (arrays stay JSON text)
    nested = [v for row in rows["locations"] for v in row.values() if v.startswith("{")]
    assert not nested, f"objects left unflattened in locations: {nested[:2]}"
    assert "cdr_token__type" in rows["sessions"][0]
    assert state_id("tap-ocpi--flat", "target-csv") in meltano.state_ids()


def test_privacy_allow_list_from_environment(meltano: Meltano, platform: MockPlatform) -> None:
    """privacy_pass set the way a user would (TAP_OCPI_PRIVACY_PASS) opens only those fields."""
    env = {"TAP_OCPI_PRIVACY_PASS": '{"sessions": ["kwh", "start_date_time"]}'}
    meltano.run(*RUN, "tap-ocpi", "target-jsonl", env=env)
    sessions = read_jsonl(meltano.output / "jsonl")["sessions"]
    assert any(s["kwh"] is not None for s in sessions)
    assert all(s["start_date_time"] for s in sessions)
    assert all(s.get("end_date_time") is None for s in sessions)
    assert all(s.get("authorization_reference") is None for s in sessions)
    assert all(s.get("meter_id") is None for s in sessions)


def test_meltano_config_declares_every_setting(meltano: Meltano, tmp_path: Path) -> None:
    """Every setting `tap-ocpi --about` reports is declared (not "possibly unsupported")."""
    listed = meltano.run("config", "list", "tap-ocpi", "--all").stdout
    for name in about_settings():
        line = next((ln for ln in listed.splitlines() if ln.startswith(f"{name} ")), None)
        assert line is not None, f"{name} not listed"
        assert "possibly unsupported" not in line, f"{name} is not declared in meltano.yml"
    # secrets are redacted in the listing
    assert "e2e-meltano-salt" not in listed
