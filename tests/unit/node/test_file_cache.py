"""Kept descriptors (cgroup.FileCache): same values as fresh reads, closed when a job goes, a kept
v1 pid list re-read only when its last read is old enough, and the node exporter's own renderer
byte for byte the shared one."""
import shutil
from pathlib import Path

import pytest

from slurmops.exporter.render import render as shared_render
from slurmops.node import cgroup as cg
from slurmops.node.collector import JobScanner
from slurmops.node.exporter import JobExporter
from slurmops.node.jobinfo import JobInfoCache

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "cgroup"
SQUEUE = "1234|alice|physics|gpu\n1235|bob|chem|cpu\n555|root|research|cpu\n88|root|research|cpu\n"


@pytest.mark.parametrize("tree", ["v2-25.05", "v1-slurm-23.02", "v1-multislurmd-22.05.8"])
def test_kept_descriptors_read_what_fresh_reads_read(tree):
    files, trees = cg.FileCache(limit=10_000), {}
    for j in cg.discover(str(FIX / tree)):
        fresh = cg.read_job(j)
        for _ in range(3):
            files.now += 5
            assert cg.read_job(j, trees, files) == fresh
    assert files.count > 0
    files.close()
    assert files.count == 0


def test_kept_descriptor_follows_new_content_and_job_removal(tmp_path):
    shutil.copytree(FIX / "v2-25.05", tmp_path / "root")
    scanner = JobScanner(str(tmp_path / "root"), lookup=JobInfoCache(lambda ids: SQUEUE), max_age_s=0)
    by_id = {j.jobid: j for j in scanner.scan()}
    assert by_id["1234"].stats.mem_used == 536870912 and scanner.files.count > 0
    job = tmp_path / "root/system.slice/slurmstepd.scope/job_1234"
    (job / "memory.current").write_text("4096\n")
    by_id = {j.jobid: j for j in scanner.scan()}
    assert by_id["1234"].stats.mem_used == 4096
    before = scanner.files.count
    shutil.rmtree(job)
    assert [j.jobid for j in scanner.scan()] == ["1235"]
    assert 0 < scanner.files.count < before and str(job) not in scanner.files.jobs


def test_no_descriptor_budget_still_reads_everything():
    files = cg.FileCache(limit=0)
    j = cg.discover(str(FIX / "v1-multislurmd-22.05.8"))[0]
    assert cg.read_job(j, {}, files) == cg.read_job(j) and files.count == 0


def test_v1_pid_list_kept_only_after_reuse_interval(monkeypatch):
    files, trees = cg.FileCache(limit=10_000), {}
    j = cg.discover(str(FIX / "v1-multislurmd-22.05.8"))[0]
    cg.read_job(j, trees, files)
    opened = []
    real_open = cg.os.open

    def counting_open(path, *a, **kw):     # (directories may be reopened: overlayfs has no nlink)
        if Path(path).name in ("cgroup.procs", "tasks"):
            opened.append(Path(path).name)
        return real_open(path, *a, **kw)
    monkeypatch.setattr(cg.os, "open", counting_open)
    files.now += 0.5                      # the kernel may still hand out the list read 0.5 s ago
    assert cg.read_job(j, trees, files).processes == 3
    assert sorted(opened) == ["cgroup.procs", "cgroup.procs", "tasks", "tasks"]
    opened.clear()
    files.now += cg.PIDLIST_REUSE_S       # long gone: the kept descriptor reloads it
    assert cg.read_job(j, trees, files).processes == 3 and opened == []
    files.close()


@pytest.mark.parametrize("tree,steps", [("v2-25.05", False), ("v2-25.05", True), ("v1-slurm-23.02", False),
                                        ("v1-multislurmd-22.05.8", False)])
def test_job_rows_render_byte_identical_to_client_python(tree, steps):
    e = JobExporter(str(FIX / tree), steps=steps, gpu=False, lookup=JobInfoCache(lambda ids: SQUEUE))
    fams = list(e.collector_set.collect()) + list(e.errors.collect())
    from reference import client_python_exposition
    assert shared_render(fams) == client_python_exposition(fams)
