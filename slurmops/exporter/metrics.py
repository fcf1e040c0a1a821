"""Every metric family the Slurm exporter can emit, declared once: name, type, help, labels and
the collector that owns it. Collectors build families from these specs (so a name or label can
never drift from its documentation) and docs/metrics.md is generated from this table.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.samples import Sample


@dataclass(frozen=True)
class Spec:
    """One metric family of either exporter (the job exporter's table, node/metrics.py, uses the
    same type): its docs table and the families the collectors build both come from it."""
    name: str
    kind: str            # gauge | counter | histogram
    help: str
    labels: tuple[str, ...]
    collector: str
    # Sources that cannot produce this family (per Slurm version where it matters).
    not_from: tuple[str, ...] = ()
    source: str = ""     # where the value comes from (the job exporter's docs column)
    get: Callable[[Any], float | None] | None = None    # the job exporter: the value from JobStats

    def __post_init__(self) -> None:
        if self.kind == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name} must end in _total")

    def family(self) -> Family:
        return Family(self)


class RowsFamily(Metric):
    """A gauge or counter kept as (label values, value) rows: 90,000 per-node samples cost a
    tuple each instead of a client_python Sample with its own label dict, and render.py writes
    them straight to text. ``samples`` builds the client_python view on demand (tests, fallback).
    A Metric to everything that takes one; Metric.__init__ is not run (it would keep Samples)."""

    def __init__(self, name: str, documentation: str, typ: str, labelnames: list[str]):
        self.name = name
        self.unit = ""
        self.documentation = documentation
        self.type = typ
        self.labelnames = tuple(labelnames)
        self.rows: list[tuple[tuple[str, ...], float]] = []
        self.sample_name = name + "_total" if typ == "counter" else name

    @property   # Metric's is a list attribute; here it is derived from the rows
    def samples(self) -> list[Sample]:  # type: ignore[override]
        return [Sample(self.sample_name, dict(zip(self.labelnames, vals, strict=True)), v, None, None)
                for vals, v in self.rows]


class Family:
    """A metric family being filled; ``cluster`` is always the first label."""

    def __init__(self, spec: Spec):
        self.spec = spec
        labels = ["cluster", *spec.labels]
        self.metric: Metric
        if spec.kind == "histogram":
            self.histogram: HistogramMetricFamily | None = HistogramMetricFamily(spec.name, spec.help, labels=labels)
            self.metric = self.histogram
            self.rows: list[tuple[tuple[str, ...], float]] = []
        else:
            name = spec.name[: -len("_total")] if spec.kind == "counter" else spec.name
            self.histogram = None
            self.metric = rows = RowsFamily(name, spec.help, spec.kind, labels)
            self.rows = rows.rows

    def add(self, labels: Iterable[str], value: float | int | None) -> None:
        if value is None:   # unknown stays absent, never a made-up zero
            return
        self.rows.append((tuple(map(str, labels)), float(value)))

    def add_histogram(self, labels: Iterable[str], buckets: list[tuple[str, float]], total: float) -> None:
        if self.histogram is None:
            raise TypeError(f"{self.spec.name} is not a histogram")
        self.histogram.add_metric([str(v) for v in labels], buckets, total)


SPECS: dict[str, Spec] = {}


def _spec(name: str, kind: str, help: str, labels: tuple[str, ...], collector: str,
          not_from: tuple[str, ...] = ()) -> Spec:
    if name in SPECS:
        raise ValueError(f"metric {name} declared twice")
    s = Spec(name, kind, help, labels, collector, not_from)
    SPECS[name] = s
    return s


# ---- info and self ----------------------------------------------------------------------------
INFO = _spec("slurm_info", "gauge", "Slurm version and cluster name (always 1).", ("version",), "info")
UP = _spec("slurm_up", "gauge", "1 when the last poll reached slurmctld, 0 otherwise.", (), "exporter")
COLLECTOR_SUCCESS = _spec("slurm_exporter_collector_success", "gauge",
                          "1 when the collector's last poll succeeded, 0 when it failed (absent when unsupported).",
                          ("collector",), "exporter")
COLLECTOR_SUPPORTED = _spec("slurm_exporter_collector_supported", "gauge",
                            "0 when the source or Slurm version cannot serve the collector (not a failure), "
                            "1 otherwise.",
                            ("collector",), "exporter")
COLLECTOR_DURATION = _spec("slurm_exporter_collector_duration_seconds", "gauge",
                           "How long the collector's last poll took.", ("collector",), "exporter")
COLLECTOR_LAST_SUCCESS = _spec("slurm_exporter_collector_last_success_timestamp_seconds", "gauge",
                               "When the collector last polled successfully.", ("collector",), "exporter")
SNAPSHOT_AGE = _spec("slurm_exporter_snapshot_age_seconds", "gauge",
                     "Age of the data the collector serves.", ("collector",), "exporter")
COMMAND_ERRORS = _spec("slurm_exporter_command_errors_total", "counter",
                       "Failed Slurm calls by command and reason (timeout, exit, not_found, parse, connect, "
                       "http, auth, slurm, unsupported; internal: an unexpected error in the "
                       "exporter while handling the answer).",
                       ("command", "reason"), "exporter")
SOURCE_CALLS = _spec("slurm_exporter_source_calls_total", "counter",
                     "Calls made to Slurm (commands run or REST requests) by command.", ("command",),
                     "exporter")
PARSE_SKIPPED = _spec("slurm_exporter_parse_skipped_records_total", "counter",
                      "Records skipped, or read only in part (a value left unset, invalid UTF-8 "
                      "replaced), because Slurm's output for them was malformed.",
                      ("collector",), "exporter")

# ---- controllers ------------------------------------------------------------------------------
CONTROLLER_UP = _spec("slurm_controller_up", "gauge",
                      "Each slurmctld of SlurmctldHost as a ping sees it: 1 up, 0 down (role: primary, "
                      "backup, backup2, ...).", ("host", "role"), "controllers")

# ---- nodes ------------------------------------------------------------------------------------
NODES = _spec("slurm_nodes", "gauge", "Nodes by base state (idle, mixed, allocated, down, ...).",
              ("state",), "nodes")
NODES_FLAGGED = _spec("slurm_nodes_flagged", "gauge",
                      "Nodes carrying a state flag (DRAIN, MAINT, RESERVED, POWERED_DOWN, CLOUD, "
                      "NOT_RESPONDING, ...).", ("flag",), "nodes")
NODES_POWER = _spec("slurm_nodes_power_state", "gauge",
                    "Power-saving and cloud nodes by power state (powered_down, powering_up, "
                    "powering_down, powered_up).", ("power_state",), "nodes")
CPUS = _spec("slurm_cpus", "gauge", "Cluster CPUs by status (allocated, idle, other = on "
             "unavailable nodes, total).", ("status",), "nodes")
MEMORY = _spec("slurm_memory_bytes", "gauge", "Cluster memory by status (allocated, total).",
               ("status",), "nodes")
GPUS = _spec("slurm_gpus", "gauge", "Cluster GPUs by type and status (allocated, total).",
             ("type", "status"), "nodes")
NODE_STATE = _spec("slurm_node_state", "gauge", "Per node: 1 for its base state.", ("node", "state"), "nodes")
NODE_FLAG = _spec("slurm_node_flag", "gauge", "Per node: 1 for each state flag it carries.",
                  ("node", "flag"), "nodes")
NODE_CPUS = _spec("slurm_node_cpus", "gauge", "Per node CPUs by status (allocated, idle, total).",
                  ("node", "status"), "nodes")
NODE_MEMORY = _spec("slurm_node_memory_bytes", "gauge",
                    "Per node memory by status (allocated, free, total).", ("node", "status"), "nodes")
NODE_LOAD = _spec("slurm_node_cpu_load", "gauge", "Per node CPU load as slurmd reports it.", ("node",), "nodes")
NODE_GPUS = _spec("slurm_node_gpus", "gauge", "Per node GPUs by type and status (allocated, total).",
                  ("node", "type", "status"), "nodes")
NODE_REASON = _spec("slurm_node_reason_info", "gauge",
                    "Per node with a reason (drain, down): the reason and who set it.",
                    ("node", "reason", "user"), "nodes")
NODE_REASON_SINCE = _spec("slurm_node_reason_since_timestamp_seconds", "gauge",
                          "When the node's reason was set.", ("node",), "nodes")
NODE_PARTITION = _spec("slurm_node_partition_info", "gauge", "Per node: 1 for each partition it is in.",
                       ("node", "partition"), "nodes")

# ---- partitions -------------------------------------------------------------------------------
PART_INFO = _spec("slurm_partition_info", "gauge", "Partition state and whether it is the default.",
                  ("partition", "state", "default"), "partitions")
PART_NODES = _spec("slurm_partition_nodes", "gauge", "Partition nodes by base state.",
                   ("partition", "state"), "partitions")
PART_CPUS = _spec("slurm_partition_cpus", "gauge",
                  "Partition CPUs by status (allocated, idle, other, total).", ("partition", "status"),
                  "partitions")
PART_MEMORY = _spec("slurm_partition_memory_bytes", "gauge",
                    "Partition memory by status (allocated, total).", ("partition", "status"), "partitions")
PART_GPUS = _spec("slurm_partition_gpus", "gauge", "Partition GPUs by status (allocated, total).",
                  ("partition", "status"), "partitions")
PART_MAX_TIME = _spec("slurm_partition_max_time_seconds", "gauge",
                      "Partition MaxTime (absent when unlimited).", ("partition",), "partitions")
PART_JOBS = _spec("slurm_partition_jobs", "gauge",
                  "PENDING and RUNNING jobs per partition, zero included (Slurm's upper-case states).",
                  ("partition", "state"), "jobs")

# ---- jobs -------------------------------------------------------------------------------------
JOBS = _spec("slurm_jobs", "gauge", "Jobs by state and partition (array tasks counted one by one).",
             ("state", "partition"), "jobs")
JOBS_PENDING = _spec("slurm_jobs_pending", "gauge", "Pending jobs by partition and reason.",
                     ("partition", "reason"), "jobs")
JOBS_CPUS = _spec("slurm_jobs_cpus", "gauge", "CPUs of jobs by state and partition.",
                  ("state", "partition"), "jobs")
JOBS_WAIT = _spec("slurm_jobs_pending_wait_seconds", "histogram",
                  "How long pending jobs have waited since submission, by partition.", ("partition",), "jobs")
ACCOUNT_JOBS = _spec("slurm_account_jobs", "gauge", "Jobs per account by state (--collector.jobs.per-account).",
                     ("account", "state"), "jobs")
ACCOUNT_CPUS = _spec("slurm_account_cpus_allocated", "gauge", "CPUs allocated to running jobs per account.",
                     ("account",), "jobs")
ACCOUNT_GPUS = _spec("slurm_account_gpus_allocated", "gauge", "GPUs allocated to running jobs per account.",
                     ("account",), "jobs")
ACCOUNT_MEMORY = _spec("slurm_account_memory_allocated_bytes", "gauge",
                       "Memory allocated to running jobs per account.", ("account",), "jobs")
USER_JOBS = _spec("slurm_user_jobs", "gauge", "Jobs per user by state (--collector.jobs.per-user).",
                  ("user", "state"), "jobs")
USER_CPUS = _spec("slurm_user_cpus_allocated", "gauge", "CPUs allocated to running jobs per user.",
                  ("user",), "jobs")
USER_GPUS = _spec("slurm_user_gpus_allocated", "gauge", "GPUs allocated to running jobs per user.",
                  ("user",), "jobs")
USER_MEMORY = _spec("slurm_user_memory_allocated_bytes", "gauge",
                    "Memory allocated to running jobs per user.", ("user",), "jobs")

# ---- scheduler (sdiag) ------------------------------------------------------------------------
SCHED = {
    "server_thread_count": _spec("slurm_scheduler_threads", "gauge",
                                 "slurmctld server threads in use.", (), "scheduler"),
    "agent_queue_size": _spec("slurm_scheduler_agent_queue_size", "gauge",
                              "Outgoing RPCs queued in slurmctld's agent.", (), "scheduler"),
    "agent_count": _spec("slurm_scheduler_agents", "gauge", "slurmctld agent threads.", (), "scheduler"),
    "dbd_agent_queue_size": _spec("slurm_scheduler_dbd_agent_queue_size", "gauge",
                                  "Messages queued for slurmdbd (accounting data at risk near "
                                  "MaxDBDMsgs).", (), "scheduler"),
    "schedule_cycle_last_s": _spec("slurm_scheduler_cycle_last_seconds", "gauge",
                                   "Duration of the last main scheduling cycle.", (), "scheduler"),
    "schedule_cycle_max_s": _spec("slurm_scheduler_cycle_max_seconds", "gauge",
                                  "Longest main scheduling cycle since the stats reset.", (), "scheduler"),
    "schedule_cycle_mean_s": _spec("slurm_scheduler_cycle_mean_seconds", "gauge",
                                   "Mean main scheduling cycle since the stats reset.", (), "scheduler"),
    "schedule_cycle_total": _spec("slurm_scheduler_cycles_total", "counter",
                                  "Main scheduling cycles since the stats reset.", (), "scheduler"),
    "schedule_queue_length": _spec("slurm_scheduler_queue_length", "gauge",
                                   "Jobs the main scheduler looked at last cycle.", (), "scheduler"),
    "backfill_cycle_last_s": _spec("slurm_scheduler_backfill_cycle_last_seconds", "gauge",
                                   "Duration of the last backfill cycle.", (), "scheduler"),
    "backfill_cycle_max_s": _spec("slurm_scheduler_backfill_cycle_max_seconds", "gauge",
                                  "Longest backfill cycle since the stats reset.", (), "scheduler"),
    "backfill_cycle_mean_s": _spec("slurm_scheduler_backfill_cycle_mean_seconds", "gauge",
                                   "Mean backfill cycle since the stats reset.", (), "scheduler"),
    "backfill_cycles_total": _spec("slurm_scheduler_backfill_cycles_total", "counter",
                                   "Backfill cycles since the stats reset.", (), "scheduler"),
    "backfilled_jobs_total": _spec("slurm_scheduler_backfilled_jobs_total", "counter",
                                   "Jobs started by backfill since the stats reset.", (), "scheduler"),
    "backfill_last_depth": _spec("slurm_scheduler_backfill_depth", "gauge",
                                 "Jobs the last backfill cycle considered.", (), "scheduler",
                                 ("rest@v0.0.38",)),
    "backfill_queue_length": _spec("slurm_scheduler_backfill_queue_length", "gauge",
                                   "Jobs pending for backfill at the last cycle.", (), "scheduler"),
    "jobs_submitted": _spec("slurm_scheduler_jobs_submitted_total", "counter",
                            "Jobs submitted since the stats reset.", (), "scheduler"),
    "jobs_started": _spec("slurm_scheduler_jobs_started_total", "counter",
                          "Jobs started since the stats reset.", (), "scheduler"),
    "jobs_completed": _spec("slurm_scheduler_jobs_completed_total", "counter",
                            "Jobs completed since the stats reset.", (), "scheduler"),
    "jobs_canceled": _spec("slurm_scheduler_jobs_canceled_total", "counter",
                           "Jobs canceled since the stats reset.", (), "scheduler"),
    "jobs_failed": _spec("slurm_scheduler_jobs_failed_total", "counter",
                         "Jobs failed since the stats reset.", (), "scheduler"),
    "stats_reset_time": _spec("slurm_scheduler_stats_reset_timestamp_seconds", "gauge",
                              "When sdiag's counters were last reset (midnight or sdiag -r).", (),
                              "scheduler"),
}
RPC_CALLS = _spec("slurm_rpc_calls_total", "counter", "RPCs slurmctld served by message type.",
                  ("type",), "scheduler")
RPC_TIME = _spec("slurm_rpc_duration_seconds_total", "counter",
                 "Time slurmctld spent serving RPCs by message type.", ("type",), "scheduler")
RPC_USER_CALLS = _spec("slurm_rpc_user_calls_total", "counter", "RPCs slurmctld served by user.",
                       ("user",), "scheduler")
RPC_USER_TIME = _spec("slurm_rpc_user_duration_seconds_total", "counter",
                      "Time slurmctld spent serving RPCs by user.", ("user",), "scheduler")

# ---- fairshare (sshare) -----------------------------------------------------------------------
# slurmrestd has /shares from v0.0.40 (23.11); pyslurm has no fair-share API at all.
_NO_SHARES = ("rest@v0.0.38", "rest@v0.0.39", "pyslurm")
SHARE_FIELDS = {
    "fairshare": _spec("slurm_share_fairshare", "gauge", "Fair-share factor (0..1).",
                       ("account", "user"), "fairshare", _NO_SHARES),
    "norm_shares": _spec("slurm_share_normalized_shares", "gauge", "Normalized shares.",
                         ("account", "user"), "fairshare", _NO_SHARES),
    "norm_usage": _spec("slurm_share_normalized_usage", "gauge", "Normalized usage.",
                        ("account", "user"), "fairshare", _NO_SHARES),
    "effective_usage": _spec("slurm_share_effective_usage", "gauge", "Effective usage.",
                             ("account", "user"), "fairshare", _NO_SHARES),
    "raw_usage": _spec("slurm_share_raw_usage", "gauge", "Raw usage (decayed CPU-seconds).",
                       ("account", "user"), "fairshare", _NO_SHARES),
    "raw_shares": _spec("slurm_share_raw_shares", "gauge", "Raw shares assigned.",
                        ("account", "user"), "fairshare", _NO_SHARES),
}

# ---- licenses, reservations -------------------------------------------------------------------
LICENSES = _spec("slurm_licenses", "gauge", "Licenses by status (total, used, free, reserved).",
                 ("license", "status"), "licenses", ("pyslurm (status reserved)",))
RES_INFO = _spec("slurm_reservation_info", "gauge", "Reservation (always 1) with its flags and partition.",
                 ("reservation", "flags", "partition"), "reservations")
RES_START = _spec("slurm_reservation_start_timestamp_seconds", "gauge", "Reservation start.",
                  ("reservation",), "reservations")
RES_END = _spec("slurm_reservation_end_timestamp_seconds", "gauge", "Reservation end.",
                ("reservation",), "reservations")
RES_NODES = _spec("slurm_reservation_nodes", "gauge", "Nodes in the reservation.", ("reservation",),
                  "reservations")
RES_CPUS = _spec("slurm_reservation_cpus", "gauge", "CPUs in the reservation.", ("reservation",),
                 "reservations")
RES_ACTIVE = _spec("slurm_reservation_active", "gauge", "1 while the reservation is in effect.",
                   ("reservation",), "reservations")


def metrics_doc() -> str:
    """docs/metrics.md, generated from SPECS (tests keep the committed file in sync)."""
    lines = ["# Slurm exporter metrics", "",
             "Generated from `slurmops/exporter/metrics.py` by `slurmops exporter slurm "
             "--print-metrics-doc`; do not edit by hand. Every family also carries the `cluster` "
             "label.", ""]
    by_collector: dict[str, list[Spec]] = {}
    for s in SPECS.values():
        by_collector.setdefault(s.collector, []).append(s)
    for coll in sorted(by_collector):
        lines += [f"## {coll}", "", "| metric | type | labels | help | not produced by |",
                  "|---|---|---|---|---|"]
        for s in sorted(by_collector[coll], key=lambda s: s.name):
            labels = ", ".join(f"`{label}`" for label in s.labels) or "–"
            lines.append(f"| `{s.name}` | {s.kind} | {labels} | {s.help} | "
                         f"{', '.join(s.not_from) or '–'} |")
        lines.append("")
    return "\n".join(lines)
