"""What Slurm 26.05's native /metrics costs slurmctld at scale, next to the commands our cli source
runs for the same collectors (docs/native-metrics.md, "Decision").

A 26.05 lab with N powered-down CLOUD nodes (`lab up --slurm 26.05 --bench-nodes N`) and J held
array tasks (arrays of 500: a pending array is one job record until a task starts, so this loads
the queue far less than J separate jobs would); then, R times alternately, each native path
(GET /metrics/<path> on slurmctld's port, what one Prometheus scrape of job="slurmctld_native"
asks) and each cli command of the nodes, partitions, jobs and scheduler collectors
(slurmops/slurm/commands.py): wall time, answer size and the CPU time slurmctld spent (from
/proc/<pid>/stat; ticks are 10 ms, so the mean over runs).

    flock /tmp/slurmops-biglab.lock .venv/bin/python bench/bench_native_metrics.py \
        [--nodes 10000] [--jobs 2000] [--runs 11] [--keep]

Its own lab dir and ports (/var/tmp/slurmops-native-lab, port base 11300).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path

from biglab import lab_cli, measure, up_quiet

from slurmops.lab.generations import NATIVE_ENDPOINTS
from slurmops.slurm.commands import COMMANDS

LAB_DIR = Path("/var/tmp/slurmops-native-lab")
UP = ["--slurm", "26.05", "--port-base", "11300", "--cluster", "nativebench", "--node-prefix", "nm",
      "--cpu-nodes", "1", "--cloud-nodes", "0"]
CTLD_PORT = 11317
COLLECTORS = ("nodes", "partitions", "jobs", "scheduler")   # what both can serve


lab = lab_cli(LAB_DIR)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=10000)
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    t0 = time.time()
    up_quiet(lab, UP, a.nodes)
    env = {**os.environ, "SLURM_CONF": str(LAB_DIR / "etc" / "slurm.conf"),
           "PATH": f"{LAB_DIR / 'rootfs-bin'}:{os.environ['PATH']}",
           "SLURM_TIME_FORMAT": "standard", "SLURM_BITSTR_LEN": "0"}
    for start in range(0, a.jobs, 500):   # held jobs in the big partition: never start
        n = min(500, a.jobs - start)
        subprocess.run(["sbatch", "-p", "big", "--hold", "-o", "/dev/null", f"--array=0-{n - 1}",
                        "--wrap", "true"], env=env, capture_output=True, check=True)
    print(f"26.05 lab with {a.nodes} CLOUD nodes and {a.jobs} held array tasks up in {time.time() - t0:.0f} s")
    ctld = int((LAB_DIR / "run" / "slurmctld.pid").read_text())

    def native(path: str):
        return lambda: urllib.request.urlopen(f"http://127.0.0.1:{CTLD_PORT}{path}", timeout=60).read()

    def command(argv: tuple[str, ...]):
        return lambda: subprocess.run(list(argv), env=env, capture_output=True, check=True).stdout

    variants = {f"GET /metrics/{ep}": native(f"/metrics/{ep}") for ep in NATIVE_ENDPOINTS}
    variants |= {" ".join(c.argv)[:40]: command(c.argv) for c in COMMANDS
                 if c.fetcher in COLLECTORS and not c.when}
    results = measure(variants, a.runs, ctld)
    print(f"{a.runs - 1} runs each (wall: median; slurmctld CPU: mean of /proc ticks):")
    for group, names in (("native (one Prometheus scrape of each path)", list(variants)[:len(NATIVE_ENDPOINTS)]),
                         ("cli source (one poll of the same collectors)", list(variants)[len(NATIVE_ENDPOINTS):])):
        print(f"  {group}:")
        for name in names:
            res = results[name]
            print(f"    {name:42}: wall {statistics.median(res['wall']) * 1e3:6.0f} ms, slurmctld CPU "
                  f"{statistics.mean(res['ctld']) * 1e3:6.1f} ms, "
                  f"answer {statistics.median(res['bytes']) / 1e6:6.2f} MB")
        print(f"    {'sum':42}: wall {sum(statistics.median(results[n]['wall']) for n in names) * 1e3:6.0f} ms, "
              f"slurmctld CPU {sum(statistics.mean(results[n]['ctld']) for n in names) * 1e3:6.1f} ms")
    if not a.keep:
        lab("down", "--purge")


if __name__ == "__main__":
    main()
