"""Discovery and reading on fixture trees: a real v1 multiple-slurmd tree captured from the lab
(Debian 22.05.8, job 88), a plain v1 ``slurm/`` tree with co-mounted cpu,cpuacct, v2 (25.05) and v2
with 26.05 SLUID job directories under a multiple-slurmd scope."""
from pathlib import Path

import pytest

from slurmops.node import cgroup as cg

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "cgroup"


def by_id(jobs):
    return {(j.jobid, j.step): j for j in jobs}


def test_v1_multislurmd_real_lab_tree():
    root = str(FIX / "v1-multislurmd-22.05.8")
    assert cg.detect_version(root) == 1
    jobs = cg.discover(root)
    assert [(j.jobid, j.node, j.uid) for j in jobs] == [("88", "n1", 0)]
    assert sorted(jobs[0].paths) == ["cpuacct", "cpuset", "freezer", "memory"]
    s = cg.read_job(jobs[0])
    assert s.errors == []
    assert s.cpu_user_s == pytest.approx(13.78361518)
    assert s.cpu_system_s == pytest.approx(0.063990406)
    assert s.cpu_usage_s == pytest.approx(13.831224127)
    assert s.cpus == 1
    assert (s.mem_used, s.mem_peak, s.mem_limit) == (41414656, 41435136, 104857600)
    assert (s.mem_rss, s.mem_cache, s.mem_shmem, s.mem_swap) == (38825984, 1576960, 0, 0)
    assert s.oom_kills == 0
    assert s.io_read_bytes is None and s.pressure == {}
    assert s.processes == 3 and sorted(s.pids) == [16929, 16933, 16934]


def test_v1_multislurmd_node_filter():
    root = str(FIX / "v1-multislurmd-22.05.8")
    assert cg.discover(root, node="n2") == []
    assert len(cg.discover(root, node="n1")) == 1


def test_v1_plain_slurm_comounted():
    root = str(FIX / "v1-slurm-23.02")
    jobs = by_id(cg.discover(root))
    assert sorted(jobs) == [("555", ""), ("556", "")]
    j = jobs[("555", "")]
    assert j.node == "" and j.uid == 0
    assert j.paths["cpuacct"].endswith("cpu,cpuacct/slurm/uid_0/job_555")
    s = cg.read_job(j)
    assert s.errors == []
    assert s.cpu_user_s == pytest.approx(12345 / cg.USER_HZ)      # cpuacct.stat ticks
    assert s.cpu_system_s == pytest.approx(678 / cg.USER_HZ)
    assert s.cpus == 16
    assert (s.mem_used, s.mem_peak, s.mem_limit) == (8589934592, 10737418240, 17179869184)
    assert (s.mem_rss, s.mem_cache, s.mem_shmem) == (7516192768, 1073741824, 67108864)
    assert s.mem_swap == 0
    assert s.oom_kills == 3                      # 2 in task_0 of batch + 1 in task_0 of step 0
    assert (s.io_read_bytes, s.io_write_bytes, s.io_read_ops, s.io_write_ops) == (2101248, 1048576, 513, 256)
    assert s.processes == 5 and s.threads == 12   # pids.current wins over counting tasks


def test_v1_parse_error_is_reported_not_raised():
    s = cg.read_job(by_id(cg.discover(str(FIX / "v1-slurm-23.02")))[("556", "")])
    assert s.errors == ["parse"]                  # cpuset.effective_cpus: "garbage"
    assert s.cpus == 1                            # fell back to cpuset.cpus
    assert s.mem_limit is None and s.mem_used == 1048576
    assert s.cpu_user_s == 2.0 and s.cpu_system_s == 0.5


def test_v1_steps():
    jobs = by_id(cg.discover(str(FIX / "v1-slurm-23.02"), steps=True))
    assert sorted(jobs) == [("555", "0"), ("555", "batch")]
    assert sorted(jobs[("555", "batch")].paths) == ["cpuacct", "cpuset", "memory"]
    assert cg.read_job(jobs[("555", "batch")]).oom_kills == 2


def test_v2_job():
    root = str(FIX / "v2-25.05")
    assert cg.detect_version(root) == 2
    jobs = by_id(cg.discover(root))
    assert sorted(jobs) == [("1234", ""), ("1235", "")]
    s = cg.read_job(jobs[("1234", "")])
    assert s.errors == []
    assert (s.cpu_usage_s, s.cpu_user_s, s.cpu_system_s) == (123.456789, 100.0, 23.456789)
    assert s.cpus == 5
    assert (s.mem_used, s.mem_peak, s.mem_limit) == (536870912, 805306368, 2147483648)
    assert (s.mem_rss, s.mem_cache, s.mem_shmem, s.mem_swap) == (402653184, 130023424, 4194304, 0)
    assert s.oom_kills == 0
    assert (s.io_read_bytes, s.io_write_bytes, s.io_read_ops, s.io_write_ops) == (1052672, 4194304, 257, 1024)
    assert s.pressure["cpu"] == cg.Pressure(2.5, 1.0)
    assert s.pressure["memory"] == cg.Pressure(0.35, 0.12)
    assert s.pressure["io"] == cg.Pressure(0.09, 0.045)
    assert s.processes == 7 and s.threads == 17
    s2 = cg.read_job(jobs[("1235", "")])
    assert s2.oom_kills == 1 and s2.mem_limit == 52428800 and s2.processes == 1


def test_v2_steps():
    jobs = by_id(cg.discover(str(FIX / "v2-25.05"), steps=True))
    assert ("1234", "batch") in jobs and ("1234", "extern") in jobs and ("1234", "0") in jobs
    s = cg.read_job(jobs[("1234", "0")])
    assert s.cpu_user_s == 99.199 and s.mem_used == 1048576 and s.mem_limit is None


def test_v2_sluid_and_node_prefix():
    jobs = cg.discover(str(FIX / "v2-26.05-sluid"))
    got = sorted((j.jobid, j.sluid, j.node) for j in jobs)
    assert got == [("4300", "", "n7"), ("sBR1JB8J1YM400", "sBR1JB8J1YM400", "n7"),
                   ("sBR1JB8J1YM4Z9", "sBR1JB8J1YM4Z9", "n7")]
    assert cg.discover(str(FIX / "v2-26.05-sluid"), node="n8") == []


def test_vanished_job_is_reported(tmp_path):
    j = cg.JobCgroup("9", 2, {"unified": str(tmp_path / "gone")})
    s = cg.read_job(j)
    assert s.vanished and s.errors == ["vanished"]


def test_permission_denied_is_reported(tmp_path, monkeypatch):
    d = tmp_path / "job_9"
    d.mkdir()
    (d / "memory.current").write_text("100\n")
    (d / "cpu.stat").write_text("usage_usec 1\nuser_usec 1\nsystem_usec 0\n")
    real_open = cg.os.open

    def fake_open(path, *a, **kw):     # root ignores file modes, so deny like a LSM would
        if str(path).endswith("memory.current"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *a, **kw)
    monkeypatch.setattr(cg.os, "open", fake_open)
    s = cg.read_job(cg.JobCgroup("9", 2, {"unified": str(d)}))
    assert s.errors == ["permission"] and s.mem_used is None and s.cpu_user_s == 1e-6


def test_missing_root_finds_nothing(tmp_path):
    assert cg.discover(str(tmp_path / "nope")) == []


def test_v2_leaf_cache_follows_new_and_vanished_steps(tmp_path):
    import shutil
    shutil.copytree(FIX / "v2-25.05", tmp_path / "root")
    job = tmp_path / "root/system.slice/slurmstepd.scope/job_1234"
    (job / "cgroup.stat").write_text("nr_descendants 9\nnr_dying_descendants 0\n")
    cache = {}
    cgj = cg.JobCgroup("1234", 2, {"unified": str(job)})
    assert cg.read_job(cgj, cache).processes == 7 and str(job) in cache
    # a new step: the kernel bumps nr_descendants, the tree is walked again
    (job / "step_1/user/task_0").mkdir(parents=True)
    (job / "step_1/user/task_0/cgroup.procs").write_text("5000\n5001\n")
    (job / "cgroup.stat").write_text("nr_descendants 12\nnr_dying_descendants 0\n")
    assert cg.read_job(cgj, cache).processes == 9
    # a step ends while another starts (same count): the missing leaf forces a fresh walk
    shutil.rmtree(job / "step_0")
    (job / "step_2/slurm").mkdir(parents=True)
    (job / "step_2/slurm/cgroup.procs").write_text("6000\n")
    (job / "step_2/user/task_0").mkdir(parents=True)
    (job / "step_2/user/task_0/cgroup.procs").write_text("")
    s = cg.read_job(cgj, cache)
    assert s.processes == 9 - 2 + 1 and s.errors == []


def test_node_filter_takes_a_hostlist():
    from slurmops.node.cgroup import _node_filter
    assert _node_filter(None) is None
    assert _node_filter("n[1-2],c1") == {"n1", "n2", "c1", ""}
