"""The job exporter against real jobs in the lab (cgroup v1, multiple-slurmd, Slurm 22.05.8): its
values agree with the kernel files, CPU seconds rise for a CPU burner, the memory limit is the
job's --mem, an OOM kill is counted, and account/partition come from the real squeue."""
from __future__ import annotations

from pathlib import Path

import pytest

from labtools import wait_for
from slurmops.lab import proc
from slurmops.lab.workload import sbatch
from slurmops.node.exporter import JobExporter
from slurmops.node.jobinfo import JobInfoCache, squeue_runner

pytestmark = pytest.mark.lab
ROOT = "/sys/fs/cgroup"


def job_dir(ctl: str, jobid: str, nodes=None) -> Path | None:
    """The job's cgroup dir under one of the given lab nodes (another lab may reuse the id)."""
    for p in Path(ROOT, ctl).glob(f"slurm*/uid_*/job_{jobid}"):
        if nodes is None or p.parent.parent.name.removeprefix("slurm_") in nodes:
            return p
    return None


@pytest.fixture
def exporter(lab, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(lab.cfg.slurm_conf))   # squeue of the lookup finds the lab
    monkeypatch.setenv("PATH", lab.env["PATH"])   # a newer generation's squeue (lab/nsroot.py)
    # Only this lab's nodes: a private lab of another test reuses job ids under its own prefixes.
    return JobExporter(ROOT, gpu=False, node=",".join(lab.cfg.node_names),
                       lookup=JobInfoCache(squeue_runner()), cache_s=0)


@pytest.fixture
def jobs(lab):
    mine: list[str] = []
    yield mine
    if mine:
        proc.run(["scancel", *mine], env=lab.env, timeout=30)


def stats_of(exporter, jobid):
    for j in exporter.scanner._scan():
        if j.jobid == jobid:
            return j
    return None


def test_cpu_burner_and_memory_limit_match_kernel_files(lab, exporter, jobs):
    jid = sbatch(lab, "-p", "cpu", "-J", "jobexp-burn", "--mem=64M", "-A", "research",
                 "--wrap", "python3 -c 'while True: pass'")
    jobs.append(jid)
    assert wait_for(lambda: job_dir("cpuacct", jid, lab.cfg.node_names) and stats_of(exporter, jid)
                    and stats_of(exporter, jid).stats.processes, 60)
    first = stats_of(exporter, jid)
    # a CPU burner burns: half a CPU second more (2 s of wall time on an idle machine; on the
    # loaded 2-core CI machine one run got 0.47 s in 2 s, so wait for the CPU time, not the clock)
    assert wait_for(lambda: stats_of(exporter, jid).stats.cpu_user_s > first.stats.cpu_user_s + 0.5, 30)
    j = stats_of(exporter, jid)
    # agrees with the kernel files read right after (counters only grow in between)
    cpu_dir, mem_dir = job_dir("cpuacct", jid, lab.cfg.node_names), job_dir("memory", jid, lab.cfg.node_names)
    kernel_user = int((cpu_dir / "cpuacct.usage_user").read_text()) / 1e9
    assert j.stats.cpu_user_s <= kernel_user < j.stats.cpu_user_s + 1.0
    assert j.stats.mem_limit == int((mem_dir / "memory.limit_in_bytes").read_text()) == 64 * 2**20
    assert j.stats.mem_peak <= int((mem_dir / "memory.max_usage_in_bytes").read_text())
    assert j.stats.cpus == 1
    user, account, partition = j.labels[1:4]
    assert (user, account, partition) == ("root", "research", "cpu")
    body = exporter.render().decode()
    labels = f'account="research",jobid="{jid}",partition="cpu",user="root"'
    assert f"slurm_job_memory_limit_bytes{{{labels}}} 6.7108864e+07" in body


def test_oom_kill_is_counted(lab, exporter, jobs):
    # grows past --mem=50M; the batch script then sleeps so the cgroup outlives the kill
    hog = "python3 -c 'b=[]\nwhile True: b.append(bytearray(8*1024*1024))'; sleep 120"
    jid = sbatch(lab, "-p", "cpu", "-J", "jobexp-oom", "--mem=50M", "--wrap", hog)
    jobs.append(jid)
    j = wait_for(lambda: (s := stats_of(exporter, jid)) and s.stats.oom_kills and s, 60)
    assert j, "no OOM kill seen"
    assert j.stats.oom_kills >= 1
    assert j.stats.mem_peak >= 40 * 2**20 and j.stats.mem_limit == 50 * 2**20
    # v1 counts the kill in the task's cgroup, not the job's: the exporter sums the subtree
    mem_dir = job_dir("memory", jid, lab.cfg.node_names)
    kernel = sum(int(line.split()[1]) for p in mem_dir.rglob("memory.oom_control")
                 for line in p.read_text().splitlines() if line.startswith("oom_kill "))
    assert kernel == j.stats.oom_kills
    body = exporter.render().decode()
    assert 'slurm_job_oom_kills_total{account="' in body and f'jobid="{jid}"' in body


def test_finished_job_disappears(lab, exporter, jobs):
    jid = sbatch(lab, "-p", "cpu", "-J", "jobexp-short", "--wrap", "sleep 3")
    jobs.append(jid)
    assert wait_for(lambda: stats_of(exporter, jid), 30)
    assert wait_for(lambda: stats_of(exporter, jid) is None, 60)
    assert f'jobid="{jid}"' not in exporter.render().decode()
