"""Fleet fan-out: `munge-key-rotation` across a real multi-host lab, one host after another
(`--fanout 1`) against all hosts at once (the default `--fanout`).

Starts its own `lab up --hosts` (every cpu node its own network/UTS namespace with munged, sshd and
slurmd, reached over ssh), or uses `--dir` of one that is up. Each rotation is a real one: new key
on every host, munged and the Slurm daemons restarted. Prints the wall time of every run, the
median per fanout, the ratio, and the time the fleet spends split between two keys (from the first
to the last munged restart, read from the audit log).

    .venv/bin/python bench/bench_fleet_fanout.py --nodes 8 --runs 2 [--keep]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB = [sys.executable, "-m", "slurmops", "lab"]
RUNBOOK = [sys.executable, "-m", "slurmops.runbook", "runbook"]


def lab(*args: str) -> None:
    r = subprocess.run([*LAB, *args], capture_output=True, text=True, cwd=REPO)
    if r.returncode != 0:
        sys.exit(f"lab {' '.join(args)} failed:\n{r.stdout}{r.stderr}")


def split_window_s(state: Path) -> float:
    """Seconds from the first to the last munged restart of the switch step (audit timestamps)."""
    audit = next(state.glob("runs/*/audit.jsonl"))
    ts = [datetime.fromisoformat(r["ts"]) for r in map(json.loads, audit.read_text().splitlines())
          if r["event"] == "cmd" and "restart" in r["argv"] and r["argv"][-3] == "munged"]
    return (max(ts) - min(ts)).total_seconds() if ts else float("nan")


def rotate(lab_dir: Path, fanout: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as state:
        t0 = time.monotonic()
        r = subprocess.run([*RUNBOOK, "run", "munge-key-rotation", "--target", f"lab:{lab_dir}",
                            "--state-dir", state, "--yes", "--fanout", str(fanout)],
                           capture_output=True, text=True, cwd=REPO, stdin=subprocess.DEVNULL)
        took = time.monotonic() - t0
        if r.returncode != 0:
            sys.exit(f"rotation with --fanout {fanout} failed (exit {r.returncode}):\n{r.stdout[-3000:]}")
        return took, split_window_s(Path(state))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=8, help="cpu nodes, each a host of its own")
    ap.add_argument("--runs", type=int, default=2, help="rotations per fanout")
    ap.add_argument("--dir", type=Path, default=None, help="use this lab (up with --hosts)")
    ap.add_argument("--port-base", default="15800")
    ap.add_argument("--keep", action="store_true", help="leave the lab up")
    a = ap.parse_args()
    lab_dir = a.dir or Path("/var/tmp/slurmops-bench-fleet")
    if a.dir is None:
        t0 = time.monotonic()
        lab("up", "--dir", str(lab_dir), "--port-base", a.port_base, "--cluster", "benchfleet",
            "--node-prefix", "bf", "--cpu-nodes", str(a.nodes), "--cloud-nodes", "0", "--hosts")
        print(f"lab up --hosts with {a.nodes} hosts: {time.monotonic() - t0:.0f} s")
    try:
        results: dict[int, list[tuple[float, float]]] = {1: [], 32: []}
        for _ in range(a.runs):
            for fanout in results:
                took, split = rotate(lab_dir, fanout)
                results[fanout].append((took, split))
                print(f"--fanout {fanout:2}: rotation {took:6.1f} s, fleet split between keys {split:5.1f} s")
        med = {f: (statistics.median(t for t, _ in rs), statistics.median(s for _, s in rs))
               for f, rs in results.items()}
        print(f"median over {a.runs} runs, {a.nodes} compute hosts + the lab host:")
        for f, (t, s) in med.items():
            print(f"  --fanout {f:2}: rotation {t:6.1f} s, split {s:5.1f} s")
        print(f"  ratio fanout 1 / fanout 32: rotation {med[1][0] / med[32][0]:.2f}x, "
              f"split {med[1][1] / max(med[32][1], 1e-3):.1f}x")
    finally:
        if a.dir is None and not a.keep:
            lab("down", "--dir", str(lab_dir), "--purge")


if __name__ == "__main__":
    main()
