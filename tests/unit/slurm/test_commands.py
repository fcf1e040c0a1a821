"""slurmops/slurm/commands.py is the truth about what the exporters ask Slurm.

Both ways: the sources, run against replayed recordings (each command a small script that logs its
argv and prints the recording of that exact command; slurmrestd a local HTTP server that logs each
path and answers with its recording), ask for exactly the registered commands and paths; and every
registered one has a recording, made with that argv or path, for every Slurm version that has
real (recorded) fixtures, each with a note of what it guards."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from replay import ran, replay_bin, replay_rest
from slurmops.node.jobinfo import squeue_runner
from slurmops.slurm.commands import COMMANDS, REST_PATHS, WIDENING_FLAGS, version_number
from slurmops.slurm.sources import SourceError
from slurmops.slurm.sources.cli import CliSource
from slurmops.slurm.sources.rest import RestSource

FIX = Path(__file__).resolve().parents[2] / "fixtures"
REAL = sorted(p.parent for p in FIX.glob("slurm-*/MANIFEST.json"))
FETCHERS = sorted({c.fetcher for c in COMMANDS if c.fetcher != "jobinfo"})

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
    return replay_bin(FIX / "slurm-22.05", tmp_path)


def test_cli_source_runs_exactly_the_registered_commands(replay):
    bin_dir, env, log = replay
    src = CliSource(env=env, bin_dir=str(bin_dir))
    for fetcher in FETCHERS:
        assert getattr(src, fetcher)() is not None, fetcher
    # A command registered with a `when` runs only in its case (not in these recordings).
    assert sorted(map(tuple, ran(log))) == sorted(c.argv for c in COMMANDS
                                                  if c.fetcher != "jobinfo" and not c.when)


def test_cli_source_asks_for_node_details_only_where_alloc_tres_cannot_tell(tmp_path):
    """Recorded on 22.05.8 with GPUs whose gres/gpu is not in AccountingStorageTRES
    (tests/fixtures/gpu-22.05/untracked): the plain command cannot tell GPUs in use, so the source
    runs the registered -d command, and from then on only that one."""
    from slurmops.slurm.commands import command
    from slurmops.slurm.models import Gres
    bin_dir, env, log = replay_bin(FIX / "gpu-22.05" / "untracked", tmp_path)
    src = CliSource(env=env, bin_dir=str(bin_dir))
    plain, detail = list(command("nodes").argv), list(command("nodes", detail=True).argv)
    nodes = src.nodes()
    assert ran(log) == [plain, detail]
    assert {n.name: n.gres_used for n in nodes} == {"un1": (Gres("gpu", "a100", 1, (0,)),),
                                                    "un2": (Gres("gpu", "a100", 2, (0, 1)),)}
    src.nodes()
    assert ran(log) == [plain, detail, detail]


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


@pytest.mark.parametrize("version_dir", REAL, ids=lambda p: p.name)
def test_rest_source_requests_exactly_the_registered_paths(version_dir):
    v = data_parser(version_dir)
    with replay_rest(version_dir) as (url, paths):
        src = RestSource(url, user="root", token="x", full_refresh_s=0)
        for fetcher in FETCHERS:
            if fetcher == "fairshare" and version_number(v) < 40:
                with pytest.raises(SourceError, match="no /shares"):
                    src.fairshare()
                continue
            getattr(src, fetcher)()
        src.jobs()       # the second time with ?update_time=, same path
    assert set(paths) == {r.at(v) for r in REST_PATHS if version_number(v) >= version_number(r.since)}
    assert src.version == v


def test_registry_names_real_fetchers():
    for fetcher in {c.fetcher for c in COMMANDS} | {r.fetcher for r in REST_PATHS}:
        if fetcher in ("jobinfo", "negotiate"):
            continue
        assert callable(getattr(CliSource, fetcher)) and callable(getattr(RestSource, fetcher)), fetcher
