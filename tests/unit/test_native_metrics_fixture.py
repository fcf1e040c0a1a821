"""Slurm 26.05's native /metrics, recorded from the lab's real slurmctld
(tests/fixtures/slurm-26.05/recorded/native/, provenance in PROVENANCE.json there): client_python's
parser reads every family, the values hang together across endpoints and with the recorded
slurm.conf, and docs/native-metrics.md's side-by-side table lists exactly the recorded families."""
from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

import need
from slurmops.exporter.metrics import SPECS
from slurmops.lab.record import NATIVE_CAPTURES

REPO = Path(__file__).resolve().parents[2]
RECORDED = REPO / "tests" / "fixtures" / "slurm-26.05" / "recorded"
FILES = need.found(RECORDED.glob("native/metrics-*.txt"), "recorded native /metrics answers")
DOC = REPO / "docs" / "native-metrics.md"


def families(name: str) -> list:
    return list(text_string_to_metric_families((RECORDED / "native" / f"metrics-{name}.txt").read_text()))


def values(*names: str) -> dict[str, dict[tuple, float]]:
    """{family: {sorted label items: value}} over the given endpoints' recordings."""
    out: dict[str, dict[tuple, float]] = defaultdict(dict)
    for n in names:
        for fam in families(n):
            for s in fam.samples:
                out[s.name][tuple(sorted(s.labels.items()))] = s.value
    return out


def one(vals, name: str) -> float:
    (v,) = vals[name].values()
    return v


def by(vals, name: str, label: str) -> dict[str, float]:
    return {dict(k)[label]: v for k, v in vals[name].items()}


def test_every_endpoint_was_recorded():
    assert sorted(p.name for p in FILES) == sorted(f"metrics-{ep}.txt" for ep in NATIVE_CAPTURES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_client_python_reads_every_family(path):
    fams = list(text_string_to_metric_families(path.read_text()))
    assert fams
    series = [(s.name, tuple(sorted(s.labels.items()))) for f in fams for s in f.samples]
    assert len(series) == len(set(series)), "a series twice"
    for f in fams:                # metrics.shtml: slurm_ names, gauges only, help text on each
        assert f.name.startswith("slurm_") and f.type == "gauge" and f.documentation, f
        assert all(math.isfinite(s.value) and s.value >= 0 for s in f.samples), f


def test_it_is_the_prometheus_text_format_not_openmetrics():
    """metrics.shtml says OpenMetrics 1.0; 26.05.5 serves text/plain without the `# EOF` that
    OpenMetrics requires, so only the Prometheus text parser reads it (docs/native-metrics.md)."""
    text = (RECORDED / "native" / "metrics-jobs.txt").read_text()
    assert "# EOF" not in text
    with pytest.raises(ValueError, match="EOF"):
        list(openmetrics_families(text))


def test_values_agree_across_endpoints_and_with_the_config():
    v = values("jobs", "nodes", "partitions", "jobs-users-accts")
    conf = json.loads((RECORDED / "PROVENANCE.json").read_text())["slurm_conf_excerpt"]
    node_lines = [ln for ln in conf if ln.startswith("NodeName=") and not ln.startswith("NodeName=DEFAULT")]
    default = dict(kv.split("=", 1) for kv in next(ln for ln in conf if ln.startswith("NodeName=DEFAULT")).split())
    # nodes: as many as slurm.conf names, each with the configured CPUs; RealMemory (MiB) under
    # a _bytes name
    assert one(v, "slurm_nodes") == len(node_lines) == len(v["slurm_node_cpus"])
    assert set(by(v, "slurm_node_cpus", "node").values()) == {float(default["CPUs"])}
    assert set(by(v, "slurm_node_memory_bytes", "node").values()) == {float(default["RealMemory"])}
    # jobs: the totals are the sums of the per-partition, per-user and per-account series
    for m in ("running", "pending", "hold", "cpus_alloc", "memory_alloc"):
        total = one(v, f"slurm_jobs_{m}")
        assert sum(v[f"slurm_partition_jobs_{m}"].values()) == total, m
        assert sum(v[f"slurm_user_jobs_{m}"].values()) == total, m
        assert sum(v[f"slurm_account_jobs_{m}"].values()) == total, m
    assert one(v, "slurm_partitions") == len(v["slurm_partition_cpus"]) == sum(
        ln.startswith("PartitionName=") for ln in conf)
    # the recording is of the sample workload, not an idle lab
    assert one(v, "slurm_jobs_running") >= 2 and one(v, "slurm_jobs_pending") >= 3
    assert one(v, "slurm_jobs_hold") == 1 and one(v, "slurm_nodes_drain") == 1
    # memory: DefMemPerCPU MiB per allocated CPU (the lab's 100), in MiB despite "bytes" in HELP
    assert one(v, "slurm_jobs_memory_alloc") == 100 * one(v, "slurm_jobs_cpus_alloc")


def test_provenance_names_every_native_file_and_the_settings():
    prov = json.loads((RECORDED / "PROVENANCE.json").read_text())
    assert prov["slurm_version"] == "26.05.5" and prov["kind"] == "recorded"
    assert {f"native/{n}" for n in prov["native_endpoints"]} == {f"native/{p.name}" for p in FILES}
    assert "MetricsType=metrics/openmetrics" in prov["slurm_conf_excerpt"]
    manifest = json.loads((RECORDED / "MANIFEST.json").read_text())
    assert {n: e["status"] for n, e in manifest["native"].items()} == {p.name: 200 for p in FILES}


# A table row: cells split on pipes that are not escaped (a PromQL `|` inside a cell is `\|`).
_ROW = re.compile(r"^\| `(slurm_[a-z0-9_]+)` \| [^|]+ \| (same|derived|theirs) \| ((?:[^|\\]|\\.)+) \|", re.M)


def test_doc_table_lists_every_recorded_family_once_and_names_real_ones_of_ours():
    rows = _ROW.findall(DOC.read_text())
    recorded = [f.name for ep in NATIVE_CAPTURES for f in families(ep)]
    assert [r[0] for r in rows] == recorded       # each once, in slurmctld's order
    ours = set(SPECS)
    for name, relation, expr in rows:
        named = set(re.findall(r"\bslurm_[a-z0-9_]+\b", expr))
        if relation == "theirs":
            assert expr.strip() == "–", name
        else:
            assert named and named <= ours, (name, named - ours)
