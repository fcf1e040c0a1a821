"""ResumeProgram / SuspendProgram of the lab's cloud nodes (power_save.shtml).

slurmctld runs these as SlurmUser with a hostlist argument. Resume starts the node's slurmd with
``-b`` (report a fresh boot, otherwise slurmctld ignores the registration and marks the node down
after ResumeTimeout); suspend stops it. Nodes listed in ``run/resume-fail`` fail to resume, a real
failure mode for alerts and runbooks to exercise.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..slurm import hostlist
from . import proc
from .config import LabConfig


def _config(lab_dir: Path) -> LabConfig:
    return LabConfig.from_json((lab_dir / "lab.json").read_text())


def resume(cfg: LabConfig, nodes: list[str]) -> int:
    failing = set()
    fail_file = cfg.run / "resume-fail"
    if fail_file.exists():
        failing = set(fail_file.read_text().split())
    rc = 0
    # slurmctld ignores a powering-up node whose boot time precedes the resume request, with
    # one-second resolution (boot_time = now - uptime). A slurmd started within the same second
    # as the request registers as "booted before the request" and the node times out after
    # ResumeTimeout: seen on a fast, fresh machine. A real node takes longer to boot; wait 2 s.
    time.sleep(2)
    for node in nodes:
        if node not in cfg.node_names:   # bench nodes have no slurmd: they stay powered down
            rc = 1
            continue
        if node in failing:
            print(f"resume: {node} is listed in {fail_file}; not starting it", file=sys.stderr)
            rc = 1
            continue
        pidfile = cfg.pidfile(f"slurmd-{node}")
        if proc.owned_pid(pidfile, cfg.dir):
            continue
        proc.spawn(["slurmd", "-D", "-b", "-N", node],
                   env=proc.lab_env(cfg.dir, cfg.slurm_conf),
                   log=cfg.log / f"slurmd-{node}.out", pidfile=pidfile)
    return rc


def suspend(cfg: LabConfig, nodes: list[str]) -> int:
    pids = [p for p in (proc.owned_pid(cfg.pidfile(f"slurmd-{n}"), cfg.dir) for n in nodes) if p]
    proc.terminate(pids, timeout=20)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="slurmops-lab-power")
    ap.add_argument("action", choices=["resume", "suspend"])
    ap.add_argument("--dir", required=True, type=Path)
    ap.add_argument("hostlist")
    args = ap.parse_args(argv)
    cfg = _config(args.dir)
    nodes = hostlist.expand(args.hostlist)
    return resume(cfg, nodes) if args.action == "resume" else suspend(cfg, nodes)
