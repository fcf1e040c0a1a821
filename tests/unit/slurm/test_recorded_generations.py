"""The parsers on real recordings of the newer generations (`slurmops lab record --slurm X`:
tests/fixtures/slurm-<X>/recorded/, PROVENANCE.json says from which Debian packages). Every REST
version the server offered parses without errors and agrees with the same moment's CLI output
(Slurm's own scontrol/sdiag text, parsed by the text parsers) on what cannot change between the
two captures: nodes, partitions, licenses, reservations, held jobs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from slurmops.slurm.parse import jsondoc as jp, text as tp

FIX = Path(__file__).resolve().parents[2] / "fixtures"
RECORDED = sorted(FIX.glob("slurm-*/recorded"))


def test_there_are_recordings_of_newer_generations():
    assert [p.parent.name for p in RECORDED] >= ["slurm-24.11"], RECORDED


@pytest.fixture(params=RECORDED, ids=lambda p: p.parent.name)
def rec(request) -> Path:
    return request.param


def _doc(rec: Path, name: str) -> dict:
    return json.loads((rec / "rest" / name).read_text())


def _parse(fn, doc):
    errors: list[str] = []
    out = fn(doc, errors)
    assert errors == [], errors[:3]
    return out


def test_provenance(rec):
    prov = json.loads((rec / "PROVENANCE.json").read_text())
    manifest = json.loads((rec / "MANIFEST.json").read_text())
    assert prov["kind"] == "recorded"
    assert prov["slurm_version"] == manifest["slurm_version"]
    assert rec.parent.name == f"slurm-{prov['slurm_generation']}"
    assert prov["slurm_version"].startswith(prov["slurm_generation"])
    assert prov["debian_packages"]["slurmctld"].startswith(prov["slurm_version"])
    assert prov["rest_versions"] and prov["recorded_at"] and prov["slurm_conf_excerpt"]


def test_every_offered_rest_version_parses_and_agrees_with_the_cli(rec):
    prov = json.loads((rec / "PROVENANCE.json").read_text())
    cli = rec / "cli"
    nodes = {n.name: n for n in _parse(tp.parse_scontrol_nodes, (cli / "scontrol-show-nodes.txt").read_text())}
    parts = {p.name for p in _parse(tp.parse_scontrol_partitions,
                                    (cli / "scontrol-show-partitions.txt").read_text())}
    lics = {(x.name, x.total) for x in _parse(tp.parse_scontrol_licenses,
                                              (cli / "scontrol-show-licenses.txt").read_text())}
    resvs = {r.name for r in _parse(tp.parse_scontrol_reservations,
                                    (cli / "scontrol-show-reservations.txt").read_text())}
    held = {j["job_id"] for j in json.loads((cli / "squeue.json").read_text())["jobs"]
            if j.get("state_reason") == "JobHeldUser"}
    assert nodes and parts and lics and resvs and held            # the workload was recorded
    for v in prov["rest_versions"]:
        got = {n.name: n for n in _parse(jp.parse_nodes, _doc(rec, f"slurm-{v}-nodes.json"))}
        assert set(got) == set(nodes), v
        for name, n in nodes.items():
            assert (got[name].cpus_total, got[name].memory_total_bytes, got[name].flags) == \
                (n.cpus_total, n.memory_total_bytes, n.flags), (v, name)
        assert {p.name for p in _parse(jp.parse_partitions, _doc(rec, f"slurm-{v}-partitions.json"))} == parts
        assert {(x.name, x.total) for x in _parse(jp.parse_licenses, _doc(rec, f"slurm-{v}-licenses.json"))} == lics
        assert {r.name for r in _parse(jp.parse_reservations, _doc(rec, f"slurm-{v}-reservations.json"))} == resvs
        jobs = _parse(jp.parse_jobs, _doc(rec, f"slurm-{v}-jobs.json"))
        assert {str(h) for h in held} <= {j.job_id for j in jobs if j.state == "PENDING"}, v
        diag = _parse(jp.parse_diag, _doc(rec, f"slurm-{v}-diag.json"))
        assert diag.jobs_submitted is not None and diag.jobs_submitted >= len(held)
        assert jp.parse_meta(_doc(rec, f"slurm-{v}-ping.json")).version == prov["slurm_version"]
