"""What `scontrol show nodes -o -d` costs over `-o` at scale (issue 12).

Without -d slurmctld does not pack GRES in use ("Gathering GRES details is slow, so don't by
default", node_mgr.c), and the cli source reads GPUs in use from AllocTRES instead. This measures
whether -d would be affordable: a lab with N powered-down CLOUD nodes (`lab up --bench-nodes N
--gpus 8 --gpu-type a100`: every node has Gres=gpu:a100:8), each command run R times alternately,
wall time, output size and the CPU time slurmctld spent answering (from /proc/<pid>/stat).

    flock /tmp/slurmops-biglab.lock .venv/bin/python bench/bench_node_detail.py [--nodes 10000] [--runs 15] [--keep]

Its own lab dir and ports (/var/tmp/slurmops-nodedetail-lab, port base 27800).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

LAB_DIR = Path("/var/tmp/slurmops-nodedetail-lab")
UP = ["--port-base", "27800", "--cluster", "nodedetail", "--node-prefix", "nd", "--cpu-nodes", "1",
      "--cloud-nodes", "0", "--gpus", "8", "--gpu-type", "a100"]


def lab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "slurmops", "lab", *args, "--dir", str(LAB_DIR)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900)


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])          # utime + stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    t0 = time.time()
    r = lab("up", *UP, "--bench-nodes", str(a.nodes))
    if r.returncode:   # on a busy 2-core machine sinfo over 10,000 nodes can miss its 10 s once
        r = lab("up", *UP, "--bench-nodes", str(a.nodes))
    if r.returncode:
        sys.exit(f"lab did not come up:\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}")
    # The lab's exporters and Prometheus would compete for the two cores.
    for component in ("prometheus", "alertmanager", "slurm_exporter", "job_exporter", "node_exporter"):
        lab("stop", component)
    print(f"lab with {a.nodes} GPU nodes up in {time.time() - t0:.0f} s")
    env = {**os.environ, "SLURM_CONF": str(LAB_DIR / "etc" / "slurm.conf"),
           "SLURM_TIME_FORMAT": "standard", "SLURM_BITSTR_LEN": "0"}
    ctld = int((LAB_DIR / "run" / "slurmctld.pid").read_text())
    hz = os.sysconf("SC_CLK_TCK")
    results: dict[str, dict[str, list[float]]] = {}
    variants = {"-o": ["scontrol", "show", "nodes", "-o", "--all"],
                "-o -d": ["scontrol", "show", "nodes", "-o", "-d", "--all"]}
    for i in range(a.runs):
        for name, argv in variants.items():
            c0, w0 = cpu_ticks(ctld), time.perf_counter()
            out = subprocess.run(argv, env=env, capture_output=True, check=True).stdout
            wall, ctl = time.perf_counter() - w0, (cpu_ticks(ctld) - c0) / hz
            if i:   # the first round warms caches
                res = results.setdefault(name, {"wall": [], "ctld": [], "bytes": []})
                res["wall"].append(wall)
                res["ctld"].append(ctl)
                res["bytes"].append(len(out))
    print(f"{a.nodes} nodes with Gres=gpu:a100:8, {a.runs - 1} runs each (wall: median; slurmctld "
          f"CPU: mean, /proc ticks are 10 ms):")
    for name, res in results.items():
        print(f"  scontrol show nodes {name:6}: wall {statistics.median(res['wall']) * 1e3:6.0f} ms, "
              f"slurmctld CPU {statistics.mean(res['ctld']) * 1e3:5.1f} ms, "
              f"output {statistics.median(res['bytes']) / 1e6:.2f} MB")
    w = [statistics.median(results[n]["wall"]) for n in variants]
    print(f"  -d / plain wall: {w[1] / w[0]:.2f}x")
    if not a.keep:
        lab("down", "--purge")


if __name__ == "__main__":
    main()
