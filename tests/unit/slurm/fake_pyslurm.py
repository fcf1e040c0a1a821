"""A FAKE pyslurm module for unit tests. It is NOT pyslurm and talks to no Slurm.

No pyslurm can run here (the lab's Slurm is 22.05.8 and PyPI has no pyslurm for 22.05), so the
pyslurm source's mapping is tested against this stand-in. Its objects carry the attribute names
and value types of pyslurm 25.11.0's object API as read from its sdist, and its string parsers are
ports of pyslurm's own, so a fake object built from a recorded ``scontrol``/``squeue`` line holds
what pyslurm would hand over for it:

* ``Node`` (pyslurm/core/node.pyx): memory in MiB, ``cpu_load`` 0.0 when unset, times as epoch
  ints or None, ``state`` as ``node_state_string_complete`` prints it (``IDLE+DRAIN``),
  ``configured_gres`` from ``cstr.to_gres_dict``, ``allocated_gres`` from the allocated TRES;
* ``Job`` (pyslurm/core/job/job.pyx): ``allocated_tres``/``requested_tres``/``tres_per_*`` as
  ``TrackableResources`` (pyslurm/db/tres.pyx: mem in MiB, GPUs as ``GPU``; None when the string
  has no ``name=count`` item), ``array_task_id`` None for task 0, ``array_tasks_waiting`` without
  its ``%N``;
* ``Partition`` (pyslurm/core/partition.pyx): ``max_time`` in minutes or ``"UNLIMITED"``;
* ``Reservation`` (pyslurm/core/reservation.pyx): ``flags`` a ``ReservationFlags`` enum.Flag,
  ``tres`` a dict;
* ``slurmctld.Statistics`` (pyslurm/core/slurmctld/stats.pyx), ``slurmctld.Config``
  (config.pyx), ``slurmctld.ping``/``ping_all``/``PingResponse`` (base.pyx), and the deprecated
  ``licenses`` / ``get_controllers`` (pyslurm/deprecated.pyx).

:func:`module` builds a fresh fake module holding one cluster's objects.
"""
from __future__ import annotations

import enum
import re
import types

VERSION = "25.11.0"


class RPCError(Exception):
    """pyslurm.RPCError (pyslurm/core/error.pyx)."""


# ---- ports of pyslurm's string parsing (utils/cstr.pyx, utils/helpers.pyx) --------------------

_MEMORY_UNITS = {"K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30, "T": 2 ** 40, "P": 2 ** 50}


def to_dict(s: str | None) -> dict:
    """cstr.to_dict: ``a=1,b=2M`` -> {"a": 1, "b": "2M"}; items without ``=`` are dropped."""
    out: dict = {}
    if not s:
        return out
    for kv in s.split(","):
        if "=" in kv:
            k, v = kv.split("=", 1)
            out[k] = int(v) if v.isdigit() else v
    return out


def to_list(s: str | None) -> list[str]:
    """cstr.to_list: None or "" -> []."""
    return s.split(",") if s else []


def to_gres_dict(gres: str | None) -> dict:
    """cstr.to_gres_dict, verbatim in logic."""
    output: dict = {}
    if not gres or gres == "(null)":
        return {}
    for item in re.split(",(?=[^,]+?:)", gres):
        cnt = typ = "1"
        if "gres:" in item:
            item = item.replace("gres:", "")
        parts = re.split(":(?=[^:]+?)", item.replace("(", ":", 1).replace(")", ""))
        name = parts[0]
        if len(parts) > 1:
            typ = parts[1]
        if typ.isdigit():
            cnt, typ = typ, None
        elif len(parts) > 2:
            cnt = parts[2]
        else:
            continue
        key = f"{name}:{typ}" if typ else name
        if "IDX" not in parts:
            output[key] = int(cnt)
        else:
            output[key] = {"count": int(cnt), "indexes": parts[3] if not typ else parts[4]}
    return output


def dehumanize(value, target: str = "M") -> int | None:
    """helpers.dehumanize: ``1.50G`` -> 1536 (MiB)."""
    if not value:
        return None
    parts = re.split(f"([{' '.join(_MEMORY_UNITS)}])", str(value))
    if len(parts) == 1:
        return int(value)
    return round(float(parts[0]) * _MEMORY_UNITS[parts[1]] / _MEMORY_UNITS[target])


def gres_from_tres_dict(tres: dict) -> dict:
    """helpers.gres_from_tres_dict: {"gres/gpu": 2, "cpu": 4} -> {"gpu": 2}."""
    return {k.replace("gres/", ""): v for k, v in tres.items() if "gres/" in k}


# ---- TRES (pyslurm/db/tres.pyx) ---------------------------------------------------------------

class TrackableResource:
    def __init__(self, tres_type, count, name=None, tres_id=None):
        self.type, self.count, self.name, self.id = tres_type, int(count), name, tres_id


class GPU:
    def __init__(self, count, gpu_type=None, tres_id=None):
        self.count, self.type, self.id = int(count), gpu_type, tres_id

    @property
    def name(self):
        return f"gpu:{self.type}" if self.type else "gpu"


class TrackableResources:
    def __init__(self):
        self.cpu = self.mem = self.energy = self.node = self.billing = None
        self.vmem = self.pages = None
        self.fs, self.gres, self.license, self.interconnect, self.other = {}, {}, {}, {}, {}

    @staticmethod
    def from_str(tres_str: str | None, on_empty=None):
        """TrackableResources.from_cstr: None when the string has no ``name=count`` item."""
        d = to_dict(tres_str)
        if not d:
            return on_empty
        out = TrackableResources()
        for k, v in d.items():
            typ, name = k.split("/", 1) if "/" in k else (k, None)
            count = dehumanize(v) if typ == "mem" else int(v)
            if typ == "gres":
                if name == "gpu" or name.startswith("gpu:"):
                    out.gres[name] = GPU(count, name.split(":", 1)[1] if ":" in name else None)
                else:
                    out.gres[name] = TrackableResource(typ, count, name)
            elif hasattr(out, typ) and typ not in ("fs", "license", "interconnect", "other"):
                setattr(out, typ, TrackableResource(typ, count))
        return out


# ---- objects ----------------------------------------------------------------------------------

class _Obj:
    """Attributes from keyword arguments; an attribute not given has pyslurm's value for unset.
    A name pyslurm 25.11 does not have is refused, so the fake cannot drift from the real API."""
    FIELDS: dict = {}

    def __init__(self, **kw):
        unknown = set(kw) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"pyslurm 25.11 {type(self).__name__} has no {sorted(unknown)}")
        for k, default in self.FIELDS.items():
            setattr(self, k, kw.get(k, default() if callable(default) else default))


class Node(_Obj):
    FIELDS = {
        "name": None, "cluster": None, "state": None, "next_state": None, "architecture": None,
        "total_cpus": 0, "effective_cpus": 0, "allocated_cpus": 0, "idle_cpus": 0, "cpu_load": 0.0,
        "real_memory": None, "allocated_memory": 0, "free_memory": None, "idle_memory": 0,
        "configured_gres": dict, "allocated_gres": dict, "allocated_tres": dict,
        "partitions": list, "available_features": list, "active_features": list,
        "reason": None, "reason_user": None, "reason_time": None, "slurm_version": None,
        "boot_time": None, "slurmd_start_time": None, "last_busy_time": None,
        "address": None, "hostname": None, "comment": None, "extra": None,
    }


class Job(_Obj):
    FIELDS = {
        "id": None, "name": None, "cluster": None, "state": None, "state_reason": None,
        "partition": None, "user_id": None, "user_name": None, "account": None, "qos": None,
        "cpus": 1, "num_nodes": None, "ntasks": 1, "memory": None,
        "submit_time": None, "eligible_time": None, "start_time": None, "end_time": None,
        "time_limit": None, "allocated_nodes": None, "array_id": None, "array_task_id": None,
        "array_tasks_waiting": None, "array_tasks_parallel": None,
        "allocated_tres": None, "requested_tres": None, "tres_per_job": None, "tres_per_node": None,
        "tres_per_task": None, "tres_per_socket": None, "gres_per_node": dict,
    }


class Partition(_Obj):
    FIELDS = {
        "name": None, "cluster": None, "state": "UP", "is_default": False, "is_hidden": False,
        "nodes": None, "total_cpus": 0, "total_nodes": 0, "max_time": None, "default_time": None,
        "max_nodes": None, "min_nodes": 0,
    }


class ReservationFlags(enum.Flag):
    """pyslurm.ReservationFlags: the member names of pyslurm 25.11 (values are placeholders)."""
    MAINTENANCE = enum.auto()
    MAGNETIC = enum.auto()
    FLEX = enum.auto()
    IGNORE_RUNNING_JOBS = enum.auto()
    ANY_NODES = enum.auto()
    STATIC_NODES = enum.auto()
    PARTITION_NODES_ONLY = enum.auto()
    USER_DELETION = enum.auto()
    PURGE = enum.auto()
    SPECIFIC_NODES = enum.auto()
    NO_JOB_HOLD_AFTER_END = enum.auto()
    OVERLAP = enum.auto()
    ALL_NODES = enum.auto()
    SKIP = enum.auto()
    SCHED_FAILED = enum.auto()


class ReservationReoccurrence(str, enum.Enum):   # noqa: UP042 (pyslurm declares it so)
    NO = "NO"
    DAILY = "DAILY"
    HOURLY = "HOURLY"
    WEEKLY = "WEEKLY"
    WEEKDAY = "WEEKDAY"
    WEEKEND = "WEEKEND"

    def __str__(self):
        return str(self.value)


class Reservation(_Obj):
    FIELDS = {
        "name": None, "cluster": None, "start_time": None, "end_time": None, "duration": 0,
        "nodes": None, "node_count": None, "cpus": None, "tres": dict,
        "flags": lambda: ReservationFlags(0), "reoccurrence": ReservationReoccurrence.NO,
        "users": list, "accounts": list, "groups": list, "features": list, "licenses": list,
        "partition": None, "comment": None,
    }


class RPCType(_Obj):
    FIELDS = {"id": 0, "name": None, "count": 0, "time": 0, "average_time": 0, "queued": 0,
              "dropped": 0, "cycle_last": 0, "cycle_max": 0}


class RPCUser(_Obj):
    FIELDS = {"user_id": 0, "user_name": None, "count": 0, "time": 0, "average_time": 0}


class Statistics(_Obj):
    FIELDS = {k: 0 for k in (
        "request_time", "data_since", "server_thread_count", "agent_queue_size", "agent_count",
        "agent_thread_count", "dbd_agent_queue_size", "jobs_submitted", "jobs_started",
        "jobs_completed", "jobs_canceled", "jobs_failed", "jobs_pending", "jobs_running",
        "schedule_cycle_last", "schedule_cycle_max", "schedule_cycle_counter", "schedule_cycle_mean",
        "schedule_cycle_mean_depth", "schedule_cycle_sum", "schedule_cycles_per_minute",
        "schedule_queue_length", "backfilled_jobs", "last_backfilled_jobs", "backfilled_het_jobs",
        "backfill_cycle_counter", "backfill_cycle_last_when", "backfill_cycle_last",
        "backfill_cycle_max", "backfill_cycle_mean", "backfill_cycle_sum", "backfill_last_depth",
        "backfill_depth_sum", "backfill_last_depth_try", "backfill_depth_try_sum",
        "backfill_mean_depth", "backfill_mean_depth_try", "backfill_queue_length",
        "backfill_queue_length_sum", "backfill_queue_length_mean", "backfill_table_size",
        "backfill_table_size_sum", "backfill_table_size_mean", "gettimeofday_latency")}
    FIELDS.update({"rpc_queue_enabled": False, "backfill_active": False,
                   "rpcs_by_type": dict, "rpcs_by_user": dict, "rpcs_pending": dict,
                   "schedule_exit": None, "backfill_exit": None})


class Config(_Obj):
    FIELDS = {"cluster_name": None, "version": None, "suspend_program": None, "resume_program": None}


class PingResponse(_Obj):
    FIELDS = {"is_primary": False, "is_responding": False, "index": 0, "hostname": None, "latency": 0.0}


class _Collection:
    """A MultiClusterMap: {cluster: {key: object}}; iterating gives keys, ``values()`` objects."""
    key = "name"

    def __init__(self, items=()):
        self.data: dict = {}
        for item in items:
            self.data.setdefault(item.cluster or "lab", {})[getattr(item, self.key)] = item

    def values(self):
        return [v for per_cluster in self.data.values() for v in per_cluster.values()]

    def __iter__(self):
        return iter([k for per_cluster in self.data.values() for k in per_cluster])

    def __len__(self):
        return sum(len(d) for d in self.data.values())


class Nodes(_Collection):
    pass


class Jobs(_Collection):
    key = "id"


class Partitions(_Collection):
    pass


class Reservations(_Collection):
    pass


def module(nodes=(), jobs=(), partitions=(), reservations=(), stats=None, config=None,
           controllers=(("labhost", True),), licenses=None, version=VERSION) -> types.ModuleType:
    """A fresh fake ``pyslurm`` holding one cluster: ``Nodes.load()`` returns ``nodes`` and so on;
    ``controllers`` is SlurmctldHost order as (host, answers ping)."""
    mod = types.ModuleType("pyslurm", "FAKE pyslurm for unit tests (tests/unit/slurm/fake_pyslurm.py)")
    mod.__version__ = version
    mod.RPCError = RPCError
    mod.Node, mod.Job, mod.Partition, mod.Reservation = Node, Job, Partition, Reservation
    mod.ReservationFlags, mod.ReservationReoccurrence = ReservationFlags, ReservationReoccurrence
    for cls, items in ((Nodes, nodes), (Jobs, jobs), (Partitions, partitions),
                       (Reservations, reservations)):
        items = list(items)
        setattr(mod, cls.__name__, type(cls.__name__, (cls,), {
            "load": staticmethod(lambda *a, _cls=cls, _items=items, **kw: _cls(_items))}))

    ctld = types.ModuleType("pyslurm.slurmctld")
    ctld.Statistics, ctld.Config, ctld.PingResponse = Statistics, Config, PingResponse
    ctld.diag = lambda: stats if stats is not None else Statistics()
    ctld.Config = type("Config", (Config,), {"load": staticmethod(lambda: config or Config())})
    hosts = list(controllers)

    def ping(index):
        if index >= len(hosts) or not hosts[index][1]:
            raise RPCError("Unable to contact slurm controller (connect failure)")
        return PingResponse(is_primary=index == 0, is_responding=True, index=index,
                            hostname=hosts[index][0], latency=1.2)

    ctld.ping = ping
    ctld.ping_all = lambda: [ping(i) for i in range(len(hosts))]
    mod.slurmctld = ctld
    mod.get_controllers = lambda: [h for h, _ in hosts]

    license_info = dict(licenses or {})

    class licenses:   # noqa: N801 - deprecated.pyx spells it so
        def get(self):
            return dict(license_info)

    mod.licenses = licenses
    return mod
