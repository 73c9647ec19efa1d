"""Helpers and fixtures of the Meltano end-to-end tests (conftest.py re-exports the fixtures):
the test platform, a sandboxed Meltano, throwaway PostgreSQL databases, and readers for what
the loaders wrote.

Isolation: every test gets its own Meltano system directory (``MELTANO_SYS_DIR_ROOT`` in a temp
dir, holding its own SQLite system database, run and log folders) whose ``extractors`` and
``loaders`` folders are symlinks to the plugins `make meltano` installed in the repository's
``.meltano/``. HOME and the XDG folders point into the temp dir; the caller's ``TAP_OCPI_*``,
``TARGET_*`` and ``MELTANO_*`` variables are dropped. Nothing is written outside the temp dir.

The plugins must be installed first (``make meltano``; ``make test`` does it). Outside CI a
missing Meltano or PostgreSQL skips these tests with the command to run; in CI it fails them.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from support.config import STREAMS, TOP_LEVEL
from tap_ocpi.mock_platform import MODULES_BY_VERSION, MockPlatform, PlatformConfig
from tap_ocpi.privacy import DEFAULT_HASH_FIELDS, PUBLIC_PLACE_FIELDS, SAFE_FIELDS, is_private
from tap_ocpi.schemas import PRIMARY_KEYS, STREAM_SCHEMAS
from tap_ocpi.timestamps import parse_utc, utc_text

REPO = Path(__file__).resolve().parents[2]
MELTANO_BIN = REPO / ".venv-meltano" / "bin" / "meltano"
PLUGINS = REPO / ".meltano"
PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
PG_SCHEMA = "ocpi"  # default_target_schema in meltano.yml
SALT = "e2e-meltano-salt-0123456789"
# The platform's clock is the real one: its history ends when it starts, and advance() stamps
# changes with the current time, after the bookmark of the run before (the tap's bookmark is
# the end of the window it read completely, i.e. that run's start).
PLATFORM_NOW = "wall"
SMALL = PlatformConfig(
    now=PLATFORM_NOW, seed=11, locations=25, sessions=300, tariffs=6, tokens=40, clients=4
)
ADVANCE = {"new_sessions": 7, "updated_sessions": 5, "updated_locations": 2, "minutes": 0}
RUN_TIMEOUT = 600


def need(condition: bool, why: str) -> None:
    """Skip (locally) or fail (in CI) when a prerequisite is missing."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


# --- the test platform ------------------------------------------------------------------------


@pytest.fixture
def platform() -> Iterator[MockPlatform]:
    """A small platform of its own for each test (tests move its data)."""
    with MockPlatform(SMALL) as running:
        yield running


def served_version(platform: MockPlatform) -> str:
    """The version the tap negotiates: the highest one the platform offers."""
    return max(platform.config.versions, key=lambda v: tuple(int(p) for p in v.split(".")))


def _key(record: dict[str, Any], stream: str) -> tuple[Any, ...]:
    return tuple(record.get(k) for k in PRIMARY_KEYS[stream])


def expected_keys(
    platform: MockPlatform, date_from: dict[str, str] | None = None
) -> dict[str, Counter[tuple[Any, ...]]]:
    """Primary keys the tap must emit per stream, from the platform's own view.

    ``date_from``: per-stream lower bound of the window (the incremental run's); the children
    (evses, connectors) follow their locations. Tokens are compared without ``uid``, which the
    tap pseudonymises.
    """
    version = served_version(platform)
    date_from = date_from or {}
    out: dict[str, Counter[tuple[Any, ...]]] = {s: Counter() for s in STREAMS}
    for module in TOP_LEVEL:  # a top-level stream reads the OCPI module of its name
        if module not in MODULES_BY_VERSION[version]:
            continue
        for obj in platform.expected(module, version, date_from=date_from.get(module)):
            if module == "tokens":
                out["tokens"][(obj["country_code"], obj["party_id"], obj["type"])] += 1
                continue
            out[module][_key(obj, module)] += 1
            if module != "locations":
                continue
            for evse in obj.get("evses") or []:
                loc = (obj["country_code"], obj["party_id"], obj["id"])
                evse_key = (*loc, evse["uid"])
                out["evses"][evse_key] += 1
                for connector in evse.get("connectors") or []:
                    connector_key = (*evse_key, connector["id"])
                    out["connectors"][connector_key] += 1
    return out


def output_keys(rows: dict[str, list[dict[str, Any]]]) -> dict[str, Counter[tuple[Any, ...]]]:
    out: dict[str, Counter[tuple[Any, ...]]] = {s: Counter() for s in STREAMS}
    for stream, records in rows.items():
        for record in records:
            if stream == "tokens":
                out[stream][(record["country_code"], record["party_id"], record["type"])] += 1
            else:
                out[stream][_key(record, stream)] += 1
    return out


def incremental_windows(state: dict[str, Any], lookback_minutes: int = 15) -> dict[str, str]:
    """date_from per module that the next run asks for: bookmark - lookback."""
    out = {}
    for stream, entry in state.get("bookmarks", {}).items():
        value = entry.get("replication_key_value")
        if value and stream not in ("evses", "connectors"):
            moment = parse_utc(value) - timedelta(minutes=lookback_minutes)
            out[stream] = utc_text(moment)
    return out


# --- Meltano in a sandbox -------------------------------------------------------------------


@dataclass
class MeltanoResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def check(self) -> MeltanoResult:
        errors = [
            line.strip()
            for line in self.stderr.splitlines()
            if re.search(r"error|exception|failed", line, re.IGNORECASE)
            and not line.lstrip().startswith(("File ", "Traceback", "raise "))
        ]
        assert self.returncode == 0, (
            f"meltano {' '.join(self.args)} exited {self.returncode} after {self.seconds:.1f}s\n"
            + "--- error lines\n"
            + "\n".join(dict.fromkeys(errors[-20:]))
            + f"\n--- stderr (tail)\n{self.stderr[-4000:]}"
        )
        return self


@dataclass
class Meltano:
    """`meltano` of .venv-meltano, run in the repository's project with a private sys dir."""

    root: Path
    env: dict[str, str]
    results: list[MeltanoResult] = field(default_factory=list)

    @property
    def output(self) -> Path:
        return Path(self.env["OCPI_TEST_OUTPUT_DIR"])

    def run(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> MeltanoResult:
        result = self.start(*args, env=env).wait()
        return result.check() if check else result

    def start(self, *args: str, env: dict[str, str] | None = None) -> RunningMeltano:
        command = [str(MELTANO_BIN), "--environment=test", *args]
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return RunningMeltano(self, list(args), process, time.monotonic())

    def state(self, state_id: str) -> dict[str, Any]:
        """`meltano state get` without the `singer_state` wrapper ({} when there is none)."""
        result = self.run("state", "get", state_id)
        text = result.stdout.strip()
        if not text:
            return {}
        return json.loads(text).get("singer_state", {})

    def state_ids(self) -> list[str]:
        return [line.strip() for line in self.run("state", "list").stdout.splitlines() if line]


@dataclass
class RunningMeltano:
    meltano: Meltano
    args: list[str]
    process: subprocess.Popen[str]
    started: float

    def wait(self) -> MeltanoResult:
        try:
            stdout, stderr = self.process.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate()
        result = MeltanoResult(
            self.args, self.process.returncode, stdout, stderr, time.monotonic() - self.started
        )
        self.meltano.results.append(result)
        return result


@pytest.fixture(scope="session")
def meltano_installed() -> Path:
    need(MELTANO_BIN.exists(), f"Meltano is not installed: run `make meltano` ({MELTANO_BIN})")
    for plugin in (
        "extractors/tap-ocpi/venv/bin/tap-ocpi",
        "loaders/target-csv/venv/bin/target-csv",
        "loaders/target-jsonl/venv/bin/target-jsonl",
        "loaders/target-postgres/venv/bin/target-postgres",
    ):
        need((PLUGINS / plugin).exists(), f"plugin missing: .meltano/{plugin}; run `make meltano`")
    return MELTANO_BIN


def sandbox_env(tmp: Path, platform: MockPlatform | None, **extra: str) -> dict[str, str]:
    """The environment of every meltano call: the caller's, minus anything that configures
    the tap, the loaders or Meltano, plus a private HOME and Meltano sys dir."""
    dropped = ("TAP_OCPI", "TARGET_", "MELTANO_", "OCPI_", "PG", "SINGER_", "LOGLEVEL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    home = tmp / "home"
    sys_dir = tmp / "meltano-sys"
    for folder in (home, sys_dir, tmp / "out"):
        folder.mkdir(parents=True, exist_ok=True)
    for kind in ("extractors", "loaders"):
        link = sys_dir / kind
        if not link.exists():
            link.symlink_to(PLUGINS / kind, target_is_directory=True)
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "MELTANO_SYS_DIR_ROOT": str(sys_dir),
            "MELTANO_DATABASE_URI": f"sqlite:///{sys_dir / 'meltano.db'}",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_DISABLE_TRACKING": "true",
            "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
            "MELTANO_AUTO_INSTALL": "false",
            "MELTANO_CLI_LOG_FORMAT": "plain",
            "OCPI_TEST_PRIVACY_SALT": SALT,
            "OCPI_TEST_OUTPUT_DIR": str(tmp / "out"),
            "TARGET_POSTGRES_PASSWORD": "trust-auth-ignores-this",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    if platform is not None:
        env["OCPI_TEST_VERSIONS_URL"] = platform.versions_url
        env["OCPI_TEST_TOKEN"] = platform.token
    env.update(extra)
    return env


@pytest.fixture
def meltano(meltano_installed: Path, tmp_path: Path, platform: MockPlatform) -> Meltano:
    return Meltano(tmp_path, sandbox_env(tmp_path, platform))


# --- PostgreSQL -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> str:
    try:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute("select 1")
    except psycopg.OperationalError as exc:
        need(
            False,
            f"PostgreSQL is not reachable at 127.0.0.1:5432 as postgres ({exc}); "
            "run `bash scripts/ensure_postgres.sh`",
        )
    return PG_DSN


@dataclass
class PgDatabase:
    name: str

    @property
    def dsn(self) -> str:
        return PG_DSN.replace("dbname=postgres", f"dbname={self.name}")

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}"

    def query(self, query: str | sql.Composed, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn) as conn:
            return list(conn.execute(query, params or None).fetchall())

    def execute(self, query: str | sql.Composed) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(query)

    def columns(self, table: str) -> dict[str, str]:
        rows = self.query(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s",
            PG_SCHEMA,
            table,
        )
        return {str(name): str(kind) for name, kind in rows}

    def tables(self) -> set[str]:
        rows = self.query(
            "select table_name from information_schema.tables where table_schema = %s", PG_SCHEMA
        )
        return {r[0] for r in rows}

    def rows(self, table: str) -> list[dict[str, Any]]:
        with psycopg.connect(self.dsn, row_factory=dict_row) as conn:
            return list(conn.execute(sql.SQL("select * from {}").format(_table(table))).fetchall())

    def duplicate_keys(self, table: str, keys: Iterable[str]) -> list[tuple[Any, ...]]:
        columns = sql.SQL(", ").join(sql.Identifier(k) for k in keys)
        return self.query(
            sql.SQL("select {k}, count(*) from {t} group by {k} having count(*) > 1").format(
                k=columns, t=_table(table)
            )
        )

    def value(self, table: str, column: str, object_id: str) -> Any:
        """`column` of the row whose `id` is `object_id` (exactly one row)."""
        ((value,),) = self.query(
            sql.SQL("select {c} from {t} where id = %s").format(
                c=sql.Identifier(column), t=_table(table)
            ),
            object_id,
        )
        return value


def _table(name: str) -> sql.Identifier:
    return sql.Identifier(PG_SCHEMA, name)


def _new_database() -> Iterator[PgDatabase]:
    name = f"tap_ocpi_e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield PgDatabase(name)
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


@pytest.fixture
def pg_database(pg_server: str) -> Iterator[PgDatabase]:
    """A throwaway database, dropped after the test."""
    yield from _new_database()


@pytest.fixture
def pg_system_database(pg_server: str) -> Iterator[PgDatabase]:
    """A second throwaway database, for Meltano's system database."""
    yield from _new_database()


# --- reading what the loaders wrote ---------------------------------------------------------


def read_jsonl(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Records per stream from target-jsonl's `<stream>-<timestamp>.jsonl` files."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        stream = path.name.rsplit("-", 1)[0] if "-" in path.stem else path.stem
        with path.open(encoding="utf-8") as handle:
            out.setdefault(stream, []).extend(json.loads(line) for line in handle if line.strip())
    return out


def csv_files(folder: Path) -> dict[str, list[Path]]:
    """target-csv's files per stream (`<stream>/<stream>-<UTC timestamp>.csv`), oldest first."""
    return (
        {
            sub.name: sorted(sub.glob(f"{sub.name}-*.csv"))
            for sub in sorted(folder.iterdir())
            if sub.is_dir()
        }
        if folder.is_dir()
        else {}
    )


def read_csv_file(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_csv(folder: Path, files: set[Path] | None = None) -> dict[str, list[dict[str, str]]]:
    """Rows per stream from all of target-csv's files (or only `files`), in run order."""
    out: dict[str, list[dict[str, str]]] = {}
    for stream, paths in csv_files(folder).items():
        out[stream] = [
            row for path in paths if files is None or path in files for row in read_csv_file(path)
        ]
    return out


def csv_value(text: str) -> Any:
    """target-csv writes nested values as Python reprs; read them back."""
    if text and text[0] in "[{":
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
    return text


def leaves(value: Any) -> Iterable[str]:
    """Every scalar inside a value, as text (for the personal-data leak checks)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from leaves(item)
    elif isinstance(value, str):
        parsed = csv_value(value)
        if parsed is not value and not isinstance(parsed, str):
            yield from leaves(parsed)
        else:
            yield value
    elif value is not None:
        yield str(value)


def schema_of(stream: str) -> dict[str, Any]:
    return STREAM_SCHEMAS[stream]


def personal_values(platform: MockPlatform) -> set[str]:
    """The platform's personal strings that must never reach a table or file.

    Less the values that are also legitimate public business data: a private place's owner
    or a household's energy supplier can be a company that is also named in a published
    location or a tariff (public data the tap passes on purpose). EVSEs stay in the check:
    their meter ids are personal even at public places.
    """
    version = served_version(platform)
    public: set[str] = set()
    for loc in platform.expected("locations", version):
        if not is_private("locations", loc):
            public.update(leaves({k: v for k, v in loc.items() if k != "evses"}))
    for tariff in platform.expected("tariffs", version):
        public.update(leaves(tariff))
    return platform.personal_values() - public


def blank_columns(stream: str) -> list[str]:
    """Top-level columns the default privacy rules always emit as null for this stream."""
    opened = {
        path.split(".")[0]
        for table in (SAFE_FIELDS, PUBLIC_PLACE_FIELDS, DEFAULT_HASH_FIELDS)
        for path in table.get(stream, {})
    }
    return sorted(set(schema_of(stream)["properties"]) - opened)
