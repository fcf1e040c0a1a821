"""Parsers for the compact text output of Slurm's commands (the exporter's ``cli`` source).

At scale the text formats are an order of magnitude cheaper than ``--json`` (squeue on 50,000 jobs:
0.4 s instead of 7.4 s and 155 MB), so the source runs these commands and hands their stdout here:

=================================  ==========================================================
``SQUEUE_ARGS`` (+ ``CLI_ENV``)     :func:`parse_squeue` -> ``list[Job]``
``sdiag``                           :func:`parse_sdiag` -> ``SchedulerStats``
``SSHARE_ARGS`` (sshare -a -l -P)   :func:`parse_sshare` -> ``list[Share]``
``scontrol show nodes -o``          :func:`parse_scontrol_nodes` -> ``list[Node]``
``scontrol show partitions -o``     :func:`parse_scontrol_partitions` -> ``list[Partition]``
``scontrol show reservations -o``   :func:`parse_scontrol_reservations` -> ``list[Reservation]``
``scontrol show licenses -o``       :func:`parse_scontrol_licenses` -> ``list[License]``
=================================  ==========================================================

Every parser is a pure function of the text (no I/O) and tolerates what 22.05 through 25.05 print.

**Errors.** No parser raises on bad output. Each takes an optional ``errors: list[str] | None``;
when a list is given, one human-readable message is appended per problem, prefixed with the
command (``"squeue: line 3: ..."``). A malformed record (too few fields, no ``NodeName=``, a
non-numeric job id, ...) is skipped and noted; a malformed *value* inside an otherwise good record
leaves that model field None and is noted; output in which nothing at all could be recognised
returns ``[]`` (``SchedulerStats()`` for sdiag) with a note. Unknown keys and columns are ignored
silently (newer releases add them). Empty output, and scontrol's "No ... in the system" /
"No licenses configured" notices, are simply ``[]`` without a note. A field Slurm did not report
stays None, never a made-up zero.

**Time.** Timestamps are Slurm's "standard" format, naive local time of the host running the
command (``2026-11-25T14:24:02``), converted with the local time zone to epoch seconds. The
source should run the commands with ``CLI_ENV`` so a user's ``SLURM_TIME_FORMAT=relative`` (and
squeue's 64-byte cut of array task lists) cannot change the output.

**squeue format — why.** ``squeue -O`` (long field names, ``name:|`` = no width limit, ``|``
suffix) rather than ``-o``:

* ``tres-alloc`` is the job's total memory (and GPUs when ``gres/gpu`` is an accounted TRES): the
  allocation of a running job, the request of a pending one. ``-o %m`` ("MinMemory") prints a
  per-CPU *or* per-node figure with nothing saying which (``--mem-per-cpu=150M -n3`` prints
  ``150M`` for 450M), so it cannot give a job's memory; it is not requested.
* GPUs otherwise come from ``tres-per-job`` (``--gpus``), ``tres-per-node`` (``--gres``,
  ``--gpus-per-node``; times NumNodes) and ``tres-per-task`` (times NumTasks).
* ``ArrayJobID`` + ``ArrayTaskID`` instead of ``%i``: unless ``SLURM_BITSTR_LEN`` is set, ``%i``
  cuts a long array id at 31 characters *with no marker* (``85_[1,4,9,16,25,36,49,64,81,100``
  recorded on 22.05), so a task count taken from it would be silently wrong; ``ArrayTaskID`` is
  cut at 64 bytes *with* a ``...`` marker (noted as an error, the count is then a lower bound),
  and with ``CLI_ENV``'s ``SLURM_BITSTR_LEN=0`` neither is cut.
* ``|`` cannot occur in ids, states, partition/user/account names, counts, TRES strings,
  timestamps or host lists. The only free-text field, the reason, comes last and lines are split
  with ``maxsplit`` so a ``|`` inside it is harmless.

**No** ``-r``: without it a pending array's not-yet-started tasks are one record
(``123_[5-9%2]``), as ``sdiag``'s "pending job array counted as one job"; with it a 100,000-task
array would print 100,000 lines. Running (and individually modified or requeued) tasks still
get one record each (``123_4``). :attr:`Job.array_task_count` of a range record is the number of
tasks the range names (``1,3,5-9:2%2`` -> 5; the ``%N`` throttle is not a count). The record's
``job_id`` is built as squeue's ``%i`` would print it (``123``, ``123_4``, ``123_[5-9%2]``).
For a pending job squeue's StartTime is only the scheduler's *expected* start, so
``Job.start_time`` is None while a job is PENDING. A pending job submitted to several partitions
keeps squeue's ``cpu,gpu`` as its partition.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, Protocol

from ..hostlist import expand as _expand_hostlist
from ..models import Gres, Job, License, Node, Partition, Reservation, RpcStat, SchedulerStats, Share
from .gres import parse_gres, used_from_tres
from .values import OutOfRange, text_float, text_int

__all__ = [
    "CLI_ENV", "SQUEUE_FIELDS", "SQUEUE_FORMAT", "SQUEUE_ARGS", "SSHARE_ARGS",
    "parse_duration", "parse_timestamp", "parse_node_state", "array_task_count",
    "parse_squeue", "parse_sdiag", "parse_sshare", "parse_scontrol_nodes",
    "parse_scontrol_partitions", "parse_scontrol_reservations", "parse_scontrol_licenses",
]

#: Environment the source should add when running the commands: timestamps in the one format
#: :func:`parse_timestamp` reads, and array task lists never cut at 64 bytes.
CLI_ENV: dict[str, str] = {"SLURM_TIME_FORMAT": "standard", "SLURM_BITSTR_LEN": "0"}

#: squeue -O fields in output order; Reason (free text) must stay last.
SQUEUE_FIELDS: tuple[str, ...] = (
    "ArrayJobID", "ArrayTaskID", "State", "Partition", "UserName", "Account",
    "NumCPUs", "NumNodes", "NumTasks", "tres-alloc", "tres-per-job", "tres-per-node",
    "tres-per-task", "SubmitTime", "StartTime", "NodeList", "Reason",
)
#: ``Field:|`` = width 0 (no padding, no truncation) followed by a ``|``; the last has no suffix.
SQUEUE_FORMAT: str = ",".join(f"{f}:|" for f in SQUEUE_FIELDS[:-1]) + f",{SQUEUE_FIELDS[-1]}:"
#: -h no header, -a all partitions (hidden ones too); no -r (see module docstring).
SQUEUE_ARGS: list[str] = ["squeue", "-h", "-a", "-O", SQUEUE_FORMAT]
SSHARE_ARGS: list[str] = ["sshare", "-a", "-l", "-P"]

_NONE_WORDS = {"", "n/a", "none", "unknown", "(null)", "null", "not_set"}
_UNLIMITED_WORDS = {"unlimited", "infinite", "none", "n/a", "not_set", "(null)", ""}


def _note(errors: list[str] | None, msg: str) -> None:
    if errors is not None:
        errors.append(msg)


def _clip(line: str, n: int = 100) -> str:
    return repr(line if len(line) <= n else line[:n] + "...")


# --------------------------------------------------------------------------- time helpers

_DURATION = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_duration(text: str | None) -> int | None:
    """Slurm time string -> seconds. ``1-02:03:04``, ``02:03:04``, ``03:04`` (min:sec), ``5``
    (minutes), ``1-02`` (days-hours), ``1-02:03``. ``UNLIMITED``/``INFINITE``/``NONE``/``N/A``
    -> None. Raises ValueError on anything else."""
    if text is None:
        return None
    s = text.strip()
    if s.lower() in _UNLIMITED_WORDS:
        return None
    m = _DURATION.match(s)
    if not m:
        raise ValueError(f"not a Slurm duration: {text!r}")
    days, a, b, c = m.groups()
    if len(s) > 40:
        raise OutOfRange(f"duration {text[:24]!r}... is out of range")
    if days is not None:          # d-h, d-h:m, d-h:m:s
        h, mi, se = int(a), int(b or 0), int(c or 0)
        return int(days) * 86400 + h * 3600 + mi * 60 + se
    if c is not None:             # h:m:s
        return int(a) * 3600 + int(b) * 60 + int(c)
    if b is not None:             # m:s
        return int(a) * 60 + int(b)
    return int(a) * 60            # minutes


_TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$")


def parse_timestamp(text: str | None) -> float | None:
    """``2026-11-25T14:24:02`` (naive local time, Slurm's standard format) -> epoch seconds.
    ``Unknown``/``None``/``N/A``/``(null)``/empty -> None. Raises ValueError on anything else."""
    if text is None:
        return None
    s = text.strip()
    if s.lower() in _NONE_WORDS:
        return None
    m = _TS.match(s)
    if not m:
        raise ValueError(f"not a Slurm timestamp: {text!r}")
    y, mo, d, h, mi, se = (int(g) for g in m.groups())
    try:
        return float(time.mktime((y, mo, d, h, mi, se, 0, 0, -1)))
    except (OverflowError, OSError):
        raise ValueError(f"timestamp out of range: {text!r}") from None


# --------------------------------------------------------------------------- value helpers

def _int(v: str | None) -> int | None:
    """Negative values and Slurm's sentinels are None, as on the JSON path (values.py); a value
    that is not an integer or is out of range raises ValueError, which the caller notes."""
    if v is None:
        return None
    s = v.strip()
    if s.lower() in _NONE_WORDS:
        return None
    return text_int(s)


def _float(v: str | None) -> float | None:
    if v is None:
        return None
    s = v.strip()
    if s.lower() in _NONE_WORDS:
        return None
    return text_float(s)


def _opt_str(v: str | None) -> str | None:
    if v is None:
        return None
    s = v.strip()
    return None if s.lower() in _NONE_WORDS else s


def _list(v: str | None) -> tuple[str, ...]:
    s = _opt_str(v)
    if s is None:
        return ()
    return tuple(p.strip() for p in s.split(",") if p.strip())


_MEM_UNITS_MB = {"": 1.0, "K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0 ** 2, "P": 1024.0 ** 3}
_MEM = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)B?$", re.I)


def _mem_bytes(v: str | None) -> int | None:
    """TRES memory (``100M``, ``1.50G``, ``4000`` = MB) -> bytes. Raises ValueError."""
    s = _opt_str(v)
    if s is None:
        return None
    m = _MEM.match(s)
    if not m:
        raise ValueError(f"not a memory size: {s[:40]!r}")
    mb = text_float(m.group(1))
    return None if mb is None else round(mb * _MEM_UNITS_MB[m.group(2).upper()] * 1024 * 1024)


def _mb_to_bytes(v: str | None) -> int | None:
    n = _int(v)
    return None if n is None else n * 1024 * 1024


class _Fields:
    """Typed access to one record's raw string values; a bad value is noted and gives None."""

    def __init__(self, values: dict[str, str], where: str, errors: list[str] | None):
        self.values, self.where, self.errors = values, where, errors

    def get(self, key: str, conv: Callable[[str], Any] = _opt_str) -> Any:
        if key not in self.values:
            return None
        raw = self.values[key]
        try:
            return conv(raw)
        except (ValueError, TypeError):
            _note(self.errors, f"{self.where}: bad {key}={raw!r}; left unset")
            return None


# --------------------------------------------------------------------------- squeue

#: MaxArraySize "may not exceed 4000001" (slurm.conf(5), 22.05 through 26.05): no array has more
#: tasks, and ids are below it.
MAX_ARRAY_TASKS = 4_000_001


def array_task_count(spec: str) -> tuple[int, bool]:
    """Number of tasks an ArrayTaskID range names, and whether the list was cut (``...``).

    ``5`` -> 1; ``1,3,5,7,9%2`` -> 5 (``%2`` is the throttle); ``1-298:3`` -> 100; ``0-15%4``
    -> 16. A cut list (``1,4,9,...`` / ``1,4,9,1...``) counts only the complete items shown (a lower
    bound). Raises ValueError when an item is not ``N``, ``N-M`` or ``N-M:S``, and OutOfRange
    when the list names more tasks than Slurm allows (:data:`MAX_ARRAY_TASKS`)."""
    s = spec.strip()
    s = s.split("%", 1)[0]
    truncated = False
    if "..." in s:
        truncated = True
        s = s[: s.index("...")]
        if s.endswith(","):
            s = s[:-1]
        elif "," in s:
            s = s[: s.rindex(",")]      # the last item may have been cut mid-number
        else:
            s = ""
    count = 0
    for item in (p.strip() for p in s.split(",")):
        if not item:
            if truncated:
                continue
            raise ValueError(f"empty item in array task list {spec!r}")
        m = re.fullmatch(r"(\d{1,20})(?:-(\d{1,20})(?::(\d{1,20}))?)?", item)
        if not m:
            raise ValueError(f"bad array task list {spec[:80]!r}")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        step = int(m.group(3)) if m.group(3) else 1
        if hi < lo or step < 1:
            raise ValueError(f"bad array task range {item[:40]!r} in {spec[:80]!r}")
        count += (hi - lo) // step + 1
        if count > MAX_ARRAY_TASKS:
            raise OutOfRange(f"array task list {spec[:80]!r} names more than "
                             f"{MAX_ARRAY_TASKS:,} tasks")
    return count, truncated


def _tres_dict(text: str | None) -> dict[str, str]:
    s = _opt_str(text)
    if s is None:
        return {}
    out = {}
    for item in s.split(","):
        k, sep, v = item.partition("=")
        if sep and k.strip():
            out[k.strip()] = v.strip()
    return out


def _gpus_in_request(text: str | None) -> int | None:
    """GPUs named by a tres-per-* string: ``gres:gpu:2`` (22.05), ``gres/gpu:a100:2``,
    ``gres/gpu=2``, ``gres/gpu:a100=1,gres/shard:2``. None when the string is N/A."""
    s = _opt_str(text)
    if s is None:
        return None
    total = 0
    for item in s.split(","):
        item = item.strip()
        for prefix in ("gres:", "gres/"):
            if item.startswith(prefix):
                item = item[len(prefix):]
                break
        item = item.replace("=", ":")
        for g in parse_gres(item):
            if g.name == "gpu":
                total += g.count
    return total


def _job_gpus(tres_alloc: dict[str, str], per_job: str | None, per_node: str | None,
              per_task: str | None, nodes: int | None, tasks: int | None) -> int | None:
    if "gres/gpu" in tres_alloc:
        return text_int(tres_alloc["gres/gpu"])
    typed = [text_int(v) or 0 for k, v in tres_alloc.items() if k.startswith("gres/gpu:")]
    if typed:
        return sum(typed)
    g = _gpus_in_request(per_job)
    if g:
        return g
    g_node = _gpus_in_request(per_node)
    if g_node:
        return g_node * nodes if nodes is not None else None
    g_task = _gpus_in_request(per_task)
    if g_task:
        return g_task * tasks if tasks is not None else None
    # No GPU anywhere in an answer that did report the request fields: the job has none.
    return 0


_JOB_STATE = re.compile(r"^[A-Z][A-Z_]*$")


@lru_cache(maxsize=4096)
def _tres_mem_gpus(tres_alloc: str, per_job: str, per_node: str, per_task: str,
                   nodes: int | None, tasks: int | None) -> tuple[int | None, int | None]:
    """(memory bytes, GPUs) of one squeue record; cached: most jobs share their TRES strings.
    Raises ValueError on a malformed TRES value."""
    tres = _tres_dict(tres_alloc)
    return (_mem_bytes(tres.get("mem")),
            _job_gpus(tres, per_job, per_node, per_task, nodes, tasks))


@lru_cache(maxsize=65536)
def _cached_timestamp(text: str) -> float | None:
    """parse_timestamp for squeue's many repeated values (clear it if TZ changes, as tests do)."""
    return parse_timestamp(text)


def _sq_int(s: str) -> int | None:
    if s.isdigit() and len(s) < 10:
        return int(s)      # the common case, fast
    if s.lower() in _NONE_WORDS:
        return None
    return text_int(s)


# Positions of the squeue fields (SQUEUE_FIELDS order).
(_Q_BASE, _Q_TASK, _Q_STATE, _Q_PART, _Q_USER, _Q_ACCOUNT, _Q_CPUS, _Q_NODES, _Q_TASKS,
 _Q_TRES, _Q_PER_JOB, _Q_PER_NODE, _Q_PER_TASK, _Q_SUBMIT, _Q_START, _Q_NODELIST,
 _Q_REASON) = range(17)
assert len(SQUEUE_FIELDS) == 17


def parse_squeue(text: str, errors: list[str] | None = None) -> list[Job]:
    """stdout of ``SQUEUE_ARGS`` (see module docstring) -> one Job per record."""
    nfields = len(SQUEUE_FIELDS)
    jobs: list[Job] = []
    bad = 0
    # States, partitions, users, accounts, reasons and node lists repeat across thousands of
    # jobs: one string object each instead of one per job (~12 MB less at 50,000 jobs).
    seen: dict[str, str] = {}
    one = seen.setdefault
    for n, line in _lines(text):
        if not line.strip():
            continue
        p = line.split("|", nfields - 1)
        if len(p) != nfields:
            bad += 1
            _note(errors, f"squeue: line {n}: {len(p)} fields, expected {nfields}; "
                          f"skipped: {_clip(line)}")
            continue
        p = [x.strip() for x in p]
        base, task, state = p[_Q_BASE], p[_Q_TASK], p[_Q_STATE]
        if not base.isdigit() or not _JOB_STATE.match(state):
            bad += 1
            _note(errors, f"squeue: line {n}: no job id/state; skipped: {_clip(line)}")
            continue
        where = f"squeue: line {n} (job {base})"

        def conv(i: int, fn: Callable[[str], Any]) -> Any:
            try:
                return fn(p[i])   # noqa: B023 (conv is called in this iteration only)
            except (ValueError, TypeError):
                _note(errors, f"{where}: bad {SQUEUE_FIELDS[i]}={p[i]!r}; left unset")  # noqa: B023
                return None

        array_job_id: str | None = None
        count = 1
        if task in ("N/A", ""):
            job_id = base
        elif task.isdigit():
            job_id, array_job_id = f"{base}_{task}", base
        else:
            job_id, array_job_id = f"{base}_[{task}]", base
            try:
                count, truncated = array_task_count(task)
                if truncated:
                    _note(errors, f"squeue: line {n}: array task list of job {base} is cut "
                                  f"('...'); array_task_count={count} is a lower bound "
                                  f"(run squeue with SLURM_BITSTR_LEN=0)")
            except ValueError as exc:
                _note(errors, f"squeue: line {n}: {exc}; array_task_count left at 1")
        nodes = conv(_Q_NODES, _sq_int)
        tasks = conv(_Q_TASKS, _sq_int)
        try:
            tres = (p[_Q_TRES], p[_Q_PER_JOB], p[_Q_PER_NODE], p[_Q_PER_TASK], nodes, tasks)
            # Only strings of a real job's size are cached (the cache keeps its keys alive).
            fn = _tres_mem_gpus if sum(map(len, tres[:4])) < 512 else _tres_mem_gpus.__wrapped__
            mem, gpus = fn(*tres)
        except (ValueError, TypeError):
            _note(errors, f"{where}: bad TRES {p[_Q_TRES]!r}/{p[_Q_PER_JOB]!r}/"
                          f"{p[_Q_PER_NODE]!r}/{p[_Q_PER_TASK]!r}; memory and GPUs left unset")
            mem = gpus = None
        account, reason, node_list = (_opt_str(p[_Q_ACCOUNT]), _opt_str(p[_Q_REASON]),
                                      _opt_str(p[_Q_NODELIST]))
        jobs.append(Job(
            job_id=job_id,
            state=one(state, state),
            partition=one(p[_Q_PART], p[_Q_PART]),
            user=one(p[_Q_USER], p[_Q_USER]),
            account=account and one(account, account),
            reason=reason and one(reason, reason),
            cpus=conv(_Q_CPUS, _sq_int),
            nodes=nodes,
            memory_bytes=mem,
            gpus=gpus,
            submit_time=conv(_Q_SUBMIT, _cached_timestamp),
            start_time=None if state == "PENDING" else conv(_Q_START, _cached_timestamp),
            array_job_id=array_job_id,
            array_task_count=count,
            node_list=node_list and one(node_list, node_list),
        ))
    if bad and not jobs:
        _note(errors, f"squeue: no job records recognised in {bad} line(s)")
    return jobs


# --------------------------------------------------------------------------- sdiag

_SDIAG_TOP = {
    "server thread count": "server_thread_count",
    "agent queue size": "agent_queue_size",
    "agent count": "agent_count",
    "agent thread count": "agent_thread_count",
    "dbd agent queue size": "dbd_agent_queue_size",
    "jobs submitted": "jobs_submitted",
    "jobs started": "jobs_started",
    "jobs completed": "jobs_completed",
    "jobs canceled": "jobs_canceled",
    "jobs failed": "jobs_failed",
    "jobs pending": "jobs_pending",
    "jobs running": "jobs_running",
}
# key -> (field, is microseconds)
_SDIAG_MAIN = {
    "last cycle": ("schedule_cycle_last_s", True),
    "max cycle": ("schedule_cycle_max_s", True),
    "mean cycle": ("schedule_cycle_mean_s", True),
    "total cycles": ("schedule_cycle_total", False),
    "last queue length": ("schedule_queue_length", False),
}
_SDIAG_BF = {
    "total backfilled jobs (since last slurm start)": ("backfilled_jobs_total", False),
    "total cycles": ("backfill_cycles_total", False),
    "last cycle": ("backfill_cycle_last_s", True),
    "max cycle": ("backfill_cycle_max_s", True),
    "mean cycle": ("backfill_cycle_mean_s", True),
    "last depth cycle": ("backfill_last_depth", False),
    "last queue length": ("backfill_queue_length", False),
}
_SDIAG_SECTIONS = (
    ("main schedule statistics", "main"),
    ("main scheduler exit", "other"),
    ("backfilling stats", "backfill"),
    ("backfill exit", "other"),
    ("remote procedure call statistics by message type", "rpc_type"),
    ("remote procedure call statistics by user", "rpc_user"),
    ("pending rpc", "other"),
)
_RPC = re.compile(r"^\s*(\S.*?)\s*\(\s*(\d+)\)\s*count:\s*(\d+)\s+ave_time:\s*(\d+)\s+"
                  r"total_time:\s*(\d+)\s*$")
_KV = re.compile(r"^\s*([^:]+?)\s*:\s*(.*?)\s*$")
#: sdiag's lines are under 120 characters; the lazy patterns above are quadratic on a long line
#: without their delimiter, so a line this long is noted and skipped unread.
_SDIAG_MAX_LINE = 1024
_EPOCH_IN_PARENS = re.compile(r"\((\d+)\)\s*$")


def parse_sdiag(text: str, errors: list[str] | None = None) -> SchedulerStats:
    """sdiag plain text (22.05 .. 25.05) -> SchedulerStats; cycle times microseconds -> seconds,
    RPC total_time microseconds -> seconds, ``Data since`` -> stats_reset_time."""
    st = SchedulerStats()
    found = 0
    section = "top"
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("*****"):
            continue
        if len(line) > _SDIAG_MAX_LINE:      # also keeps the regexes below linear
            _note(errors, f"sdiag: line {n}: {len(line)} characters, not sdiag's; skipped")
            continue
        low = line.strip().lower()
        if low.startswith("no data available"):
            _note(errors, f"sdiag: {line.strip()}")
            continue
        if low.startswith("data since"):
            e = _EPOCH_IN_PARENS.search(line)
            if e:
                try:
                    st.stats_reset_time = text_float(e.group(1))
                    found += 1
                except ValueError:
                    _note(errors, f"sdiag: line {n}: bad value {_clip(line)}")
            else:
                _note(errors, f"sdiag: line {n}: no epoch in {_clip(line)}")
            continue
        if not line[0].isspace():
            for prefix, name in _SDIAG_SECTIONS:
                if low.startswith(prefix):
                    section = name
                    break
            else:
                section = "top"
                m = _KV.match(line)
                if not m:
                    continue
                key, val = m.group(1).lower(), m.group(2)
                if key in _SDIAG_TOP:
                    try:
                        setattr(st, _SDIAG_TOP[key], text_int(val))
                        found += 1
                    except ValueError:
                        _note(errors, f"sdiag: line {n}: bad value {_clip(line)}")
            continue
        if section in ("main", "backfill"):
            m = _KV.match(line)
            if not m:
                continue
            table = _SDIAG_MAIN if section == "main" else _SDIAG_BF
            key = m.group(1).lower()
            if key not in table:
                continue
            field_name, micro = table[key]
            try:
                num = text_int(m.group(2))
            except ValueError:
                _note(errors, f"sdiag: line {n}: bad value {_clip(line)}")
                continue
            setattr(st, field_name, num / 1e6 if micro and num is not None else num)
            found += 1
        elif section in ("rpc_type", "rpc_user"):
            m = _RPC.match(line)
            if not m:
                _note(errors, f"sdiag: line {n}: unreadable RPC line skipped: {_clip(line)}")
                continue
            try:
                count, total = text_int(m.group(3)), text_int(m.group(5))
            except ValueError:
                count = total = None
            if count is None or total is None:
                _note(errors, f"sdiag: line {n}: bad RPC counts; skipped: {_clip(line)}")
                continue
            rpc = RpcStat(name=m.group(1), count=count, total_time_s=total / 1e6)
            (st.rpcs_by_type if section == "rpc_type" else st.rpcs_by_user).append(rpc)
            found += 1
    if not found and text.strip():
        _note(errors, "sdiag: no statistics recognised in the output")
    return st


# --------------------------------------------------------------------------- sshare

_SSHARE_COLS = {
    "rawshares": ("raw_shares", _int),
    "normshares": ("norm_shares", _float),
    "rawusage": ("raw_usage", _float),
    "normusage": ("norm_usage", _float),
    "effectvusage": ("effective_usage", _float),
    "fairshare": ("fairshare", _float),
}


def _shares(v: str) -> int | None:
    return None if v.strip().lower() == "parent" else _int(v)


def parse_sshare(text: str, errors: list[str] | None = None) -> list[Share]:
    """``sshare -a -l -P`` (``|``-separated, with its header line) -> Share per line.
    Columns are found by header name, so their order and extra columns do not matter.
    RawShares ``parent`` -> None; empty cells -> None."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return []
    header = [h.strip().lower() for h in lines[0].split("|")]
    if "account" not in header or "user" not in header:
        _note(errors, f"sshare: no 'Account|User|...' header; output ignored: {_clip(lines[0])}")
        return []
    idx = {h: i for i, h in enumerate(header)}
    out: list[Share] = []
    for n, line in enumerate(lines[1:], 2):
        cells = line.split("|")
        if len(cells) < len(header) or len(cells) > len(header) + 1:  # -p adds a trailing '|'
            _note(errors, f"sshare: line {n}: {len(cells)} fields, expected {len(header)}; "
                          f"skipped: {_clip(line)}")
            continue
        account = cells[idx["account"]].strip()
        if not account:
            _note(errors, f"sshare: line {n}: no account; skipped: {_clip(line)}")
            continue
        user = cells[idx["user"]].strip() or None
        f = _Fields({h: cells[i] for h, i in idx.items()},
                    f"sshare: line {n} ({account}/{user or '-'})", errors)
        kw = {}
        for col, (attr, conv) in _SSHARE_COLS.items():
            if col in idx:
                kw[attr] = f.get(col, _shares if col == "rawshares" else conv)
        out.append(Share(account=account, user=user, **kw))
    return out


# --------------------------------------------------------------------------- scontrol -o

_KEY = re.compile(r"(?:^|(?<=\s))([A-Za-z][A-Za-z0-9_:/]*)=")
_EMPTY_NOTICE = re.compile(r"^no .*(in the system|configured)", re.I)


_KEY_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_:/]*")


def _split_kv(line: str, known: frozenset[str], free_text: frozenset[str]) -> dict[str, str]:
    """``Key=Value Key2=Value with spaces`` -> dict. A value runs to the next `` Key=``; inside a
    free-text value (Reason, OS, Comment, ...) only a *known* key ends it, so a reason such as
    ``bad dimm size=4G`` stays whole. Works on space-separated tokens (a regex scan of every
    line cost ~70 % of parsing 10,000 nodes)."""
    out: dict[str, str] = {}
    key: str | None = None
    value: list[str] = []
    in_free = False
    for tok in line.split(" "):
        k, eq, rest = tok.partition("=")
        if eq and (k in known or (not in_free and k[:1].isupper() and _KEY_TOKEN.fullmatch(k))) \
                and not (key is None and not _KEY_TOKEN.fullmatch(k)):
            if key is not None:
                out.setdefault(key, " ".join(value).strip())
            key, value, in_free = k, [rest], k in free_text
        elif key is not None:
            value.append(tok)
    if key is not None:
        out.setdefault(key, " ".join(value).strip())
    return out


_LINE = re.compile(r"[^\n]*\n|[^\n]+$")


def _lines(text: str) -> Iterable[tuple[int, str]]:
    """(line number, line) one at a time: megabytes of output never become one list of lines
    (8.5 MB at 50,000 jobs on top of the text itself)."""
    for n, m in enumerate(_LINE.finditer(text), 1):
        yield n, m.group().rstrip("\r\n")


def _records(text: str, first_key: str) -> Iterable[tuple[int, str]]:
    """Yield (line number, record) for ``scontrol show X -o`` output. Indented lines are
    continuation lines of the record before (the multi-line form without -o) and are joined to
    it with a space; every other line starts a record of its own."""
    cur: list[str] = []
    start = 0
    for n, line in _lines(text):
        if not line.strip():
            continue
        if cur and line[0].isspace() and not line.lstrip().startswith(first_key + "="):
            cur.append(line.strip())
            continue
        if cur:
            yield start, " ".join(cur)
        cur, start = [line.strip()], n
    if cur:
        yield start, " ".join(cur)


def _scontrol(text: str, what: str, first_key: str, known: frozenset[str],
              free_text: frozenset[str], build: Callable[[dict[str, str], _Fields, int], Any],
              errors: list[str] | None) -> list[Any]:
    out, bad = [], 0
    for n, rec in _records(text, first_key):
        if _EMPTY_NOTICE.match(rec):
            continue
        if not rec.startswith(first_key + "="):
            bad += 1
            _note(errors, f"{what}: line {n}: no {first_key}=; skipped: {_clip(rec)}")
            continue
        kv = _split_kv(rec, known, free_text)
        name = kv.get(first_key, "").strip()
        if not name:
            bad += 1
            _note(errors, f"{what}: line {n}: empty {first_key}; skipped: {_clip(rec)}")
            continue
        obj = build(kv, _Fields(kv, f"{what}: line {n} ({name})", errors), n)
        if obj is None:
            bad += 1
            continue
        out.append(obj)
    if bad and not out:
        _note(errors, f"{what}: no records recognised in {bad} record(s)")
    return out


# ---- nodes

_NODE_KEYS = frozenset("""
NodeName Arch CpuBind CoresPerSocket CPUAlloc CPUEfctv CPUTot CPULoad AvailableFeatures
ActiveFeatures Gres GresDrain GresUsed NodeAddr NodeHostName BcastAddr Port Version OS
RealMemory AllocMem FreeMem Sockets Boards CoreSpecCount CPUSpecList MemSpecLimit
RestrictedCoresPerGPU State ThreadsPerCore TmpDisk Weight Owner MCS_label NextState Partitions
BootTime SlurmdStartTime LastBusyTime ResumeAfterTime CfgTRES AllocTRES CapWatts CurrentWatts
AveWatts LowestJoules ConsumedJoules ExtSensorsJoules ExtSensorsWatts ExtSensorsTemp Reason
Comment Extra InstanceId InstanceType ReservationName Topology Power CPUSpec
""".split())
_NODE_FREE = frozenset({"OS", "Reason", "Comment", "Extra"})

_STATE_SUFFIX = {
    "*": "NOT_RESPONDING", "~": "POWERED_DOWN", "#": "POWERING_UP", "%": "POWERING_DOWN",
    "!": "POWER_DOWN", "@": "REBOOT_REQUESTED", "^": "REBOOT_ISSUED", "$": "MAINT",
    "-": "PLANNED",
}
_FLAG_ALIAS = {"MAINTENANCE": "MAINT", "NO_RESPOND": "NOT_RESPONDING", "RES": "RESERVED"}


def parse_node_state(text: str) -> tuple[str, frozenset[str]]:
    """``MIXED+CLOUD`` -> ("mixed", {CLOUD}); ``DOWN*+DRAIN`` -> ("down", {NOT_RESPONDING,
    DRAIN}); ``IDLE~`` -> ("idle", {POWERED_DOWN}); ``ALLOCATED+`` -> ("allocated",
    {COMPLETING}). Suffix symbols as in sinfo(1): ``* ~ # % ! @ ^ $ -``."""
    s = text.strip()
    flags: set[str] = set()
    if s.endswith("+"):
        flags.add("COMPLETING")
        s = s.rstrip("+")
    parts = s.split("+")

    def strip_symbols(tok: str) -> str:
        while tok and tok[-1] in _STATE_SUFFIX:
            flags.add(_STATE_SUFFIX[tok[-1]])
            tok = tok[:-1]
        return tok

    base = strip_symbols(parts[0].strip())
    for p in parts[1:]:
        p = strip_symbols(p.strip().upper())
        if p:
            flags.add(_FLAG_ALIAS.get(p, p))
    return base.lower(), frozenset(flags)


# No leading \s*: searched over a long run of spaces it would be quadratic (the reason is
# stripped after the stamp is cut out anyway).
_REASON_STAMP = re.compile(r"\[([^\[\]@\s]+)@(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\]")
_REASON_STAMP_ANY = re.compile(r"\[([^\[\]@\s]+)@([^\[\]]+)\]\s*$")


def _node(kv: dict[str, str], f: _Fields, n: int) -> Node | None:
    name = kv["NodeName"]
    if "State" not in kv or not kv["State"].strip():
        _note(f.errors, f"{f.where}: no State= (truncated line?); skipped")
        return None
    state, flags = parse_node_state(kv["State"])
    reason = _opt_str(kv.get("Reason"))
    reason_user = reason_time = None
    if reason is not None:
        m = _REASON_STAMP.search(reason) or _REASON_STAMP_ANY.search(reason)
        if m:
            reason_user = m.group(1)
            try:
                reason_time = parse_timestamp(m.group(2))
            except ValueError:
                _note(f.errors, f"{f.where}: bad reason time {m.group(2)[:40]!r}; left unset")
            reason = (reason[: m.start()].rstrip() + " " + reason[m.end():]).strip() or None
    gres = f.get("Gres", parse_gres) or ()
    if "GresUsed" in kv:          # only with -d (SHOW_DETAIL)
        gres_used = f.get("GresUsed", parse_gres) or ()
    else:
        # Without -d slurmctld does not pack gres_used ("Gathering GRES details is slow, so don't
        # by default", node_mgr.c): the allocated GPUs are in AllocTRES when AccountingStorageTRES
        # tracks gres/gpu (CfgTRES then names it too), else unknown (None), never a made-up 0.
        def from_tres(alloc: str | None) -> tuple[Gres, ...] | None:
            return used_from_tres(alloc, kv.get("CfgTRES"), gres)
        gres_used = f.get("AllocTRES", from_tres) if "AllocTRES" in kv else from_tres(None)
    return Node(
        name=name,
        state=state,
        flags=flags,
        partitions=_list(kv.get("Partitions")),
        cpus_total=f.get("CPUTot", _int),
        cpus_alloc=f.get("CPUAlloc", _int),
        cpu_load=f.get("CPULoad", _float),
        memory_total_bytes=f.get("RealMemory", _mb_to_bytes),
        memory_alloc_bytes=f.get("AllocMem", _mb_to_bytes),
        memory_free_bytes=f.get("FreeMem", _mb_to_bytes),
        gres=gres,
        gres_used=gres_used,
        reason=reason,
        reason_time=reason_time,
        reason_user=reason_user,
        features=_list(kv.get("AvailableFeatures")),
        slurmd_version=_opt_str(kv.get("Version")),
    )


def parse_scontrol_nodes(text: str, errors: list[str] | None = None) -> list[Node]:
    """``scontrol show nodes -o`` -> Node per line. Memory MB -> bytes; ``CPULoad=N/A`` -> None;
    ``Reason=text [user@time]`` -> reason, reason_user, reason_time."""
    return _scontrol(text, "scontrol show nodes", "NodeName", _NODE_KEYS, _NODE_FREE, _node,
                     errors)


# ---- partitions

_PART_KEYS = frozenset("""
PartitionName AllowGroups AllowAccounts AllowQos AllocNodes Default QoS DefaultTime
DisableRootJobs ExclusiveUser ExclusiveTopo GraceTime Hidden MaxNodes MaxTime MinNodes LLN
MaxCPUsPerNode MaxCPUsPerSocket NodeSets Nodes PriorityJobFactor PriorityTier RootOnly ReqResv
OverSubscribe OverTimeLimit PreemptMode State TotalCPUs TotalNodes SelectTypeParameters
JobDefaults DefMemPerNode DefMemPerCPU MaxMemPerNode MaxMemPerCPU TRES TRESBillingWeights
DenyAccounts DenyQos AlternateNodes PowerDownOnIdle ResumeTimeout SuspendTime SuspendTimeout
Topology
""".split())


class _Noted(Protocol):
    """Where a record came from and the list its problems go to (_Fields, pyslurm's _Obj)."""
    where: str
    errors: list[str] | None


def _node_list(kv: dict[str, str], f: _Noted) -> tuple[str, ...]:
    """``Nodes=n[1-3],c1`` expanded; a bad hostlist is noted and leaves the list empty."""
    raw_nodes = _opt_str(kv.get("Nodes"))
    if raw_nodes is None:
        return ()
    try:
        return tuple(_expand_hostlist(raw_nodes))
    except ValueError as exc:
        _note(f.errors, f"{f.where}: {exc}; nodes left empty")
        return ()


def _partition(kv: dict[str, str], f: _Fields, n: int) -> Partition | None:
    nodes = _node_list(kv, f)
    state = _opt_str(kv.get("State"))
    return Partition(
        name=kv["PartitionName"],
        state=state.lower() if state else "up",
        is_default=kv.get("Default", "").strip().upper() == "YES",
        nodes=nodes,
        cpus_total=f.get("TotalCPUs", _int),
        max_time_s=f.get("MaxTime", parse_duration),
        total_nodes=f.get("TotalNodes", _int),
    )


def parse_scontrol_partitions(text: str, errors: list[str] | None = None) -> list[Partition]:
    """``scontrol show partitions -o`` -> Partition per line (Nodes expanded to host names;
    MaxTime UNLIMITED -> None, ``1-00:00:00`` -> 86400)."""
    return _scontrol(text, "scontrol show partitions", "PartitionName", _PART_KEYS, frozenset(),
                     _partition, errors)


# ---- reservations

_RESV_KEYS = frozenset("""
ReservationName StartTime EndTime Duration Nodes NodeCnt CoreCnt Features PartitionName Flags
TRES Users Groups Accounts Licenses State BurstBuffer Watts MaxStartDelay Comment Skip
""".split())
_RESV_FREE = frozenset({"Comment"})


def _reservation(kv: dict[str, str], f: _Fields, n: int) -> Reservation | None:
    nodes = _node_list(kv, f)
    tres = _tres_dict(kv.get("TRES"))
    return Reservation(
        name=kv["ReservationName"],
        start_time=f.get("StartTime", parse_timestamp),
        end_time=f.get("EndTime", parse_timestamp),
        nodes=nodes,
        node_count=f.get("NodeCnt", _int),
        cpu_count=f.get("TRES", lambda _s: _int(tres.get("cpu"))),
        flags=frozenset(_list(kv.get("Flags"))),
        users=_list(kv.get("Users")),
        accounts=_list(kv.get("Accounts")),
        partition=_opt_str(kv.get("PartitionName")),
    )


def parse_scontrol_reservations(text: str, errors: list[str] | None = None) -> list[Reservation]:
    """``scontrol show reservations -o`` -> Reservation per line (cpu_count from ``TRES=cpu=N``;
    ``No reservations in the system`` -> [])."""
    return _scontrol(text, "scontrol show reservations", "ReservationName", _RESV_KEYS,
                     _RESV_FREE, _reservation, errors)


# ---- licenses

_LIC_KEYS = frozenset("""
LicenseName Total Used Free Reserved Remote LastConsumed LastDeficit LastUpdate Hidden
""".split())


def _license(kv: dict[str, str], f: _Fields, n: int) -> License | None:
    total, used = f.get("Total", _int), f.get("Used", _int)
    if total is None or used is None:
        _note(f.errors, f"{f.where}: no Total=/Used=; skipped")
        return None
    return License(name=kv["LicenseName"], total=total, used=used,
                   free=f.get("Free", _int), reserved=f.get("Reserved", _int))


def parse_scontrol_licenses(text: str, errors: list[str] | None = None) -> list[License]:
    """``scontrol show licenses -o`` (22.05 ``LicenseName Total Used Free Reserved Remote``;
    newer releases add LastConsumed/LastDeficit/LastUpdate, ignored) -> License per line."""
    return _scontrol(text, "scontrol show licenses", "LicenseName", _LIC_KEYS, frozenset(),
                     _license, errors)
