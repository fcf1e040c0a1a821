"""slurmops.slurm.parse.text against recorded 22.05 output and man-page-derived 25.05 output."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from slurmops.slurm.models import Gres, Job, License, Node, Partition, Reservation, RpcStat, SchedulerStats, Share
from slurmops.slurm.parse import text as T
from slurmops.slurm.parse.text import (
    SQUEUE_ARGS,
    SQUEUE_FIELDS,
    array_task_count,
    parse_duration,
    parse_node_state,
    parse_scontrol_licenses,
    parse_scontrol_nodes,
    parse_scontrol_partitions,
    parse_scontrol_reservations,
    parse_sdiag,
    parse_squeue,
    parse_sshare,
    parse_timestamp,
)

FIX = Path(__file__).resolve().parents[2] / "fixtures"
V22 = FIX / "slurm-22.05" / "cli"
V25 = FIX / "slurm-25.05" / "cli"
MB = 1024 * 1024
GB = 1024 * MB


# Fixture timestamps are the lab's local time, which is UTC (conftest.py).
pytestmark = pytest.mark.usefixtures("utc")


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# ----------------------------------------------------------------------------------- helpers

@pytest.mark.parametrize("text,want", [
    ("1-02:03:04", 93784), ("02:03:04", 7384), ("03:04", 184), ("5", 300), ("1-02", 93600),
    ("1-02:03", 93780), ("0:00:30", 30), ("2-00:00:00", 172800), ("30:00", 1800),
    ("UNLIMITED", None), ("INFINITE", None), ("NONE", None), ("N/A", None), ("", None), (None, None),
])
def test_parse_duration(text, want):
    assert parse_duration(text) == want


@pytest.mark.parametrize("bad", ["abc", "1:2:3:4", "-5", "1-", "5 minutes"])
def test_parse_duration_rejects_garbage(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_parse_timestamp():
    assert parse_timestamp("2026-11-25T14:24:02") == 1795616642.0
    assert parse_timestamp(" 2026-11-25T14:23:27 ") == 1795616607.0      # sdiag's "Data since" epoch
    for word in ("Unknown", "None", "N/A", "(null)", "", None):
        assert parse_timestamp(word) is None
    for bad in ("Ystday 14:02", "2026-11-25 14:24:02", "14:24:02"):
        with pytest.raises(ValueError):
            parse_timestamp(bad)


def test_parse_timestamp_is_local_time(monkeypatch):
    monkeypatch.setenv("TZ", "CET-1")
    time.tzset()
    assert parse_timestamp("2026-11-25T14:24:02") == 1795616642.0 - 3600


@pytest.mark.parametrize("text,base,flags", [
    ("IDLE", "idle", set()),
    ("MIXED+CLOUD", "mixed", {"CLOUD"}),
    ("IDLE+DRAIN", "idle", {"DRAIN"}),
    ("DOWN*+DRAIN", "down", {"NOT_RESPONDING", "DRAIN"}),
    ("IDLE+CLOUD+POWERED_DOWN", "idle", {"CLOUD", "POWERED_DOWN"}),
    ("IDLE+CLOUD+POWERED_DOWN+NOT_RESPONDING", "idle", {"CLOUD", "POWERED_DOWN", "NOT_RESPONDING"}),
    ("ALLOCATED+COMPLETING", "allocated", {"COMPLETING"}),
    ("ALLOCATED+", "allocated", {"COMPLETING"}),
    ("IDLE~", "idle", {"POWERED_DOWN"}),
    ("IDLE#", "idle", {"POWERING_UP"}),
    ("IDLE%", "idle", {"POWERING_DOWN"}),
    ("MIXED!", "mixed", {"POWER_DOWN"}),
    ("MIXED@", "mixed", {"REBOOT_REQUESTED"}),
    ("DOWN^", "down", {"REBOOT_ISSUED"}),
    ("IDLE$", "idle", {"MAINT"}),
    ("MIXED-", "mixed", {"PLANNED"}),
    ("IDLE+MAINTENANCE+RESERVED", "idle", {"MAINT", "RESERVED"}),
    ("FUTURE+CLOUD", "future", {"CLOUD"}),
])
def test_parse_node_state(text, base, flags):
    assert parse_node_state(text) == (base, frozenset(flags))


@pytest.mark.parametrize("spec,want", [
    ("5", (1, False)), ("5-9", (5, False)), ("1,3,5,7,9%2", (5, False)), ("0-15%4", (16, False)),
    ("1-298:3", (100, False)), ("0-998:2", (500, False)), ("1,4,9-11", (5, False)),
    ("1,4,9,16,25,36,4...", (6, True)), ("1,4,9,16,...", (4, True)), ("1-29...", (0, True)),
    ("1,2,...%3", (2, True)),
])
def test_array_task_count(spec, want):
    assert array_task_count(spec) == want


@pytest.mark.parametrize("bad", ["a-b", "9-5", "1,,2", "1-4:0"])
def test_array_task_count_rejects_garbage(bad):
    with pytest.raises(ValueError):
        array_task_count(bad)


# ----------------------------------------------------------------------------------- squeue

def test_squeue_args():
    assert SQUEUE_ARGS[:4] == ["squeue", "-h", "-a", "-O"]
    assert "-r" not in SQUEUE_ARGS and "--array" not in SQUEUE_ARGS
    fields = SQUEUE_ARGS[4].split(",")
    assert [f.split(":")[0] for f in fields] == list(SQUEUE_FIELDS)
    assert all(f.endswith(":|") for f in fields[:-1]) and fields[-1] == "Reason:"
    assert T.CLI_ENV == {"SLURM_TIME_FORMAT": "standard", "SLURM_BITSTR_LEN": "0"}


def _jobrow(j: Job):
    return (j.job_id, j.state, j.partition, j.user, j.account, j.reason, j.cpus, j.nodes, j.memory_bytes,
            j.gpus, j.submit_time, j.start_time, j.array_job_id, j.array_task_count, j.node_list)


S1, S2, S3, S4, S5 = 1795617521.0, 1795617322.0, 1795617386.0, 1795617538.0, 1795617326.0


def test_squeue_22_05_recorded():
    errors: list[str] = []
    jobs = parse_squeue(read(V22 / "squeue-exporter.txt"), errors)
    assert errors == []
    assert [_jobrow(j) for j in jobs] == [
        ("91", "PENDING", "cpu", "root", "root", "BeginTime", 1, 1, 2 * GB, 0, S1, None, None, 1, None),
        ("90", "PENDING", "cpu", "root", "root", "DependencyNeverSatisfied", 1, 1, 100 * MB, 0, S1, None, None, 1,
         None),
        ("83", "PENDING", "cpu", "root", "root", "Dependency", 1, 1, 100 * MB, 0, S2, None, None, 1, None),
        ("87", "PENDING", "cpu", "root", "root", "JobHeldUser", 1, 1, 1500 * MB, 0, S3, None, None, 1, None),
        ("93_[0-15%4]", "PENDING", "cpu", "root", "research", "JobHeldUser", 1, 1, 100 * MB, 0, S4, None, "93", 16,
         None),
        ("80_[1,3,5,7,9]", "PENDING", "cpu", "root", "root", "JobHeldUser", 1, 1, 100 * MB, 0, S2, None, "80", 5,
         None),
        # --mem=1536M on 2 nodes: squeue's tres-alloc says mem=1.50G, node=1
        ("86", "PENDING", "cpu", "root", "root", "JobHeldUser", 4, 2, 1536 * MB, 0, S3, None, None, 1, None),
        ("85_[1,4,9,16,25,36,49,64,81,100,121,144,169,196,225,256,289,324,361,400,441,484,529,576,625,676,729,"
         "784,841]", "PENDING", "cpu", "root", "root", "JobHeldUser", 1, 1, 100 * MB, 0, S5, None, "85", 29, None),
        ("84_[1-298:3]", "PENDING", "cpu", "root", "root", "JobHeldUser", 1, 1, 100 * MB, 0, S2, None, "84", 100,
         None),
        # --mem-per-cpu=150M -n3: 450M in all (squeue's %m would say 150M)
        ("82", "PENDING", "cpu", "root", "root", "JobHeldUser", 3, 1, 450 * MB, 0, S2, None, None, 1, None),
        # --mem=300M -N2: 600M in all
        ("81", "PENDING", "cpu", "root", "research", "JobHeldUser", 4, 2, 600 * MB, 0, S2, None, None, 1, None),
        ("79", "PENDING", "cpu", "root", "root", "JobHeldUser", 1, 1, 100 * MB, 0, S2, None, None, 1, None),
    ]
    # the expected start time squeue prints for a pending job (87: --begin) is not a start time
    assert "2026-11-25T17:36:26" in read(V22 / "squeue-exporter.txt")
    # Repeated values are one string object each (memory at 50,000 jobs), equal values all the same
    assert len({id(j.user) for j in jobs}) == 1 and len({id(j.state) for j in jobs}) == 1
    assert jobs[4].account is jobs[10].account and jobs[3].reason is jobs[4].reason


G42 = "gpu-a100-rack12-chassis03-blade07-node0042.hpc.physics.example.org"
D25 = 1795564800.0   # 2026-11-25T00:00:00


def test_squeue_25_05():
    errors: list[str] = []
    jobs = parse_squeue(read(V25 / "squeue-exporter.txt"), errors)
    assert errors == []
    h = 3600.0
    assert [_jobrow(j) for j in jobs] == [
        ("5000_1", "RUNNING", "gpu", "alice", "physics", None, 16, 1, 64 * GB, 1, D25 + 10 * h, D25 + 10 * h + 300,
         "5000", 1, G42),
        ("5000_2", "RUNNING", "gpu", "alice", "physics", None, 16, 1, 64 * GB, 1, D25 + 10 * h, D25 + 10 * h + 301,
         "5000", 1, G42),
        ("5000_[3-100%2]", "PENDING", "gpu", "alice", "physics", "JobArrayTaskLimit", 16, 1, 64 * GB, 1,
         D25 + 10 * h, None, "5000", 98, None),
        ("5000_101", "PENDING", "gpu", "alice", "physics", "BeginTime", 16, 1, 64 * GB, 1, D25 + 10 * h, None,
         "5000", 1, None),
        # tres-alloc gres/gpu=4 (and the typed gres/gpu:a100=4 is not counted twice)
        ("5100", "RUNNING", "gpu", "bob", "physics", None, 32, 2, 128000 * MB, 4, D25 + 11 * h, D25 + 11 * h + 2,
         None, 1, "gpu-a100-rack12-chassis03-blade07-node[0042-0043].hpc.physics.example.org"),
        # gres/gpu not accounted: tres-per-node gres/gpu:a100:4 x 2 nodes
        ("5101", "PENDING", "gpu", "bob", "physics", "Resources", 64, 2, 500 * GB, 8, D25 + 12 * h, None, None, 1,
         None),
        # tres-per-task gres/gpu:1 x 4 tasks
        ("5102", "PENDING", "gpu", "carol-long-user-name-with-dashes", "theory", "Priority", 8, 1, 16000 * MB, 4,
         D25 + 12.5 * h, None, None, 1, None),
        ("5200", "RUNNING", "cpu", "carol-long-user-name-with-dashes", "theory", None, 256, 2, 500 * GB, 0,
         D25 + 9 * h, D25 + 9 * h + 5, None, 1, "cn[002,004]"),
        ("5201", "COMPLETING", "cpu", "root", "root", "NonZeroExitCode", 1, 1, 2000 * MB, 0, D25 + 14 * h,
         D25 + 14 * h + 1, None, 1, "cn002"),
        ("5300", "PENDING", "cpu", "alice", "physics", "ReqNodeNotAvail, UnavailableNodes:cn001", 4, 1, 8000 * MB,
         0, D25 + 13 * h, None, None, 1, None),
        ("5400_[0-998:2]", "PENDING", "cpu", "bob", "physics", "Priority", 1, 1, 2000 * MB, 0, D25 + 13.5 * h, None,
         "5400", 500, None),
    ]
    pending_tasks = sum(j.array_task_count for j in jobs if j.state == "PENDING")
    assert pending_tasks == 98 + 1 + 1 + 1 + 1 + 500


def test_squeue_empty():
    errors: list[str] = []
    assert parse_squeue(read(V25 / "squeue-exporter-empty.txt"), errors) == []
    assert parse_squeue("\n\n", errors) == []
    assert errors == []


LINE = "77|N/A|RUNNING|cpu|alice|physics|2|1|2|cpu=2,mem=4000M,node=1,billing=2|N/A|N/A|N/A|" \
       "2026-11-25T14:00:00|2026-11-25T14:00:05|cn001|None"


def test_squeue_22_05_gres_form_and_untracked_gpus():
    line = LINE.replace("|N/A|N/A|N/A|", "|N/A|gres:gpu:2|N/A|").replace("|1|2|", "|3|2|")
    job = parse_squeue(line)[0]
    assert (job.nodes, job.gpus) == (3, 6)
    line = LINE.replace("|N/A|N/A|N/A|", "|gres:gpu:tesla:3|N/A|N/A|")
    assert parse_squeue(line)[0].gpus == 3


def test_squeue_separator_in_reason_is_harmless():
    line = LINE.replace("|None", "|held: see motd | ticket 12|34")
    errors: list[str] = []
    job = parse_squeue(line, errors)[0]
    assert job.reason == "held: see motd | ticket 12|34" and job.node_list == "cn001" and errors == []


def test_squeue_truncated_line_is_skipped_and_noted():
    text = LINE + "\n" + LINE[:40] + "\n" + LINE.replace("77|", "78|")
    errors: list[str] = []
    jobs = parse_squeue(text, errors)
    assert [j.job_id for j in jobs] == ["77", "78"]
    assert len(errors) == 1 and "line 2" in errors[0] and "skipped" in errors[0]


def test_squeue_bad_values_leave_fields_unset():
    line = LINE.replace("|2|1|2|", "|two|1|2|").replace("2026-11-25T14:00:00", "Ystday 14:00") \
               .replace("mem=4000M", "mem=lots")
    errors: list[str] = []
    job = parse_squeue(line, errors)[0]
    assert (job.cpus, job.submit_time, job.memory_bytes, job.gpus) == (None, None, None, None)
    assert job.nodes == 1 and job.start_time == 1795615205.0
    assert len(errors) == 3 and all("job 77" in e for e in errors)


def test_squeue_cut_array_list_is_a_lower_bound_and_noted():
    # what squeue prints without SLURM_BITSTR_LEN=0 (recorded on the 22.05 lab)
    line = LINE.replace("77|N/A|RUNNING", "85|1,4,9,16,25,36,49,64,81,100,121,144,169,196,225,256,289,324,...|"
                                         "PENDING")
    errors: list[str] = []
    job = parse_squeue(line, errors)[0]
    assert (job.array_job_id, job.array_task_count) == ("85", 18)
    assert len(errors) == 1 and "SLURM_BITSTR_LEN=0" in errors[0]


def test_squeue_garbage():
    errors: list[str] = []
    assert parse_squeue("squeue: error: Invalid job format specification: foo\nhello world\n", errors) == []
    assert len(errors) == 3 and "no job records" in errors[-1]
    errors = []
    assert parse_squeue("JOBID|N/A|PENDING" + "|x" * 14, errors) == []
    assert "no job id/state" in errors[0]


# ----------------------------------------------------------------------------------- sdiag

def test_sdiag_22_05_recorded():
    errors: list[str] = []
    st = parse_sdiag(read(V22 / "sdiag.txt"), errors)
    assert errors == []
    rpcs_by_type, st.rpcs_by_type = st.rpcs_by_type, []
    rpcs_by_user, st.rpcs_by_user = st.rpcs_by_user, []
    assert st == SchedulerStats(
        server_thread_count=3, agent_queue_size=0, agent_count=0, agent_thread_count=0, dbd_agent_queue_size=0,
        jobs_submitted=29, jobs_started=17, jobs_completed=5, jobs_canceled=11, jobs_failed=0,
        jobs_pending=6, jobs_running=6,
        schedule_cycle_last_s=28e-6, schedule_cycle_max_s=1482e-6, schedule_cycle_mean_s=248e-6,
        schedule_cycle_total=10, schedule_queue_length=2,
        backfill_cycle_last_s=535e-6, backfill_cycle_max_s=858e-6, backfill_cycle_mean_s=696e-6,
        backfill_cycles_total=2, backfilled_jobs_total=4, backfill_last_depth=4, backfill_queue_length=4,
        stats_reset_time=1795616607.0,
    )
    assert len(rpcs_by_type) == 21
    assert rpcs_by_type[0] == RpcStat("REQUEST_PARTITION_INFO", 66, 0.012269)
    assert rpcs_by_type[3] == RpcStat("REQUEST_KILL_JOB", 11, 0.022514)
    assert rpcs_by_type[-1] == RpcStat("REQUEST_DELETE_RESERVATION", 1, 0.000231)
    assert sum(r.count for r in rpcs_by_type) == 213
    assert rpcs_by_user == [RpcStat("root", 209, 0.084542), RpcStat("slurmlab", 4, 0.002071)]


def test_sdiag_25_05():
    errors: list[str] = []
    st = parse_sdiag(read(V25 / "sdiag.txt"), errors)
    assert errors == []
    assert (st.server_thread_count, st.agent_queue_size, st.agent_count, st.agent_thread_count,
            st.dbd_agent_queue_size) == (7, 2, 1, 3, 0)
    assert (st.jobs_submitted, st.jobs_started, st.jobs_completed, st.jobs_canceled, st.jobs_failed,
            st.jobs_pending, st.jobs_running) == (98231, 97440, 96012, 1210, 3, 48211, 1789)
    # main and backfill sections both have "Last cycle", "Max cycle", "Total cycles", "Last queue length"
    assert (st.schedule_cycle_last_s, st.schedule_cycle_max_s, st.schedule_cycle_mean_s,
            st.schedule_cycle_total, st.schedule_queue_length) == (0.091234, 1.830455, 0.070211, 52110, 48211)
    assert (st.backfill_cycle_last_s, st.backfill_cycle_max_s, st.backfill_cycle_mean_s,
            st.backfill_cycles_total, st.backfilled_jobs_total, st.backfill_last_depth,
            st.backfill_queue_length) == (28.400112, 61.022001, 25.004409, 1432, 120433, 5210, 48190)
    assert st.stats_reset_time == 1795564800.0
    assert [(r.name, r.count) for r in st.rpcs_by_type] == [
        ("REQUEST_JOB_INFO_SINGLE", 1523400), ("REQUEST_PARTITION_INFO", 880112), ("REQUEST_NODE_INFO", 440056),
        ("REQUEST_SUBMIT_BATCH_JOB", 98231), ("REQUEST_COMPLETE_BATCH_SCRIPT", 97011),
        ("MESSAGE_NODE_REGISTRATION_STATUS", 2890), ("REQUEST_STATS_INFO", 2881), ("REQUEST_UPDATE_NODE", 12)]
    assert st.rpcs_by_type[0].total_time_s == pytest.approx(322.9608)
    assert st.rpcs_by_user == [RpcStat("root", 2950001, pytest.approx(1150.50039)),
                               RpcStat("slurm", 101502, pytest.approx(164.43324)),
                               RpcStat("alice", 88210, pytest.approx(210.91011)),
                               RpcStat("1234567", 3, pytest.approx(0.00075))]


def test_sdiag_garbage_and_failures():
    errors: list[str] = []
    assert parse_sdiag("<html>502 Bad Gateway</html>\n", errors) == SchedulerStats()
    assert errors == ["sdiag: no statistics recognised in the output"]
    errors = []
    assert parse_sdiag("No data available. Probably slurmctld is not working\n", errors) == SchedulerStats()
    assert any("No data available" in e for e in errors)
    errors = []
    assert parse_sdiag("", errors) == SchedulerStats() and errors == []


def test_sdiag_truncated_and_bad_lines():
    text = read(V22 / "sdiag.txt")
    cut = text[: text.index("REQUEST_KILL_JOB") + 30]          # cut inside an RPC line
    errors: list[str] = []
    st = parse_sdiag(cut.replace("Jobs started:   17", "Jobs started:   lots"), errors)
    assert st.jobs_started is None and st.jobs_submitted == 29 and len(st.rpcs_by_type) == 3
    assert len(errors) == 2 and "Jobs started" in errors[0] and "RPC line" in errors[1]


# ----------------------------------------------------------------------------------- sshare

def test_sshare_22_05_recorded():
    errors: list[str] = []
    shares = parse_sshare(read(V22 / "sshare.txt"), errors)
    assert errors == []
    assert shares == [
        Share("root", None, None, 0.0, 0.0, None, 1.0, None),
        Share("root", "root", 1, 0.333333, 0.0, 0.0, 0.0, 1.0),
        Share("physics", None, 1, 0.333333, 0.0, 0.0, 0.0, None),
        Share("physics", "slurmlab", 1, 1.0, 0.0, 0.0, 0.0, 1.0),
        Share("research", None, 1, 0.333333, 0.0, 0.0, 0.0, None),
        Share("research", "root", 1, 1.0, 0.0, 0.0, 0.0, 1.0),
    ]


def test_sshare_25_05():
    errors: list[str] = []
    shares = parse_sshare(read(V25 / "sshare.txt"), errors)
    assert errors == []
    assert shares == [
        Share("root", None, None, 0.0, 1855203611.0, None, 1.0, None),
        Share("root", "root", 1, 0.02, 0.0, 0.0, 0.0, 1.0),
        Share("physics", None, 40, 0.8, 1391402708.0, 0.75, 0.75, None),
        Share("physics", "alice", None, 0.8, 1002210101.0, 0.540214, 0.720288, 0.833333),   # RawShares=parent
        Share("physics", "bob", 10, 0.2, 389192607.0, 0.209786, 0.279712, 0.666667),
        Share("theory", None, 9, 0.18, 463800903.0, 0.25, 0.25, None),
        Share("theory", "carol-long-user-name-with-dashes", 1, 1.0, 463800903.0, 0.25, 1.0, 0.5),
    ]


def test_sshare_columns_by_name_and_trailing_pipe():
    text = "User|Account|FairShare|RawShares|\nalice| physics|0.5|3|\n"     # sshare -p: trailing '|'
    assert parse_sshare(text) == [Share("physics", "alice", raw_shares=3, fairshare=0.5)]


def test_sshare_malformed():
    lines = read(V22 / "sshare.txt").splitlines()
    errors: list[str] = []
    shares = parse_sshare("\n".join([lines[0], lines[1], lines[2][:20], lines[3]]), errors)
    assert [(s.account, s.user) for s in shares] == [("root", None), ("physics", None)]
    assert len(errors) == 1 and "line 3" in errors[0]
    errors = []
    assert parse_sshare("sshare: error: Problem talking to the database: Connection refused\n", errors) == []
    assert len(errors) == 1 and "header" in errors[0]
    errors = []
    assert parse_sshare(lines[0] + "\n", errors) == [] and errors == []
    assert parse_sshare("", errors) == [] and errors == []
    bad = lines[1].replace("1.000000", "one")
    errors = []
    share = parse_sshare(lines[0] + "\n" + bad, errors)[0]
    assert share.effective_usage is None and share.norm_shares == 0.0 and len(errors) == 1


# ----------------------------------------------------------------------------------- nodes

def test_nodes_22_05_recorded():
    errors: list[str] = []
    nodes = parse_scontrol_nodes(read(V22 / "scontrol-show-nodes.txt"), errors)
    assert errors == []
    mem = 4000 * MB
    free = 23559 * MB
    assert nodes == [
        Node("c1", "mixed", frozenset({"CLOUD"}), ("cloud",), 8, 1, 0.08, mem, 100 * MB, free,
             features=("cloud",), slurmd_version="22.05.8"),
        Node("c2", "idle", frozenset({"CLOUD", "POWERED_DOWN"}), ("cloud",), 8, 0, None, mem, 0, None,
             features=("cloud",), slurmd_version=None),
        Node("n1", "idle", frozenset(), ("cpu",), 8, 0, 0.08, mem, 0, free, slurmd_version="22.05.8"),
        Node("n2", "mixed", frozenset(), ("cpu",), 8, 6, 0.08, mem, 600 * MB, free, slurmd_version="22.05.8"),
        Node("n3", "idle", frozenset({"DRAIN"}), ("cpu",), 8, 0, 0.08, mem, 0, free,
             reason="maintenance: firmware ✓ über-node", reason_time=1795616642.0, reason_user="root",
             slurmd_version="22.05.8"),
    ]
    assert nodes[1].cpus_idle == 8 and nodes[3].cpus_idle == 2


def test_nodes_25_05():
    errors: list[str] = []
    nodes = parse_scontrol_nodes(read(V25 / "scontrol-show-nodes.txt"), errors)
    assert errors == []
    by = {n.name: n for n in nodes}
    assert list(by) == [G42, G42.replace("0042", "0043"), "cn001", "cn002", "cn003", "cn004", "cloud-c1",
                        "cloud-c2"]
    g = by[G42]
    assert len(g.name) == 66
    assert (g.state, g.flags, g.partitions, g.cpus_total, g.cpus_alloc, g.cpu_load) == \
        ("mixed", frozenset(), ("gpu", "debug"), 64, 48, 12.37)
    assert (g.memory_total_bytes, g.memory_alloc_bytes, g.memory_free_bytes) == \
        (515000 * MB, 262144 * MB, 201342 * MB)
    assert g.gres == (Gres("gpu", "a100", 4),)
    assert g.gres_used == (Gres("gpu", "a100", 2),)       # from AllocTRES: no -d, no GresUsed
    assert (g.reason, g.features, g.slurmd_version) == (None, ("a100", "ib"), "25.05.5")

    d = by[G42.replace("0042", "0043")]
    assert (d.state, d.flags) == ("idle", frozenset({"DRAIN"}))
    assert d.reason == "Ремонт: замена DIMM ✓ — größere Prüfung 🚧"
    assert (d.reason_user, d.reason_time) == ("admin", 1795511700.0)      # 2026-11-24T09:15:00
    assert d.gres_used == ()      # empty AllocTRES, gres/gpu tracked (CfgTRES): none in use

    c1 = by["cn001"]
    assert (c1.state, c1.flags, c1.cpu_load, c1.memory_free_bytes, c1.slurmd_version) == \
        ("down", frozenset({"NOT_RESPONDING", "DRAIN"}), 0.0, None, None)
    assert (c1.reason, c1.reason_user, c1.reason_time) == ("Not responding", "slurm", 1795317400.0)

    assert (by["cn002"].state, by["cn002"].flags) == ("allocated", frozenset({"COMPLETING"}))
    assert by["cn002"].memory_alloc_bytes == 256000 * MB and by["cn002"].cpus_idle == 0

    c3 = by["cn003"]
    assert c3.flags == frozenset({"DRAIN", "NOT_RESPONDING", "MAINT", "RESERVED"})
    # free-text reason with '=' inside stays whole; the ReservationName= after it is not part of it
    assert (c3.reason, c3.reason_user, c3.reason_time) == \
        ("bad dimm size=4G in slot A2; see ticket #4711", "root", 1795568523.0)

    c4 = by["cn004"]
    assert (c4.state, c4.flags, c4.reason) == ("mixed", frozenset({"REBOOT_REQUESTED"}), "Reboot ASAP : kernel update")

    assert (by["cloud-c1"].state, by["cloud-c1"].flags) == ("idle", frozenset({"CLOUD", "POWERED_DOWN"}))
    assert (by["cloud-c2"].state, by["cloud-c2"].flags, by["cloud-c2"].reason) == \
        ("down", frozenset({"POWERED_DOWN"}), "ResumeTimeout reached")


def test_nodes_multiline_form_without_o():
    text = ("NodeName=n7 Arch=x86_64 CoresPerSocket=1\n"
            "   CPUAlloc=2 CPUEfctv=4 CPUTot=4 CPULoad=1.50\n"
            "   RealMemory=1000 AllocMem=10 FreeMem=900 Sockets=4 Boards=1\n"
            "   State=MIXED ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A\n"
            "   Partitions=cpu\n"
            "   Reason=slow disk [root@2026-11-25T14:24:02]\n"
            "\n"
            "NodeName=n8 CPUTot=4 State=IDLE\n")
    errors: list[str] = []
    nodes = parse_scontrol_nodes(text, errors)
    assert errors == []
    assert [(n.name, n.state, n.cpus_alloc, n.cpu_load, n.memory_total_bytes, n.partitions, n.reason)
            for n in nodes] == [("n7", "mixed", 2, 1.5, 1000 * MB, ("cpu",), "slow disk"),
                                ("n8", "idle", None, None, None, (), None)]


def test_nodes_malformed():
    lines = read(V22 / "scontrol-show-nodes.txt").splitlines()
    truncated = lines[2][: lines[2].index("State=")]
    errors: list[str] = []
    nodes = parse_scontrol_nodes("\n".join([lines[0], truncated, lines[3]]), errors)
    assert [n.name for n in nodes] == ["c1", "n2"]
    assert len(errors) == 1 and "n1" in errors[0] and "State" in errors[0]
    errors = []
    bad = lines[0].replace("CPUTot=8", "CPUTot=eight").replace("RealMemory=4000", "RealMemory=4G")
    nodes = parse_scontrol_nodes(bad, errors)
    assert (nodes[0].cpus_total, nodes[0].memory_total_bytes, nodes[0].cpus_alloc) == (None, None, 1)
    assert len(errors) == 2
    errors = []
    assert parse_scontrol_nodes("slurm_load_node error: Unable to contact slurm controller\nfoo bar\n", errors) == []
    assert len(errors) == 3 and "no records recognised" in errors[-1]


def test_nodes_empty():
    errors: list[str] = []
    assert parse_scontrol_nodes("", errors) == []
    assert parse_scontrol_nodes("No nodes in the system\n", errors) == []
    assert errors == []


# ----------------------------------------------------------------------------------- partitions

def test_partitions_22_05_recorded():
    errors: list[str] = []
    parts = parse_scontrol_partitions(read(V22 / "scontrol-show-partitions.txt"), errors)
    assert errors == []
    assert parts == [
        Partition("cpu", "up", True, ("n1", "n2", "n3"), 24, None, 3),
        Partition("cloud", "up", False, ("c1", "c2"), 16, None, 2),
    ]


def test_partitions_25_05():
    errors: list[str] = []
    parts = parse_scontrol_partitions(read(V25 / "scontrol-show-partitions.txt"), errors)
    assert errors == []
    g43 = G42.replace("0042", "0043")
    assert parts == [
        Partition("gpu", "up", False, (G42, g43), 128, 172800, 2),
        Partition("cpu", "up", True, ("cn001", "cn002", "cn003", "cn004"), 512, 86400, 4),
        Partition("debug", "drain", False, (G42,), 64, 1800, 1),
        Partition("cloud", "inactive", False, ("cloud-c1", "cloud-c2"), 32, None, 2),
    ]


def test_partitions_malformed():
    errors: list[str] = []
    parts = parse_scontrol_partitions("PartitionName=p Nodes=n[1-3 MaxTime=forever State=UP TotalCPUs=x\n"
                                      "PartitionName=\n", errors)
    assert parts == [Partition("p", "up", False, (), None, None, None)]
    assert len(errors) == 4   # Nodes, MaxTime, TotalCPUs; the empty name
    assert parse_scontrol_partitions("No partitions in the system\n", errors := []) == [] and errors == []


# ----------------------------------------------------------------------------------- reservations, licenses

def test_reservations():
    errors: list[str] = []
    assert parse_scontrol_reservations(read(V22 / "scontrol-show-reservations.txt"), errors) == [
        Reservation("maint_window", 1795703042.0, 1795710242.0, ("n1",), 1, 8, frozenset({"MAINT", "SPEC_NODES"}),
                    ("root",), (), None),
    ]
    assert parse_scontrol_reservations(read(V25 / "scontrol-show-reservations.txt"), errors) == []
    assert errors == []
    res = parse_scontrol_reservations(
        "ReservationName=r2 StartTime=2026-11-26T00:00:00 EndTime=2026-11-27T00:00:00 Duration=1-00:00:00 "
        "Nodes=cn[001-002] NodeCnt=2 CoreCnt=256 Features=(null) PartitionName=cpu Flags=IGNORE_JOBS "
        "TRES=cpu=256 Users=(null) Groups=(null) Accounts=physics,theory Licenses=(null) State=INACTIVE "
        "BurstBuffer=(null) MaxStartDelay=(null) Comment=rack move, see ticket 12 Skip=No", errors)
    assert res == [Reservation("r2", 1795651200.0, 1795737600.0, ("cn001", "cn002"), 2, 256,
                               frozenset({"IGNORE_JOBS"}), (), ("physics", "theory"), "cpu")]
    assert errors == []


def test_licenses():
    errors: list[str] = []
    assert parse_scontrol_licenses(read(V22 / "scontrol-show-licenses.txt"), errors) == [
        License("comsol", 2, 2, 0, 0), License("matlab", 10, 0, 10, 0)]
    assert parse_scontrol_licenses(read(V25 / "scontrol-show-licenses.txt"), errors) == [
        License("comsol", 2, 2, 0, 0), License("matlab@flexlm", 100, 37, 60, 3)]
    assert parse_scontrol_licenses("No licenses configured in Slurm.\n", errors) == []
    assert errors == []
    assert parse_scontrol_licenses("LicenseName=comsol Total=2 Us\nLicenseName=x Total=1 Used=0\n", errors) == [
        License("x", 1, 0)]
    assert len(errors) == 2 and all("comsol" in e for e in errors)   # bad Total='2 Us'; record skipped
    errors = []
    assert parse_scontrol_licenses("garbage\n", errors) == [] and len(errors) == 2
