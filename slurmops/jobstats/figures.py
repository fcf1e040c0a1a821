"""The figures of one job's report, from its accounting record and its usage summary (pure)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .sacct import JobRecord
from .summary import Summary


@dataclass
class Figures:
    run_s: int                        # elapsed (or so far)
    cpu_s: float | None               # CPU seconds used, all nodes
    cpu_eff: float | None             # used / (allocated CPUs x span)
    mem_used: float | None            # sum of per-node peaks, bytes
    mem_alloc: float | None
    mem_eff: float | None
    gpu_util: float | None            # mean over the job's GPUs, 0-1
    gpu_mem_eff: float | None         # max over GPUs of used/total
    idle_gpus: int                    # GPUs with no process for >= gpu_idle_fraction of the run
    time_eff: float | None            # run time / time limit
    oom_kills: int
    swap_max: float | None
    wasted_core_h: float
    wasted_gpu_h: float


def compute(rec: JobRecord, s: Summary | None, idle_fraction: float = 0.5) -> Figures:
    run_s = rec.elapsed_s
    cpu_s = cpu_eff = mem_used = gpu_util = gpu_mem_eff = swap = None
    idle, ooms = 0, 0
    if s is not None and s.nodes:
        cpu_s = s.total("cpu_s")
        spans = [n.span_s for n in s.nodes.values() if n.span_s]
        if cpu_s is not None and spans and rec.ncpus:
            cpu_eff = cpu_s / (rec.ncpus * max(spans))
        mem_used = s.total("mem_peak")
        swap = s.total("swap_max")
        ooms = int(s.total("oom_kills") or 0)
        gpus = [g for _, _, g in s.gpu_list]
        utils = [g.util for g in gpus if g.util is not None]
        gpu_util = sum(utils) / len(utils) if utils else None
        mems = [g.mem_used / g.mem_total for g in gpus if g.mem_used is not None and g.mem_total]
        gpu_mem_eff = max(mems) if mems else None
        idle = sum(1 for g in gpus if g.idle is not None and g.idle >= idle_fraction)
    mem_alloc = rec.mem_bytes
    mem_eff = mem_used / mem_alloc if mem_used is not None and mem_alloc else None
    time_eff = run_s / rec.timelimit_s if rec.timelimit_s else None
    core_h = rec.ncpus * run_s / 3600
    wasted_core = core_h * (1 - min(cpu_eff, 1.0)) if cpu_eff is not None else 0.0
    gpu_h = rec.gpus * run_s / 3600
    wasted_gpu = gpu_h * (1 - min(gpu_util, 1.0)) if gpu_util is not None else 0.0
    return Figures(run_s, cpu_s, cpu_eff, mem_used, mem_alloc, mem_eff, gpu_util, gpu_mem_eff,
                   idle, time_eff, ooms, swap, wasted_core, wasted_gpu)


def node_cpus(rec: JobRecord, covers: list[str]) -> float:
    """CPUs Slurm allocated on the node(s) a host covers (sacct gives the job's total; split evenly
    across its nodes). The exporter's cpuset count is not used: with several slurmd on one host, as
    in the lab, cpusets overlap and hold fewer CPUs than the allocation."""
    share = len(covers) if covers else 1
    return rec.ncpus * min(share, max(rec.nnodes, 1)) / max(rec.nnodes, 1)


def suggest_mem_gb(peak_bytes: float, headroom: float) -> int:
    return max(1, math.ceil(peak_bytes * headroom / 2**30))
