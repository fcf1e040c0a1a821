"""The optional `pyslurm` source: its version gate (pure), and its mapping, tested against a FAKE
pyslurm module (tests/unit/slurm/fake_pyslurm.py; no real pyslurm can run here: the lab's Slurm is
22.05.8 and PyPI has no pyslurm for 22.05). The fake objects are written from the same facts as the
cli fixtures (recorded 22.05, man-page-derived 25.05), so both sources must give the same models
and metric values; where pyslurm cannot say what the commands say, the test names the difference.
The real pyslurm is tried in test_pyslurm_real.py (skipped here, with the reason)."""
from __future__ import annotations

import calendar
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import fake_pyslurm as fake
from slurmops.exporter import metrics as m
from slurmops.exporter.collectors import (
    accounting,
    jobs as jobs_c,
    nodes as nodes_c,
    partitions as parts_c,
    scheduler as sched_c,
)
from slurmops.exporter.poller import ClusterPoller
from slurmops.exporter.slurm_exporter import COLLECTORS, ClusterConfig, builders, slurm_command
from slurmops.slurm.models import ClusterInfo, Controller
from slurmops.slurm.parse import text as T
from slurmops.slurm.parse.controllers import parse_scontrol_ping
from slurmops.slurm.sources import CallStats, SourceError, pyslurm_source as ps
from slurmops.slurm.sources.pyslurm_source import (
    PyslurmSource,
    PyslurmUnavailable,
    major_minor,
    open_pyslurm,
    version_gate,
)

FIX = Path(__file__).resolve().parents[2] / "fixtures"
V22 = FIX / "slurm-22.05" / "cli"
V25 = FIX / "slurm-25.05" / "cli"
NOW = 1795620000.0          # 2026-11-25T15:20:00Z, after every fixture time


# Fixture timestamps are the lab's local time, which is UTC (conftest.py).
pytestmark = pytest.mark.usefixtures("utc")


def ts(text: str) -> int:
    """What pyslurm hands over for a time: epoch seconds (the fixture's text is UTC)."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))


def cli(path: Path, parse):
    errors: list[str] = []
    out = parse(path.read_text(encoding="utf-8"), errors=errors)
    assert errors == []
    return out


def samples(families) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def without(model, **fields):
    return dataclasses.replace(model, **fields)


# ===================================================================================== version gate

@pytest.mark.parametrize("text,want", [
    ("25.11.0", (25, 11)), ("25.11.0.1", (25, 11)), ("22.5.1", (22, 5)), ("22.05.8", (22, 5)),
    ("slurm 22.05.8", (22, 5)), ("slurm-wlm 25.11.2", (25, 11)), ("dev", None), ("", None), (None, None),
])
def test_major_minor(text, want):
    assert major_minor(text) == want


def test_version_gate_accepts_the_same_major_minor():
    assert version_gate("25.11.0", "25.11.2") == ps.Gate(True, "pyslurm 25.11.0 matches Slurm 25.11.2")
    assert version_gate("22.5.1", "22.05.8").ok       # pyslurm drops the minor's leading zero


def test_version_gate_refuses_another_release_and_says_what_to_install():
    gate = version_gate("25.11.0", "22.05.8")
    assert not gate.ok
    assert gate.reason == ("pyslurm 25.11.0 does not match Slurm 22.05.8: install pyslurm 22.5.x "
                           "built against this Slurm, or use --source cli")
    assert not version_gate("25.5.0", "25.11.1").ok and not version_gate("24.11.0", "25.11.1").ok


def test_version_gate_refuses_unparsable_versions():
    gate = version_gate("dev", "22.05.8")
    assert not gate.ok and gate.reason.startswith("cannot read pyslurm's version ('dev')")
    gate = version_gate("25.11.0", "weird")
    assert not gate.ok and gate.reason.startswith("cannot tell which Slurm runs here (sinfo --version: "
                                                  "unreadable version 'weird')")
    gate = version_gate("25.11.0", None, slurm_error="exit: sinfo: fatal: Could not establish a "
                                                     "configuration source")
    assert not gate.ok
    assert "Could not establish a configuration source" in gate.reason
    assert gate.reason.endswith("(--slurm.conf), or use --source cli")
    assert not version_gate(None, "25.11.0").ok        # importable, but no readable version


def test_version_gate_refuses_an_import_error():
    gate = version_gate(None, "22.05.8", import_error="No module named 'pyslurm'")
    assert gate == ps.Gate(False, "pyslurm is not importable (No module named 'pyslurm'): install "
                                  "pyslurm 22.5.x built against this Slurm, or use --source cli")
    # An import error wins even over matching versions.
    assert not version_gate("25.11.0", "25.11.0", import_error="ImportError: libslurm.so.43").ok


# ---- open_pyslurm: the gate applied, pyslurm imported only after it agrees

@pytest.fixture
def fresh_process(monkeypatch):
    monkeypatch.setattr(ps, "_opened_with", [])
    monkeypatch.setenv("SLURM_CONF", "-")     # so that undo restores the real value, or its absence
    monkeypatch.delenv("SLURM_CONF")


def _never_import(name):
    raise AssertionError("pyslurm must not be imported before the versions are checked")


def test_open_pyslurm_refuses_a_mismatch_without_importing_it(fresh_process):
    with pytest.raises(PyslurmUnavailable, match=r"^pyslurm 25\.11\.0 does not match Slurm 22\.05\.8: "
                                                 r"install pyslurm 22\.5\.x"):
        open_pyslurm({}, installed=lambda: ("25.11.0", None), slurm=lambda *a: ("22.05.8", None),
                     importer=_never_import)


def test_open_pyslurm_refuses_when_not_installed(fresh_process):
    with pytest.raises(PyslurmUnavailable, match=r"not importable \(No module named 'pyslurm'\)"):
        open_pyslurm({}, installed=lambda: (None, "No module named 'pyslurm'"),
                     slurm=lambda *a: ("22.05.8", None), importer=_never_import)


def test_open_pyslurm_imports_a_matching_pyslurm_with_the_clusters_slurm_conf(fresh_process):
    mod = fake.module()
    seen = []

    def importer(name):
        seen.append((name, os.environ.get("SLURM_CONF")))
        return mod
    got = open_pyslurm({"SLURM_CONF": "/etc/slurm/a.conf"}, installed=lambda: ("25.11.0", None),
                       slurm=lambda *a: ("25.11.2", None), importer=importer)
    assert got is mod and seen == [("pyslurm", "/etc/slurm/a.conf")]   # what slurm_init() reads
    assert "SLURM_CONF" not in os.environ      # and no other source of this process inherits it
    # pyslurm is process-wide: a second cluster with another slurm.conf is refused.
    with pytest.raises(PyslurmUnavailable, match="process-wide"):
        open_pyslurm({"SLURM_CONF": "/etc/slurm/b.conf"}, installed=lambda: ("25.11.0", None),
                     slurm=lambda *a: ("25.11.2", None), importer=lambda name: mod)


def test_open_pyslurm_turns_an_import_failure_into_the_reason(fresh_process):
    def broken(name):
        raise ImportError("libslurm.so.43: cannot open shared object file: No such file or directory")
    with pytest.raises(PyslurmUnavailable,
                       match=r"^pyslurm is not importable \(ImportError: libslurm\.so\.43"):
        open_pyslurm({}, installed=lambda: ("25.11.0", None), slurm=lambda *a: ("25.11.2", None),
                     importer=broken)


def test_open_pyslurm_checks_the_imported_version_again(fresh_process):
    with pytest.raises(PyslurmUnavailable, match="pyslurm 24.11.1 does not match Slurm 25.11.2"):
        open_pyslurm({}, installed=lambda: ("25.11.0", None), slurm=lambda *a: ("25.11.2", None),
                     importer=lambda name: fake.module(version="24.11.1"))


def test_installed_pyslurm_version_reads_version_py_without_importing(tmp_path, monkeypatch):
    pkg = tmp_path / "pyslurm"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise AssertionError('imported')\n")
    (pkg / "version.py").write_text('# SLURM_MAJOR.PYSLURM_PATCH\n__version__ = "25.11.0"\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert ps.installed_pyslurm_version() == ("25.11.0", None)
    assert "pyslurm" not in sys.modules


def test_running_slurm_version_runs_sinfo_like_the_cli_source(tmp_path):
    sinfo = tmp_path / "sinfo"
    sinfo.write_text("#!/bin/sh\n[ \"$1\" = --version ] && [ \"$SLURM_TIME_FORMAT\" = standard ] "
                     "&& echo \"slurm $SLURM_CONF\"\n")
    sinfo.chmod(0o755)
    stats = CallStats()
    assert ps.running_slurm_version({"SLURM_CONF": "22.05.8"}, str(tmp_path), 5, stats) == ("22.05.8", None)
    assert stats.calls["sinfo"] == 1
    version, why = ps.running_slurm_version({}, str(tmp_path / "none"), 5, CallStats())
    assert version is None and why.startswith("not_found")


# ===================================================================== the 22.05 lab, through the fake

def nodes_22():
    """tests/fixtures/slurm-22.05/cli/scontrol-show-nodes.txt as pyslurm 25.11 Node objects."""
    base = dict(total_cpus=8, effective_cpus=8, real_memory=4000, slurm_version="22.05.8")
    return [
        fake.Node(name="c1", state="MIXED+CLOUD", allocated_cpus=1, cpu_load=0.08, allocated_memory=100,
                  free_memory=23559, partitions=["cloud"], available_features=["cloud"],
                  allocated_tres=fake.to_dict("cpu=1,mem=100M"), slurmd_start_time=ts("2026-11-25T14:23:30"),
                  **base),
        # CPULoad=N/A, FreeMem=N/A, no Version, slurmd never started: pyslurm says 0.0 and None.
        fake.Node(name="c2", state="IDLE+CLOUD+POWERED_DOWN", cpu_load=0.0, allocated_memory=0,
                  partitions=["cloud"], available_features=["cloud"],
                  **{**base, "slurm_version": None}),
        fake.Node(name="n1", state="IDLE", cpu_load=0.08, free_memory=23559, partitions=["cpu"],
                  slurmd_start_time=ts("2026-11-25T14:23:26"), **base),
        fake.Node(name="n2", state="MIXED", allocated_cpus=6, cpu_load=0.08, allocated_memory=600,
                  free_memory=23559, partitions=["cpu"], allocated_tres=fake.to_dict("cpu=6,mem=600M"),
                  slurmd_start_time=ts("2026-11-25T14:23:26"), **base),
        fake.Node(name="n3", state="IDLE+DRAIN", cpu_load=0.08, free_memory=23559, partitions=["cpu"],
                  reason="maintenance: firmware ✓ über-node", reason_user="root",
                  reason_time=ts("2026-11-25T14:24:02"), slurmd_start_time=ts("2026-11-25T14:23:26"),
                  **base),
    ]


def pending_job(job_id, submit, reason, tres, account="root", cpus=1, nodes=1, tasks=1, **kw):
    """One line of squeue-exporter.txt (all pending, partition cpu, user root)."""
    return fake.Job(id=job_id, state="PENDING", partition="cpu", user_id=0, user_name="root",
                    account=account, cpus=cpus, num_nodes=nodes, ntasks=tasks, submit_time=ts(submit),
                    state_reason=reason, requested_tres=fake.TrackableResources.from_str(tres), **kw)


def jobs_22():
    """tests/fixtures/slurm-22.05/cli/squeue-exporter.txt as pyslurm Job objects. A pending array's
    remaining tasks are its meta record (job id = array id) with the task list, minus its %N."""
    t1 = "cpu=1,mem=100M,node=1,billing=1"
    return [
        pending_job(91, "2026-11-25T14:38:41", "BeginTime", "cpu=1,mem=2G,node=1,billing=1"),
        pending_job(90, "2026-11-25T14:38:41", "DependencyNeverSatisfied", t1),
        pending_job(83, "2026-11-25T14:35:22", "Dependency", t1),
        pending_job(87, "2026-11-25T14:36:26", "JobHeldUser", "cpu=1,mem=1500M,node=1,billing=1"),
        pending_job(93, "2026-11-25T14:38:58", "JobHeldUser", t1, account="research", array_id=93,
                    array_tasks_waiting="0-15", array_tasks_parallel=4),
        pending_job(80, "2026-11-25T14:35:22", "JobHeldUser", t1, array_id=80,
                    array_tasks_waiting="1,3,5,7,9"),
        pending_job(86, "2026-11-25T14:36:26", "JobHeldUser", "cpu=4,mem=1.50G,node=1,billing=4",
                    cpus=4, nodes=2, tasks=2),
        pending_job(85, "2026-11-25T14:35:26", "JobHeldUser", t1, array_id=85,
                    array_tasks_waiting=",".join(str(i * i) for i in range(1, 30))),
        pending_job(84, "2026-11-25T14:35:22", "JobHeldUser", t1, array_id=84, array_tasks_waiting="1-298:3"),
        pending_job(82, "2026-11-25T14:35:22", "JobHeldUser", "cpu=3,mem=450M,node=1,billing=3",
                    cpus=3, tasks=3),
        pending_job(81, "2026-11-25T14:35:22", "JobHeldUser", "cpu=4,mem=600M,node=2,billing=4",
                    account="research", cpus=4, nodes=2, tasks=4),
        pending_job(79, "2026-11-25T14:35:22", "JobHeldUser", t1),
    ]


def partitions_22():
    return [
        fake.Partition(name="cpu", state="UP", is_default=True, nodes="n[1-3]", total_cpus=24,
                       total_nodes=3, max_time="UNLIMITED"),
        fake.Partition(name="cloud", state="UP", nodes="c[1-2]", total_cpus=16, total_nodes=2,
                       max_time="UNLIMITED"),
    ]


def reservations_22():
    F = fake.ReservationFlags
    return [fake.Reservation(name="maint_window", start_time=ts("2026-11-26T14:24:02"),
                             end_time=ts("2026-11-26T16:24:02"), nodes="n1", node_count=1, cpus=8,
                             tres={"cpu": 8}, flags=F.MAINTENANCE | F.SPECIFIC_NODES, users=["root"])]


RPC_TYPES_22 = [   # sdiag.txt: name, id, count, total_time (microseconds)
    ("REQUEST_PARTITION_INFO", 2009, 66, 12269), ("REQUEST_JOB_INFO", 2003, 64, 19511),
    ("REQUEST_SUBMIT_BATCH_JOB", 4003, 22, 15224), ("REQUEST_KILL_JOB", 5032, 11, 22514),
    ("REQUEST_COMPLETE_BATCH_SCRIPT", 5018, 10, 5901), ("MESSAGE_EPILOG_COMPLETE", 6012, 6, 575),
    ("MESSAGE_NODE_REGISTRATION_STATUS", 1002, 5, 1104), ("REQUEST_NODE_INFO", 2007, 5, 1186),
    ("REQUEST_AUTH_TOKEN", 5039, 3, 1941), ("REQUEST_UPDATE_NODE", 3002, 3, 753),
    ("REQUEST_STEP_COMPLETE", 5016, 3, 1187), ("REQUEST_STATS_INFO", 2035, 2, 266),
    ("REQUEST_PING", 1008, 2, 416), ("REQUEST_FED_INFO", 2049, 2, 339),
    ("REQUEST_RESERVATION_INFO", 2024, 2, 353), ("REQUEST_CREATE_RESERVATION", 3006, 2, 511),
    ("REQUEST_JOB_STEP_CREATE", 5001, 1, 770), ("REQUEST_RESOURCE_ALLOCATION", 4001, 1, 780),
    ("REQUEST_COMPLETE_JOB_ALLOCATION", 5017, 1, 599), ("REQUEST_JOB_READY", 4019, 1, 183),
    ("REQUEST_DELETE_RESERVATION", 3008, 1, 231),
]


def stats_22():
    return fake.Statistics(
        request_time=1795616666, data_since=1795616607, server_thread_count=3, jobs_submitted=29,
        jobs_started=17, jobs_completed=5, jobs_canceled=11, jobs_failed=0, jobs_pending=6, jobs_running=6,
        schedule_cycle_last=28, schedule_cycle_max=1482, schedule_cycle_counter=10, schedule_cycle_mean=248,
        schedule_cycle_sum=2480, schedule_queue_length=2, backfilled_jobs=4, last_backfilled_jobs=4,
        backfill_cycle_counter=2, backfill_cycle_last=535, backfill_cycle_max=858, backfill_cycle_mean=696,
        backfill_cycle_sum=1393, backfill_last_depth=4, backfill_last_depth_try=2,
        backfill_queue_length=4, backfill_cycle_last_when=1795616666,
        rpcs_by_type={n: fake.RPCType(id=i, name=n, count=c, time=t, average_time=t // c)
                      for n, i, c, t in RPC_TYPES_22},
        rpcs_by_user={"root": fake.RPCUser(user_id=0, user_name="root", count=209, time=84542),
                      "slurmlab": fake.RPCUser(user_id=995, user_name="slurmlab", count=4, time=2071)})


def lab_22(**kw):
    args = dict(nodes=nodes_22(), jobs=jobs_22(), partitions=partitions_22(), reservations=reservations_22(),
                stats=stats_22(), config=fake.Config(cluster_name="lab", version="22.05.8"),
                controllers=(("labhost", True),),
                licenses={"comsol": {"total": 2, "in_use": 2, "available": 0, "remote": False},
                          "matlab": {"total": 10, "in_use": 0, "available": 10, "remote": False}})
    args.update(kw)
    return PyslurmSource(fake.module(**args))


def test_pyslurm_source_with_fake_pyslurm_module_gives_the_cli_nodes_of_22_05():
    src = lab_22()
    assert src.nodes() == cli(V22 / "scontrol-show-nodes.txt", T.parse_scontrol_nodes)
    assert src.stats.calls == {"pyslurm.nodes": 1} and src.stats.errors == {} and src.stats.skipped == {}


def test_pyslurm_source_with_fake_pyslurm_module_gives_the_cli_partitions_reservations_scheduler_of_22_05():
    src = lab_22()
    assert src.partitions() == cli(V22 / "scontrol-show-partitions.txt", T.parse_scontrol_partitions)
    assert src.reservations() == cli(V22 / "scontrol-show-reservations.txt", T.parse_scontrol_reservations)
    assert src.scheduler() == cli(V22 / "sdiag.txt", T.parse_sdiag)
    assert src.controllers() == cli(V22 / "scontrol-ping.txt", parse_scontrol_ping)
    assert src.info() == ClusterInfo(cluster="lab", version="22.05.8")
    # The deprecated licenses API has no reserved count: None, not scontrol's 0.
    assert src.licenses() == [without(lic, reserved=None)
                              for lic in cli(V22 / "scontrol-show-licenses.txt", T.parse_scontrol_licenses)]
    assert src.stats.errors == {} and src.stats.skipped == {}


def test_pyslurm_source_with_fake_pyslurm_module_gives_the_cli_jobs_of_22_05():
    got, want = lab_22().jobs(), cli(V22 / "squeue-exporter.txt", T.parse_squeue)
    # Same ids (array ranges as squeue prints them), states, partitions, users, accounts, reasons,
    # CPUs, memory from the TRES (1.50G = 1536 MiB), task counts, times. GPUs: squeue's request
    # fields say N/A (none); pyslurm cannot tell none from a gres/gpu:N request, so None.
    assert [j.job_id for j in got] == [j.job_id for j in want]
    assert "93_[0-15%4]" in [j.job_id for j in got]
    assert all(j.gpus is None for j in got) and all(j.gpus == 0 for j in want)
    assert [without(j, gpus=0) for j in got] == want


def test_pyslurm_source_with_fake_pyslurm_module_gives_the_cli_metric_values_of_22_05():
    src = lab_22()
    nodes, parts = src.nodes(), src.partitions()
    cli_nodes = cli(V22 / "scontrol-show-nodes.txt", T.parse_scontrol_nodes)
    cli_parts = cli(V22 / "scontrol-show-partitions.txt", T.parse_scontrol_partitions)
    names = [p.name for p in parts]
    pairs = [
        (nodes_c.build("lab", nodes), nodes_c.build("lab", cli_nodes)),
        (parts_c.build("lab", parts, nodes), parts_c.build("lab", cli_parts, cli_nodes)),
        (jobs_c.build("lab", src.jobs(), NOW, names, True, True),
         jobs_c.build("lab", cli(V22 / "squeue-exporter.txt", T.parse_squeue), NOW, names, True, True)),
        (sched_c.build("lab", src.scheduler()), sched_c.build("lab", cli(V22 / "sdiag.txt", T.parse_sdiag))),
        (accounting.reservations("lab", src.reservations(), NOW),
         accounting.reservations("lab", cli(V22 / "scontrol-show-reservations.txt",
                                            T.parse_scontrol_reservations), NOW)),
        (accounting.controllers("lab", src.controllers()),
         accounting.controllers("lab", cli(V22 / "scontrol-ping.txt", parse_scontrol_ping))),
    ]
    for got, want in pairs:
        assert samples(got) == samples(want) and samples(want)
    lic_got = samples(accounting.licenses("lab", src.licenses()))
    lic_want = samples(accounting.licenses("lab", cli(V22 / "scontrol-show-licenses.txt",
                                                      T.parse_scontrol_licenses)))
    assert lic_got == {k: v for k, v in lic_want.items() if ("status", "reserved") not in k[1]}


# ============================================= 25.05 (GPUs, running arrays, odd states), through the fake

GPU_NODE = "gpu-a100-rack12-chassis03-blade07-node00{}.hpc.physics.example.org"
GPU_NODES = "gpu-a100-rack12-chassis03-blade07-node[0042-0043].hpc.physics.example.org"


def nodes_25():
    """tests/fixtures/slurm-25.05/cli/scontrol-show-nodes.txt as pyslurm 25.11 Node objects."""
    up = dict(slurm_version="25.05.5", slurmd_start_time=ts("2026-11-01T10:00:30"))
    gpu = dict(total_cpus=64, real_memory=515000, partitions=["gpu"], available_features=["a100", "ib"],
               configured_gres=fake.to_gres_dict("gpu:a100:4(S:0-1)"), **up)
    cpu = dict(total_cpus=128, real_memory=257000, partitions=["cpu"])
    cloud = dict(total_cpus=16, real_memory=64000, partitions=["cloud"], available_features=["cloud"])
    tres = fake.to_dict("cpu=48,mem=256G,gres/gpu=2")
    return [
        fake.Node(name=GPU_NODE.format(42), state="MIXED", allocated_cpus=48, cpu_load=12.37,
                  allocated_memory=262144, free_memory=201342, allocated_tres=tres,
                  allocated_gres=fake.gres_from_tres_dict(tres), **{**gpu, "partitions": ["gpu", "debug"]}),
        fake.Node(name=GPU_NODE.format(43), state="IDLE+DRAIN", cpu_load=0.01, free_memory=509871,
                  reason="Ремонт: замена DIMM ✓ — größere Prüfung 🚧", reason_user="admin",
                  reason_time=ts("2026-11-24T09:15:00"), **gpu),
        fake.Node(name="cn001", state="DOWN+DRAIN+NOT_RESPONDING", cpu_load=0.0, reason="Not responding",
                  reason_user="slurm", reason_time=ts("2026-11-22T03:16:40"), **cpu),
        fake.Node(name="cn002", state="ALLOCATED+COMPLETING", allocated_cpus=128, cpu_load=127.9,
                  allocated_memory=256000, free_memory=812, allocated_tres=fake.to_dict("cpu=128,mem=250G"),
                  **cpu, **up),
        fake.Node(name="cn003", state="IDLE+DRAIN+NOT_RESPONDING+MAINTENANCE+RESERVED", cpu_load=0.02,
                  free_memory=250110, reason="bad dimm size=4G in slot A2; see ticket #4711",
                  reason_user="root", reason_time=ts("2026-11-25T01:02:03"), **cpu, **up),
        fake.Node(name="cn004", state="MIXED+REBOOT_REQUESTED", allocated_cpus=64, cpu_load=63.5,
                  allocated_memory=128000, free_memory=120000, reason="Reboot ASAP : kernel update",
                  reason_user="root", reason_time=ts("2026-11-25T12:00:00"), **cpu, **up),
        fake.Node(name="cloud-c1", state="IDLE+CLOUD+POWERED_DOWN", cpu_load=0.0, **cloud),
        fake.Node(name="cloud-c2", state="DOWN+POWERED_DOWN", cpu_load=0.0, reason="ResumeTimeout reached",
                  reason_user="slurm", reason_time=ts("2026-11-25T13:10:00"), **cloud),
    ]


def job_25(job_id, state, partition, user, account, submit, tres, cpus, nodes=1, tasks=1, start=None,
           reason="None", node_list=None, **kw):
    running = state != "PENDING"
    t = fake.TrackableResources.from_str(tres)
    return fake.Job(id=job_id, state=state, partition=partition, user_name=user, account=account,
                    submit_time=ts(submit), start_time=ts(start) if start else None, state_reason=reason,
                    cpus=cpus, num_nodes=nodes, ntasks=tasks, allocated_nodes=node_list,
                    allocated_tres=t if running else None, requested_tres=t, **kw)


def jobs_25():
    """tests/fixtures/slurm-25.05/cli/squeue-exporter.txt as pyslurm Job objects. Request strings
    in Slurm's ``gres/gpu:N`` form read as None through tres_per_* (pyslurm parses name=count only);
    the deprecated gres_per_node reads them (cstr.to_gres_dict)."""
    g1 = "cpu=16,mem=64G,node=1,billing=16,gres/gpu=1"
    per_node_1 = dict(tres_per_node=fake.TrackableResources.from_str("gres/gpu:1"),
                      gres_per_node=fake.to_gres_dict("gres/gpu:1"))
    node42 = GPU_NODE.format(42)
    return [
        job_25(5001, "RUNNING", "gpu", "alice", "physics", "2026-11-25T10:00:00", g1, 16,
               start="2026-11-25T10:05:00", node_list=node42, array_id=5000, array_task_id=1, **per_node_1),
        job_25(5002, "RUNNING", "gpu", "alice", "physics", "2026-11-25T10:00:00", g1, 16,
               start="2026-11-25T10:05:01", node_list=node42, array_id=5000, array_task_id=2, **per_node_1),
        job_25(5000, "PENDING", "gpu", "alice", "physics", "2026-11-25T10:00:00", g1, 16,
               reason="JobArrayTaskLimit", array_id=5000, array_tasks_waiting="3-100", array_tasks_parallel=2,
               **per_node_1),
        job_25(5003, "PENDING", "gpu", "alice", "physics", "2026-11-25T10:00:00", g1, 16, reason="BeginTime",
               array_id=5000, array_task_id=101, **per_node_1),
        job_25(5100, "RUNNING", "gpu", "bob", "physics", "2026-11-25T11:00:00",
               "cpu=32,mem=128000M,node=2,billing=32,gres/gpu=4,gres/gpu:a100=4", 32, nodes=2, tasks=8,
               start="2026-11-25T11:00:02", node_list=GPU_NODES,
               tres_per_job=fake.TrackableResources.from_str("gres/gpu:a100:4")),
        job_25(5101, "PENDING", "gpu", "bob", "physics", "2026-11-25T12:00:00",
               "cpu=64,mem=500G,node=2,billing=64", 64, nodes=2, tasks=2, reason="Resources",
               tres_per_node=fake.TrackableResources.from_str("gres/gpu:a100:4"),
               gres_per_node=fake.to_gres_dict("gres/gpu:a100:4")),
        job_25(5102, "PENDING", "gpu", "carol-long-user-name-with-dashes", "theory", "2026-11-25T12:30:00",
               "cpu=8,mem=16000M,node=1,billing=8", 8, tasks=4, reason="Priority",
               tres_per_task=fake.TrackableResources.from_str("gres/gpu:1")),
        job_25(5200, "RUNNING", "cpu", "carol-long-user-name-with-dashes", "theory", "2026-11-25T09:00:00",
               "cpu=256,mem=500G,node=2,billing=256", 256, nodes=2, tasks=256, start="2026-11-25T09:00:05",
               node_list="cn[002,004]"),
        job_25(5201, "COMPLETING", "cpu", "root", "root", "2026-11-25T14:00:00",
               "cpu=1,mem=2000M,node=1,billing=1", 1, start="2026-11-25T14:00:01", reason="NonZeroExitCode",
               node_list="cn002"),
        job_25(5300, "PENDING", "cpu", "alice", "physics", "2026-11-25T13:00:00",
               "cpu=4,mem=8000M,node=1,billing=4", 4, tasks=4,
               reason="ReqNodeNotAvail, UnavailableNodes:cn001"),
        # task 0 is in the range: pyslurm reports array_task_id 0 as None, which must not matter here
        job_25(5400, "PENDING", "cpu", "bob", "physics", "2026-11-25T13:30:00",
               "cpu=1,mem=2000M,node=1,billing=1", 1, reason="Priority", array_id=5400,
               array_tasks_waiting="0-998:2"),
    ]


def partitions_25():
    return [
        fake.Partition(name="gpu", state="UP", nodes=GPU_NODES, total_cpus=128, total_nodes=2, max_time=2880),
        fake.Partition(name="cpu", state="UP", is_default=True, nodes="cn[001-004]", total_cpus=512,
                       total_nodes=4, max_time=1440),
        fake.Partition(name="debug", state="DRAIN", is_hidden=True, nodes=GPU_NODE.format(42), total_cpus=64,
                       total_nodes=1, max_time=30),
        fake.Partition(name="cloud", state="INACTIVE", nodes="cloud-c[1-2]", total_cpus=32, total_nodes=2,
                       max_time="UNLIMITED"),
    ]


NOT_REGISTERED_25 = {"cn001", "cloud-c1", "cloud-c2"}     # BootTime=None SlurmdStartTime=None


def test_pyslurm_source_with_fake_pyslurm_module_gives_the_cli_nodes_of_25_05_gpus_and_states():
    got = PyslurmSource(fake.module(nodes=nodes_25())).nodes()
    want = cli(V25 / "scontrol-show-nodes.txt", T.parse_scontrol_nodes)
    assert [n.name for n in got] == [n.name for n in want]
    for g, w in zip(got, want, strict=True):
        # GRES in use come from the allocated TRES: counts and types, no GPU indexes.
        assert [(x.name, x.type, x.count) for x in g.gres_used] == \
            [(x.name, x.type, x.count) for x in w.gres_used if x.count]
        # pyslurm says cpu_load 0.0 for "not reported": a node whose slurmd never registered gets None.
        assert g.cpu_load == (None if g.name in NOT_REGISTERED_25 else w.cpu_load)
        assert without(g, gres_used=w.gres_used, cpu_load=w.cpu_load) == w
    assert got[0].gres_used[0].type == "a100"      # untyped gres/gpu=2 on an all-a100 node


def test_pyslurm_source_with_fake_pyslurm_module_gives_the_cli_jobs_of_25_05_arrays_and_gpus():
    got = PyslurmSource(fake.module(jobs=jobs_25())).jobs()
    want = cli(V25 / "squeue-exporter.txt", T.parse_squeue)
    assert [j.job_id for j in got] == [j.job_id for j in want] == [
        "5000_1", "5000_2", "5000_[3-100%2]", "5000_101", "5100", "5101", "5102", "5200", "5201", "5300",
        "5400_[0-998:2]"]
    by_id = {j.job_id: j for j in got}
    assert by_id["5000_[3-100%2]"].array_task_count == 98 and by_id["5400_[0-998:2]"].array_task_count == 500
    assert by_id["5100"].gpus == 4 and by_id["5000_1"].gpus == 1     # from the TRES
    assert by_id["5101"].gpus == 8                                   # gres/gpu:a100:4 per node x 2
    # --gpus-per-task=1 (gres/gpu:1) is unreadable through pyslurm 25.11: unknown, where squeue says 4.
    # CPU-only jobs: None as well (pyslurm cannot tell them from that case); squeue says 0.
    assert {j.job_id: j.gpus for j in want if j.gpus != by_id[j.job_id].gpus} == {
        "5102": 4, "5200": 0, "5201": 0, "5300": 0, "5400_[0-998:2]": 0}
    assert all(by_id[k].gpus is None for k in ("5102", "5200", "5201", "5300", "5400_[0-998:2]"))
    assert [without(g, gpus=w.gpus) for g, w in zip(got, want, strict=True)] == want


def test_pyslurm_source_with_fake_pyslurm_module_gives_the_cli_metric_values_of_25_05():
    src = PyslurmSource(fake.module(nodes=nodes_25(), jobs=jobs_25(), partitions=partitions_25()))
    nodes, parts = src.nodes(), src.partitions()
    cli_nodes = cli(V25 / "scontrol-show-nodes.txt", T.parse_scontrol_nodes)
    cli_parts = cli(V25 / "scontrol-show-partitions.txt", T.parse_scontrol_partitions)
    assert parts == cli_parts
    names = [p.name for p in parts]
    got = samples(nodes_c.build("c", nodes) + parts_c.build("c", parts, nodes)
                  + jobs_c.build("c", src.jobs(), NOW, names, True, True))
    cli_jobs = cli(V25 / "squeue-exporter.txt", T.parse_squeue)
    want = samples(nodes_c.build("c", cli_nodes) + parts_c.build("c", cli_parts, cli_nodes)
                   + jobs_c.build("c", cli_jobs, NOW, names, True, True))
    # The only difference: CPU load of nodes whose slurmd never registered (scontrol: 0.00 in this
    # hand-written file, N/A in the 22.05 recording; pyslurm: 0.0 for both, read as unknown).
    load = {k for k in want if k[0] == m.NODE_LOAD.name and dict(k[1])["node"] in NOT_REGISTERED_25}
    assert set(want) - set(got) == load
    assert got == {k: v for k, v in want.items() if k not in load}
    assert got[(m.GPUS.name, (("cluster", "c"), ("status", "allocated"), ("type", "a100")))] == 2
    assert got[(m.ACCOUNT_GPUS.name, (("account", "physics"), ("cluster", "c")))] == 6


# ================================================================================= faults

def test_pyslurm_source_with_fake_pyslurm_module_a_raising_call_is_a_counted_source_error():
    mod = fake.module(nodes=nodes_22())

    def down(*a, **kw):
        raise fake.RPCError("Unable to contact slurm controller (connect failure)")
    mod.Nodes.load = staticmethod(down)
    src = PyslurmSource(mod)
    with pytest.raises(SourceError) as e:
        src.nodes()
    assert (e.value.command, e.value.reason) == ("pyslurm.nodes", "exit")
    assert "RPCError: Unable to contact slurm controller" in e.value.detail
    assert src.stats.calls["pyslurm.nodes"] == 1 and src.stats.errors == {("pyslurm.nodes", "exit"): 1}


def test_pyslurm_source_with_fake_pyslurm_module_only_the_failing_collector_fails():
    src = lab_22()
    src.api.slurmctld.diag = lambda: (_ for _ in ()).throw(MemoryError("xmalloc failed"))
    cc = ClusterConfig(collectors=COLLECTORS)
    p = ClusterPoller("lab", src, builders(cc), interval=3600, options=cc)
    p.poll_all()
    failed = {name: st.error for name, st in p.states.items() if not st.success}
    assert failed == {"scheduler": "pyslurm.diag: exit: MemoryError: xmalloc failed",
                      "fairshare": "pyslurm.fairshare: unsupported: pyslurm 25.11.0 has no fair-share "
                                   "(sshare) API"}
    assert src.stats.errors == {("pyslurm.diag", "exit"): 1}


def test_pyslurm_source_with_fake_pyslurm_module_a_missing_attribute_leaves_that_field_unset():
    nodes = nodes_22()
    del nodes[3].free_memory                      # n2: a pyslurm without Node.free_memory

    class Broken(fake.Node):
        FIELDS = {k: v for k, v in fake.Node.FIELDS.items() if k != "cpu_load"}

        @property
        def cpu_load(self):
            raise ValueError("invalid literal for int()")
    broken = Broken(**{k: getattr(nodes[2], k) for k in Broken.FIELDS})
    nodes[2] = broken                             # n1: a property that raises inside pyslurm
    src = PyslurmSource(fake.module(nodes=nodes))
    got = {n.name: n for n in src.nodes()}
    want = {n.name: n for n in cli(V22 / "scontrol-show-nodes.txt", T.parse_scontrol_nodes)}
    assert got["n2"] == without(want["n2"], memory_free_bytes=None)
    assert got["n1"] == without(want["n1"], cpu_load=None)
    assert got["n3"] == want["n3"]
    assert src.stats.skipped == {"nodes": 2} and src.stats.errors == {}


def test_pyslurm_source_with_fake_pyslurm_module_skips_unreadable_records_and_fails_on_nothing_readable():
    nodes = nodes_22()
    nodes[0].state = None
    src = PyslurmSource(fake.module(nodes=nodes))
    assert [n.name for n in src.nodes()] == ["c2", "n1", "n2", "n3"]
    assert src.stats.skipped == {"nodes": 1}
    src = PyslurmSource(fake.module(nodes=[fake.Node(name="x"), fake.Node(state="IDLE")]))
    with pytest.raises(SourceError) as e:
        src.nodes()
    assert (e.value.reason, src.stats.errors) == ("parse", {("pyslurm.nodes", "parse"): 1})


def test_pyslurm_source_with_fake_pyslurm_module_unsupported_apis():
    src = lab_22()
    with pytest.raises(SourceError) as e:
        src.fairshare()
    assert e.value.reason == "unsupported"
    del src.api.licenses                     # a pyslurm without the deprecated class
    with pytest.raises(SourceError) as e:
        src.licenses()
    assert (e.value.reason, e.value.detail) == ("unsupported", "pyslurm 25.11.0 has no pyslurm.licenses")
    assert src.stats.errors == {}


def test_pyslurm_source_with_fake_pyslurm_module_controllers_one_down():
    src = PyslurmSource(fake.module(controllers=(("ctl1", True), ("ctl2", False), ("ctl3", True))))
    assert src.controllers() == [Controller("ctl1", "primary", True), Controller("ctl2", "backup", False),
                                 Controller("ctl3", "backup2", True)]
    assert src.stats.errors == {} and src.stats.calls == {"pyslurm.controllers": 1, "pyslurm.ping": 3}
    # Without the deprecated SlurmctldHost list only ping_all() is left: it raises if any is down.
    del src.api.get_controllers
    with pytest.raises(SourceError) as e:
        src.controllers()
    assert e.value.reason == "exit"
    src = PyslurmSource(fake.module(controllers=(("ctl1", True),)))
    del src.api.get_controllers
    assert src.controllers() == [Controller("ctl1", "primary", True)]


def test_pyslurm_source_with_fake_pyslurm_module_reservation_flags_use_scontrols_names():
    F = fake.ReservationFlags
    r = fake.Reservation(name="r", flags=F.IGNORE_RUNNING_JOBS | F.STATIC_NODES | F.PURGE | F.FLEX,
                         reoccurrence=fake.ReservationReoccurrence.DAILY, nodes="n[1-2]", tres={"cpu": 16})
    got = ps.reservations_from_pyslurm([r])
    assert got[0].flags == frozenset({"IGNORE_JOBS", "STATIC", "PURGE_COMP", "FLEX", "DAILY"})
    assert (got[0].nodes, got[0].cpu_count, got[0].start_time) == (("n1", "n2"), 16, None)


def test_pyslurm_source_with_fake_pyslurm_module_array_task_zero():
    """pyslurm reads array_task_id 0 as None (zero is its "unset"); the record is still task 0."""
    j = fake.Job(id=701, state="RUNNING", partition="cpu", user_name="root", array_id=700, array_task_id=None)
    assert ps.jobs_from_pyslurm([j])[0].job_id == "700_0"


def test_licenses_family_documents_what_pyslurm_lacks():
    assert "pyslurm" in m.SHARE_FIELDS["fairshare"].not_from
    assert m.LICENSES.not_from == ("pyslurm (status reserved)",)


# ================================================================================= the command

def test_exporter_refuses_source_pyslurm_with_the_reason(monkeypatch):
    monkeypatch.setattr(ps, "installed_pyslurm_version", lambda: ("25.11.0", None))
    monkeypatch.setattr(ps, "running_slurm_version", lambda *a: ("22.05.8", None))
    result = CliRunner().invoke(slurm_command, ["--source", "pyslurm", "--web.listen-address", "127.0.0.1:0"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert ("cannot use --source pyslurm: pyslurm 25.11.0 does not match Slurm 22.05.8: install pyslurm "
            "22.5.x built against this Slurm, or use --source cli") in " ".join(result.output.split())


def test_exporter_source_pyslurm_on_this_machine_exits_with_the_reason():
    """The real command, as an operator would run it here (no pyslurm, or none matching)."""
    try:
        ps.open_pyslurm({}, importer=_never_import)
    except PyslurmUnavailable:
        pass
    except AssertionError:
        pytest.skip("a matching pyslurm is installed here: the command would start serving")
    exe = Path(sys.executable).with_name("slurmops")
    r = subprocess.run([str(exe), "exporter", "slurm", "--source", "pyslurm",
                        "--web.listen-address", "127.0.0.1:0"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "cannot use --source pyslurm: " in r.stderr and "or use --source cli" in r.stderr
    assert "Traceback" not in r.stderr


def test_exporter_config_file_source_pyslurm_is_gated_too(monkeypatch, tmp_path):
    monkeypatch.setattr(ps, "installed_pyslurm_version", lambda: (None, "No module named 'pyslurm'"))
    monkeypatch.setattr(ps, "running_slurm_version", lambda *a: ("22.05.8", None))
    conf = tmp_path / "clusters.yml"
    conf.write_text("clusters:\n  - name: hpc\n    source: pyslurm\n"
                    "    env: {SLURM_CONF: /etc/slurm/slurm.conf}\n")
    result = CliRunner().invoke(slurm_command, ["--config.file", str(conf)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert ("cannot use --source pyslurm: pyslurm is not importable (No module named 'pyslurm'): install "
            "pyslurm 22.5.x built against this Slurm, or use --source cli") in " ".join(result.output.split())
