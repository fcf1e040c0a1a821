"""What the big-lab benches share: a lab of N powered-down CLOUD nodes in its own dir (`lab up
--bench-nodes N`, retried once), with the components that would compete for the two cores
stopped, and calls timed alternately with the CPU slurmctld spent on each (/proc/<pid>/stat)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def lab_cli(lab_dir: Path) -> Callable[..., subprocess.CompletedProcess]:
    """`slurmops lab <args> --dir lab_dir` as a subprocess."""
    def lab(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "slurmops", "lab", *args, "--dir", str(lab_dir)],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900)
    return lab


def up_quiet(lab: Callable[..., subprocess.CompletedProcess], up: list[str], nodes: int) -> None:
    """The lab with `nodes` bench nodes, then Prometheus and the exporters stopped."""
    r = lab("up", *up, "--bench-nodes", str(nodes))
    if r.returncode:   # on a busy 2-core machine sinfo over 10,000 nodes can miss its 10 s once
        r = lab("up", *up, "--bench-nodes", str(nodes))
    if r.returncode:
        sys.exit(f"lab did not come up:\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}")
    # The lab's exporters and Prometheus would compete for the two cores.
    for component in ("prometheus", "alertmanager", "slurm_exporter", "job_exporter", "node_exporter"):
        lab("stop", component)


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])          # utime + stime


def measure(variants: dict[str, Callable[[], bytes]], runs: int,
            ctld: int) -> dict[str, dict[str, list[float]]]:
    """Each variant called `runs` times, alternately; per variant the wall seconds, slurmctld CPU
    seconds and answer bytes of every run but the first (it warms caches)."""
    hz = os.sysconf("SC_CLK_TCK")
    results: dict[str, dict[str, list[float]]] = {}
    for i in range(runs):
        for name, call in variants.items():
            c0, w0 = cpu_ticks(ctld), time.perf_counter()
            out = call()
            wall, ctl = time.perf_counter() - w0, (cpu_ticks(ctld) - c0) / hz
            if i:
                res = results.setdefault(name, {"wall": [], "ctld": [], "bytes": []})
                res["wall"].append(wall)
                res["ctld"].append(ctl)
                res["bytes"].append(len(out))
    return results
