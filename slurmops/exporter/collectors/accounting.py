"""Fair share (sshare), licenses and reservations: small tables, one family per field."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import Metric

from ...slurm.models import ClusterInfo, Controller, License, Reservation, Share
from .. import metrics as m
from ..core import register


def fairshare(cluster: str, shares: Iterable[Share]) -> list[Metric]:
    fams = {attr: spec.family() for attr, spec in m.SHARE_FIELDS.items()}
    for s in shares:
        labels = [cluster, s.account, s.user or ""]
        for attr, f in fams.items():
            f.add(labels, getattr(s, attr))
    return [f.metric for f in fams.values()]


def licenses(cluster: str, items: Iterable[License]) -> list[Metric]:
    f = m.LICENSES.family()
    for lic in items:
        for status in ("total", "used", "free", "reserved"):
            f.add([cluster, lic.name, status], getattr(lic, status))
    return [f.metric]


def reservations(cluster: str, items: Iterable[Reservation], now: float) -> list[Metric]:
    info, start, end, nodes, cpus, active = (s.family() for s in (
        m.RES_INFO, m.RES_START, m.RES_END, m.RES_NODES, m.RES_CPUS, m.RES_ACTIVE))
    for r in items:
        info.add([cluster, r.name, ",".join(sorted(r.flags)), r.partition or ""], 1)
        start.add([cluster, r.name], r.start_time)
        end.add([cluster, r.name], r.end_time)
        nodes.add([cluster, r.name], r.node_count if r.node_count is not None else (len(r.nodes) or None))
        cpus.add([cluster, r.name], r.cpu_count)
        if r.start_time is not None:
            is_active = r.start_time <= now and (r.end_time is None or now < r.end_time)
            active.add([cluster, r.name], 1 if is_active else 0)
    return [info.metric, start.metric, end.metric, nodes.metric, cpus.metric, active.metric]


def controllers(cluster: str, items: Iterable[Controller]) -> list[Metric]:
    f = m.CONTROLLER_UP.family()
    for c in items:
        f.add([cluster, c.host, c.role], 1 if c.up else 0)
    return [f.metric]


def info(cluster: str, ci: ClusterInfo) -> list[Metric]:
    f = m.INFO.family()
    f.add([cluster, ci.version or "unknown"], 1)
    return [f.metric]


# ---- registered collectors: (poller, what the source's fetcher of the same name returned) ------
@register("slurm", "info", "Slurm version and cluster name (sinfo --version, scontrol show config).")
def _info(p: Any, data: ClusterInfo) -> list[Metric]:
    return info(p.cluster, data)


@register("slurm", "fairshare", "The fair-share tree (sshare).")
def _fairshare(p: Any, data: list[Share]) -> list[Metric]:
    return fairshare(p.cluster, data)


@register("slurm", "licenses", "License totals, use and reservations (scontrol show licenses).")
def _licenses(p: Any, data: list[License]) -> list[Metric]:
    return licenses(p.cluster, data)


@register("slurm", "reservations", "Reservations and whether they are active (scontrol show reservations).")
def _reservations(p: Any, data: list[Reservation]) -> list[Metric]:
    return reservations(p.cluster, data, p.clock())


@register("slurm", "controllers", "Each slurmctld of SlurmctldHost, up or down (scontrol ping).")
def _controllers(p: Any, data: list[Controller]) -> list[Metric]:
    return controllers(p.cluster, data)
