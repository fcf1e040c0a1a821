"""Slurm JSON documents -> models, for every data_parser version from v0.0.38 (22.05) to v0.0.45 (26.05).

The same functions read slurmrestd responses (``/slurm/v0.0.NN/nodes`` ...) and the ``--json``
output of ``squeue``, ``sinfo``, ``sdiag`` and ``scontrol``: they share the data_parser schemas.
Nothing here knows which version produced a document. Each field is looked up under every name it
has had, and each value is accepted in every shape it has had, because one exporter must keep working
across a rolling upgrade where the version is only known after the document is read.

Shapes handled (see ``tests/fixtures/README.md`` for which release does what):

* numbers as plain ints (v0.0.38) or ``{"set": bool, "infinite": bool, "number": N}`` (v0.0.39+);
  unset or infinite -> None. v0.0.38 also leaks C sentinels (NO_VAL 0xfffffffe, INFINITE
  0xffffffff, their 64-bit forms, and -1/-2 when printed signed): those are None as well.
* Unix times as plain ints (up to v0.0.39) or wrapped (v0.0.40+); 0 means "never" in Slurm -> None.
* node state as ``"idle"`` + ``state_flags`` (v0.0.38) or a list ``["IDLE", "DRAIN"]`` (v0.0.39+);
  job state as a string (up to v0.0.39) or a list (v0.0.40+).
* memory in MB (Slurm's MB = MiB) -> bytes. ``cpu_load`` is the load average times 100 in every
  version -> divided by 100.
* renamed/moved fields: node ``free_memory``/``free_mem``, ``slurmd_version``/``version``, features
  as a comma string or a list; partition v0.0.38 flat fields vs v0.0.39+ nested objects
  (``nodes.configured``, ``cpus.total``, ``maximums.time``, ``partition.state``); job
  ``job_resources`` before/after v0.0.41; diag times wrapped from v0.0.40; shares from v0.0.40
  (``/shares`` is absent from the 22.05 and 23.02 references).
* ``sinfo --json``: a top-level ``nodes`` list (22.05), or ``sinfo[]`` entries that either hold node
  records or describe a group of nodes (``nodes.nodes`` hostlists); nodes are de-duplicated by
  name and their partitions merged.

Error reporting: every ``parse_*`` function takes an optional ``errors`` list. A record that cannot
be read (not an object, a field of the wrong type, no name/id) is skipped and one message per skipped
record is appended to ``errors`` (``"nodes[3]: cpus: expected a number, got 'eight'"``); so
``len(errors)`` is the count of skipped records. A document that is not an object, or whose record
list is missing, null or not a list, yields ``[]`` plus one message (the source then reports a
parse failure, never an empty cluster). Unknown fields are ignored; a missing field leaves
the model field None. Slurm's own ``errors[]`` in a response are not copied: the source layer reads
them. The functions never raise on document content and do no I/O.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, BinaryIO, TypeVar

from ..hostlist import expand as _expand_hostlist
from ..models import ClusterInfo, Gres, Job, License, Node, Partition, Reservation, RpcStat, SchedulerStats, Share
from . import jsonread
from .gres import gpu_count, parse_gres, used_from_tres
from .text import array_task_count as _text_array_task_count
from .values import number, text_float, text_int

__all__ = [
    "Malformed", "parse_nodes", "parse_partitions", "parse_jobs", "parse_diag", "parse_licenses",
    "parse_reservations", "parse_shares", "parse_meta", "unwrap_number", "split_state",
]

T = TypeVar("T")

MB = 1024 * 1024

_NODE_BASE = frozenset({"IDLE", "ALLOCATED", "MIXED", "DOWN", "ERROR", "FUTURE", "UNKNOWN",
                        "INVALID"})
# JSON spells a few flags differently from scontrol/sinfo; keep the scontrol spelling the models use.
_FLAG_ALIASES = {"MAINTENANCE": "MAINT"}
_JOB_BASE = frozenset({"PENDING", "RUNNING", "SUSPENDED", "COMPLETED", "CANCELLED", "FAILED",
                       "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
                       "OUT_OF_MEMORY"})


class Malformed(ValueError):
    """A record's field has a type no Slurm version produces; the record is skipped."""


# --------------------------------------------------------------------------- shared helpers

def unwrap_number(value: Any, field: str = "value") -> float | int | None:
    """Plain or ``{"set","infinite","number"}`` number -> the number, or None when unset/infinite.

    Sentinels and negatives are None too: every count, size and time Slurm reports is >= 0, and
    v0.0.38 prints unset values as NO_VAL/INFINITE (sometimes signed, -1/-2). A number above
    2**63 - 1 is rejected (values.OutOfRange, a ValueError: the record is skipped and counted).
    """
    if value is None:
        return None
    if isinstance(value, Mapping):
        if "number" not in value and "set" not in value:
            raise Malformed(f"{field}: expected a number, got an object")
        if value.get("set") is False or value.get("infinite") is True:
            return None
        return unwrap_number(value.get("number"), field)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Malformed(f"{field}: expected a number, got {value!r:.40}")
    return number(value, field)


def _int(rec: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        if name in rec:
            v = unwrap_number(rec[name], name)
            if v is not None:
                return int(v)
    return None


def _float(rec: Mapping[str, Any], *names: str) -> float | None:
    for name in names:
        if name in rec:
            v = unwrap_number(rec[name], name)
            if v is not None:
                return float(v)
    return None


def _time(rec: Mapping[str, Any], *names: str) -> float | None:
    """A Unix time; Slurm uses 0 for "not yet"/"never", which is not a time."""
    v = _float(rec, *names)
    return v if v else None


def _str(rec: Mapping[str, Any], *names: str) -> str | None:
    """First non-empty string among the names; ``(null)``/``N/A`` placeholders are None."""
    for name in names:
        v = rec.get(name)
        if v is None:
            continue
        if not isinstance(v, str):
            raise Malformed(f"{name}: expected a string, got {v!r:.40}")
        v = v.strip()
        if v and v not in ("(null)", "N/A"):
            return v
    return None


def _strs(rec: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """A list of strings, or the comma-separated string older versions print."""
    v = rec.get(name)
    if v is None:
        return ()
    if isinstance(v, str):
        items: Iterable[Any] = v.split(",")
    elif isinstance(v, list):
        items = v
    else:
        raise Malformed(f"{name}: expected a list or a string, got {v!r:.40}")
    out = []
    for item in items:
        if not isinstance(item, str):
            raise Malformed(f"{name}: expected strings, got {item!r:.40}")
        item = item.strip()
        if item and item != "(null)":
            out.append(item)
    return tuple(out)


def _obj(rec: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """A nested object, or {} when absent; a wrong type is malformed."""
    v = rec.get(name)
    if v is None:
        return {}
    if not isinstance(v, Mapping):
        raise Malformed(f"{name}: expected an object, got {v!r:.40}")
    return v


def _state_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return list(value)
    raise Malformed(f"{field}: expected a string or a list of strings, got {value!r:.40}")


def split_state(state: Any, flags: Any = None, *, base_states: frozenset[str] = _NODE_BASE,
                field: str = "state") -> tuple[str | None, frozenset[str]]:
    """``["IDLE", "DRAIN"]`` or ``"idle"`` + ``["DRAIN"]`` -> ``("IDLE", {"DRAIN"})`` (upper case).

    The base state is the one item that is a known base state; an unknown first item is taken as the
    base (a new base state in a later release is likelier than a flag-only state).
    """
    items: list[str] = []
    for s in _state_list(state, field) + _state_list(flags, "state_flags"):
        items.extend(p.strip().upper() for p in s.split("+") if p.strip())   # also "IDLE+DRAIN"
    base = next((s for s in items if s in base_states), None)
    if base is None and items and items[0] not in _KNOWN_FLAGS:
        base = items[0]
    return base, frozenset(_FLAG_ALIASES.get(s, s) for s in items if s != base)


_KNOWN_FLAGS = frozenset({
    "DRAIN", "MAINT", "MAINTENANCE", "RESERVED", "POWERED_DOWN", "POWERING_UP", "POWERING_DOWN",
    "POWER_DOWN", "POWER_UP", "POWER_DRAIN", "CLOUD", "NOT_RESPONDING", "COMPLETING", "FAIL",
    "REBOOT_REQUESTED", "REBOOT_ISSUED", "REBOOT_CANCELED", "PLANNED", "DYNAMIC_NORM",
    "DYNAMIC_FUTURE", "RESUME", "UNDRAIN", "INVALID_REG", "BLOCKED", "CONFIGURING", "REQUEUED",
    "RESIZING", "STAGE_OUT", "SIGNALING", "UPDATE_DB", "RESV_DEL_HOLD", "REQUEUE_FED",
    "REQUEUE_HOLD", "SPECIAL_EXIT", "STOPPED", "REVOKED", "LAUNCH_FAILED", "RECONFIG_FAIL",
    "POWER_UP_NODE", "EXTERNAL",
})


def _hostlist(expr: str | None) -> tuple[str, ...]:
    """Expand a hostlist; one we cannot expand (bad syntax, more than hostlist.MAX_HOSTS names)
    makes the record malformed: skipped and counted, never a made-up node name."""
    if not expr:
        return ()
    try:
        return tuple(_expand_hostlist(expr))
    except ValueError as exc:
        raise Malformed(str(exc)) from None


def _mem_bytes(mb: int | float | None) -> int | None:
    return None if mb is None else int(round(mb * MB))


_UNIT = {"": MB, "K": 1024, "M": MB, "G": 1024 * MB, "T": 1024 ** 2 * MB, "P": 1024 ** 3 * MB}
_TRES_MEM = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([KMGTP]?)$")


def _tres(text: str | None) -> dict[str, str]:
    """``cpu=4,mem=8G,gres/gpu=2`` -> {"cpu": "4", "mem": "8G", "gres/gpu": "2"}."""
    out: dict[str, str] = {}
    for item in (text or "").split(","):
        k, sep, v = item.partition("=")
        if sep and k.strip():
            out[k.strip()] = v.strip()
    return out


def _tres_mem(tres: Mapping[str, str]) -> int | None:
    m = _TRES_MEM.match(tres.get("mem", ""))
    if not m:
        return None
    mb = text_float(m.group(1))
    return None if mb is None else int(round(mb * _UNIT[m.group(2)]))


def _tres_gpus(tres: Mapping[str, str]) -> int:
    """GPUs in a TRES string. ``gres/gpu`` is the total; typed entries repeat it, so they are only
    summed when the untyped total is absent."""
    if "gres/gpu" in tres and tres["gres/gpu"].isdigit():
        return text_int(tres["gres/gpu"]) or 0
    return sum(text_int(v) or 0 for k, v in tres.items() if k.startswith("gres/gpu:") and v.isdigit())


def _gres_spec(text: str | None) -> tuple[Gres, ...]:
    """``gres:gpu:a100:2`` (22.05), ``gres/gpu:a100:2`` (23.02+), ``gpu:2``: a job's per-node/per-job
    request. The ``gres:`` prefix is ours to drop; parse_gres already understands ``gres/``."""
    if not text:
        return ()
    items = []
    for item in text.split(","):
        item = item.strip()
        if item.startswith("gres:"):
            item = item[5:]
        items.append(item)
    return parse_gres(",".join(items))


def _collect(doc: Any, key: str, parse_one: Callable[[Mapping[str, Any]], T],
             errors: list[str] | None) -> list[T]:
    """Parse ``doc[key][*]`` one record at a time, so one bad record costs only itself."""
    if not isinstance(doc, Mapping):
        _note(errors, f"document: expected an object, got {type(doc).__name__}")
        return []
    items = doc.get(key)
    if not isinstance(items, list):     # missing or null is an error too, never "none of them"
        _note(errors, f"{key}: expected a list, got "
                      f"{'nothing' if key not in doc else jsonread._kind(items)}")
        return []
    return _each(items, key, parse_one, errors)


def _each(items: Iterable[Any], where: str, parse_one: Callable[[Mapping[str, Any]], T],
          errors: list[str] | None) -> list[T]:
    out: list[T] = []
    for i, rec in enumerate(items):
        try:
            if not isinstance(rec, Mapping):
                raise Malformed(f"expected an object, got {type(rec).__name__}")
            out.append(parse_one(rec))
        except (Malformed, TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as exc:
            _note(errors, f"{where}[{i}]: {exc}")
    return out


def _note(errors: list[str] | None, msg: str) -> None:
    if errors is not None:
        errors.append(msg)


# --------------------------------------------------------------------------- nodes

def _node(rec: Mapping[str, Any]) -> Node:
    name = _str(rec, "name")
    if name is None:
        raise Malformed("name: missing")
    base, flags = split_state(rec.get("state"), rec.get("state_flags"))
    reason = _str(rec, "reason")
    load = _float(rec, "cpu_load")
    gres = parse_gres(_str(rec, "gres"))
    if "gres_used" in rec:
        gres_used: tuple[Gres, ...] | None = parse_gres(_str(rec, "gres_used"))
    else:   # as the cli source without -d: from the allocated TRES (gres.used_from_tres)
        gres_used = used_from_tres(_str(rec, "tres_used"), _str(rec, "tres"), gres)
    return Node(
        name=name,
        state=(base or "unknown").lower(),
        flags=flags,
        partitions=tuple(p.rstrip("*") for p in _strs(rec, "partitions")),
        cpus_total=_int(rec, "cpus"),
        cpus_alloc=_int(rec, "alloc_cpus"),
        cpu_load=None if load is None else load / 100.0,
        memory_total_bytes=_mem_bytes(_int(rec, "real_memory")),
        memory_alloc_bytes=_mem_bytes(_int(rec, "alloc_memory")),
        memory_free_bytes=_mem_bytes(_int(rec, "free_mem", "free_memory")),
        gres=gres,
        gres_used=gres_used,
        reason=reason,
        # The time and user describe the reason; Slurm keeps them after the reason is cleared.
        reason_time=_time(rec, "reason_changed_at") if reason else None,
        reason_user=_str(rec, "reason_set_by_user") if reason else None,
        features=_strs(rec, "features"),
        slurmd_version=_str(rec, "version", "slurmd_version"),
    )


def _sinfo_group(entry: Mapping[str, Any]) -> list[Node]:
    """One ``sinfo --json`` (v0.0.39+) entry: a group of nodes sharing state, partition and shape.

    Totals are per group, so per-node CPU/memory use is only known when the group has one node;
    per-node sizes are known when the group's minimum equals its maximum.
    """
    nodes = _obj(entry, "nodes")
    names: list[str] = []
    for expr in _strs(nodes, "nodes"):
        names.extend(_hostlist(expr))
    if not names:
        return []
    single = len(names) == 1
    base, flags = split_state(_obj(entry, "node").get("state"))
    cpus, mem, reason_o = _obj(entry, "cpus"), _obj(entry, "memory"), _obj(entry, "reason")
    load = _obj(cpus, "load")
    free = _obj(mem, "free")

    def same(o: Mapping[str, Any], lo: str = "minimum", hi: str = "maximum") -> int | None:
        a, b = _int(o, lo), _int(o, hi)
        return a if a is not None and a == b else None

    free_min = _int(free, "minimum")
    reason = _str(reason_o, "description")
    partition = _str(_obj(entry, "partition"), "name")
    cpu_load = _int(load, "minimum") if single else None
    gres = _obj(entry, "gres")
    features = _obj(entry, "features")
    out = []
    for name in names:
        out.append(Node(
            name=name, state=(base or "unknown").lower(), flags=flags,
            partitions=(partition.rstrip("*"),) if partition else (),
            cpus_total=_int(cpus, "total") if single else same(cpus),
            cpus_alloc=_int(cpus, "allocated") if single else None,
            cpu_load=None if cpu_load is None else cpu_load / 100.0,
            memory_total_bytes=_mem_bytes(same(mem)),
            memory_alloc_bytes=_mem_bytes(_int(mem, "allocated")) if single else None,
            memory_free_bytes=_mem_bytes(free_min) if single else None,
            gres=parse_gres(_str(gres, "total")),
            # A group's GRES in use are summed over its nodes: per node they are unknown.
            gres_used=parse_gres(_str(gres, "used")) if single else None,
            reason=reason,
            reason_time=_time(reason_o, "time") if reason else None,
            reason_user=_str(reason_o, "user") if reason else None,
            features=_strs(features, "total"),
        ))
    return out


def parse_nodes(doc: Any, errors: list[str] | None = None) -> list[Node]:
    """Nodes from slurmrestd ``/nodes`` or ``sinfo --json``, one per name, in document order."""
    sinfo = isinstance(doc, Mapping) and isinstance(doc.get("sinfo"), list) and "nodes" not in doc
    found: list[Node] = [] if sinfo else _collect(doc, "nodes", _node, errors)
    if sinfo:
        for i, entry in enumerate(doc["sinfo"]):
            try:
                if not isinstance(entry, Mapping):
                    raise Malformed(f"expected an object, got {type(entry).__name__}")
                inner = entry.get("nodes")
                if isinstance(inner, list):
                    found.extend(_each(inner, f"sinfo[{i}].nodes", _node, errors))
                else:
                    found.extend(_sinfo_group(entry))
            except (Malformed, TypeError, ValueError, KeyError, AttributeError) as exc:
                _note(errors, f"sinfo[{i}]: {exc}")
    return _unique_nodes(found)


def _unique_nodes(found: Iterable[Node]) -> list[Node]:
    by_name: dict[str, Node] = {}
    for node in found:
        seen = by_name.get(node.name)
        if seen is None:
            by_name[node.name] = node
        else:
            merged = seen.partitions + tuple(p for p in node.partitions if p not in seen.partitions)
            seen.partitions = merged
    return list(by_name.values())


# --------------------------------------------------------------------------- partitions

def _partition(rec: Mapping[str, Any]) -> Partition:
    raw = _str(rec, "name")
    if raw is None:
        raise Malformed("name: missing")
    name = raw.rstrip("*")
    nodes_o = rec.get("nodes")
    if isinstance(nodes_o, Mapping):                       # v0.0.39+
        node_expr = _str(nodes_o, "configured")
        total_nodes = _int(nodes_o, "total")
    else:                                                  # v0.0.38
        node_expr = _str(rec, "nodes")
        total_nodes = _int(rec, "total_nodes")
    cpus_o = rec.get("cpus")
    cpus_total = _int(cpus_o, "total") if isinstance(cpus_o, Mapping) else _int(rec, "total_cpus")
    max_o = _obj(rec, "maximums")
    max_min = _int(max_o, "time") if "time" in max_o else _int(rec, "max_time_limit")
    state_v = _obj(rec, "partition").get("state") if isinstance(rec.get("partition"), Mapping) \
        else rec.get("state")
    states = [s.strip().lower() for s in _state_list(state_v, "state") if s.strip()]
    flags = {f.strip().upper() for f in _strs(rec, "flags")}
    return Partition(
        name=name,
        state=states[0] if states else "up",
        is_default=raw.endswith("*") or "DEFAULT" in flags,
        nodes=_hostlist(node_expr),
        cpus_total=cpus_total,
        max_time_s=None if max_min is None else max_min * 60.0,
        total_nodes=total_nodes,
    )


def parse_partitions(doc: Any, errors: list[str] | None = None) -> list[Partition]:
    """Partitions from ``/partitions`` (or the ``partition`` objects of ``sinfo --json`` entries)."""
    if isinstance(doc, Mapping) and "partitions" not in doc and isinstance(doc.get("sinfo"), list):
        parts = [e["partition"] for e in doc["sinfo"]
                 if isinstance(e, Mapping) and isinstance(e.get("partition"), Mapping)]
        seen: dict[str, Partition] = {}
        for p in _each(parts, "sinfo[].partition", _partition, errors):
            seen.setdefault(p.name, p)
        return list(seen.values())
    return _collect(doc, "partitions", _partition, errors)


# --------------------------------------------------------------------------- jobs

def array_task_count(spec: str) -> int | None:
    """``"5-9"`` -> 5, ``"1,3,7-8"`` -> 4, ``"1-9:2"`` -> 5, ``"3-4%2"`` -> 2 (``%`` limits how many
    run at once, not how many exist): the text parser's count (bounded by MaxArraySize's
    maximum). None when the spec is not understood or names more tasks than Slurm allows."""
    try:
        return _text_array_task_count(spec.strip().strip("[]"))[0] or None
    except ValueError:
        return None


def _job(rec: Mapping[str, Any], note: Callable[[str], None] = lambda msg: None) -> Job:
    job_id = _int(rec, "job_id")
    if job_id is None:
        raise Malformed("job_id: missing")
    array_id = _int(rec, "array_job_id") or None           # 0 = not an array
    task_id = _int(rec, "array_task_id")
    task_spec = _str(rec, "array_task_string")
    count = 1
    shown_id = str(job_id)
    if array_id is not None:
        if task_id is not None:
            shown_id = f"{array_id}_{task_id}"
        elif task_spec:
            shown_id = f"{array_id}_[{task_spec}]"
            n = array_task_count(task_spec)
            if n is None:   # as the text parser: noted (so counted), the record counts once
                note(f"array_task_string {task_spec[:60]!r} is not a task list Slurm prints (or "
                     f"names more tasks than MaxArraySize allows); counted as one task")
            count = n or 1

    base, job_flags = split_state(rec.get("job_state"), base_states=_JOB_BASE, field="job_state")
    if base is None and len(job_flags) == 1:
        # 22.05 (v0.0.38) gives job_state_string(): a lone flag such as "CONFIGURING" while a
        # cloud node powers up, exactly what squeue %T prints; keep it so both sources agree.
        (base,) = job_flags
    reason = _str(rec, "state_reason")
    resources = _obj(rec, "job_resources")
    res_nodes = resources.get("nodes")
    node_list = _str(rec, "nodes")
    if node_list is None:
        node_list = _str(res_nodes, "list") if isinstance(res_nodes, Mapping) else \
            _str(resources, "nodes")
    cpus = _int(rec, "cpus")
    if cpus is None:
        cpus = _int(resources, "cpus", "allocated_cpus")
    node_count = _int(rec, "node_count")

    # Allocated TRES once running, requested TRES before: both are whole-job totals.
    tres = _tres(_str(rec, "tres_alloc_str") or _str(rec, "tres_req_str"))
    memory = _tres_mem(tres)
    if memory is None:
        per_node, per_cpu = _int(rec, "memory_per_node"), _int(rec, "memory_per_cpu")
        if per_node is not None and node_count is not None:
            memory = per_node * node_count * MB
        elif per_cpu is not None and cpus is not None:
            memory = per_cpu * cpus * MB
    gpus: int | None = _tres_gpus(tres) if tres else None
    if not gpus:
        per_job = gpu_count(_gres_spec(_str(rec, "tres_per_job")))
        per_node = gpu_count(_gres_spec(_str(rec, "tres_per_node")))
        detail = sum(gpu_count(parse_gres(d)) for d in _strs_list(rec, "gres_detail"))
        alt = per_job or (per_node * node_count if per_node and node_count else 0) or detail
        if alt:
            gpus = alt
        elif gpus is None and any(k in rec for k in ("tres_per_job", "tres_per_node", "gres_detail")):
            gpus = 0
    user = _str(rec, "user_name")
    if user is None:
        uid = _int(rec, "user_id")
        user = str(uid) if uid is not None else ""
    return Job(
        job_id=shown_id,
        state=base or "UNKNOWN",
        partition=_str(rec, "partition") or "",
        user=user,
        account=_str(rec, "account"),
        reason=None if reason in (None, "None") else reason,
        cpus=cpus,
        nodes=node_count,
        memory_bytes=memory,
        gpus=gpus,
        submit_time=_time(rec, "submit_time"),
        start_time=_time(rec, "start_time"),
        array_job_id=str(array_id) if array_id is not None else None,
        array_task_count=count,
        node_list=node_list,
    )


def _strs_list(rec: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """gres_detail: one GRES string per node, so commas inside an item must not split it."""
    v = rec.get(name)
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise Malformed(f"{name}: expected a list of strings, got {v!r:.40}")
    return tuple(s for s in v if s.strip())


def parse_jobs(doc: Any, errors: list[str] | None = None) -> list[Job]:
    """Jobs from ``/jobs`` or ``squeue --json``; array tasks keep squeue's ``123_4``/``123_[5-9]`` ids."""
    return _collect(doc, "jobs", _noting_job(errors), errors)


def _noting_job(errors: list[str] | None) -> Callable[[Mapping[str, Any]], Job]:
    def one(rec: Mapping[str, Any]) -> Job:
        return _job(rec, lambda msg: _note(errors, f"jobs: job {str(rec.get('job_id'))[:20]}: {msg}"))
    return one


def stream_jobs(f: BinaryIO, errors: list[str] | None = None, outer: dict[str, Any] | None = None) -> list[Job]:
    """:func:`parse_jobs` for a ``/jobs`` document in a binary file, without building the document.

    At 50,000 jobs slurmrestd's answer is 155 MB; ``json.loads`` turns it into ~400 MB of dicts
    and lists before a single Job exists. :func:`jsonread.records` hands over one job object at a
    time, bounded in size and depth. ``outer`` receives the document's other top-level members
    (errors, warnings, last_update, meta). Input that is not a complete JSON object with a
    ``jobs`` list raises ValueError: a cut answer must not pass for a shorter queue."""
    return stream_records(f, "jobs", _noting_job(errors), errors, outer)


def stream_nodes(f: BinaryIO, errors: list[str] | None = None, outer: dict[str, Any] | None = None) -> list[Node]:
    """:func:`parse_nodes` for a slurmrestd ``/nodes`` document in a binary file (12.6 MB at
    10,000 nodes), as :func:`stream_jobs` does it."""
    return _unique_nodes(stream_records(f, "nodes", _node, errors, outer))


def stream_partitions(f: BinaryIO, errors: list[str] | None = None,
                      outer: dict[str, Any] | None = None) -> list[Partition]:
    return stream_records(f, "partitions", _partition, errors, outer)


def stream_licenses(f: BinaryIO, errors: list[str] | None = None,
                    outer: dict[str, Any] | None = None) -> list[License]:
    return stream_records(f, "licenses", _license, errors, outer)


def stream_reservations(f: BinaryIO, errors: list[str] | None = None,
                        outer: dict[str, Any] | None = None) -> list[Reservation]:
    return stream_records(f, "reservations", _reservation, errors, outer)


def stream_records(f: BinaryIO, key: str, parse_one: Callable[[Mapping[str, Any]], T],
                   errors: list[str] | None, outer: dict[str, Any] | None = None) -> list[T]:
    """``doc[key][*]`` of the JSON object in ``f`` through ``parse_one``, one record at a time; a
    record whose invalid UTF-8 was replaced is kept and noted (so counted)."""
    def items() -> Iterable[Any]:
        for i, (rec, repaired) in enumerate(jsonread.records(f, key, outer, errors)):
            if repaired:
                _note(errors, f"{key}[{i}]: invalid UTF-8 replaced")
            yield rec
    return _each(items(), key, parse_one, errors)


# --------------------------------------------------------------------------- diag

def _us(rec: Mapping[str, Any], name: str) -> float | None:
    v = _float(rec, name)
    return None if v is None else v / 1e6


def _rpc(name_key: str) -> Callable[[Mapping[str, Any]], RpcStat]:
    def one(rec: Mapping[str, Any]) -> RpcStat:
        name = _str(rec, name_key)
        if name is None:
            raise Malformed(f"{name_key}: missing")
        count = _int(rec, "count")
        total = _float(rec, "total_time")
        if count is None or total is None:
            raise Malformed("count/total_time: missing")
        return RpcStat(name=name, count=count, total_time_s=total / 1e6)   # total_time is µs
    return one


def parse_diag(doc: Any, errors: list[str] | None = None) -> SchedulerStats:
    """``/diag`` or ``sdiag --json``: scheduler counters; cycle and RPC times are µs -> seconds.

    A malformed counter is left None (and noted) instead of losing the whole document.
    """
    if not isinstance(doc, Mapping):
        _note(errors, f"document: expected an object, got {type(doc).__name__}")
        return SchedulerStats()
    st = doc.get("statistics", doc if "server_thread_count" in doc else None)
    if st is None:      # an answer without statistics is an error, not an idle scheduler
        _note(errors, "statistics: missing")
        return SchedulerStats()
    if not isinstance(st, Mapping):
        _note(errors, f"statistics: expected an object, got {type(st).__name__}")
        return SchedulerStats()

    def safe(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Malformed as exc:
            _note(errors, f"statistics.{exc}")
            return None

    ints = {
        "server_thread_count": "server_thread_count", "agent_queue_size": "agent_queue_size",
        "agent_count": "agent_count", "agent_thread_count": "agent_thread_count",
        "dbd_agent_queue_size": "dbd_agent_queue_size", "jobs_submitted": "jobs_submitted",
        "jobs_started": "jobs_started", "jobs_completed": "jobs_completed",
        "jobs_canceled": "jobs_canceled", "jobs_failed": "jobs_failed",
        "jobs_pending": "jobs_pending", "jobs_running": "jobs_running",
        "schedule_cycle_total": "schedule_cycle_total",
        "schedule_queue_length": "schedule_queue_length",
        "backfill_cycles_total": "bf_cycle_counter", "backfilled_jobs_total": "bf_backfilled_jobs",
        "backfill_last_depth": "bf_last_depth", "backfill_queue_length": "bf_queue_len",
    }
    micro = {
        "schedule_cycle_last_s": "schedule_cycle_last", "schedule_cycle_max_s": "schedule_cycle_max",
        "schedule_cycle_mean_s": "schedule_cycle_mean", "backfill_cycle_last_s": "bf_cycle_last",
        "backfill_cycle_max_s": "bf_cycle_max", "backfill_cycle_mean_s": "bf_cycle_mean",
    }
    values: dict[str, Any] = {k: safe(_int, st, src) for k, src in ints.items()}
    values.update({k: safe(_us, st, src) for k, src in micro.items()})
    values["stats_reset_time"] = safe(_time, st, "req_time_start")
    for attr, key, name_key in (("rpcs_by_type", "rpcs_by_message_type", "message_type"),
                                ("rpcs_by_user", "rpcs_by_user", "user")):
        values[attr] = _collect(st, key, _rpc(name_key), errors) if key in st else []
    return SchedulerStats(**values)


# --------------------------------------------------------------------------- licenses, reservations

def _license(rec: Mapping[str, Any]) -> License:
    name = _str(rec, "LicenseName", "name")
    total, used = _int(rec, "Total", "total"), _int(rec, "Used", "used")
    if name is None or total is None or used is None:
        raise Malformed("LicenseName/Total/Used: missing")
    return License(name=name, total=total, used=used, free=_int(rec, "Free", "free"),
                   reserved=_int(rec, "Reserved", "reserved"))


def parse_licenses(doc: Any, errors: list[str] | None = None) -> list[License]:
    """``/licenses`` (the field names keep scontrol's CamelCase in every version)."""
    return _collect(doc, "licenses", _license, errors)


def _reservation(rec: Mapping[str, Any]) -> Reservation:
    name = _str(rec, "name")
    if name is None:
        raise Malformed("name: missing")
    cpu = _tres(_str(rec, "tres")).get("cpu")
    return Reservation(
        name=name,
        start_time=_time(rec, "start_time"),
        end_time=_time(rec, "end_time"),
        nodes=_hostlist(_str(rec, "node_list")),
        node_count=_int(rec, "node_count"),
        # cpu= in the TRES is CPUs; core_count is cores, the same number unless threads > 1.
        cpu_count=text_int(cpu) if cpu and cpu.isdigit() else _int(rec, "core_count"),
        flags=frozenset(f.upper() for f in _strs(rec, "flags")),
        users=_strs(rec, "users"),
        accounts=_strs(rec, "accounts"),
        partition=_str(rec, "partition"),
    )


def parse_reservations(doc: Any, errors: list[str] | None = None) -> list[Reservation]:
    return _collect(doc, "reservations", _reservation, errors)


# --------------------------------------------------------------------------- shares, meta

def _share(rec: Mapping[str, Any]) -> Share:
    name = _str(rec, "name")
    if name is None:
        raise Malformed("name: missing")
    types = {t.upper() for t in _state_list(rec.get("type"), "type")}
    parent = _str(rec, "parent")
    if "USER" in types:
        account, user = parent or "", name
    else:
        account, user = name, None
    return Share(
        account=account, user=user,
        raw_shares=_int(rec, "shares"),
        norm_shares=_float(rec, "shares_normalized"),
        raw_usage=_float(rec, "usage"),
        norm_usage=_float(rec, "usage_normalized"),
        effective_usage=_float(rec, "effective_usage"),
        fairshare=_float(_obj(rec, "fairshare"), "factor"),
    )


def parse_shares(doc: Any, errors: list[str] | None = None) -> list[Share]:
    """``/shares`` (v0.0.40+): ``{"shares": {"shares": [...], "total_shares": N}}``.

    A USER entry's parent is its account; any other entry is an account.
    """
    if isinstance(doc, Mapping) and isinstance(doc.get("shares"), Mapping):
        return _collect(doc["shares"], "shares", _share, errors)
    return _collect(doc, "shares", _share, errors)


def parse_meta(doc: Any) -> ClusterInfo:
    """Slurm release and cluster name: ``meta.Slurm`` up to v0.0.39, ``meta.slurm`` from v0.0.40
    (which also names the cluster). Older documents only name the cluster inside job records."""
    if not isinstance(doc, Mapping):
        return ClusterInfo()
    raw_meta = doc.get("meta")
    meta = raw_meta if isinstance(raw_meta, Mapping) else {}
    slurm = meta.get("slurm") or meta.get("Slurm") or {}
    if not isinstance(slurm, Mapping):
        slurm = {}
    version = slurm.get("release") if isinstance(slurm.get("release"), str) else None
    ver = slurm.get("version")
    if not version and isinstance(ver, Mapping):
        parts = [ver.get(k) for k in ("major", "minor", "micro")]
        if all(isinstance(p, (int, str)) and str(p).isdigit() for p in parts):
            major, minor, micro = (int(str(p)) for p in parts)
            version = f"{major}.{minor:02d}.{micro}"
    cluster = slurm.get("cluster") if isinstance(slurm.get("cluster"), str) else None
    if not cluster:
        for key, field in (("jobs", "cluster"), ("partitions", "cluster"), ("nodes", "cluster_name")):
            items = doc.get(key)
            if isinstance(items, list):
                cluster = next((r[field] for r in items if isinstance(r, Mapping)
                                and isinstance(r.get(field), str) and r[field]), None)
                if cluster:
                    break
    return ClusterInfo(cluster=cluster or None, version=version or None)
