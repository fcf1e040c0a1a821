"""The `pyslurm` source (optional extra ``slurmops[pyslurm]``): Slurm's C API in this process,
through pyslurm's object API (written against pyslurm 25.11: ``pyslurm.Nodes.load()``,
``pyslurm.Jobs.load()``, ``pyslurm.Partitions.load()``, ``pyslurm.Reservations.load()``,
``pyslurm.slurmctld.diag()``, ``pyslurm.slurmctld.Config.load()``, ``pyslurm.slurmctld.ping()``).

**Only with a matching pyslurm.** A pyslurm release is built against one Slurm release (its version
is that release's major.minor plus a patch: ``25.11.0``, ``22.5.x`` for Slurm 22.05) and libslurm
changes its ABI every release. :func:`open_pyslurm` therefore reads the installed pyslurm's version
*without importing it* (importing runs ``slurm_init()`` in this process), asks ``sinfo --version``
(with this cluster's environment) which Slurm runs here, and imports pyslurm only when the two
major.minor agree; :func:`version_gate` is that decision as a pure function, with the reason
when it refuses.

**Why cli stays the default.** Every pyslurm call runs inside the exporter: unlike the cli
source's subprocess it cannot be timed out (``--command.timeout`` does not apply), and pyslurm
25.11 makes its RPCs while holding the GIL, so while slurmctld is slow to answer the whole
exporter (scrapes included) waits. A call that raises fails only its collector: every call and
failure is counted in CallStats (``pyslurm.nodes``, ``pyslurm.jobs``, ...; reason ``exit`` for a
failed call, ``parse`` for objects that could not be read). ``slurm_init()`` reads slurm.conf
from ``SLURM_CONF`` once per process (and a slurm.conf it cannot read ends the process, which is
one more reason ``sinfo --version`` must work with the same environment first), so one process
serves one cluster with this source.

**What pyslurm 25.11 cannot give.** Fair share (sshare): no API (``pyslurm.db.Associations``
carries raw shares only, no usage or factor): the fetcher raises ``SourceError(reason=
"unsupported")``. Licenses come from the deprecated ``pyslurm.licenses`` class, which has no
reserved count (``reserved`` stays None). ``slurmctld.ping(i)`` raises for a controller that does
not answer, so the SlurmctldHost list comes from the deprecated ``pyslurm.get_controllers()``.
Values pyslurm folds into a default, and how they are read here:

* node CPU load: pyslurm gives 0.0 for "not reported"; a node whose slurmd never registered
  (``slurmd_start_time`` None, where scontrol prints ``CPULoad=N/A``) gets None;
* node free memory 0 and an array task id 0 come back as None from pyslurm; task 0 is restored
  from the record's shape (an array record with neither a task id nor a pending task list);
* a job's memory and GPUs are read as squeue's are (``parse.text._tres_mem_gpus``), from its TRES
  and its per-job/node/task requests; but pyslurm parses ``tres_per_job``/``tres_per_task`` only
  in ``name=count`` form, and Slurm writes ``gres/gpu:2``, so a job whose TRES name no GPU has
  ``gpus`` None (unknown), not 0: a --gpus or --gpus-per-task request cannot be told from none;
* node GRES in use come from the node's allocated TRES, which carry no GPU indexes; an untyped
  count on a node whose configured GPUs are all of one type is given that type;
* reservation flags pyslurm does not name (REPLACE, REPLACE_DOWN, FIRST_CORES, TIME_FLOAT, ...)
  are absent, and PURGE_COMP carries no ``=time``.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models import (
    ClusterInfo,
    Controller,
    Gres,
    Job,
    License,
    Node,
    Partition,
    Reservation,
    RpcStat,
    SchedulerStats,
    Share,
)
from ..parse.gres import gres_in_use, parse_gres
from ..parse.text import _node_list as _scontrol_node_list, _tres_mem_gpus, array_task_count, parse_node_state
from . import CallStats, SourceError, T, checked_parse, guard_fetchers

MIB = 1024 * 1024

# ------------------------------------------------------------------------------ version gate

_MAJOR_MINOR = re.compile(r"(\d+)\.(\d+)")


def major_minor(version: str | None) -> tuple[int, int] | None:
    """``25.11.0`` -> (25, 11); ``22.5.1`` (pyslurm for 22.05) and ``slurm 22.05.8`` -> (22, 5)."""
    m = _MAJOR_MINOR.search(version or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass(frozen=True)
class Gate:
    ok: bool
    reason: str


def version_gate(pyslurm_version: str | None, slurm_version: str | None, *,
                 import_error: str | None = None, slurm_error: str | None = None) -> Gate:
    """May this pyslurm talk to this Slurm? Pure: versions (or why they are unknown) in, decision
    and a one-line reason out. Only an importable pyslurm whose major.minor equals the running
    Slurm's is accepted."""
    slurm_mm = major_minor(slurm_version)
    why_unknown = slurm_error or f"unreadable version {slurm_version!r}"
    if slurm_mm:
        advice = (f"install pyslurm {slurm_mm[0]}.{slurm_mm[1]}.x built against this Slurm, "
                  "or use --source cli")
    else:
        advice = ("install the pyslurm whose major.minor is the running Slurm's (which "
                  f"`sinfo --version` could not tell: {why_unknown}), or use --source cli")
    if import_error is not None:
        return Gate(False, f"pyslurm is not importable ({import_error}): {advice}")
    if major_minor(pyslurm_version) is None:
        return Gate(False, f"cannot read pyslurm's version ({pyslurm_version!r}): {advice}")
    if slurm_mm is None:
        return Gate(False, f"cannot tell which Slurm runs here (sinfo --version: {why_unknown}), so "
                           f"pyslurm {pyslurm_version} cannot be checked against it: make "
                           "`sinfo --version` work with this cluster's environment (--slurm.conf), "
                           "or use --source cli")
    if major_minor(pyslurm_version) != slurm_mm:
        return Gate(False, f"pyslurm {pyslurm_version} does not match Slurm {slurm_version}: {advice}")
    return Gate(True, f"pyslurm {pyslurm_version} matches Slurm {slurm_version}")


class PyslurmUnavailable(Exception):
    """The pyslurm source cannot be used here; the message says why and what to do."""


_VERSION_PY = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.M)


def installed_pyslurm_version() -> tuple[str | None, str | None]:
    """(version, None) of the pyslurm that ``import pyslurm`` would load, read from its
    ``version.py`` (or the distribution's metadata) *without importing it*; (None, why) when
    there is none."""
    try:
        spec = importlib.util.find_spec("pyslurm")
    except (ImportError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if spec is None:
        return None, "No module named 'pyslurm'"
    for location in spec.submodule_search_locations or ():
        try:
            m = _VERSION_PY.search((Path(location) / "version.py").read_text())
        except OSError:
            continue
        if m:
            return m.group(1), None
    try:
        return importlib.metadata.version("pyslurm"), None
    except importlib.metadata.PackageNotFoundError:
        return None, None     # importable, but its version cannot be read: the gate refuses


def running_slurm_version(env: dict[str, str] | None = None, bin_dir: str | None = None,
                          timeout: float = 20.0, stats: CallStats | None = None
                          ) -> tuple[str | None, str | None]:
    """(version, None) from ``sinfo --version`` run as the cli source runs commands (argument
    list, pinned environment, timeout); (None, why) when it fails."""
    from .cli import CliSource
    try:
        out = CliSource(env=env, timeout=timeout, stats=stats, bin_dir=bin_dir).run(["sinfo", "--version"])
    except SourceError as exc:
        return None, f"{exc.reason}: {exc.detail}" if exc.detail else exc.reason
    words = out.split()
    return (words[-1], None) if words else (None, "empty output")


_opened_with: list[str | None] = []    # the SLURM_CONF this process's pyslurm was opened with


def open_pyslurm(env: dict[str, str] | None = None, bin_dir: str | None = None, timeout: float = 20.0,
                 stats: CallStats | None = None, *,
                 importer: Callable[[str], Any] | None = None,
                 installed: Callable[[], tuple[str | None, str | None]] | None = None,
                 slurm: Callable[..., tuple[str | None, str | None]] | None = None) -> Any:
    """The pyslurm module, once :func:`version_gate` accepts it; raises PyslurmUnavailable with
    the gate's reason otherwise. pyslurm is imported only after the versions agree. (``importer``,
    ``installed``, ``slurm``: stand-ins for tests.)"""
    env = env or {}
    py_version, py_missing = (installed or installed_pyslurm_version)()
    slurm_version, slurm_error = (slurm or running_slurm_version)(env, bin_dir, timeout, stats)
    gate = version_gate(py_version, slurm_version, import_error=py_missing, slurm_error=slurm_error)
    if not gate.ok:
        raise PyslurmUnavailable(gate.reason)
    conf = env.get("SLURM_CONF")
    if _opened_with and _opened_with[0] != conf:
        raise PyslurmUnavailable(
            f"pyslurm is process-wide and already serves SLURM_CONF={_opened_with[0]}; run one "
            f"exporter per cluster for SLURM_CONF={conf}, or use --source cli for it")
    before = os.environ.get("SLURM_CONF")
    if conf:     # slurm_init() reads it when pyslurm is imported; other sources must not inherit it
        os.environ["SLURM_CONF"] = conf
    try:
        module = (importer or importlib.import_module)("pyslurm")
    except Exception as exc:   # ImportError, OSError (libslurm), anything its init raises
        raise PyslurmUnavailable(version_gate(None, slurm_version,
                                              import_error=f"{type(exc).__name__}: {exc}").reason) from exc
    finally:
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before
    gate = version_gate(str(getattr(module, "__version__", "")), slurm_version)
    if not gate.ok:
        raise PyslurmUnavailable(gate.reason)
    if not _opened_with:
        _opened_with.append(conf)
    return module


# ------------------------------------------------------------------------------ reading objects

def _note(errors: list[str] | None, msg: str) -> None:
    if errors is not None:
        errors.append(msg)


def _values(collection: Any) -> Iterable[Any]:
    """pyslurm collections (MultiClusterMap, dict) by value; lists as they are."""
    values = getattr(collection, "values", None)
    return values() if callable(values) else collection  # type: ignore[no-any-return]


def _int(v: Any) -> int | None:
    if v is None or v == "UNLIMITED":      # pyslurm.constants.UNLIMITED
        return None
    if isinstance(v, bool):
        raise ValueError(f"not a count: {v!r}")
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().isdigit():
        return int(v)
    raise ValueError(f"not a count: {v!r}")


def _float(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    return float(v)


def _mib(v: Any) -> int | None:
    n = _int(v)
    return None if n is None else n * MIB


def _epoch(v: Any) -> float | None:
    n = _int(v)
    return float(n) if n else None        # pyslurm: 0/NO_VAL -> None already


def _str(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s if s and s not in ("(null)", "None", "N/A") else None


def _strs(v: Any) -> tuple[str, ...]:
    if v is None:
        return ()
    items = v.split(",") if isinstance(v, str) else v
    return tuple(s for s in (str(x).strip() for x in items) if s and s != "(null)")


def _mapping(v: Any) -> dict[str, Any]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ValueError(f"not a dict: {type(v).__name__}")
    return v


class _Obj:
    """Attribute access to one pyslurm object: an attribute that is missing, raises inside
    pyslurm or has an unexpected value is noted and read as None."""

    def __init__(self, obj: Any, where: str, errors: list[str] | None):
        self.obj, self.where, self.errors = obj, where, errors

    def get(self, name: str, conv: Callable[[Any], Any] = lambda v: v, optional: bool = False) -> Any:
        """``optional``: an attribute only some pyslurm releases have (a deprecated one) may be
        missing without a note."""
        try:
            raw = getattr(self.obj, name)
        except AttributeError:
            if not optional:
                _note(self.errors, f"{self.where}: no attribute {name}; left unset")
            return None
        except Exception as exc:    # a pyslurm property that fails on this object's data
            _note(self.errors, f"{self.where}: {name}: {type(exc).__name__}: {exc}; left unset")
            return None
        try:
            return conv(raw)
        except Exception as exc:
            _note(self.errors, f"{self.where}: {name}={raw!r:.80}: {type(exc).__name__}: {exc}; left unset")
            return None


def _records(kind: str, collection: Any, errors: list[str] | None, build: Any) -> list[Any]:
    """Build a model per object; one that cannot be read is skipped and noted."""
    out = []
    for i, obj in enumerate(_values(collection)):
        rec = _Obj(obj, f"pyslurm {kind} #{i}", errors)
        try:
            model = build(rec)
        except Exception as exc:
            _note(errors, f"{rec.where}: {type(exc).__name__}: {exc}; skipped")
            continue
        if model is not None:
            out.append(model)
    return out


def _required(rec: _Obj, name: str, conv: Callable[[Any], Any] = _str) -> Any:
    value = rec.get(name, conv)
    if value is None:
        raise ValueError(f"no {name}")
    return value


# ---- GRES / TRES

def _gres_from_dict(d: Any) -> tuple[Gres, ...]:
    """pyslurm's GRES dicts (``{"gpu:a100": 4}``, ``{"gpu": {"count": 4, "indexes": "0-3"}}``,
    ``{"gpu": 2}`` from allocated TRES) through the one GRES parser."""
    items = []
    for key, raw in _mapping(d).items():
        val: Any = raw
        idx = None
        if isinstance(raw, dict):
            val, idx = raw.get("count"), raw.get("indexes")
        items.append(f"{key}:{int(val)}" + (f"(IDX:{idx})" if idx not in (None, "") else ""))
    return parse_gres(",".join(items))


def _gres_in_use(alloc: Any, configured: tuple[Gres, ...]) -> tuple[Gres, ...]:
    return gres_in_use(_gres_from_dict(alloc), configured)


def _tres_str(tres: Any) -> str | None:
    """A pyslurm TrackableResources (``.cpu``, ``.mem`` in MiB, ``.node``, ``.gres`` of GPU /
    TrackableResource by name) back into Slurm's TRES string, as squeue prints it."""
    if tres is None:
        return None
    parts = []
    for kind in ("cpu", "mem", "node", "billing"):
        item = getattr(tres, kind, None)
        count = getattr(item, "count", None)
        if count is not None:
            parts.append(f"{kind}={int(count)}" + ("M" if kind == "mem" else ""))
    for name, item in (getattr(tres, "gres", None) or {}).items():
        count = getattr(item, "count", item)
        parts.append(f"gres/{name}={int(count)}")
    return ",".join(parts) or None


def _gres_request_str(d: Any) -> str | None:
    """The deprecated ``Job.gres_per_node`` dict (``{"gres/gpu:a100": 4}``, ``{"gpu": 2}``) as a
    TRES request string."""
    parts = []
    for key, val in _mapping(d).items():
        count: Any = val.get("count") if isinstance(val, dict) else val
        parts.append(f"gres/{key.removeprefix('gres/')}={int(count)}")
    return ",".join(parts) or None


# ---- models

def _node(rec: _Obj) -> Node:
    name = _required(rec, "name")
    rec.where = f"pyslurm node {name}"
    state, flags = parse_node_state(_required(rec, "state"))
    reason = rec.get("reason", _str)
    registered = rec.get("slurmd_start_time", _epoch) is not None
    gres = rec.get("configured_gres", _gres_from_dict) or ()
    return Node(
        name=name,
        state=state,
        flags=flags,
        partitions=rec.get("partitions", _strs) or (),
        cpus_total=rec.get("total_cpus", _int),
        cpus_alloc=rec.get("allocated_cpus", _int),
        cpu_load=rec.get("cpu_load", _float) if registered else None,
        memory_total_bytes=rec.get("real_memory", _mib),
        memory_alloc_bytes=rec.get("allocated_memory", _mib),
        memory_free_bytes=rec.get("free_memory", _mib),
        gres=gres,
        gres_used=rec.get("allocated_gres", lambda d: _gres_in_use(d, gres)) or (),
        reason=reason,
        reason_time=rec.get("reason_time", _epoch) if reason else None,
        reason_user=rec.get("reason_user", _str) if reason else None,
        features=rec.get("available_features", _strs) or (),
        slurmd_version=rec.get("slurm_version", _str),
    )


def nodes_from_pyslurm(nodes: Any, errors: list[str] | None = None) -> list[Node]:
    """``pyslurm.Nodes`` -> Node per object. Memory MiB -> bytes; state via the scontrol parser."""
    return _records("node", nodes, errors, _node)


def _node_list(rec: _Obj) -> tuple[str, ...]:
    """A hostlist expanded exactly as scontrol's ``Nodes=`` is (a bad one noted, left empty)."""
    return _scontrol_node_list({"Nodes": rec.get("nodes", _str)}, rec)


def _minutes(v: Any) -> float | None:
    n = _int(v)         # UNLIMITED -> None
    return None if n is None else n * 60.0


def _partition(rec: _Obj) -> Partition:
    name = _required(rec, "name")
    rec.where = f"pyslurm partition {name}"
    state = rec.get("state", _str)
    return Partition(
        name=name,
        state=state.lower() if state else "up",
        is_default=bool(rec.get("is_default")),
        nodes=_node_list(rec),
        cpus_total=rec.get("total_cpus", _int),
        max_time_s=rec.get("max_time", _minutes),
        total_nodes=rec.get("total_nodes", _int),
    )


def partitions_from_pyslurm(partitions: Any, errors: list[str] | None = None) -> list[Partition]:
    """``pyslurm.Partitions`` -> Partition per object (MaxTime minutes -> seconds, UNLIMITED -> None)."""
    return _records("partition", partitions, errors, _partition)


def _job_id(rec: _Obj, job_id: int) -> tuple[str, str | None, int]:
    """(job_id as squeue's %i prints it, array job id, array tasks the record stands for)."""
    array_id = rec.get("array_id", _int)
    if array_id is None:
        return str(job_id), None, 1
    waiting = rec.get("array_tasks_waiting", _str)      # pending "5-9" ("%2" cut off by pyslurm)
    if waiting:
        throttle = rec.get("array_tasks_parallel", _int)
        try:
            count, _ = array_task_count(waiting)
        except ValueError as exc:
            _note(rec.errors, f"{rec.where}: {exc}; array_task_count left at 1")
            count = 1
        return f"{array_id}_[{waiting}{f'%{throttle}' if throttle else ''}]", str(array_id), count
    task = rec.get("array_task_id", _int)
    return f"{array_id}_{task if task is not None else 0}", str(array_id), 1   # pyslurm: task 0 -> None


def _job(rec: _Obj) -> Job:
    job_id = _required(rec, "id", _int)
    rec.where = f"pyslurm job {job_id}"
    state = _required(rec, "state")
    shown_id, array_id, count = _job_id(rec, job_id)
    nodes = rec.get("num_nodes", _int)
    tasks = rec.get("ntasks", _int)
    tres = rec.get("allocated_tres", _tres_str) or rec.get("requested_tres", _tres_str)  # squeue's tres-alloc
    # tres_per_* parse only name=count items; the deprecated gres_per_node also reads gres/gpu:2.
    per_job, per_task = rec.get("tres_per_job", _tres_str), rec.get("tres_per_task", _tres_str)
    per_node = (rec.get("tres_per_node", _tres_str)
                or rec.get("gres_per_node", _gres_request_str, optional=True))
    try:
        mem, gpus = _tres_mem_gpus(tres or "N/A", per_job or "N/A", per_node or "N/A", per_task or "N/A",
                                   nodes, tasks)
    except (ValueError, TypeError) as exc:
        _note(rec.errors, f"{rec.where}: TRES: {exc}; memory and GPUs left unset")
        mem = gpus = None
    if gpus == 0 and per_job is None and per_task is None and "gres/gpu" not in (tres or ""):
        gpus = None    # a --gpus / --gpus-per-task request (gres/gpu:N) reads as nothing: unknown
    return Job(
        job_id=shown_id,
        state=state,
        partition=rec.get("partition", _str) or "",
        user=rec.get("user_name", _str) or "",      # pyslurm: the uid as text when it has no name
        account=rec.get("account", _str),
        reason=rec.get("state_reason", _str),
        cpus=rec.get("cpus", _int),
        nodes=nodes,
        memory_bytes=mem,
        gpus=gpus,
        submit_time=rec.get("submit_time", _epoch),
        start_time=None if state == "PENDING" else rec.get("start_time", _epoch),
        array_job_id=array_id,
        array_task_count=count,
        node_list=rec.get("allocated_nodes", _str),
    )


def jobs_from_pyslurm(jobs: Any, errors: list[str] | None = None) -> list[Job]:
    """``pyslurm.Jobs`` -> Job per object, with the same ids, memory and GPU rules as squeue's."""
    return _records("job", jobs, errors, _job)


# pyslurm's ReservationFlags names -> the names scontrol prints (and the other sources give).
RESERVATION_FLAG_NAMES = {
    "MAINTENANCE": "MAINT", "IGNORE_RUNNING_JOBS": "IGNORE_JOBS", "STATIC_NODES": "STATIC",
    "PARTITION_NODES_ONLY": "PART_NODES", "USER_DELETION": "USER_DELETE", "PURGE": "PURGE_COMP",
    "SPECIFIC_NODES": "SPEC_NODES", "NO_JOB_HOLD_AFTER_END": "NO_HOLD_JOBS_AFTER_END",
}


def _reservation_flags(flags: Any) -> frozenset[str]:
    """A pyslurm ``ReservationFlags`` (an enum.Flag) as scontrol's flag names."""
    if flags is None:
        return frozenset()
    names = [m.name for m in type(flags) if m.value and (flags & m) == m]
    return frozenset(RESERVATION_FLAG_NAMES.get(n, n) for n in names)


def _reservation(rec: _Obj) -> Reservation:
    name = _required(rec, "name")
    rec.where = f"pyslurm reservation {name}"
    flags = rec.get("flags", _reservation_flags) or frozenset()
    recur = rec.get("reoccurrence", _str)          # ReservationReoccurrence: NO, DAILY, ...
    if recur and recur != "NO":
        flags = flags | {recur}
    return Reservation(
        name=name,
        start_time=rec.get("start_time", _epoch),
        end_time=rec.get("end_time", _epoch),
        nodes=_node_list(rec),
        node_count=rec.get("node_count", _int),
        cpu_count=rec.get("tres", lambda t: _int(_mapping(t).get("cpu"))),   # as scontrol's TRES=cpu=N
        flags=flags,
        users=rec.get("users", _strs) or (),
        accounts=rec.get("accounts", _strs) or (),
        partition=rec.get("partition", _str),
    )


def reservations_from_pyslurm(reservations: Any, errors: list[str] | None = None) -> list[Reservation]:
    """``pyslurm.Reservations`` -> Reservation per object."""
    return _records("reservation", reservations, errors, _reservation)


def licenses_from_pyslurm(licenses: dict[str, Any], errors: list[str] | None = None) -> list[License]:
    """The deprecated ``pyslurm.licenses().get()``: ``{name: {total, in_use, available, remote}}``."""
    out = []
    for name, d in (licenses or {}).items():
        total, used = d.get("total"), d.get("in_use")
        if not isinstance(total, int) or not isinstance(used, int):
            _note(errors, f"pyslurm license {name}: no total/in_use; skipped")
            continue
        free = d.get("available")
        out.append(License(name=str(name), total=total, used=used,
                           free=free if isinstance(free, int) else None, reserved=None))
    return out


_SCHED_COUNTS = {   # SchedulerStats field <- pyslurm.slurmctld.Statistics attribute
    "server_thread_count": "server_thread_count", "agent_queue_size": "agent_queue_size",
    "agent_count": "agent_count", "agent_thread_count": "agent_thread_count",
    "dbd_agent_queue_size": "dbd_agent_queue_size", "jobs_submitted": "jobs_submitted",
    "jobs_started": "jobs_started", "jobs_completed": "jobs_completed",
    "jobs_canceled": "jobs_canceled", "jobs_failed": "jobs_failed", "jobs_pending": "jobs_pending",
    "jobs_running": "jobs_running", "schedule_cycle_total": "schedule_cycle_counter",
    "schedule_queue_length": "schedule_queue_length", "backfill_cycles_total": "backfill_cycle_counter",
    "backfilled_jobs_total": "backfilled_jobs", "backfill_last_depth": "backfill_last_depth",
    "backfill_queue_length": "backfill_queue_length",
}
_SCHED_MICROSECONDS = {
    "schedule_cycle_last_s": "schedule_cycle_last", "schedule_cycle_max_s": "schedule_cycle_max",
    "schedule_cycle_mean_s": "schedule_cycle_mean", "backfill_cycle_last_s": "backfill_cycle_last",
    "backfill_cycle_max_s": "backfill_cycle_max", "backfill_cycle_mean_s": "backfill_cycle_mean",
}


def _zero_count(v: Any) -> int | None:
    """Statistics counters are plain ints where 0 is a real 0 (not pyslurm's "unset")."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"not a count: {v!r}")
    return v


def _rpcs(stats: Any, errors: list[str] | None, what: str) -> list[RpcStat]:
    out = []
    for key, r in (stats or {}).items():
        rec = _Obj(r, f"pyslurm diag {what} {key}", errors)
        count, time_us = rec.get("count", _zero_count), rec.get("time", _zero_count)
        name = rec.get("name" if what == "rpcs_by_type" else "user_name", _str) or str(key)
        if count is not None and time_us is not None:
            out.append(RpcStat(name=name, count=count, total_time_s=time_us / 1e6))
    return out


def scheduler_from_pyslurm(stats: Any, errors: list[str] | None = None) -> SchedulerStats:
    """``pyslurm.slurmctld.Statistics`` (sdiag) -> SchedulerStats; microseconds -> seconds."""
    rec = _Obj(stats, "pyslurm diag", errors)
    st = SchedulerStats()
    for field_name, attr in _SCHED_COUNTS.items():
        setattr(st, field_name, rec.get(attr, _zero_count))
    for field_name, attr in _SCHED_MICROSECONDS.items():
        us = rec.get(attr, _zero_count)
        setattr(st, field_name, None if us is None else us / 1e6)
    st.stats_reset_time = rec.get("data_since", _epoch)
    st.rpcs_by_type = _rpcs(rec.get("rpcs_by_type", _mapping), errors, "rpcs_by_type")
    st.rpcs_by_user = _rpcs(rec.get("rpcs_by_user", _mapping), errors, "rpcs_by_user")
    return st


def cluster_info_from_pyslurm(conf: Any, errors: list[str] | None = None) -> ClusterInfo:
    """``pyslurm.slurmctld.Config`` -> ClusterInfo (ClusterName, slurmctld's version)."""
    rec = _Obj(conf, "pyslurm config", errors)
    return ClusterInfo(cluster=rec.get("cluster_name", _str), version=rec.get("version", _str))


def controllers_from_pings(pings: list[tuple[str, Any]], errors: list[str] | None = None) -> list[Controller]:
    """(SlurmctldHost, PingResponse or None when the ping raised) in SlurmctldHost order."""
    out = []
    for i, (listed, resp) in enumerate(pings):
        host = _str(listed) or _str(getattr(resp, "hostname", None))
        if host is None:
            _note(errors, f"pyslurm ping #{i}: no host name; skipped")
            continue
        role = "primary" if i == 0 else ("backup" if i == 1 else f"backup{i}")
        out.append(Controller(host, role, bool(getattr(resp, "is_responding", False))))
    return out


# ------------------------------------------------------------------------------ the source

@guard_fetchers
class PyslurmSource:
    name = "pyslurm"

    def __init__(self, module: Any, stats: CallStats | None = None):
        """``module``: the pyslurm module :func:`open_pyslurm` accepted (tests pass a fake)."""
        self.api = module
        self.stats = stats or CallStats()
        self.version = str(getattr(module, "__version__", "?"))

    def _fn(self, command: str, path: str) -> Callable[..., Any]:
        obj = self.api
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                raise SourceError(command, "unsupported", f"pyslurm {self.version} has no pyslurm.{path}")
        return obj  # type: ignore[no-any-return]   # a pyslurm function (pyslurm is untyped)

    def _call(self, command: str, fn: Callable[[], Any]) -> Any:
        """One in-process call, counted; whatever it raises is this call's failure. Unlike the
        other sources' calls it is not wrapped in ``POLL_GATE.io()``: pyslurm holds the GIL for
        the whole RPC (no other thread runs meanwhile anyway) and builds its objects in the same
        call, so it is CPU and memory work of this collector's poll."""
        self.stats.call(command)
        try:
            return fn()
        except Exception as exc:
            self.stats.error(command, "exit")
            raise SourceError(command, "exit", f"{type(exc).__name__}: {exc}"[:300]) from exc

    def _load(self, collector: str, api: str | Callable[[], Any], mapper: Callable[..., T],
              command: str | None = None) -> T:
        """Call ``pyslurm.<api>()`` (or ``api``), counted as ``command`` (``pyslurm.<collector>``),
        then map the objects to models, checked as the text parsers' output is."""
        command = command or f"pyslurm.{collector}"
        payload = self._call(command, self._fn(command, api) if isinstance(api, str) else api)
        try:
            had_input = len(payload) > 0
        except Exception:
            had_input = True
        return checked_parse(self.stats, collector, command, mapper, payload, had_input)

    # ---- fetchers ----------------------------------------------------------------------------
    def info(self) -> ClusterInfo:
        return self._load("info", "slurmctld.Config.load", cluster_info_from_pyslurm, "pyslurm.config")

    def nodes(self) -> list[Node]:
        # Nodes.load() is two RPCs (nodes, then partitions to fill in each node's partitions).
        return self._load("nodes", "Nodes.load", nodes_from_pyslurm)

    def partitions(self) -> list[Partition]:
        # Partitions.load() is two RPCs (partitions, then the config).
        return self._load("partitions", "Partitions.load", partitions_from_pyslurm)

    def jobs(self) -> list[Job]:
        return self._load("jobs", "Jobs.load", jobs_from_pyslurm)

    def scheduler(self) -> SchedulerStats:
        return self._load("scheduler", "slurmctld.diag", scheduler_from_pyslurm, "pyslurm.diag")

    def reservations(self) -> list[Reservation]:
        return self._load("reservations", "Reservations.load", reservations_from_pyslurm)

    def fairshare(self) -> list[Share]:
        raise SourceError("pyslurm.fairshare", "unsupported",
                          f"pyslurm {self.version} has no fair-share (sshare) API")

    def licenses(self) -> list[License]:
        cls = self._fn("pyslurm.licenses", "licenses")      # only the deprecated class has them
        return self._load("licenses", lambda: cls().get(), licenses_from_pyslurm)

    def controllers(self) -> list[Controller]:
        ping = self._fn("pyslurm.ping", "slurmctld.ping")
        hosts_fn = getattr(self.api, "get_controllers", None)     # deprecated API: SlurmctldHost list
        if hosts_fn is None:   # then only all-or-nothing: ping_all() raises if any controller is down
            responses = self._call("pyslurm.ping", self._fn("pyslurm.ping", "slurmctld.ping_all"))
            pings = [(getattr(r, "hostname", None), r) for r in responses]
        else:
            pings = []
            for i, host in enumerate(self._call("pyslurm.controllers", hosts_fn) or []):
                self.stats.call("pyslurm.ping")
                try:
                    pings.append((host, ping(i)))
                except Exception:     # ping(i) raises for a controller that does not answer
                    pings.append((host, None))
        return checked_parse(self.stats, "controllers", "pyslurm.ping", controllers_from_pings, pings,
                             bool(pings))
