"""Slurm's own OpenMetrics endpoint (slurmctld GET /metrics/..., 25.11 and later; the lab turns it
on for 26.05) against the live lab: it passes promtool and client_python's parser, the lab's
Prometheus scrapes it as job="slurmctld_native", and the values that mean the same as ours equal
Slurm's own output (scontrol/squeue) and our exporter's metrics. docs/native-metrics.md is the
side-by-side table; metrics.shtml (shared/reference/slurm/26.05.3/html) the reference.

On a generation without the endpoint (22.05, 24.11) every test here skips, saying so."""
from __future__ import annotations

import json
import subprocess
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from labtools import wait_until
from slurmops.lab import checks, proc, workload
from slurmops.lab.generations import NATIVE_ENDPOINTS, NATIVE_JOB
from slurmops.lab.record import NATIVE_CAPTURES

pytestmark = pytest.mark.lab

MIB = 2 ** 20
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def native_lab(lab):
    """The sample workload (running, pending, held, array jobs, a drained node) on a lab whose
    slurmctld serves /metrics."""
    if not lab.gen.metrics_type:
        pytest.skip(f"Slurm {lab.cfg.slurm} has no native /metrics endpoint (slurmctld serves one "
                    "from 25.11 with MetricsType=metrics/openmetrics, metrics.shtml; the lab turns "
                    "it on where slurmops/lab/generations.py names a metrics_type)")
    workload.start(lab, cloud=False)
    workload.wait_settled(lab)
    yield lab
    workload.stop(lab)


def get(lab, path: str) -> str:
    status, body = checks.http_get(lab.cfg.url("slurmctld") + path, timeout=10)
    assert status == 200, (path, status, body[:200])
    return body


def parse(text: str) -> Samples:
    """{(name, sorted labels): value} by client_python's parser (the independent reader)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def native(lab, *endpoints: str) -> Samples:
    out: Samples = {}
    for ep in endpoints:
        out.update(parse(get(lab, f"/metrics/{ep}")))
    return out


def ours(lab) -> Samples:
    """The lab's own Slurm exporter (cli source, polling every 5 s), as Prometheus scrapes it."""
    status, body = checks.http_get(lab.cfg.url("slurm_exporter") + "/metrics", timeout=10)
    assert status == 200, body[:200]
    return parse(body)


def v(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of name carrying these labels (PromQL's sum() over a selector)."""
    want = set(labels.items())
    return sum(val for (n, lab), val in samples.items() if n == name and want <= set(lab))


Pairs = list[tuple[str, float, float]]


def agree(what: str, pairs_fn, timeout: float) -> Pairs:
    """pairs_fn() -> [(what, native, truth)] until every pair is equal (both sides are re-read each
    time: a job that ends between two reads is not a mismatch); AssertionError listing the pairs
    that still differ after ``timeout`` seconds."""
    differ: Pairs = []

    def check():
        nonlocal differ
        pairs = pairs_fn()
        differ = [(w, a, b) for w, a, b in pairs if a != b]
        return None if differ else pairs
    try:
        return wait_until(what, check, timeout=timeout)
    except AssertionError:
        raise AssertionError(f"{what}: still differ as (what, native, truth): {differ}") from None


def test_every_endpoint_passes_promtool_and_client_python(native_lab, promtool_bin):
    index = get(native_lab, "/metrics")
    listed = {ln.split("'")[1] for ln in index.splitlines() if "'/metrics/" in ln}
    assert listed == {f"/metrics/{ep}" for ep in NATIVE_CAPTURES}, index
    for ep in NATIVE_CAPTURES:
        body = get(native_lab, f"/metrics/{ep}")
        r = subprocess.run([promtool_bin, "check", "metrics"], input=body.encode(),
                           capture_output=True, timeout=30)
        assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), (ep, r.stdout, r.stderr)
        families = list(text_string_to_metric_families(body))
        assert families, ep
        for fam in families:   # metrics.shtml: "slurm_" names, gauges only, help on each
            assert fam.name.startswith("slurm_") and fam.type == "gauge" and fam.documentation, fam


def test_prometheus_scrapes_every_endpoint_as_its_own_job(native_lab):
    c = native_lab.cfg

    def targets():
        res = checks.prometheus_query(c.url("prometheus"), f'up{{job="{NATIVE_JOB}"}}') or []
        got = {r["metric"].get("endpoint"): r["value"][1] for r in res}
        return got if got == {ep: "1" for ep in NATIVE_ENDPOINTS} else None

    wait_until(f"Prometheus to have every {NATIVE_JOB} target up", targets, timeout=30)
    nodes = checks.prometheus_query(c.url("prometheus"), f'slurm_nodes{{job="{NATIVE_JOB}"}}')
    assert nodes and nodes[0]["value"][1] == str(len(c.node_names)), nodes


def _scontrol_nodes(lab) -> list[dict]:
    r = proc.run(["scontrol", "show", "nodes", "--json"], env=lab.env, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["nodes"]


def _node_pairs(lab) -> Pairs:
    """(what, native, Slurm's own view): node counts by base state and by flag, and per node
    CPUs and memory, against `scontrol show nodes --json` read just after."""
    got = native(lab, "nodes")
    nodes = _scontrol_nodes(lab)
    base = Counter(n["state"][0] for n in nodes)
    flags = Counter(f for n in nodes for f in n["state"][1:])
    drain = [n for n in nodes if "DRAIN" in n["state"]]
    pairs = [("nodes", v(got, "slurm_nodes"), len(nodes)),
             ("drained", v(got, "slurm_nodes_drained"), sum(n["state"][0] == "IDLE" for n in drain)),
             ("draining", v(got, "slurm_nodes_draining"),
              sum(n["state"][0] in ("ALLOCATED", "MIXED") for n in drain))]
    pairs += [(f"base {s}", v(got, f"slurm_nodes_{m}"), base[s])
              for m, s in (("idle", "IDLE"), ("mixed", "MIXED"), ("alloc", "ALLOCATED"), ("down", "DOWN"))]
    pairs += [(f"flag {f}", v(got, f"slurm_nodes_{m}"), flags[f])
              for m, f in (("drain", "DRAIN"), ("cloud", "CLOUD"), ("powered_down", "POWERED_DOWN"))]
    for n in nodes:
        name = n["name"]
        pairs += [(f"{name} cpus", v(got, "slurm_node_cpus", node=name), n["cpus"]),
                  (f"{name} cpus alloc", v(got, "slurm_node_cpus_alloc", node=name), n["alloc_cpus"]),
                  # The name says bytes; the value is RealMemory in MiB (26.05.5, measured).
                  (f"{name} memory (MiB)", v(got, "slurm_node_memory_bytes", node=name),
                   n["real_memory"])]
    return pairs


def test_node_counts_equal_scontrol(native_lab):
    pairs = agree("native node metrics = scontrol show nodes", lambda: _node_pairs(native_lab), 15)
    # The workload's drained node and mixed nodes are there: the comparison is not all zeros.
    assert dict((w, a) for w, a, _ in pairs)["flag DRAIN"] == 1
    assert dict((w, a) for w, a, _ in pairs)["base MIXED"] >= 1


def _job_pairs(lab) -> Pairs:
    """(what, native, squeue): job counts by state (array tasks one by one, as squeue -r lists
    them), held jobs, allocated CPUs, and the same per partition."""
    got = native(lab, "jobs", "partitions")
    r = proc.run(["squeue", "-r", "-h", "-o", "%T|%P|%C|%r"], env=lab.env, timeout=30)
    assert r.returncode == 0, r.stderr
    rows = [ln.split("|") for ln in r.stdout.splitlines() if ln]
    held = ("JobHeldUser", "JobHeldAdmin")
    pairs = [("running", v(got, "slurm_jobs_running"), sum(st == "RUNNING" for st, *_ in rows)),
             ("pending", v(got, "slurm_jobs_pending"), sum(st == "PENDING" for st, *_ in rows)),
             ("held", v(got, "slurm_jobs_hold"), sum(st == "PENDING" and why in held
                                                     for st, _, _, why in rows)),
             ("cpus alloc", v(got, "slurm_jobs_cpus_alloc"),
              sum(int(cpus) for st, _, cpus, _ in rows if st == "RUNNING"))]
    for part in ("cpu", "cloud"):
        for st, m in (("RUNNING", "running"), ("PENDING", "pending")):
            pairs.append((f"{part} {m}", v(got, f"slurm_partition_jobs_{m}", partition=part),
                          sum(s == st and p == part for s, p, *_ in rows)))
    return pairs


def test_job_counts_equal_squeue(native_lab):
    pairs = agree("native job metrics = squeue", lambda: _job_pairs(native_lab), 15)
    found = {w: a for w, a, _ in pairs}
    assert found["running"] >= 2 and found["pending"] >= 3 and found["held"] == 1, found


def _exporter_pairs(lab) -> Pairs:
    """(what, native, ours): every value both report with the same meaning (docs/native-metrics.md,
    "same meaning"), our exporter's labelled series summed where theirs is a total."""
    theirs = native(lab, *NATIVE_ENDPOINTS)
    mine = ours(lab)
    pairs = [("nodes", v(theirs, "slurm_nodes"), total(mine, "slurm_nodes")),
             ("jobs running", v(theirs, "slurm_jobs_running"), total(mine, "slurm_jobs", state="RUNNING")),
             ("jobs pending", v(theirs, "slurm_jobs_pending"), total(mine, "slurm_jobs", state="PENDING")),
             ("job cpus", v(theirs, "slurm_jobs_cpus_alloc"),
              total(mine, "slurm_jobs_cpus", state="RUNNING")),
             ("partitions", v(theirs, "slurm_partitions"), len({dict(lab_)["partition"] for n, lab_
                                                                in mine if n == "slurm_partition_info"}))]
    pairs += [(f"nodes {s}", v(theirs, f"slurm_nodes_{m}"), total(mine, "slurm_nodes", state=s))
              for m, s in (("idle", "idle"), ("mixed", "mixed"), ("alloc", "allocated"), ("down", "down"))]
    pairs += [(f"flag {f}", v(theirs, f"slurm_nodes_{m}"), total(mine, "slurm_nodes_flagged", flag=f))
              for m, f in (("drain", "DRAIN"), ("cloud", "CLOUD"), ("powered_down", "POWERED_DOWN"))]
    for part in ("cpu", "cloud"):
        for st, m in (("RUNNING", "running"), ("PENDING", "pending")):
            pairs.append((f"{part} jobs {m}", v(theirs, f"slurm_partition_jobs_{m}", partition=part),
                          total(mine, "slurm_partition_jobs", partition=part, state=st)))
    for node in lab.cfg.node_names:
        pairs += [(f"{node} cpus", v(theirs, "slurm_node_cpus", node=node),
                   total(mine, "slurm_node_cpus", node=node, status="total")),
                  (f"{node} cpus alloc", v(theirs, "slurm_node_cpus_alloc", node=node),
                   total(mine, "slurm_node_cpus", node=node, status="allocated")),
                  # theirs: MiB under a _bytes name; ours: bytes
                  (f"{node} memory", v(theirs, "slurm_node_memory_bytes", node=node) * MIB,
                   total(mine, "slurm_node_memory_bytes", node=node, status="total"))]
    return pairs


def test_native_values_equal_our_exporters(native_lab):
    # Our exporter polls every 5 s: wait for a snapshot of the same scheduler state.
    pairs = agree("native metrics = our exporter's", lambda: _exporter_pairs(native_lab), 30)
    assert {w: a for w, a, _ in pairs}["jobs running"] >= 2
