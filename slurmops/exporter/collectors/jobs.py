"""The queue: jobs by state and partition, pending by reason, wait-time histogram, and per account
and per user usage behind cardinality switches."""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.core import Metric

from ...slurm.models import Job
from ...slurm.parse.reasons import normalize_reason
from .. import metrics as m
from ..core import register

WAIT_BUCKETS = (60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0, 86400.0, 3 * 86400.0, 7 * 86400.0)
ALLOCATED_STATES = {"RUNNING", "COMPLETING", "SUSPENDED", "CONFIGURING", "STAGE_OUT", "SIGNALING"}
# Finished jobs linger in slurmctld for MinJobAge (slurmrestd lists them, squeue does not):
# the queue is what is still active; finished work is counted by sdiag and kept by sacct.
FINISHED_STATES = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
                   "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "REVOKED", "SPECIAL_EXIT"}


def build(cluster: str, jobs: Iterable[Job], now: float, partitions: Iterable[str] = (),
          per_account: bool = True, per_user: bool = False) -> list[Metric]:
    jobs = [j for j in jobs if j.state not in FINISHED_STATES]
    fam = {s.name: s.family() for s in (m.JOBS, m.PART_JOBS, m.JOBS_PENDING, m.JOBS_CPUS)}
    by_state: Counter[tuple[str, str]] = Counter()
    cpus: Counter[tuple[str, str]] = Counter()
    pending: Counter[tuple[str, str]] = Counter()
    # (wait, tasks) pairs: a pending array record stands for up to MaxArraySize tasks, which
    # must not become millions of list items.
    waits: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for j in jobs:
        n = j.array_task_count
        by_state[(j.state, j.partition)] += n
        cpus[(j.state, j.partition)] += (j.cpus or 0) * n
        if j.state == "PENDING":
            pending[(j.partition, normalize_reason(j.reason))] += n
            if j.submit_time:
                waits[j.partition].append((max(now - j.submit_time, 0.0), n))
    for (state, part), count in sorted(by_state.items()):
        fam[m.JOBS.name].add([cluster, state, part], count)
        fam[m.JOBS_CPUS.name].add([cluster, state, part], cpus[(state, part)])
    # Every partition shows its pending and running counts, zero included, so alerts and
    # dashboards never see a series vanish when a queue drains.
    parts = sorted(set(partitions) | {p for _, p in by_state})
    for part in parts:
        for state in ("PENDING", "RUNNING"):
            fam[m.PART_JOBS.name].add([cluster, part, state], by_state.get((state, part), 0))
    for (part, reason), count in sorted(pending.items()):
        fam[m.JOBS_PENDING.name].add([cluster, part, reason], count)
    hist = m.JOBS_WAIT.family()
    for part in parts:
        values = sorted(waits.get(part, []))
        buckets, i, below = [], 0, 0
        for bound in WAIT_BUCKETS:
            while i < len(values) and values[i][0] <= bound:
                below += values[i][1]
                i += 1
            buckets.append((_fmt(bound), float(below)))
        buckets.append(("+Inf", float(sum(n for _, n in values))))
        hist.add_histogram([cluster, part], buckets, sum(w * n for w, n in values))
    out = [f.metric for f in fam.values()] + [hist.metric]
    if per_account:
        out += _per_owner(cluster, jobs, lambda j: j.account or "",
                          (m.ACCOUNT_JOBS, m.ACCOUNT_CPUS, m.ACCOUNT_GPUS, m.ACCOUNT_MEMORY))
    if per_user:
        out += _per_owner(cluster, jobs, lambda j: j.user,
                          (m.USER_JOBS, m.USER_CPUS, m.USER_GPUS, m.USER_MEMORY))
    return out


def _fmt(bound: float) -> str:
    return str(int(bound)) + ".0" if bound == int(bound) else repr(bound)


def _per_owner(cluster: str, jobs: list[Job], key: Callable[[Job], str],
               specs: tuple[m.Spec, m.Spec, m.Spec, m.Spec]) -> list[Metric]:
    jobs_spec, cpu_spec, gpu_spec, mem_spec = specs
    counts: Counter[tuple[str, str]] = Counter()
    cpu: Counter[str] = Counter()
    gpu: Counter[str] = Counter()
    mem: Counter[str] = Counter()
    owners = set()
    for j in jobs:
        owner = key(j)
        owners.add(owner)
        counts[(owner, j.state)] += j.array_task_count
        if j.state in ALLOCATED_STATES:
            cpu[owner] += j.cpus or 0
            gpu[owner] += j.gpus or 0
            mem[owner] += j.memory_bytes or 0
    fj, fc, fg, fm = (s.family() for s in specs)
    for (owner, state), count in sorted(counts.items()):
        fj.add([cluster, owner, state], count)
    for owner in sorted(owners):
        fc.add([cluster, owner], cpu[owner])
        fg.add([cluster, owner], gpu[owner])
        fm.add([cluster, owner], mem[owner])
    return [fj.metric, fc.metric, fg.metric, fm.metric]


@register("slurm", "jobs", "The queue: jobs by state, pending reasons and ages, per account/user use (squeue).")
def _collect(p: Any, data: list[Job]) -> list[Metric]:
    parts = [x.name for x in (p.data("partitions") or [])]
    return build(p.cluster, data, p.clock(), parts, p.options.per_account, p.options.per_user)
