"""slurmops/slurm/commands.py is the truth about what the exporters ask Slurm.

Both ways: the sources, run against replayed recordings (each command a small script that logs its
argv and prints the recording of that exact command; slurmrestd a local HTTP server that logs each
path and answers with its recording), ask for exactly the registered commands and paths; and every
registered one has a recording, made with that argv or path, for every Slurm version that has
real (recorded) fixtures, each with a note of what it guards."""
from __future__ import annotations

import json
import re
import stat
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from slurmops.node.jobinfo import squeue_runner
from slurmops.slurm.commands import COMMANDS, REST_PATHS, WIDENING_FLAGS, version_number
from slurmops.slurm.sources.cli import CliSource
from slurmops.slurm.sources.rest import RestSource

FIX = Path(__file__).resolve().parents[2] / "fixtures"
REAL = sorted(p.parent for p in FIX.glob("slurm-*/MANIFEST.json"))
FETCHERS = sorted({c.fetcher for c in COMMANDS if c.fetcher != "jobinfo"})

SHIM = """#!{python}
import json, os, sys
argv = [os.path.basename(sys.argv[0]), *sys.argv[1:]]
with open(os.environ["SLURMOPS_REPLAY_LOG"], "a") as f:
    f.write(json.dumps(argv) + "\\n")
table = json.load(open(os.environ["SLURMOPS_REPLAY_TABLE"]))
path = table.get(json.dumps(argv))
if path is None:
    sys.exit("replay: no recording of " + " ".join(argv))
sys.stdout.write(open(path).read())
"""


def test_there_is_a_real_fixture_set():
    assert FIX / "slurm-22.05" in REAL


def data_parser(version_dir: Path) -> str:
    manifest = json.loads((version_dir / "MANIFEST.json").read_text())
    found = {m.group(1) for meta in manifest["rest"].values()
             if (m := re.match(r"/slurm/(v0\.0\.\d+)/", meta["path"]))}
    assert len(found) == 1, found
    return found.pop()


@pytest.mark.parametrize("version_dir", REAL, ids=lambda p: p.name)
def test_every_registered_command_is_recorded_with_its_argv(version_dir):
    manifest = json.loads((version_dir / "MANIFEST.json").read_text())
    for c in COMMANDS:
        assert (version_dir / "cli" / c.fixture).is_file(), c.fixture
        recorded = manifest["cli"][c.fixture]
        want = [a for a in c.argv]
        if "{jobids}" in want:
            i = want.index("{jobids}")
            assert re.fullmatch(r"\d+(,\d+)*", recorded[i]), recorded
            want[i] = recorded[i]
        if recorded != want:   # recorded before a widening flag was added: said so in the notes
            assert recorded == [a for a in want if a not in WIDENING_FLAGS], (c.fixture, recorded, want)
            assert "--all" in manifest["notes"][c.fixture], c.fixture


@pytest.mark.parametrize("version_dir", REAL, ids=lambda p: p.name)
def test_every_registered_path_is_recorded(version_dir):
    manifest = json.loads((version_dir / "MANIFEST.json").read_text())
    v = data_parser(version_dir)
    for r in REST_PATHS:
        if version_number(v) < version_number(r.since):
            continue
        name = r.fixture(v)
        assert manifest["rest"][name] == {"path": r.at(v), "status": 200}, name
        assert (version_dir / "rest" / name).is_file(), name


@pytest.mark.parametrize("version_dir", REAL, ids=lambda p: p.name)
def test_every_recording_says_what_it_guards(version_dir):
    manifest = json.loads((version_dir / "MANIFEST.json").read_text())
    files = set(manifest["cli"]) | {n for n, m in manifest["rest"].items() if m["status"] == 200}
    assert {n for n in files if len(manifest["guards"].get(n, "")) < 10} == set()
    on_disk = {p.name for p in (version_dir / "cli").iterdir()} | {p.name for p in (version_dir / "rest").iterdir()}
    assert on_disk == files, "every file is in the MANIFEST, every MANIFEST entry is a file"


# ------------------------------------------------------------------ what the sources really run

@pytest.fixture
def replay(tmp_path):
    """A bin dir whose Slurm commands replay the 22.05 recordings, and the log of what ran."""
    version_dir = FIX / "slurm-22.05"
    manifest = json.loads((version_dir / "MANIFEST.json").read_text())
    table = {}
    for name, argv in manifest["cli"].items():
        table[json.dumps(argv)] = str(version_dir / "cli" / name)
    for c in COMMANDS:     # the argv the sources run today (--all: see the notes of the MANIFEST)
        if "{jobids}" not in c.argv:
            table[json.dumps(list(c.argv))] = str(version_dir / "cli" / c.fixture)
    (tmp_path / "table.json").write_text(json.dumps(table))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for cmd in {c.argv[0] for c in COMMANDS}:
        p = bin_dir / cmd
        p.write_text(SHIM.format(python=sys.executable))
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "ran.jsonl"
    env = {"SLURMOPS_REPLAY_LOG": str(log), "SLURMOPS_REPLAY_TABLE": str(tmp_path / "table.json")}
    return bin_dir, env, log


def ran(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_cli_source_runs_exactly_the_registered_commands(replay):
    bin_dir, env, log = replay
    src = CliSource(env=env, bin_dir=str(bin_dir))
    for fetcher in FETCHERS:
        assert getattr(src, fetcher)() is not None, fetcher
    assert sorted(map(tuple, ran(log))) == sorted(c.argv for c in COMMANDS if c.fetcher != "jobinfo")


def test_job_exporter_runs_the_registered_lookup(replay, monkeypatch):
    bin_dir, env, log = replay
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    manifest = json.loads((FIX / "slurm-22.05" / "MANIFEST.json").read_text())
    recorded = manifest["cli"]["squeue-jobinfo.txt"]
    ids = recorded[recorded.index("-j") + 1].split(",")
    text = squeue_runner(str(bin_dir / "squeue"))(ids)
    assert text == (FIX / "slurm-22.05" / "cli" / "squeue-jobinfo.txt").read_text()
    (lookup,) = [c for c in COMMANDS if c.fetcher == "jobinfo"]
    assert ran(log) == [lookup.render(jobids=",".join(ids))]


class _Replay(BaseHTTPRequestHandler):
    root: Path
    paths: list[str]

    def do_GET(self):   # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        type(self).paths.append(path)
        f = self.root / (path.strip("/").replace("/", "-") + ".json")
        body = f.read_bytes() if f.is_file() else b'{"errors": [{"error": "no recording"}]}'
        self.send_response(200 if f.is_file() else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("version_dir", REAL, ids=lambda p: p.name)
def test_rest_source_requests_exactly_the_registered_paths(version_dir):
    handler = type("H", (_Replay,), {"root": version_dir / "rest", "paths": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        src = RestSource(f"http://127.0.0.1:{server.server_port}", user="root", token="x",
                         full_refresh_s=0)
        v = data_parser(version_dir)
        for fetcher in FETCHERS:
            if fetcher == "fairshare" and version_number(v) < 40:
                with pytest.raises(Exception, match="no /shares"):
                    src.fairshare()
                continue
            getattr(src, fetcher)()
        src.jobs()       # the second time with ?update_time=, same path
    finally:
        server.shutdown()
        server.server_close()
    want = {r.at(v) for r in REST_PATHS if version_number(v) >= version_number(r.since)}
    assert set(handler.paths) == want
    assert src.version == v


def test_registry_names_real_fetchers():
    for fetcher in {c.fetcher for c in COMMANDS} | {r.fetcher for r in REST_PATHS}:
        if fetcher in ("jobinfo", "negotiate"):
            continue
        assert callable(getattr(CliSource, fetcher)) and callable(getattr(RestSource, fetcher)), fetcher
