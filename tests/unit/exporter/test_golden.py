"""Golden exposition, as node_exporter keeps collector/fixtures/e2e-output.txt: the whole /metrics
page the Slurm exporter serves for each fixture set (22.05 recorded; the others schema-derived or
written from the man pages, see tests/fixtures/README.md), through each source, with a fixed clock.
A change in what the exporter exposes shows as a diff of these files in review.

Update after an intended change:  .venv/bin/python -m pytest tests/unit/exporter/test_golden.py --update-golden
Sample lines of the self-metrics that measure time (durations, timestamps, ages) are left out, as
node_exporter's end-to-end test leaves out its scrape durations; their HELP and TYPE stay."""
from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from replay import replay_bin, replay_rest
from slurmops.exporter.poller import Snapshot
from slurmops.exporter.slurm_exporter import ClusterConfig, make_poller
from slurmops.slurm.commands import version_number

FIX = Path(__file__).resolve().parents[2] / "fixtures"
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC).timestamp()   # after every recording
VOLATILE = ("slurm_exporter_collector_duration_seconds", "slurm_exporter_collector_last_success_timestamp_seconds",
            "slurm_exporter_snapshot_age_seconds")
REST_VERSION = {"slurm-22.05": "v0.0.38", "slurm-23.02": "v0.0.39", "slurm-23.11": "v0.0.40",
                "slurm-24.05": "v0.0.41", "slurm-24.11": "v0.0.42", "slurm-25.05": "v0.0.43",
                "slurm-25.11": "v0.0.44", "slurm-26.05": "v0.0.45"}
CASES = [(d.name, "cli") for d in sorted(FIX.glob("slurm-*")) if (d / "cli").is_dir()] + \
        [(d.name, "rest") for d in sorted(FIX.glob("slurm-*")) if (d / "rest").is_dir()]


def test_every_fixture_set_has_a_case():
    assert {v for v, _ in CASES} == set(REST_VERSION) and ("slurm-22.05", "cli") in CASES


def exposition(version: str, source: str, tmp: Path) -> bytes:
    """The page after one poll of every collector, as the exporter command builds it."""
    version_dir = FIX / version
    if source == "cli":
        bin_dir, env, _ = replay_bin(version_dir, tmp)
        cc = ClusterConfig(name="lab", source="cli", bin_dir=str(bin_dir), env=env)
        return _poll(cc)
    with replay_rest(version_dir) as (url, _):
        token = tmp / "jwt"
        token.write_text("x")
        cc = ClusterConfig(name="lab", source="rest", rest_url=url, rest_user="root",
                           rest_token_file=str(token), rest_version=REST_VERSION[version])
        return _poll(cc)


def _poll(cc: ClusterConfig) -> bytes:
    p = make_poller(cc, clock=lambda: NOW)
    p.poll_all()
    body = Snapshot([p]).render()
    keep = [ln for ln in body.splitlines(keepends=True)
            if ln.startswith(b"#") or not ln.startswith(tuple(v.encode() for v in VOLATILE))]
    return b"".join(keep)


@pytest.mark.parametrize("version,source", CASES, ids=[f"{v}-{s}" for v, s in CASES])
def test_exposition_is_the_golden_file(version, source, tmp_path, request, promtool_bin):
    got = exposition(version, source, tmp_path)
    golden = FIX / version / f"e2e-output-{source}.txt"
    if request.config.getoption("--update-golden"):
        golden.write_bytes(got)
    assert golden.is_file(), f"no {golden}: run with --update-golden"
    want = golden.read_bytes()
    assert got.decode() == want.decode(), f"{golden} differs: review, then run with --update-golden"
    r = subprocess.run([promtool_bin, "check", "metrics"], input=want, capture_output=True, timeout=60)
    assert r.returncode == 0, (r.stdout + r.stderr).decode()


def test_golden_files_name_their_cases():
    files = {(p.parent.name, p.stem.removeprefix("e2e-output-")) for p in FIX.glob("slurm-*/e2e-output-*.txt")}
    assert files == set(CASES)


def test_rest_versions_are_the_supported_ones():
    from slurmops.slurm.sources.rest import SUPPORTED
    assert sorted(REST_VERSION.values(), key=version_number) == sorted(SUPPORTED, key=version_number)
