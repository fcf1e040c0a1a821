"""Typed, version-free models of what Slurm reports. Sources and parsers produce these; collectors
only read them. A field Slurm did not report is None (the metric built from it is then absent),
never a made-up zero.

Units: memory in bytes, times as Unix timestamps (float seconds) or seconds, CPUs as counts.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Gres:
    """One generic resource entry, e.g. ``gpu:a100:4(IDX:0-3)`` -> name=gpu, type=a100, count=4."""
    name: str
    type: str | None
    count: int
    indexes: tuple[int, ...] = ()


@dataclass(slots=True)
class Node:
    name: str
    # Base state in lower case (idle, mixed, allocated, down, completing, future, unknown, ...)
    state: str
    # Upper-case flags: DRAIN, MAINT, RESERVED, POWERED_DOWN, POWERING_UP, POWERING_DOWN, CLOUD,
    # NOT_RESPONDING, COMPLETING, FAIL, REBOOT_REQUESTED, PLANNED, DYNAMIC_NORM, ...
    flags: frozenset[str] = frozenset()
    partitions: tuple[str, ...] = ()
    cpus_total: int | None = None
    cpus_alloc: int | None = None
    cpu_load: float | None = None          # 1-minute load average as slurmd reports it
    memory_total_bytes: int | None = None  # RealMemory
    memory_alloc_bytes: int | None = None
    memory_free_bytes: int | None = None
    gres: tuple[Gres, ...] = ()
    # None: the node has GPUs but Slurm's answer does not say how many are in use (the cli source
    # without -d on a cluster whose AccountingStorageTRES lacks gres/gpu).
    gres_used: tuple[Gres, ...] | None = ()
    reason: str | None = None
    reason_time: float | None = None       # when the reason was set
    reason_user: str | None = None
    features: tuple[str, ...] = ()
    slurmd_version: str | None = None

    @property
    def cpus_idle(self) -> int | None:
        if self.cpus_total is None or self.cpus_alloc is None:
            return None
        return max(self.cpus_total - self.cpus_alloc, 0)


@dataclass(slots=True)
class Partition:
    name: str
    state: str = "up"                      # up, down, drain, inactive
    is_default: bool = False
    nodes: tuple[str, ...] = ()
    cpus_total: int | None = None
    max_time_s: float | None = None        # None = unlimited / not reported
    total_nodes: int | None = None


@dataclass(slots=True)
class Job:
    job_id: str                             # "123", "123_4" (array task), "123_[5-9]" (pending array)
    state: str                              # PENDING, RUNNING, ... (upper case, base state)
    partition: str
    user: str
    account: str | None = None
    reason: str | None = None               # pending reason ("None" normalised to None)
    cpus: int | None = None
    nodes: int | None = None
    memory_bytes: int | None = None
    gpus: int | None = None
    submit_time: float | None = None
    start_time: float | None = None
    array_job_id: str | None = None
    array_task_count: int = 1               # a pending "123_[5-9]" record stands for 5 tasks
    node_list: str | None = None


@dataclass(slots=True)
class RpcStat:
    name: str
    count: int
    total_time_s: float


@dataclass(slots=True)
class SchedulerStats:
    """sdiag / slurmrestd diag."""
    server_thread_count: int | None = None
    agent_queue_size: int | None = None
    agent_count: int | None = None
    agent_thread_count: int | None = None
    dbd_agent_queue_size: int | None = None
    jobs_submitted: int | None = None
    jobs_started: int | None = None
    jobs_completed: int | None = None
    jobs_canceled: int | None = None
    jobs_failed: int | None = None
    jobs_pending: int | None = None
    jobs_running: int | None = None
    schedule_cycle_last_s: float | None = None
    schedule_cycle_max_s: float | None = None
    schedule_cycle_mean_s: float | None = None
    schedule_cycle_total: int | None = None
    schedule_queue_length: int | None = None
    backfill_cycle_last_s: float | None = None
    backfill_cycle_max_s: float | None = None
    backfill_cycle_mean_s: float | None = None
    backfill_cycles_total: int | None = None
    backfilled_jobs_total: int | None = None
    backfill_last_depth: int | None = None
    backfill_queue_length: int | None = None
    stats_reset_time: float | None = None
    rpcs_by_type: list[RpcStat] = field(default_factory=list)
    rpcs_by_user: list[RpcStat] = field(default_factory=list)


@dataclass(slots=True)
class Share:
    """One line of sshare: an account (user None) or a user within an account."""
    account: str
    user: str | None
    raw_shares: int | None = None
    norm_shares: float | None = None
    raw_usage: float | None = None
    norm_usage: float | None = None
    effective_usage: float | None = None
    fairshare: float | None = None


@dataclass(slots=True)
class License:
    name: str
    total: int
    used: int
    free: int | None = None
    reserved: int | None = None


@dataclass(slots=True)
class Reservation:
    name: str
    start_time: float | None
    end_time: float | None
    nodes: tuple[str, ...] = ()
    node_count: int | None = None
    cpu_count: int | None = None
    flags: frozenset[str] = frozenset()
    users: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    partition: str | None = None


@dataclass(slots=True)
class Controller:
    """One slurmctld of SlurmctldHost, as `scontrol ping` / slurmrestd's /ping see it."""
    host: str
    role: str          # primary, backup, backup2, ... (SlurmctldHost order)
    up: bool


@dataclass(slots=True)
class ClusterInfo:
    cluster: str | None = None
    version: str | None = None
