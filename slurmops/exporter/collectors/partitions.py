"""Partitions joined with their nodes: nodes by state, CPUs/memory/GPUs by status."""
from __future__ import annotations

from collections import Counter
from typing import Iterable

from prometheus_client.core import Metric

from ...slurm.models import Node, Partition
from .. import metrics as m
from .nodes import gpu_types, usable


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
        alloc = idle = other = total = mem_a = mem_t = g_t = g_a = 0
        for n in members:
            if n.cpus_total is not None:
                a = n.cpus_alloc or 0
                total += n.cpus_total
                alloc += a
                if usable(n):
                    idle += max(n.cpus_total - a, 0)
                else:
                    other += max(n.cpus_total - a, 0)
            mem_t += n.memory_total_bytes or 0
            mem_a += n.memory_alloc_bytes or 0
            for tot, used in gpu_types(n).values():
                g_t += tot
                g_a += used
        for status, value in (("allocated", alloc), ("idle", idle), ("other", other), ("total", total)):
            fam[m.PART_CPUS.name].add([cluster, p.name, status], value)
        fam[m.PART_MEMORY.name].add([cluster, p.name, "allocated"], mem_a)
        fam[m.PART_MEMORY.name].add([cluster, p.name, "total"], mem_t)
        fam[m.PART_GPUS.name].add([cluster, p.name, "allocated"], g_a)
        fam[m.PART_GPUS.name].add([cluster, p.name, "total"], g_t)
    return [f.metric for f in fam.values()]
