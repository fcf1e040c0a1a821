"""Cost of one job-exporter scrape: wall time, CPU seconds, series count and RSS.

Default: N synthetic cgroup v2 job trees (v2 file formats, 3 steps each, like Slurm 25.05 writes
them) in a tmpfs (/dev/shm) or a temp dir. ``--real``: whatever Slurm job cgroups exist under
``--cgroup.root`` (``--node jn1``: only that slurmd's, e.g. ``slurm_jn1/`` of a private lab).
Targets (issue 4): <= 150 ms per scrape for 1,000 synthetic jobs; with 500 real jobs <= 80 ms and
<= 0.05 CPU-seconds per scrape (10x guilbaults/slurm-job-exporter measured on the same host:
0.80 s, 0.66 CPU-s, 6,542 series, 32 MB RSS).

Real scrapes are spaced ``--interval`` seconds apart (default 2.1, Prometheus scrapes every 15-60 s):
the exporter re-reads a kept v1 pid-list descriptor only when its last read is >= 2 s old, and
opens the file afresh otherwise (see slurmops.node.cgroup.FileCache), so back-to-back scrapes
measure a path production does not take.

    .venv/bin/python bench/bench_job_exporter.py [--jobs 1000] [--scrapes 20]
    .venv/bin/python bench/bench_job_exporter.py --real-only --node jn1 [--interval 2.1]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slurmops.node.exporter import JobExporter  # noqa: E402
from slurmops.node.jobinfo import JobInfoCache  # noqa: E402

CPU = "usage_usec {u}\nuser_usec {us}\nsystem_usec {sy}\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n"
PSI = "some avg10=0.10 avg60=0.05 avg300=0.01 total={s}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total={f}\n"
MEMSTAT = "".join(f"{k} {v}\n" for k, v in [
    ("anon", 402653184), ("file", 130023424), ("kernel", 1843200), ("kernel_stack", 147456),
    ("pagetables", 356352), ("percpu", 1440), ("sock", 0), ("vmalloc", 8192), ("shmem", 4194304),
    ("file_mapped", 5406720), ("file_dirty", 4096), ("file_writeback", 0), ("swapcached", 0),
    ("anon_thp", 0), ("inactive_anon", 402653184), ("active_anon", 20480), ("inactive_file", 1048576),
    ("active_file", 3145728), ("unevictable", 0), ("slab_reclaimable", 745472),
    ("slab_unreclaimable", 402432), ("slab", 1147904), ("pgfault", 60512), ("pgmajfault", 7)])


def build_v2(root: Path, n: int) -> None:
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    scope = root / "system.slice" / "slurmstepd.scope"
    pid = 10000
    for i in range(n):
        job = scope / f"job_{100000 + i}"
        job.mkdir(parents=True)
        files = {
            "cpu.stat": CPU.format(u=i * 1000 + 7, us=i * 900, sy=i * 100 + 7),
            "cpuset.cpus.effective": f"{i % 64}\n", "memory.current": f"{i * 4096 + 1}\n",
            "memory.peak": f"{i * 8192 + 1}\n", "memory.max": "2147483648\n", "memory.stat": MEMSTAT,
            "memory.swap.current": "0\n", "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
            "io.stat": "259:0 rbytes=1048576 wbytes=4096 rios=3 wios=1 dbytes=0 dios=0\n",
            "cpu.pressure": PSI.format(s=i, f=0), "memory.pressure": PSI.format(s=i, f=0),
            "io.pressure": PSI.format(s=i, f=0), "pids.current": "4\n", "cgroup.procs": "",
            "cgroup.stat": "nr_descendants 6\nnr_dying_descendants 0\n",
        }
        for name, text in files.items():
            (job / name).write_text(text)
        for step in ("step_batch", "step_extern"):
            for sub in ("slurm", "user/task_0"):
                d = job / step / sub
                d.mkdir(parents=True)
                (d / "cgroup.procs").write_text(f"{pid}\n")
                pid += 1


PEER = {"wall_s": 0.80, "cpu_s": 0.66, "series": 6542, "rss_mib": 32}


def measure(root: str, scrapes: int, label: str, node: str | None = None, interval: float = 0.0,
            target_wall_ms: float | None = None, target_cpu_ms: float | None = None) -> None:
    exp = JobExporter(root, gpu=False, node=node, lookup=JobInfoCache(lambda ids: ""), cache_s=0)
    body = exp.render()          # warm-up (user names, look-up cache)
    walls, cpus = [], []
    for _ in range(scrapes):
        if interval:
            time.sleep(interval)
        c0, t0 = time.process_time(), time.perf_counter()
        body = exp.render()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    walls.sort()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    jobs = next((line for line in body.splitlines() if line.startswith(b"slurm_job_exporter_jobs ")), b"? ?")
    print(f"{label}: jobs={int(float(jobs.split()[1]))} scrapes={scrapes} "
          f"wall median={walls[len(walls) // 2] * 1000:.1f} ms mean={sum(walls) / len(walls) * 1000:.1f} ms "
          f"p90={walls[int(len(walls) * 0.9)] * 1000:.1f} ms "
          f"cpu/scrape={sum(cpus) / len(cpus) * 1000:.1f} ms series={series} body={len(body) / 1024:.0f} KiB "
          f"max_rss={rss_mib:.1f} MiB fds_kept={exp.scanner.files.count}")
    med_ms, cpu_ms = walls[len(walls) // 2] * 1000, sum(cpus) / len(cpus) * 1000
    if target_wall_ms:
        print(f"  vs target: wall {med_ms:.1f}/{target_wall_ms:.0f} ms = {med_ms / target_wall_ms:.2f}x of budget",
              end="")
        if target_cpu_ms:
            print(f"; cpu {cpu_ms:.1f}/{target_cpu_ms:.0f} ms = {cpu_ms / target_cpu_ms:.2f}x of budget", end="")
        print()
    if node is not None:
        print(f"  vs guilbaults/slurm-job-exporter (500 jobs, same host): "
              f"wall {PEER['wall_s'] * 1000 / med_ms:.1f}x faster, "
              f"cpu {PEER['cpu_s'] * 1000 / cpu_ms:.1f}x less, series {series} vs {PEER['series']}, "
              f"rss {rss_mib:.0f} vs {PEER['rss_mib']} MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--scrapes", type=int, default=20)
    ap.add_argument("--real", action="store_true", help="also measure the real job cgroups on this host")
    ap.add_argument("--real-only", action="store_true", help="only the real job cgroups (no synthetic run)")
    ap.add_argument("--cgroup.root", dest="root", default="/sys/fs/cgroup")
    ap.add_argument("--node", default=None,
                    help="real: only this slurmd's cgroups (slurm_<node>/ or <node>_slurmstepd.scope), "
                         "e.g. a private lab's")
    ap.add_argument("--interval", type=float, default=2.1, help="real: seconds between scrapes")
    a = ap.parse_args()
    if a.real_only:
        measure(a.root, a.scrapes, f"real {a.root} node={a.node or '*'}", a.node, a.interval, 80, 50)
        return
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    tmp = Path(tempfile.mkdtemp(prefix="bench-jobexp-", dir=base))
    try:
        t0 = time.perf_counter()
        build_v2(tmp, a.jobs)
        print(f"built {a.jobs} synthetic v2 job cgroups in {tmp} ({time.perf_counter() - t0:.1f} s)")
        measure(str(tmp), a.scrapes, "synthetic v2", target_wall_ms=150 * a.jobs / 1000)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if a.real:
        measure(a.root, a.scrapes, f"real {a.root} node={a.node or '*'}", a.node, a.interval, 80, 50)


if __name__ == "__main__":
    main()
