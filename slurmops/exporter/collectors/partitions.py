"""Partitions joined with their nodes: nodes by state, CPUs/memory/GPUs by status."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from prometheus_client.core import Metric

from ...slurm.models import Node, Partition
from .. import metrics as m
from ..core import register
from .nodes import allocated_gpus, capacity


def build(cluster: str, partitions: Iterable[Partition], nodes: Iterable[Node] | None) -> list[Metric]:
    partitions = list(partitions)
    by_name = {n.name: n for n in (nodes or [])}
    fam = {s.name: s.family() for s in (m.PART_INFO, m.PART_NODES, m.PART_CPUS, m.PART_MEMORY,
                                        m.PART_GPUS, m.PART_MAX_TIME)}
    for p in partitions:
        fam[m.PART_INFO.name].add([cluster, p.name, p.state, "true" if p.is_default else "false"], 1)
        fam[m.PART_MAX_TIME.name].add([cluster, p.name], p.max_time_s)
        if nodes is None:
            continue
        members = [by_name[n] for n in p.nodes if n in by_name]
        for state, count in sorted(Counter(n.state for n in members).items()):
            fam[m.PART_NODES.name].add([cluster, p.name, state], count)
        cap = capacity(members)
        for status in ("allocated", "idle", "other", "total"):
            fam[m.PART_CPUS.name].add([cluster, p.name, status], cap.cpus[status])
        for status in ("allocated", "total"):
            fam[m.PART_MEMORY.name].add([cluster, p.name, status], cap.memory[status])
            gpus = [g[status] if status == "total" else allocated_gpus(g) for g in cap.gpus.values()]
            fam[m.PART_GPUS.name].add([cluster, p.name, status],
                                      None if None in gpus else sum(x for x in gpus if x is not None))
    return [f.metric for f in fam.values()]


@register("slurm", "partitions", "Partition state and capacity (scontrol show partitions, with the nodes).")
def _collect(p: Any, data: list[Partition]) -> list[Metric]:
    return build(p.cluster, data, p.data("nodes"))
