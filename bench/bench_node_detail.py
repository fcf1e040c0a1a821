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
import time
from pathlib import Path

from biglab import lab_cli, measure, up_quiet

LAB_DIR = Path("/var/tmp/slurmops-nodedetail-lab")
UP = ["--port-base", "27800", "--cluster", "nodedetail", "--node-prefix", "nd", "--cpu-nodes", "1",
      "--cloud-nodes", "0", "--gpus", "8", "--gpu-type", "a100"]


lab = lab_cli(LAB_DIR)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    t0 = time.time()
    up_quiet(lab, UP, a.nodes)
    print(f"lab with {a.nodes} GPU nodes up in {time.time() - t0:.0f} s")
    env = {**os.environ, "SLURM_CONF": str(LAB_DIR / "etc" / "slurm.conf"),
           "SLURM_TIME_FORMAT": "standard", "SLURM_BITSTR_LEN": "0"}
    ctld = int((LAB_DIR / "run" / "slurmctld.pid").read_text())
    variants = {name: (lambda argv=argv: subprocess.run(argv, env=env, capture_output=True, check=True).stdout)
                for name, argv in {"-o": ["scontrol", "show", "nodes", "-o", "--all"],
                                   "-o -d": ["scontrol", "show", "nodes", "-o", "-d", "--all"]}.items()}
    results = measure(variants, a.runs, ctld)
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
