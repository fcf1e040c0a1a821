"""Nodes -> cluster, per-state, power and (optionally) per-node families."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import Metric

from ...slurm.models import Node
from .. import metrics as m
from ..core import register

# Slurm's own split of CPUs (sinfo %C, allocated/idle/other/total): CPUs of drained, down or
# failed nodes are "other"; a powered-down cloud node's CPUs are idle, since the scheduler can
# still place work there by resuming it.
UNAVAILABLE_STATES = {"down", "fail", "failing", "unknown", "future"}
UNAVAILABLE_FLAGS = {"DRAIN", "FAIL"}


def power_state(node: Node) -> str | None:
    f = node.flags
    if "POWERING_UP" in f:
        return "powering_up"
    if "POWERING_DOWN" in f:
        return "powering_down"
    if "POWERED_DOWN" in f:
        return "powered_down"
    if "CLOUD" in f or "POWER_DOWN" in f:
        return "powered_up"
    return None


def usable(node: Node) -> bool:
    return node.state not in UNAVAILABLE_STATES and not (node.flags & UNAVAILABLE_FLAGS)


def gpu_types(node: Node) -> dict[str, tuple[int, int | None]]:
    """{type: (total, allocated)}; type '' when the GRES has none; allocated None when the
    source could not say (``Node.gres_used`` None)."""
    out: dict[str, list[int]] = {}
    for g in node.gres:
        if g.name == "gpu":
            out.setdefault(g.type or "", [0, 0])[0] += g.count
    for g in node.gres_used or ():
        if g.name == "gpu":
            out.setdefault(g.type or "", [0, 0])[1] += g.count
    if node.gres_used is None:
        return {k: (v[0], None) for k, v in out.items()}
    return {k: (v[0], v[1]) for k, v in out.items()}


@dataclass
class Capacity:
    """CPUs split as sinfo %C does, memory, and GPUs by type, summed over some nodes."""
    cpus: Counter[str] = field(default_factory=Counter)
    memory: Counter[str] = field(default_factory=Counter)
    gpus: dict[str, Counter[str]] = field(default_factory=dict)


def allocated_gpus(g: Counter[str]) -> int | None:
    """Allocated GPUs of a sum of nodes; None (no series) when any node's count is unknown."""
    return None if g["unknown"] else g["allocated"]


def capacity(nodes: Iterable[Node]) -> Capacity:
    cap = Capacity()
    for status in ("allocated", "idle", "other", "total"):
        cap.cpus[status] = 0
    cap.memory["allocated"] = cap.memory["total"] = 0
    for n in nodes:
        if n.cpus_total is not None:
            a = n.cpus_alloc or 0
            cap.cpus["total"] += n.cpus_total
            cap.cpus["allocated"] += a
            cap.cpus["idle" if usable(n) else "other"] += max(n.cpus_total - a, 0)
        cap.memory["total"] += n.memory_total_bytes or 0
        cap.memory["allocated"] += n.memory_alloc_bytes or 0
        for t, (tot, used) in gpu_types(n).items():
            g = cap.gpus.setdefault(t, Counter())
            g["total"] += tot
            g["allocated"] += used or 0
            g["unknown"] += used is None      # then the sum of allocated would understate
    return cap


def build(cluster: str, nodes: Iterable[Node], per_node: bool = True) -> list[Metric]:
    nodes = list(nodes)
    fam = {s.name: s.family() for s in (m.NODES, m.NODES_FLAGGED, m.NODES_POWER, m.CPUS, m.MEMORY, m.GPUS)}
    by_state = Counter(n.state for n in nodes)
    for state, count in sorted(by_state.items()):
        fam[m.NODES.name].add([cluster, state], count)
    flags = Counter(f for n in nodes for f in n.flags)
    for flag, count in sorted(flags.items()):
        fam[m.NODES_FLAGGED.name].add([cluster, flag], count)
    power = Counter(p for p in (power_state(n) for n in nodes) if p)
    for p in ("powered_down", "powering_up", "powering_down", "powered_up"):
        if power or any("CLOUD" in n.flags for n in nodes):
            fam[m.NODES_POWER.name].add([cluster, p], power.get(p, 0))

    cap = capacity(nodes)
    for status in ("allocated", "idle", "other", "total"):
        fam[m.CPUS.name].add([cluster, status], cap.cpus[status])
    for status in ("allocated", "total"):
        fam[m.MEMORY.name].add([cluster, status], cap.memory[status])
    for t in sorted(cap.gpus):
        fam[m.GPUS.name].add([cluster, t, "total"], cap.gpus[t]["total"])
        fam[m.GPUS.name].add([cluster, t, "allocated"], allocated_gpus(cap.gpus[t]))
    out = [f.metric for f in fam.values()]
    if per_node:
        out += _per_node(cluster, nodes)
    return out


def _per_node(cluster: str, nodes: list[Node]) -> list[Metric]:
    specs = (m.NODE_STATE, m.NODE_FLAG, m.NODE_CPUS, m.NODE_MEMORY, m.NODE_LOAD, m.NODE_GPUS,
             m.NODE_REASON, m.NODE_REASON_SINCE, m.NODE_PARTITION)
    fam = {s.name: s.family() for s in specs}
    for n in nodes:
        fam[m.NODE_STATE.name].add([cluster, n.name, n.state], 1)
        for flag in sorted(n.flags):
            fam[m.NODE_FLAG.name].add([cluster, n.name, flag], 1)
        fam[m.NODE_CPUS.name].add([cluster, n.name, "allocated"], n.cpus_alloc)
        fam[m.NODE_CPUS.name].add([cluster, n.name, "idle"], n.cpus_idle)
        fam[m.NODE_CPUS.name].add([cluster, n.name, "total"], n.cpus_total)
        fam[m.NODE_MEMORY.name].add([cluster, n.name, "allocated"], n.memory_alloc_bytes)
        fam[m.NODE_MEMORY.name].add([cluster, n.name, "free"], n.memory_free_bytes)
        fam[m.NODE_MEMORY.name].add([cluster, n.name, "total"], n.memory_total_bytes)
        fam[m.NODE_LOAD.name].add([cluster, n.name], n.cpu_load)
        for t, (tot, used) in sorted(gpu_types(n).items()):
            fam[m.NODE_GPUS.name].add([cluster, n.name, t, "total"], tot)
            fam[m.NODE_GPUS.name].add([cluster, n.name, t, "allocated"], used)
        if n.reason:
            fam[m.NODE_REASON.name].add([cluster, n.name, n.reason, n.reason_user or ""], 1)
            fam[m.NODE_REASON_SINCE.name].add([cluster, n.name], n.reason_time)
        for p in n.partitions:
            fam[m.NODE_PARTITION.name].add([cluster, n.name, p], 1)
    return [f.metric for f in fam.values()]


@register("slurm", "nodes", "Node states, flags, CPUs, memory and GPUs (scontrol show nodes).")
def _collect(p: Any, data: list[Node]) -> list[Metric]:
    return build(p.cluster, data, per_node=p.options.per_node)
