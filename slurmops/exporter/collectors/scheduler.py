"""sdiag: scheduler threads, queues, cycle timings, job counters, RPCs by type and user."""
from __future__ import annotations

from typing import Any

from prometheus_client.core import Metric

from ...slurm.models import SchedulerStats
from .. import metrics as m
from ..core import register


def build(cluster: str, stats: SchedulerStats) -> list[Metric]:
    out = []
    for attr, spec in m.SCHED.items():
        f = spec.family()
        f.add([cluster], getattr(stats, attr))
        out.append(f.metric)
    calls, time_ = m.RPC_CALLS.family(), m.RPC_TIME.family()
    for r in stats.rpcs_by_type:
        calls.add([cluster, r.name], r.count)
        time_.add([cluster, r.name], r.total_time_s)
    ucalls, utime = m.RPC_USER_CALLS.family(), m.RPC_USER_TIME.family()
    for r in stats.rpcs_by_user:
        ucalls.add([cluster, r.name], r.count)
        utime.add([cluster, r.name], r.total_time_s)
    return out + [calls.metric, time_.metric, ucalls.metric, utime.metric]


@register("slurm", "scheduler", "Scheduler and backfill statistics and RPC counts (sdiag).")
def _collect(p: Any, data: SchedulerStats) -> list[Metric]:
    return build(p.cluster, data)
