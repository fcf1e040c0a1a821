"""JSON parsers against the recorded 22.05 documents and the schema-derived 23.02…26.05 fixtures.

Numbers are compared exactly: a parser that returns the right shape with the wrong unit (MB vs
bytes, µs vs s, load*100) must fail here.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from need import found
from slurmops.slurm.models import Gres, RpcStat
from slurmops.slurm.parse.jsondoc import (
    array_task_count,
    parse_diag,
    parse_jobs,
    parse_licenses,
    parse_meta,
    parse_nodes,
    parse_partitions,
    parse_reservations,
    parse_shares,
    split_state,
    unwrap_number,
)

FIX = Path(__file__).resolve().parents[2] / "fixtures"
MB = 1024 * 1024
R22 = FIX / "slurm-22.05"


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- recorded 22.05

def test_22_05_nodes_rest_and_sinfo():
    errors: list[str] = []
    nodes = {n.name: n for n in parse_nodes(load(R22 / "rest/slurm-v0.0.38-nodes.json"), errors)}
    assert errors == []
    assert list(nodes) == ["c1", "c2", "n1", "n2", "n3"]
    c1, c2, n2, n3 = nodes["c1"], nodes["c2"], nodes["n2"], nodes["n3"]
    assert (c1.state, c1.flags, c1.partitions) == ("mixed", {"CLOUD"}, ("cloud",))
    assert (c1.cpus_total, c1.cpus_alloc, c1.cpus_idle) == (8, 1, 7)
    assert c1.cpu_load == pytest.approx(0.08)                 # cpu_load 8 = load 0.08 (sinfo %O)
    assert c1.memory_total_bytes == 4000 * MB
    assert c1.memory_alloc_bytes == 100 * MB
    assert c1.memory_free_bytes == 23559 * MB
    assert c1.features == ("cloud",) and c1.slurmd_version == "22.05.8"
    # Powered-down cloud node: NO_VAL load, NO_VAL64 (-2) free memory, empty version -> None.
    assert (c2.state, c2.flags) == ("idle", {"CLOUD", "POWERED_DOWN"})
    assert (c2.cpu_load, c2.memory_free_bytes, c2.slurmd_version) == (None, None, None)
    # reason_set_by_user "root" without a reason is stale: not reported.
    assert (c2.reason, c2.reason_user, c2.reason_time) == (None, None, None)
    assert (n2.state, n2.cpus_alloc, n2.memory_alloc_bytes) == ("mixed", 6, 600 * MB)
    assert (n3.state, n3.flags) == ("idle", {"DRAIN"})
    assert n3.reason == "maintenance: firmware ✓ über-node"
    assert (n3.reason_user, n3.reason_time) == ("root", 1795616642.0)
    assert n3.gres == () and n3.gres_used == ()

    sinfo = parse_nodes(load(R22 / "cli/sinfo.json"))
    assert [n.name for n in sinfo] == ["c1", "c2", "n1", "n2", "n3"]
    assert sinfo == list(nodes.values())


def test_22_05_partitions():
    parts = parse_partitions(load(R22 / "rest/slurm-v0.0.38-partitions.json"))
    cpu, cloud = parts
    assert (cpu.name, cpu.state, cpu.is_default) == ("cpu", "up", True)
    assert cpu.nodes == ("n1", "n2", "n3")
    assert (cpu.cpus_total, cpu.total_nodes, cpu.max_time_s) == (24, 3, None)   # -1 = UNLIMITED
    assert (cloud.name, cloud.is_default, cloud.nodes, cloud.cpus_total) == \
        ("cloud", False, ("c1", "c2"), 16)


def test_22_05_jobs_rest():
    errors: list[str] = []
    jobs = {j.job_id: j for j in parse_jobs(load(R22 / "rest/slurm-v0.0.38-jobs.json"), errors)}
    assert errors == [] and len(jobs) == 27
    j3 = jobs["3"]
    assert (j3.state, j3.partition, j3.user, j3.account) == ("COMPLETED", "cpu", "root", "root")
    assert (j3.cpus, j3.nodes, j3.memory_bytes, j3.gpus) == (3, 3, 300 * MB, 0)
    assert (j3.submit_time, j3.start_time, j3.node_list) == (1795616608.0, 1795616608.0, "n[1-3]")
    assert j3.reason is None and j3.array_job_id is None and j3.array_task_count == 1
    # Array: running tasks and the pending remainder "3-4%2" (2 tasks; %2 is a concurrency limit).
    assert (jobs["19_1"].state, jobs["19_1"].array_job_id) == ("RUNNING", "19")
    assert jobs["19_2"].node_list == "n2"
    pend = jobs["19_[3-4%2]"]
    assert (pend.state, pend.reason, pend.array_task_count, pend.array_job_id) == \
        ("PENDING", "JobArrayTaskLimit", 2, "19")
    assert pend.start_time is None and pend.node_list is None
    j24 = jobs["24"]
    assert (j24.state, j24.reason, j24.cpus, j24.nodes, j24.memory_bytes) == \
        ("PENDING", "Resources", 3, 3, 300 * MB)
    assert jobs["18"].user == "slurmlab" and jobs["18"].account == "physics"
    assert sum(j.array_task_count for j in jobs.values() if j.state == "PENDING") == 6
    assert sum(1 for j in jobs.values() if j.state == "RUNNING") == 6


def test_22_05_lone_flag_job_state_is_kept_as_squeue_prints_it():
    """22.05's v0.0.38 gives job_state_string(): "CONFIGURING" alone while a cloud node powers up,
    the same word squeue %T prints. Seen on the lab (cli said CONFIGURING, rest said UNKNOWN)."""
    doc = load(R22 / "rest/slurm-v0.0.38-jobs.json")
    rec = next(j for j in doc["jobs"] if str(j["job_id"]) == "3")
    doc["jobs"] = [dict(rec, job_state="CONFIGURING")]
    errors: list[str] = []
    (job,) = parse_jobs(doc, errors)
    assert (job.state, errors) == ("CONFIGURING", [])


def test_22_05_squeue_json_matches_squeue_text():
    jobs = parse_jobs(load(R22 / "cli/squeue.json"))
    assert len(jobs) == 29
    active = {j.job_id: j for j in jobs if j.state in ("PENDING", "RUNNING")}
    # squeue -r lists pending array tasks one by one (19_3, 19_4); JSON has one 19_[3-4%2] record.
    text = {}
    for line in (R22 / "cli/squeue-text.txt").read_text().splitlines():
        jid, state, part, user, account, *_ = line.split("|")
        text[jid] = (state, part, user, account)
    for jid in ("27", "24", "22", "21", "23", "17", "18", "19_1", "20", "19_2"):
        j = active[jid]
        assert (j.state, j.partition, j.user, j.account) == text[jid]
    assert active["19_[3-4%2]"].array_task_count == 2


def test_22_05_diag():
    errors: list[str] = []
    st = parse_diag(load(R22 / "rest/slurm-v0.0.38-diag.json"), errors)
    assert errors == []
    assert (st.server_thread_count, st.agent_queue_size, st.agent_count, st.agent_thread_count,
            st.dbd_agent_queue_size) == (3, 0, 0, 0, 0)
    assert (st.jobs_submitted, st.jobs_started, st.jobs_completed, st.jobs_canceled,
            st.jobs_failed, st.jobs_pending, st.jobs_running) == (29, 17, 5, 11, 0, 6, 6)
    assert st.schedule_cycle_last_s == pytest.approx(28e-6)
    assert st.schedule_cycle_max_s == pytest.approx(1482e-6)
    assert st.schedule_cycle_mean_s == pytest.approx(248e-6)
    assert (st.schedule_cycle_total, st.schedule_queue_length) == (10, 2)
    assert st.backfill_cycle_last_s == pytest.approx(535e-6)
    assert st.backfill_cycle_max_s == pytest.approx(858e-6)
    assert st.backfill_cycle_mean_s == pytest.approx(696e-6)
    assert (st.backfill_cycles_total, st.backfilled_jobs_total, st.backfill_queue_length) == (2, 4, 4)
    assert st.backfill_last_depth is None              # not in the 22.05 recording
    assert st.stats_reset_time == 1795616607.0
    assert len(st.rpcs_by_type) == 25
    by_type = {r.name: r for r in st.rpcs_by_type}
    assert by_type["REQUEST_KILL_JOB"].count == 11
    assert by_type["REQUEST_KILL_JOB"].total_time_s == pytest.approx(0.022514)
    assert by_type["REQUEST_JOB_INFO"].total_time_s == pytest.approx(0.020036)
    assert [(r.name, r.count) for r in st.rpcs_by_user] == [("root", 226), ("slurmlab", 4)]
    assert st.rpcs_by_user[0].total_time_s == pytest.approx(0.087788)


def test_22_05_licenses_reservations_meta():
    lic = parse_licenses(load(R22 / "rest/slurm-v0.0.38-licenses.json"))
    assert [(x.name, x.total, x.used, x.free, x.reserved) for x in lic] == \
        [("comsol", 2, 2, 0, 0), ("matlab", 10, 0, 10, 0)]
    (res,) = parse_reservations(load(R22 / "rest/slurm-v0.0.38-reservations.json"))
    assert (res.name, res.start_time, res.end_time) == ("maint_window", 1795703042.0, 1795710242.0)
    assert (res.nodes, res.node_count, res.cpu_count) == (("n1",), 1, 8)
    assert res.flags == {"MAINT", "SPEC_NODES"}
    assert (res.users, res.accounts, res.partition) == (("root",), (), None)
    meta = parse_meta(load(R22 / "rest/slurm-v0.0.38-jobs.json"))
    assert (meta.version, meta.cluster) == ("22.05.8", "lab")       # cluster from the job records
    assert parse_meta(load(R22 / "rest/slurm-v0.0.38-nodes.json")).cluster is None
    assert parse_meta(load(R22 / "cli/squeue.json")).version == "22.05.8"


# --------------------------------------------------------------------------- schema-derived 23.02+

VERSIONS = {  # dir: (data_parser, release)
    "23.02": (39, "23.02.7"), "23.11": (40, "23.11.10"), "24.05": (41, "24.05.8"),
    "24.11": (42, "24.11.7"), "25.05": (43, "25.05.5"), "25.11": (44, "25.11.7"),
    "26.05": (45, "26.05.3"),
}
T0 = 1767225600
GPU_NODE = "gpu-a100-rack12-chassis03-blade07-node0042.cluster.example.org"


def vdoc(version: str, name: str) -> dict:
    n, _ = VERSIONS[version]
    return load(FIX / f"slurm-{version}/rest/slurm-v0.0.{n}-{name}.json")


versions = pytest.mark.parametrize("version", list(VERSIONS))


@versions
def test_nodes(version):
    errors: list[str] = []
    nodes = {x.name: x for x in parse_nodes(vdoc(version, "nodes"), errors)}
    assert errors == []
    assert list(nodes) == [GPU_NODE, "cn001", "cloud001", "cn002", "cn003"]
    release = VERSIONS[version][1]
    g = nodes[GPU_NODE]
    assert len(g.name) >= 60
    assert (g.state, g.flags, g.partitions) == ("mixed", frozenset(), ("gpu",))
    assert (g.cpus_total, g.cpus_alloc, g.cpus_idle, g.cpu_load) == (64, 32, 32, 12.5)
    assert g.memory_total_bytes == 512000 * MB
    assert g.memory_alloc_bytes == 256000 * MB
    assert g.memory_free_bytes == 200000 * MB
    assert g.gres == (Gres("gpu", "a100", 4),)
    assert g.gres_used == (Gres("gpu", "a100", 4, (0, 1, 2, 3)),)
    assert g.features == ("a100", "nvlink") and g.slurmd_version == release
    assert (g.reason, g.reason_time, g.reason_user) == (None, None, None)

    d = nodes["cn001"]
    assert (d.state, d.flags, d.cpu_load) == ("idle", {"DRAIN"}, 0.03)
    assert d.reason == "Lüfter defekt — ticket #4711 ✓ 故障"
    assert (d.reason_time, d.reason_user) == (T0 + 1200, "admin")

    c = nodes["cloud001"]
    assert (c.state, c.flags) == ("idle", {"DRAIN", "POWERED_DOWN", "CLOUD"})
    assert (c.cpu_load, c.memory_free_bytes, c.slurmd_version) == (None, None, None)
    assert (c.cpus_total, c.memory_total_bytes) == (16, 64000 * MB)
    assert (c.reason, c.reason_time, c.reason_user) == ("power save: budget ☁", T0 + 600, "root")

    down = nodes["cn002"]
    assert (down.state, down.flags, down.reason) == ("down", {"NOT_RESPONDING"}, "Not responding")
    assert (down.reason_time, down.reason_user) == (T0 + 1800, "slurm")

    a = nodes["cn003"]
    assert (a.state, a.partitions, a.cpus_alloc, a.cpus_idle, a.cpu_load) == \
        ("allocated", ("batch", "debug"), 32, 0, 31.5)
    assert (a.reason, a.reason_user, a.reason_time) == (None, None, None)

    assert parse_nodes(vdoc(version, "nodes-empty"), errors) == [] and errors == []


@versions
def test_partitions(version):
    parts = {p.name: p for p in parse_partitions(vdoc(version, "partitions"))}
    assert list(parts) == ["batch", "gpu", "debug", "cloud"]
    b, g, d, c = parts["batch"], parts["gpu"], parts["debug"], parts["cloud"]
    assert (b.nodes, b.cpus_total, b.total_nodes, b.max_time_s) == \
        (("cn001", "cn002", "cn003"), 96, 3, None)                  # infinite
    assert (g.nodes, g.cpus_total, g.max_time_s) == ((GPU_NODE,), 64, 172800.0)
    assert (d.nodes, d.max_time_s) == (("cn003",), 3600.0)
    assert (c.total_nodes, c.max_time_s) == (1, None)                 # unset
    # Only v0.0.45 can mark the default partition; v0.0.39 has no partition state at all.
    assert b.is_default is (version == "26.05")
    assert not any(p.is_default for p in (g, d, c))
    assert d.state == ("up" if version == "23.02" else "drain")
    assert b.state == g.state == c.state == "up"


@versions
def test_jobs(version):
    errors: list[str] = []
    jobs = {j.job_id: j for j in parse_jobs(vdoc(version, "jobs"), errors)}
    assert errors == []
    assert list(jobs) == ["1001", "2001_1", "2001_2", "2001_[5-9]", "3001", "3002"]
    gj = jobs["1001"]
    assert (gj.state, gj.partition, gj.user, gj.account, gj.reason) == \
        ("RUNNING", "gpu", "alice", "physics", None)
    assert (gj.cpus, gj.nodes, gj.memory_bytes, gj.gpus) == (16, 1, 64 * 1024 * MB, 2)
    assert (gj.submit_time, gj.start_time, gj.node_list) == (T0 + 100, T0 + 160, GPU_NODE)
    for task in (1, 2):
        t = jobs[f"2001_{task}"]
        assert (t.state, t.array_job_id, t.array_task_count, t.cpus, t.gpus) == \
            ("RUNNING", "2001", 1, 4, 0)
        assert (t.memory_bytes, t.node_list, t.start_time) == (8000 * MB, "cn003", T0 + 260 + task)
    pa = jobs["2001_[5-9]"]
    assert (pa.state, pa.reason, pa.array_job_id, pa.array_task_count) == \
        ("PENDING", "JobArrayTaskLimit", "2001", 5)
    assert (pa.start_time, pa.node_list, pa.memory_bytes) == (None, None, 8000 * MB)
    p = jobs["3001"]
    assert (p.state, p.reason, p.user, p.cpus, p.nodes) == ("PENDING", "Resources", "carol", 64, 2)
    assert (p.memory_bytes, p.gpus, p.start_time) == (256000 * MB, 0, None)
    pg = jobs["3002"]
    assert (pg.reason, pg.gpus, pg.memory_bytes, pg.start_time) == \
        ("Priority", 4, 32000 * MB, T0 + 7200)
    pending_tasks = sum(j.array_task_count for j in jobs.values() if j.state == "PENDING")
    assert pending_tasks == 7
    assert parse_jobs(vdoc(version, "jobs-empty"), errors) == [] and errors == []


@versions
def test_diag(version):
    errors: list[str] = []
    st = parse_diag(vdoc(version, "diag"), errors)
    assert errors == []
    assert (st.server_thread_count, st.agent_queue_size, st.agent_count, st.agent_thread_count,
            st.dbd_agent_queue_size) == (3, 1, 2, 4, 5)
    assert (st.jobs_submitted, st.jobs_started, st.jobs_completed, st.jobs_canceled,
            st.jobs_failed, st.jobs_pending, st.jobs_running) == (1200, 1100, 1000, 40, 7, 25, 60)
    assert (st.schedule_cycle_last_s, st.schedule_cycle_max_s, st.schedule_cycle_mean_s) == \
        pytest.approx((0.0015, 0.25, 0.003))
    assert (st.schedule_cycle_total, st.schedule_queue_length) == (900, 25)
    assert (st.backfill_cycle_last_s, st.backfill_cycle_mean_s) == pytest.approx((0.045, 0.06))
    # bf_cycle_max is missing from the v0.0.39/v0.0.40 schema: None, not 0.
    if version in ("23.02", "23.11"):
        assert st.backfill_cycle_max_s is None
    else:
        assert st.backfill_cycle_max_s == pytest.approx(0.9)
    assert (st.backfill_cycles_total, st.backfilled_jobs_total, st.backfill_last_depth,
            st.backfill_queue_length) == (88, 321, 17, 19)
    assert st.stats_reset_time == T0
    assert st.rpcs_by_type == [RpcStat("REQUEST_JOB_INFO", 5000, pytest.approx(1.5)),
                               RpcStat("REQUEST_NODE_INFO", 3000, pytest.approx(0.45)),
                               RpcStat("REQUEST_SUBMIT_BATCH_JOB", 1200, pytest.approx(2.4))]
    assert st.rpcs_by_user == [RpcStat("root", 8000, pytest.approx(1.9)),
                               RpcStat("alice", 1200, pytest.approx(2.45))]


@versions
def test_licenses_reservations_meta(version):
    lic = parse_licenses(vdoc(version, "licenses"))
    assert [(x.name, x.total, x.used, x.free, x.reserved) for x in lic] == \
        [("matlab", 50, 12, 38, 0), ("ansys@flexlm", 10, 10, 0, 2)]
    maint, course = parse_reservations(vdoc(version, "reservations"))
    assert (maint.name, maint.start_time, maint.end_time) == \
        ("maint-2026-01", T0 + 86400, T0 + 86400 + 14400)
    assert (maint.nodes, maint.node_count, maint.cpu_count) == (("cn001", "cn002", "cn003"), 3, 96)
    assert maint.flags == {"MAINT", "IGNORE_JOBS"}
    assert (maint.users, maint.accounts, maint.partition) == (("root", "admin"), (), None)
    assert (course.nodes, course.accounts, course.partition, course.flags) == \
        ((GPU_NODE,), ("physics", "teaching"), "gpu", {"SPEC_NODES"})
    meta = parse_meta(vdoc(version, "nodes"))
    assert meta.version == VERSIONS[version][1]
    # meta.slurm.cluster exists from v0.0.40; v0.0.39 only names it in job/partition records.
    assert meta.cluster == (None if version == "23.02" else "hpc-prod")
    assert parse_meta(vdoc(version, "jobs")).cluster == "hpc-prod"


@pytest.mark.parametrize("version", [v for v in VERSIONS if v != "23.02"])
def test_shares(version):
    errors: list[str] = []
    shares = parse_shares(vdoc(version, "shares"), errors)
    assert errors == []
    got = [(s.account, s.user, s.raw_shares, s.norm_shares, s.raw_usage, s.norm_usage,
            s.effective_usage, s.fairshare) for s in shares]
    assert got == [
        ("root", None, 1, 1.0, 9000000.0, 1.0, 1.0, 1.0),
        ("physics", None, 60, 0.6, 6000000.0, 0.666667, 0.666667, 0.4),
        ("physics", "alice", 1, 1.0, 6000000.0, 0.666667, 1.0, 0.25),
        ("chemistry", None, 40, 0.4, 3000000.0, 0.333333, 0.333333, 0.6),
        ("chemistry", "bob", 1, 0.5, 3000000.0, 0.333333, 1.0, 0.5),
        ("guests", None, None, None, 0.0, 0.0, 0.0, 0.0),          # infinite / unset shares
    ]


def test_no_shares_fixture_before_23_11():
    assert not list((FIX / "slurm-23.02/rest").glob("*shares*"))
    assert not list((FIX / "slurm-22.05/rest").glob("*shares*"))


# --------------------------------------------------------------------------- malformed / edge input

def _nodes_doc(*records):
    return {"meta": {}, "errors": [], "nodes": list(records)}


def test_bad_records_are_skipped_and_counted():
    good = copy.deepcopy(vdoc("24.05", "nodes")["nodes"][0])
    bad_cpus = dict(good, name="bad1", cpus="sixty-four")
    bad_state = dict(good, name="bad2", state={"oops": 1})
    bad_wrap = dict(good, name="bad3", real_memory={"foo": 1})
    no_name = {k: v for k, v in good.items() if k != "name"}
    errors: list[str] = []
    nodes = parse_nodes(_nodes_doc(good, bad_cpus, "garbage", None, bad_state, bad_wrap, no_name,
                                   dict(good, name="cn9")), errors)
    assert [n.name for n in nodes] == [GPU_NODE, "cn9"]
    assert len(errors) == 6
    assert errors[0].startswith("nodes[1]: cpus") and "sixty-four" in errors[0]
    assert errors[1].startswith("nodes[2]") and errors[4].startswith("nodes[5]: real_memory")
    assert "name" in errors[5]


def test_bad_job_and_other_records():
    jobs = copy.deepcopy(vdoc("25.05", "jobs")["jobs"])
    jobs[1]["cpus"] = [4]
    jobs[2]["job_state"] = 7
    del jobs[3]["job_id"]
    errors: list[str] = []
    got = parse_jobs({"jobs": jobs}, errors)
    assert [j.job_id for j in got] == ["1001", "3001", "3002"]
    assert len(errors) == 3 and errors[0].startswith("jobs[1]: cpus")

    errors = []
    lic = parse_licenses({"licenses": [{"LicenseName": "x", "Total": "5", "Used": 1},
                                       {"LicenseName": "y", "Total": 5, "Used": 1}]}, errors)
    assert [x.name for x in lic] == ["y"] and len(errors) == 1
    errors = []
    res = parse_reservations({"reservations": [{"name": "r", "flags": "MAINT",
                                                "node_list": 17}]}, errors)
    assert res == [] and errors[0].startswith("reservations[0]: node_list")
    errors = []
    sh = parse_shares({"shares": {"shares": [{"name": "a", "type": ["USER"], "parent": "p",
                                              "shares": {"set": True, "number": "1"}}]}}, errors)
    assert sh == [] and len(errors) == 1


def test_bad_documents():
    errors: list[str] = []
    assert parse_nodes(None, errors) == [] and parse_jobs("[]", errors) == []
    assert parse_partitions({"partitions": {"name": "x"}}, errors) == []
    assert len(errors) == 3
    assert parse_diag([], errors).jobs_running is None and len(errors) == 4
    assert parse_meta("x").version is None
    # Truncated document: the list never arrived. That is an error, not an empty queue (#12).
    errors = []
    assert parse_jobs({"meta": {}, "errors": []}, errors) == []
    assert errors == ["jobs: expected a list, got nothing"]


def test_diag_bad_counter_only_loses_that_counter():
    doc = copy.deepcopy(vdoc("24.11", "diag"))
    doc["statistics"]["jobs_running"] = "sixty"
    doc["statistics"]["rpcs_by_user"].append({"user": "eve", "count": "x", "total_time": 1})
    errors: list[str] = []
    st = parse_diag(doc, errors)
    assert st.jobs_running is None and st.jobs_pending == 25
    assert [r.name for r in st.rpcs_by_user] == ["root", "alice"]
    assert len(errors) == 2


def test_unknown_fields_ignored_and_missing_fields_none():
    node = {"name": "x1", "state": ["IDLE"], "brand_new_field": {"a": [1, 2]}, "cpus": 4}
    (n,) = parse_nodes(_nodes_doc(node))
    assert (n.name, n.state, n.cpus_total) == ("x1", "idle", 4)
    assert (n.cpus_alloc, n.cpu_load, n.memory_total_bytes, n.memory_free_bytes, n.reason_time,
            n.slurmd_version, n.cpus_idle) == (None,) * 7
    (j,) = parse_jobs({"jobs": [{"job_id": 5, "job_state": ["RUNNING", "COMPLETING"],
                                 "future": True}]})
    assert (j.job_id, j.state, j.cpus, j.memory_bytes, j.gpus, j.submit_time, j.account) == \
        ("5", "RUNNING", None, None, None, None, None)
    (p,) = parse_partitions({"partitions": [{"name": "p"}]})
    assert (p.cpus_total, p.max_time_s, p.total_nodes, p.nodes) == (None, None, None, ())
    st = parse_diag({"statistics": {"jobs_running": 3}})
    assert st.jobs_running == 3 and st.jobs_pending is None and st.rpcs_by_type == []
    (s,) = parse_shares({"shares": {"shares": [{"name": "acct"}]}})
    assert (s.account, s.user, s.raw_shares, s.fairshare) == ("acct", None, None, None)


def test_unwrap_number_and_sentinels():
    assert unwrap_number({"set": True, "infinite": False, "number": 7}) == 7
    assert unwrap_number({"set": False, "infinite": False, "number": 7}) is None
    assert unwrap_number({"set": True, "infinite": True, "number": 0}) is None
    for sentinel in (4294967294, 4294967295, 18446744073709551614, -1, -2):
        assert unwrap_number(sentinel) is None
    assert unwrap_number(0) == 0 and unwrap_number(2.5) == 2.5
    with pytest.raises(ValueError):
        unwrap_number("7")
    with pytest.raises(ValueError):
        unwrap_number(True)


def test_split_state():
    assert split_state(["IDLE", "DRAIN"]) == ("IDLE", {"DRAIN"})
    assert split_state("idle", ["DRAIN"]) == ("IDLE", {"DRAIN"})
    assert split_state(["DOWN", "DRAIN", "MAINTENANCE"]) == ("DOWN", {"DRAIN", "MAINT"})
    assert split_state("IDLE+CLOUD+POWERED_DOWN") == ("IDLE", {"CLOUD", "POWERED_DOWN"})
    assert split_state(["DRAIN"]) == (None, {"DRAIN"})
    assert split_state(["BRAND_NEW", "DRAIN"]) == ("BRAND_NEW", {"DRAIN"})
    assert split_state(None) == (None, frozenset())


@pytest.mark.parametrize("spec,count", [
    ("5-9", 5), ("3-4%2", 2), ("[5-9]", 5), ("1,3,7-8", 4), ("1-9:2", 5), ("0-99%10", 100),
    ("7", 1), ("x-y", None), ("", None),
])
def test_array_task_count(spec, count):
    assert array_task_count(spec) == count


def test_array_spec_not_understood_counts_one():
    (j,) = parse_jobs({"jobs": [{"job_id": 9, "array_job_id": 9, "array_task_string": "weird",
                                 "job_state": "PENDING"}]})
    assert (j.job_id, j.array_task_count) == ("9_[weird]", 1)


def test_job_gpus_and_memory_sources():
    base = {"job_id": 1, "job_state": ["RUNNING"], "node_count": 2, "cpus": 8}
    # 22.05-style per-node request; typed TRES entries alone are summed.
    (a,) = parse_jobs({"jobs": [dict(base, tres_per_node="gres:gpu:a100:2", tres_alloc_str="")]})
    assert a.gpus == 4
    (b,) = parse_jobs({"jobs": [dict(base, tres_alloc_str="cpu=8,mem=1.5G,gres/gpu:a100=2,gres/gpu:v100=1")]})
    assert (b.gpus, b.memory_bytes) == (3, int(1.5 * 1024 * MB))
    (c,) = parse_jobs({"jobs": [dict(base, gres_detail=["gpu:a100:2(IDX:0-1)", "gpu:a100:1(IDX:3)"])]})
    assert c.gpus == 3
    (d,) = parse_jobs({"jobs": [dict(base, memory_per_cpu={"set": True, "infinite": False,
                                                           "number": 1000})]})
    assert (d.memory_bytes, d.gpus) == (8000 * MB, None)
    (e,) = parse_jobs({"jobs": [dict(base, memory_per_node=4000, memory_per_cpu=None)]})
    assert e.memory_bytes == 8000 * MB


def test_job_id_and_user_fallbacks():
    (j,) = parse_jobs({"jobs": [{"job_id": {"set": True, "infinite": False, "number": 42},
                                 "user_id": 1005, "job_state": "PENDING", "state_reason": "None",
                                 "array_job_id": {"set": True, "infinite": False, "number": 0}}]})
    assert (j.job_id, j.user, j.reason, j.array_job_id) == ("42", "1005", None, None)


def test_sinfo_entries_nested_and_grouped():
    """sinfo --json nests data under sinfo[]: node records or node groups; a node listed under two
    partitions appears once, with both partitions."""
    node = vdoc("24.05", "nodes")["nodes"][4]                   # cn003, batch+debug
    doc = {"sinfo": [
        {"nodes": [dict(node, partitions=["batch"])]},
        {"nodes": [dict(node, partitions=["debug"])]},
        {"node": {"state": ["IDLE", "DRAIN"]},
         "nodes": {"total": 2, "allocated": 0, "idle": 0, "other": 2, "nodes": ["cn[010-011]"]},
         "cpus": {"total": 64, "allocated": 0, "minimum": 32, "maximum": 32,
                  "load": {"minimum": 5, "maximum": 9}},
         "memory": {"minimum": 256000, "maximum": 256000, "allocated": 0,
                    "free": {"minimum": {"set": True, "infinite": False, "number": 100}}},
         "reason": {"description": "bad dimm", "time": {"set": True, "infinite": False,
                                                       "number": T0}, "user": "ops"},
         "partition": {"name": "batch"}},
        {"node": {"state": ["IDLE", "DRAIN"]},
         "nodes": {"total": 1, "nodes": ["cn010"]},
         "cpus": {"total": 32, "allocated": 0, "minimum": 32, "maximum": 32,
                  "load": {"minimum": 5, "maximum": 5}},
         "memory": {"minimum": 256000, "maximum": 256000, "allocated": 0,
                    "free": {"minimum": {"set": True, "infinite": False, "number": 100}}},
         "partition": {"name": "debug"}},
    ]}
    errors: list[str] = []
    nodes = {n.name: n for n in parse_nodes(doc, errors)}
    assert errors == []
    assert list(nodes) == ["cn003", "cn010", "cn011"]
    assert nodes["cn003"].partitions == ("batch", "debug") and nodes["cn003"].cpus_alloc == 32
    n10 = nodes["cn010"]
    assert (n10.state, n10.flags, n10.partitions) == ("idle", {"DRAIN"}, ("batch", "debug"))
    assert (n10.cpus_total, n10.memory_total_bytes) == (32, 256000 * MB)
    # Group of two: per-node use is unknown, not the group's total.
    assert (n10.cpus_alloc, n10.cpu_load, n10.memory_free_bytes) == (None, None, None)
    assert (n10.reason, n10.reason_time, n10.reason_user) == ("bad dimm", T0, "ops")
    parts = parse_partitions(doc)
    assert [p.name for p in parts] == ["batch", "debug"]


def test_partition_star_and_flags():
    (p,) = parse_partitions({"partitions": [{"name": "cpu*", "flags": []}]})
    assert (p.name, p.is_default) == ("cpu", True)
    (q,) = parse_partitions({"partitions": [{"name": "gpu", "flags": ["DEFAULT", "EXCLUSIVE_USER"],
                                             "partition": {"state": ["INACTIVE"]}}]})
    assert (q.is_default, q.state) == (True, "inactive")


# --------------------------------------------------------------------------- streamed /jobs

JOB_DOCS = found(FIX.glob("slurm-*/rest/slurm-v0.0.*-jobs*.json"), "recorded /jobs documents")


@pytest.mark.parametrize("path", JOB_DOCS, ids=lambda p: p.name)
def test_streamed_jobs_equal_parsed_jobs_and_keep_the_top_level_members(path):
    import io

    from slurmops.slurm.parse.jsondoc import stream_jobs
    doc = load(path)
    errors_a: list[str] = []
    errors_b: list[str] = []
    outer: dict = {}
    streamed = stream_jobs(io.BytesIO(path.read_bytes()), errors_b, outer)
    assert streamed == parse_jobs(doc, errors_a)
    assert errors_b == errors_a
    for name in ("errors", "warnings", "last_update", "meta"):
        assert outer.get(name) == doc.get(name), name


def _big_jobs_doc(n: int, members_first: bool) -> tuple[bytes, dict]:
    """A v0.0.41-shaped answer far larger than the regions outer_members reads (256 KiB)."""
    job = load(FIX / "slurm-24.05/rest/slurm-v0.0.41-jobs.json")["jobs"][0]
    members = {"last_update": {"set": True, "infinite": False, "number": 1795600000},
               "meta": {"plugin": {"type": "openapi/slurmctld"}},
               "errors": [{"description": "partial", "error_number": 0}], "warnings": []}
    jobs = [dict(job, job_id=1000 + i, comment='"errors": ["not me"], "last_update": 1') for i in range(n)]
    doc = {**members, "jobs": jobs} if members_first else {"jobs": jobs, **members}
    return json.dumps(doc).encode(), members


@pytest.mark.parametrize("members_first", [True, False], ids=["v0.0.38-order", "v0.0.39+-order"])
def test_streamed_jobs_find_the_members_before_or_after_a_large_job_list(members_first):
    import io

    from slurmops.slurm.parse.jsondoc import stream_jobs
    body, members = _big_jobs_doc(600, members_first)
    assert len(body) > 3 * 256 * 1024
    outer: dict = {}
    jobs = stream_jobs(io.BytesIO(body), None, outer)
    assert [j.job_id for j in jobs] == [str(1000 + i) for i in range(600)]
    assert outer == members        # the look-alike text inside job comments is not a member


@pytest.mark.parametrize("cut", [1, 1000, 200_000])
def test_a_cut_or_garbage_jobs_answer_is_an_error_not_a_shorter_queue(cut):
    import io

    from slurmops.slurm.parse.jsondoc import stream_jobs
    body, _ = _big_jobs_doc(300, False)
    with pytest.raises(ValueError, match="not a complete JSON document"):
        stream_jobs(io.BytesIO(body[:-cut]), [], {})
    with pytest.raises(ValueError):
        stream_jobs(io.BytesIO(b"<html>502 Bad Gateway</html>"), [], {})


@pytest.mark.parametrize("path", found(FIX.glob("slurm-*/rest/slurm-v0.0.*-nodes*.json"), "recorded /nodes documents"),
                         ids=lambda p: p.name)
def test_streamed_nodes_equal_parsed_nodes(path):
    import io

    from slurmops.slurm.parse.jsondoc import stream_nodes
    errors_a: list[str] = []
    errors_b: list[str] = []
    outer: dict = {}
    assert stream_nodes(io.BytesIO(path.read_bytes()), errors_b, outer) == parse_nodes(load(path), errors_a)
    assert errors_b == errors_a and outer.get("errors") == load(path).get("errors")
