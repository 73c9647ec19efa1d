"""A data engineer outside this repository: a new Meltano project, tap-ocpi added the way the
README says, run against the bundled test platform.

Everything happens in one temp folder per module: a `git clone` of the repository's HEAD (so
uncommitted changes are not in it), `meltano init`, `meltano add --from-ref` with the clone's
plugin definition (tap-ocpi.yml), `pip_url` pointed at the clone (`git+file://`), a real
`meltano install` (uv, from PyPI), `meltano config set`, `meltano run` and `meltano invoke`.
HOME, XDG folders and every Meltano folder are in the temp folder; uv's package cache is
kept in .pytest_cache/uv so that later runs install from it. The commands the
README shows are read from README.md, so a README that drifts from what works fails here.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from support.about import about_settings
from support.config import STREAMS
from support.meltano_e2e import (
    MELTANO_BIN,
    SMALL,
    expected_keys,
    need,
    output_keys,
    read_jsonl,
)
from tap_ocpi.mock_platform import MockPlatform

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
UV_CACHE = REPO / ".pytest_cache" / "uv"
SALT = "outside-user-salt-0123456789"
TIMEOUT = 900  # one meltano call; a cold `meltano install` downloads the SDK's dependencies

# Loaders come from Meltano Hub for a user (`meltano add --plugin-type loader target-jsonl`);
# the test gives their definitions itself, so that nothing but PyPI is reached.
LOADERS = {
    "target-jsonl": {
        "name": "target-jsonl",
        "namespace": "target_jsonl",
        "pip_url": "target-jsonl==0.1.4",
        "executable": "target-jsonl",
        "settings": [{"name": "destination_path", "kind": "string"}],
    },
    "target-csv": {
        "name": "target-csv",
        "namespace": "target_csv",
        "pip_url": "meltanolabs-target-csv==0.5.0",
        "executable": "target-csv",
        "settings": [{"name": "output_path", "kind": "string"}],
    },
}


# --- what the README says -----------------------------------------------------------------------


def readme_text() -> str:
    return README.read_text(encoding="utf-8")


def readme_commands(prefix: str) -> list[str]:
    """Lines of the README's shell blocks that start with `prefix` (comments removed)."""
    blocks = re.findall(r"```(?:bash|sh|console)\n(.*?)```", readme_text(), re.DOTALL)
    lines = [line.split("  #", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(prefix)]


def readme_yaml_block(marker: str) -> dict[str, Any]:
    """The first ```yaml block after the line that contains `marker`."""
    text = readme_text()
    start = text.index(marker)
    match = re.search(r"```yaml\n(.*?)```", text[start:], re.DOTALL)
    assert match, f"no yaml block after {marker!r} in README.md"
    loaded = yaml.safe_load(match.group(1))
    assert isinstance(loaded, dict)
    return loaded


def readme_batch_config() -> dict[str, Any]:
    (line,) = readme_commands("meltano config set tap-ocpi batch_config")
    value = shlex.split(line)[-1]
    config = json.loads(value)
    assert isinstance(config, dict)
    return config


# --- a Meltano project of a user ----------------------------------------------------------------


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def check(self) -> Result:
        assert self.returncode == 0, (
            f"meltano {' '.join(self.args)} exited {self.returncode}\n{self.stderr[-4000:]}"
        )
        return self


@dataclass
class UserProject:
    root: Path
    clone: Path
    env: dict[str, str]

    def meltano(self, *args: str, env: dict[str, str] | None = None, check: bool = True) -> Result:
        done = subprocess.run(
            [str(MELTANO_BIN), *args],
            cwd=self.root,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        result = Result(list(args), done.returncode, done.stdout, done.stderr)
        return result.check() if check else result

    def shell(self, line: str, **replace: str) -> Result:
        """A README command line, with its arguments replaced by name (`--from-ref` ...)."""
        words = shlex.split(line)
        assert words[0] == "meltano", line
        for option, value in replace.items():
            words[words.index(option) + 1] = value
        return self.meltano(*words[1:])

    def config_set(self, plugin: str, name: str, value: Any) -> None:
        text = value if isinstance(value, str) else json.dumps(value)
        self.meltano("config", "set", plugin, name, text)

    def config_unset(self, plugin: str, name: str) -> None:
        self.meltano("config", "unset", plugin, name)

    def yaml(self) -> dict[str, Any]:
        loaded = yaml.safe_load((self.root / "meltano.yml").read_text(encoding="utf-8"))
        assert isinstance(loaded, dict)
        return loaded

    def extractor(self) -> dict[str, Any]:
        (plugin,) = [p for p in self.yaml()["plugins"]["extractors"] if p["name"] == "tap-ocpi"]
        return dict(plugin)


def user_env(tmp: Path) -> dict[str, str]:
    dropped = ("TAP_OCPI", "TARGET_", "MELTANO_", "OCPI_", "SINGER_", "LOGLEVEL", "UV_", "PIP_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    home = tmp / "home"
    home.mkdir()
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_DISABLE_TRACKING": "true",
            "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
            "MELTANO_CLI_LOG_FORMAT": "plain",
            "UV_NATIVE_TLS": "1",  # see the Makefile's MELTANO_ENV
            "UV_CACHE_DIR": str(UV_CACHE),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def git_clone_head(tmp: Path) -> Path:
    clone = tmp / "tap-ocpi"
    subprocess.run(
        ["git", "clone", "--quiet", str(REPO), str(clone)],
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    )
    return clone


@pytest.fixture(scope="module")
def user_platform() -> Iterator[MockPlatform]:
    with MockPlatform(SMALL) as running:
        yield running


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, user_platform: MockPlatform) -> UserProject:
    need(MELTANO_BIN.exists(), f"Meltano is not installed: run `make meltano` ({MELTANO_BIN})")
    tmp = tmp_path_factory.mktemp("outside-user")
    env = user_env(tmp)
    clone = git_clone_head(tmp)
    user = UserProject(tmp / "my-project", clone, env)
    init = subprocess.run(
        [str(MELTANO_BIN), "init", "--no-usage-stats", str(user.root)],
        cwd=tmp,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert init.returncode == 0, init.stderr[-3000:]

    # The README's way, from a clone: add from the plugin definition, point pip_url at the
    # clone, install.
    (add,) = [
        c for c in readme_commands("meltano add --plugin-type extractor") if "--no-install" in c
    ]
    user.shell(add, **{"--from-ref": str(clone / "tap-ocpi.yml")})
    meltano_yml = user.root / "meltano.yml"
    definition = yaml.safe_load((clone / "tap-ocpi.yml").read_text(encoding="utf-8"))
    text = meltano_yml.read_text(encoding="utf-8")
    assert f"pip_url: {definition['pip_url']}" in text
    meltano_yml.write_text(
        text.replace(f"pip_url: {definition['pip_url']}", f"pip_url: git+file://{clone}"),
        encoding="utf-8",
    )
    (install,) = readme_commands("meltano install extractor tap-ocpi")
    user.shell(install)

    for name, loader in LOADERS.items():
        path = tmp / f"{name}.yml"
        path.write_text(yaml.safe_dump(loader), encoding="utf-8")
        user.meltano("add", "--plugin-type", "loader", "--from-ref", str(path), name)
    user.config_set("target-jsonl", "destination_path", str(tmp / "jsonl"))
    user.config_set("target-csv", "output_path", str(tmp / "csv"))

    # The README's `meltano config set` lines for the three settings a user must give.
    values = {
        "versions_url": user_platform.versions_url,
        "token": user_platform.token,
        "privacy_salt": SALT,
    }
    for name, value in values.items():
        (line,) = readme_commands(f"meltano config set tap-ocpi {name} ")
        words = shlex.split(line)
        user.meltano(*words[1:-1], value)
    return user


def fresh_folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for child in path.iterdir():
        child.unlink()
    return path


def read_csv_folder(folder: Path) -> dict[str, list[dict[str, str]]]:
    csv.field_size_limit(sys.maxsize)
    out: dict[str, list[dict[str, str]]] = {}
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            out[path.stem] = list(csv.DictReader(handle))
    return out


def assert_same_keys(got: dict[str, Counter[Any]], want: dict[str, Counter[Any]]) -> None:
    for stream in STREAMS:
        assert got[stream] == want[stream], (
            f"{stream}: {sum(got[stream].values())} rows, platform has {sum(want[stream].values())}"
        )


def messages(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


# --- the tests ----------------------------------------------------------------------------------


def test_plugin_added_as_the_readme_says(project: UserProject) -> None:
    plugin = project.extractor()
    definition = yaml.safe_load((project.clone / "tap-ocpi.yml").read_text(encoding="utf-8"))
    assert plugin["pip_url"] == f"git+file://{project.clone}"
    assert plugin["capabilities"] == definition["capabilities"]
    assert [s["name"] for s in plugin["settings"]] == [s["name"] for s in definition["settings"]]
    # the venv holds the clone's package: the same `--about` as the working tree's tap
    installed = project.root / ".meltano" / "extractors" / "tap-ocpi" / "venv" / "bin" / "tap-ocpi"
    about = subprocess.run(
        [str(installed), "--about", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert set(json.loads(about.stdout)["capabilities"]) == set(definition["capabilities"])
    # secrets went to .env, not to meltano.yml
    text = (project.root / "meltano.yml").read_text(encoding="utf-8")
    assert SALT not in text
    assert SALT in (project.root / ".env").read_text(encoding="utf-8")


def test_every_about_setting_is_declared_in_the_user_project(project: UserProject) -> None:
    listed = project.meltano("config", "list", "tap-ocpi", "--all").stdout
    for name in about_settings():
        line = next((ln for ln in listed.splitlines() if ln.startswith(f"{name} ")), None)
        assert line is not None, f"{name} not listed"
        assert "possibly unsupported" not in line, f"{name} is not declared in tap-ocpi.yml"
    assert SALT not in listed


def test_run_to_jsonl_with_the_readme_config(
    project: UserProject, user_platform: MockPlatform
) -> None:
    """The config of the README's meltano.yml block, then `meltano run`: every object of the
    platform arrives once per stream."""
    block = readme_yaml_block("<!-- your meltano.yml -->")
    (readme_plugin,) = block["plugins"]["extractors"]
    for name, value in readme_plugin["config"].items():
        if name != "versions_url":  # the README's example host; the platform's URL is set
            project.config_set("tap-ocpi", name, value)
    out = fresh_folder(project.root.parent / "jsonl")
    started = time.monotonic()
    project.meltano("run", "tap-ocpi", "target-jsonl")
    seconds = time.monotonic() - started
    rows = read_jsonl(out)
    assert_same_keys(output_keys(rows), expected_keys(user_platform))
    counts = {stream: len(rows.get(stream, [])) for stream in STREAMS}
    print(f"outside-user run ({seconds:.1f}s): {counts}")  # quoted in the closing note
    sessions = rows["sessions"]
    passed = readme_plugin["config"]["privacy_pass"]["sessions"]
    assert any(s[passed[0]] is not None for s in sessions), "privacy_pass opened the field"
    assert all(s.get("authorization_reference") is None for s in sessions), "the rest stays blank"
    methods = {method for method, _path, _headers in user_platform.request_log}
    assert methods == {"GET"}, "README: it only reads"
    ids = project.meltano("state", "list").stdout.split()
    assert "dev:tap-ocpi-to-target-jsonl" in ids


def test_log_level_example(project: UserProject) -> None:
    """TAP_OCPI_LOGLEVEL=warning (the README's example) keeps the tap's info lines out."""
    (line,) = readme_commands("TAP_OCPI_LOGLEVEL=warning meltano run")
    words = shlex.split(line)
    level = words[0].split("=", 1)[1]
    fresh_folder(project.root.parent / "jsonl")
    quiet = project.meltano(*words[2:], env={"TAP_OCPI_LOGLEVEL": level})
    loud = project.meltano(*words[2:])
    tap_lines = [ln for ln in quiet.stderr.splitlines() if " tap-ocpi " in ln]
    assert not [ln for ln in tap_lines if "METRIC" in ln or "Beginning sync" in ln], tap_lines[:5]
    assert any("METRIC" in ln for ln in loud.stderr.splitlines())


def test_stream_maps_example_and_computed_field_types(project: UserProject) -> None:
    """The README's stream map works through Meltano; a computed field is a number only when
    its expression starts with float(...) (docs/loaders.md), else the SDK types it string."""
    block = readme_yaml_block("<!-- stream maps example -->")
    stream_maps = block["plugins"]["extractors"][0]["config"]["stream_maps"]
    (stream, mapping), *_ = [(s, m) for s, m in stream_maps.items() if isinstance(m, dict)]
    computed = {k: v for k, v in mapping.items() if not k.startswith("__") and v != "__NULL__"}
    assert computed, "the example computes a field"
    (field, expression) = next(iter(computed.items()))
    assert expression.startswith("float(")
    bare = expression.removeprefix("float(")  # the same value without the float(...) wrapper
    bare = bare.replace(")", "", 1)
    maps = {**stream_maps, stream: {**mapping, f"{field}_bare": bare}}
    project.config_set("tap-ocpi", "stream_maps", maps)
    try:
        result = project.meltano("invoke", "tap-ocpi")
    finally:
        project.config_unset("tap-ocpi", "stream_maps")
    out = messages(result.stdout)
    schema = next(m for m in out if m["type"] == "SCHEMA" and m["stream"] == stream)["schema"]
    assert "number" in schema["properties"][field]["type"]
    assert schema["properties"][f"{field}_bare"]["type"] in ("string", ["string", "null"])
    values = [m["record"][field] for m in out if m["type"] == "RECORD" and m["stream"] == stream]
    assert any(isinstance(v, float) for v in values)
    for name, rule in stream_maps.get(stream, {}).items():
        if rule == "__NULL__":
            assert name not in schema["properties"]


def test_batch_config_set_through_meltano_config(
    project: UserProject, user_platform: MockPlatform
) -> None:
    """batch_config from `meltano config set` (the README's line) arrives as an object: the tap
    writes BATCH files holding every record; an SDK target (target-csv) loads them;
    target-jsonl 0.1.4 cannot (docs/loaders.md)."""
    batches = fresh_folder(project.root.parent / "batches")
    config = readme_batch_config()
    config["storage"]["root"] = batches.as_uri()
    project.config_set("tap-ocpi", "batch_config", config)
    try:
        printed = json.loads(project.meltano("config", "print", "tap-ocpi").stdout)
        assert printed["batch_config"] == config, "stored as an object, not a string"

        invoked = project.meltano("invoke", "tap-ocpi")
        out = messages(invoked.stdout)
        assert not [m for m in out if m["type"] == "RECORD"]
        assert not [m for m in out if m["type"] == "ACTIVATE_VERSION"], "README: none is sent"
        files = [Path(urlparse(u).path) for m in out if m["type"] == "BATCH" for u in m["manifest"]]
        assert files, "BATCH messages"
        batched: dict[str, list[dict[str, Any]]] = {}
        for m in (m for m in out if m["type"] == "BATCH"):
            for uri in m["manifest"]:
                with gzip.open(urlparse(uri).path, "rt", encoding="utf-8") as handle:
                    batched.setdefault(m["stream"], []).extend(json.loads(ln) for ln in handle)
        assert_same_keys(output_keys(batched), expected_keys(user_platform))

        crashed = project.meltano("run", "--full-refresh", "tap-ocpi", "target-jsonl", check=False)
        assert crashed.returncode != 0
        assert "'NoneType' object has no attribute 'asdict'" in crashed.stderr

        csv_out = fresh_folder(project.root.parent / "csv")
        project.meltano("run", "--full-refresh", "tap-ocpi", "target-csv")
        rows = read_csv_folder(csv_out)
        assert_same_keys(output_keys(rows), expected_keys(user_platform))
    finally:
        project.config_unset("tap-ocpi", "batch_config")


def test_command_line_without_meltano(
    project: UserProject, user_platform: MockPlatform, tmp_path: Path
) -> None:
    """The README's pip install (from a git URL; here the clone's) and its
    three command lines, run as written: discovery, a first run that leaves the state, and a
    second run from that state that reads only what changed."""
    (pip_line,) = readme_commands("pip install ")
    words = shlex.split(pip_line)
    assert words[2].startswith("git+https://")
    # `uv pip install`: the same install from a git URL as pip's, in 5 s instead of 40 s
    venv = tmp_path / "venv"
    uv = str(MELTANO_BIN.parent / "uv")
    python = str(venv / "bin" / "python")
    for args in (
        [uv, "venv", "--quiet", str(venv)],
        [uv, *words[:2], "--quiet", "--python", python, f"git+file://{project.clone}"],
    ):
        subprocess.run(args, env=project.env, check=True, capture_output=True, timeout=TIMEOUT)
    target_bin = project.root / ".meltano" / "loaders" / "target-jsonl" / "venv" / "bin"
    config = {
        "versions_url": user_platform.versions_url,
        "token": user_platform.token,
        "privacy_salt": SALT,
    }
    work = tmp_path / "cli"
    work.mkdir()
    (work / "config.json").write_text(json.dumps(config), encoding="utf-8")
    env = {**project.env, "PATH": f"{venv / 'bin'}:{target_bin}:{os.environ['PATH']}"}

    def run_line(line: str) -> None:
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", line],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, f"{line}\n{done.stderr[-3000:]}"

    discover, first, second = readme_commands("tap-ocpi --config config.json")
    run_line(discover)
    catalog = json.loads((work / "catalog.json").read_text(encoding="utf-8"))
    assert {s["tap_stream_id"] for s in catalog["streams"]} == set(STREAMS)

    run_line(first)
    rows = read_jsonl(work)
    assert_same_keys(output_keys(rows), expected_keys(user_platform))
    state = json.loads((work / "state.json").read_text(encoding="utf-8"))
    assert set(state["bookmarks"]) >= {s for s in STREAMS if rows.get(s)}

    changes = user_platform.advance(new_sessions=3, updated_sessions=0, minutes=0)
    # The new sessions are stamped with the current second; a run's window ends at its start
    # (exclusive), so a run in that same second rightly leaves them to the next one.
    time.sleep(1.1)
    for path in work.glob("*.jsonl"):
        path.unlink()
    run_line(second)
    again = read_jsonl(work)
    assert set(changes["created_sessions"]) <= {s["id"] for s in again["sessions"]}
    assert sum(map(len, again.values())) < sum(map(len, rows.values())) / 4
    assert json.loads((work / "next-state.json").read_text(encoding="utf-8"))["bookmarks"]

    # README, Settings: every setting can also come from TAP_OCPI_* variables (--config ENV)
    from_env = {f"TAP_OCPI_{name.upper()}": value for name, value in config.items()}
    done = subprocess.run(
        ["tap-ocpi", "--config", "ENV"],
        cwd=work,
        env={**env, **from_env},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records = [m for m in messages(done.stdout) if m["type"] == "RECORD"]
    assert (
        output_keys({"locations": [m["record"] for m in records if m["stream"] == "locations"]})[
            "locations"
        ]
        == expected_keys(user_platform)["locations"]
    )
