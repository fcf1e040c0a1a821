"""Collectors are pure: models in, families out. Exact values, stable label sets."""
from __future__ import annotations

import subprocess

from slurmops.exporter.collectors import accounting, jobs, nodes, partitions, scheduler
from slurmops.exporter.poller import merge_chunks, render_chunk
from slurmops.slurm.models import (
    ClusterInfo,
    Gres,
    Job,
    License,
    Node,
    Partition,
    Reservation,
    RpcStat,
    SchedulerStats,
    Share,
)

GIB = 1024 ** 3


def samples(families) -> dict[tuple, float]:
    out = {}
    for fam in families:
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(families, name, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return samples(families)[key]


NODES = [
    Node("n1", "mixed", frozenset(), ("cpu",), 8, 3, 1.5, 16 * GIB, 4 * GIB, 10 * GIB,
         gres=(Gres("gpu", "a100", 4, (0, 1, 2, 3)),), gres_used=(Gres("gpu", "a100", 1, (0,)),)),
    Node("n2", "idle", frozenset({"DRAIN"}), ("cpu",), 8, 0, 0.0, 16 * GIB, 0, 15 * GIB,
         reason="disk ✓ failing", reason_time=1_790_000_000.0, reason_user="root"),
    Node("c1", "idle", frozenset({"CLOUD", "POWERED_DOWN"}), ("cloud",), 4, 0, None, 8 * GIB, 0, None),
    Node("c2", "down", frozenset({"CLOUD", "POWERED_DOWN", "NOT_RESPONDING"}), ("cloud",), 4, 0, None,
         8 * GIB, 0, None, reason="ResumeTimeout reached"),
]


def test_nodes_cluster_totals_and_flags():
    fams = nodes.build("lab", NODES, per_node=False)
    assert value(fams, "slurm_nodes", cluster="lab", state="idle") == 2
    assert value(fams, "slurm_nodes", cluster="lab", state="mixed") == 1
    assert value(fams, "slurm_nodes", cluster="lab", state="down") == 1
    assert value(fams, "slurm_nodes_flagged", cluster="lab", flag="POWERED_DOWN") == 2
    assert value(fams, "slurm_nodes_flagged", cluster="lab", flag="DRAIN") == 1
    assert value(fams, "slurm_nodes_power_state", cluster="lab", power_state="powered_down") == 2
    assert value(fams, "slurm_nodes_power_state", cluster="lab", power_state="powering_up") == 0
    # As sinfo %C splits them: drained n2 and down c2 are "other", powered-down idle c1 is idle.
    assert value(fams, "slurm_cpus", cluster="lab", status="allocated") == 3
    assert value(fams, "slurm_cpus", cluster="lab", status="idle") == 5 + 4
    assert value(fams, "slurm_cpus", cluster="lab", status="other") == 8 + 4
    assert value(fams, "slurm_cpus", cluster="lab", status="total") == 24
    assert value(fams, "slurm_gpus", cluster="lab", type="a100", status="total") == 4
    assert value(fams, "slurm_gpus", cluster="lab", type="a100", status="allocated") == 1
    assert not any(k[0].startswith("slurm_node_") for k in samples(fams))


def test_per_node_families():
    fams = nodes.build("lab", NODES, per_node=True)
    assert value(fams, "slurm_node_cpus", cluster="lab", node="n1", status="idle") == 5
    assert value(fams, "slurm_node_memory_bytes", cluster="lab", node="n1", status="allocated") == 4 * GIB
    assert value(fams, "slurm_node_flag", cluster="lab", node="n2", flag="DRAIN") == 1
    assert value(fams, "slurm_node_reason_info", cluster="lab", node="n2", reason="disk ✓ failing",
                 user="root") == 1
    assert value(fams, "slurm_node_reason_since_timestamp_seconds", cluster="lab", node="n2") == 1_790_000_000
    assert value(fams, "slurm_node_gpus", cluster="lab", node="n1", type="a100", status="allocated") == 1
    # Unknown stays absent: c1 reports no load and no free memory.
    s = samples(fams)
    assert ("slurm_node_cpu_load", (("cluster", "lab"), ("node", "c1"))) not in s
    assert ("slurm_node_memory_bytes", (("cluster", "lab"), ("node", "c1"), ("status", "free"))) not in s


def test_partitions_join_nodes():
    parts = [Partition("cpu", "up", True, ("n1", "n2"), 16, None),
             Partition("cloud", "up", False, ("c1", "c2"), 8, 3600.0)]
    fams = partitions.build("lab", parts, NODES)
    assert value(fams, "slurm_partition_cpus", cluster="lab", partition="cpu", status="idle") == 5
    assert value(fams, "slurm_partition_cpus", cluster="lab", partition="cpu", status="other") == 8
    assert value(fams, "slurm_partition_cpus", cluster="lab", partition="cloud", status="idle") == 4
    assert value(fams, "slurm_partition_cpus", cluster="lab", partition="cloud", status="total") == 8
    assert value(fams, "slurm_partition_nodes", cluster="lab", partition="cloud", state="down") == 1
    assert value(fams, "slurm_partition_gpus", cluster="lab", partition="cpu", status="total") == 4
    assert value(fams, "slurm_partition_info", cluster="lab", partition="cpu", state="up", default="true") == 1
    assert value(fams, "slurm_partition_max_time_seconds", cluster="lab", partition="cloud") == 3600
    assert ("slurm_partition_max_time_seconds", (("cluster", "lab"), ("partition", "cpu"))) not in samples(fams)


JOBS = [
    Job("1", "RUNNING", "cpu", "alice", "physics", cpus=4, memory_bytes=GIB, gpus=1, submit_time=900, start_time=950),
    Job("2", "PENDING", "cpu", "alice", "physics", reason="Priority", cpus=2, submit_time=1000 - 30),
    Job("3_[5-9]", "PENDING", "cpu", "bob", "chem", reason="JobArrayTaskLimit", cpus=1,
        submit_time=1000 - 7200, array_job_id="3", array_task_count=5),
    Job("4", "PENDING", "gpu", "bob", "chem", reason="Resources", cpus=8, submit_time=1000 - 400),
    Job("5", "RUNNING", "gpu", "bob", "chem", cpus=8, gpus=2, memory_bytes=2 * GIB),
]


def test_jobs_by_state_reason_and_wait_histogram():
    fams = jobs.build("lab", JOBS, now=1000.0, partitions=["cpu", "gpu", "cloud"], per_user=True)
    assert value(fams, "slurm_jobs", cluster="lab", state="PENDING", partition="cpu") == 6
    assert value(fams, "slurm_jobs_pending", cluster="lab", partition="cpu", reason="JobArrayTaskLimit") == 5
    assert value(fams, "slurm_jobs_cpus", cluster="lab", state="RUNNING", partition="gpu") == 8
    assert value(fams, "slurm_partition_jobs", cluster="lab", partition="cloud", state="PENDING") == 0
    assert value(fams, "slurm_jobs_pending_wait_seconds_bucket", cluster="lab", partition="cpu", le="60.0") == 1
    assert value(fams, "slurm_jobs_pending_wait_seconds_bucket", cluster="lab", partition="cpu", le="3600.0") == 1
    assert value(fams, "slurm_jobs_pending_wait_seconds_bucket", cluster="lab", partition="cpu", le="14400.0") == 6
    assert value(fams, "slurm_jobs_pending_wait_seconds_count", cluster="lab", partition="cpu") == 6
    assert value(fams, "slurm_jobs_pending_wait_seconds_sum", cluster="lab", partition="cpu") == 30 + 5 * 7200
    assert value(fams, "slurm_account_cpus_allocated", cluster="lab", account="chem") == 8
    assert value(fams, "slurm_account_gpus_allocated", cluster="lab", account="physics") == 1
    assert value(fams, "slurm_user_memory_allocated_bytes", cluster="lab", user="bob") == 2 * GIB
    assert value(fams, "slurm_user_jobs", cluster="lab", user="bob", state="PENDING") == 6


def test_per_account_and_user_switches():
    fams = jobs.build("lab", JOBS, now=1000.0, per_account=False, per_user=False)
    assert not any(k[0].startswith(("slurm_account_", "slurm_user_")) for k in samples(fams))


def test_scheduler_and_small_tables():
    st = SchedulerStats(server_thread_count=3, dbd_agent_queue_size=0, jobs_submitted=10,
                        schedule_cycle_last_s=0.002, rpcs_by_type=[RpcStat("REQUEST_PING", 5, 0.01)],
                        rpcs_by_user=[RpcStat("root", 7, 0.5)])
    fams = scheduler.build("lab", st)
    assert value(fams, "slurm_scheduler_threads", cluster="lab") == 3
    assert value(fams, "slurm_scheduler_jobs_submitted_total", cluster="lab") == 10
    assert value(fams, "slurm_rpc_calls_total", cluster="lab", type="REQUEST_PING") == 5
    assert value(fams, "slurm_rpc_user_duration_seconds_total", cluster="lab", user="root") == 0.5
    assert ("slurm_scheduler_backfill_cycle_last_seconds", (("cluster", "lab"),)) not in samples(fams)

    fams = accounting.fairshare("lab", [Share("physics", None, 1, 0.5, 10.0, 0.2, 0.2, None),
                                        Share("physics", "alice", 1, 1.0, 10.0, 0.2, 0.2, 0.75)])
    assert value(fams, "slurm_share_fairshare", cluster="lab", account="physics", user="alice") == 0.75
    assert value(fams, "slurm_share_normalized_shares", cluster="lab", account="physics", user="") == 0.5
    fams = accounting.licenses("lab", [License("matlab", 10, 3, 7, 0)])
    assert value(fams, "slurm_licenses", cluster="lab", license="matlab", status="free") == 7
    maint = Reservation("maint", 2000.0, 3000.0, ("n1",), 1, 8, frozenset({"MAINT"}))
    fams = accounting.reservations("lab", [maint], now=1000.0)
    assert value(fams, "slurm_reservation_active", cluster="lab", reservation="maint") == 0
    assert value(fams, "slurm_reservation_info", cluster="lab", reservation="maint", flags="MAINT", partition="") == 1
    fams = accounting.info("lab", ClusterInfo("lab", "22.05.8"))
    assert value(fams, "slurm_info", cluster="lab", version="22.05.8") == 1


def _promtool_check_metrics(promtool: str, text: bytes) -> None:
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_empty_cluster_renders_and_passes_promtool(promtool_bin):
    fams = (nodes.build("lab", []) + partitions.build("lab", [], []) + jobs.build("lab", [], 0.0)
            + scheduler.build("lab", SchedulerStats()))
    text = merge_chunks([render_chunk(fams)])
    assert b"slurm_cpus{" in text   # totals are zero, not absent, on an empty cluster
    _promtool_check_metrics(promtool_bin, text)


def test_full_render_passes_promtool_check_metrics(promtool_bin):
    fams = (nodes.build("a", NODES) + jobs.build("a", JOBS, 1000.0, per_user=True)
            + accounting.licenses("a", [License("matlab", 10, 3, 7, 0)])
            + partitions.build("a", [Partition("cpu", nodes=("n1", "n2"))], NODES))
    other = nodes.build("b", NODES[:1])
    text = merge_chunks([render_chunk(fams), render_chunk(other)])
    assert text.count(b"# HELP slurm_nodes ") == 1   # families merged across clusters
    _promtool_check_metrics(promtool_bin, text)
