"""Scheduler health from sdiag: main and backfill cycles, job throughput, RPC load by message
type and by user, and the slurmdbd agent queue (accounting at risk when it grows)."""
from slurmops.grafana import Q, Row, among, build, cluster_var, iq, stat, table, timeseries, top

R = "$__rate_interval"
RPC_USERS = top("sum by (user) (slurm_rpc_user_calls_total{@c})")

dashboard = build(
    "scheduler", "Slurm / Scheduler health",
    description="sdiag: scheduling and backfill cycles, job throughput, RPC rates by type and user, "
                "slurmdbd queue.",
    variables=[cluster_var()],
    rows=[
        Row("slurmctld", [
            stat("slurmctld reachable", "bool_yes_no", Q("min(slurm_up{@c})"), w=4, graph=False,
                 steps=[("red", None), ("green", 1)], runbook="slurmctld-down"),
            stat("Server threads", "short", Q("max(slurm_scheduler_threads{@c})"), w=4,
                 steps=[("green", None), ("orange", 100), ("red", 200)]),
            stat("Agent queue", "short", Q("max(slurm_scheduler_agent_queue_size{@c})"), w=4),
            stat("slurmdbd agent queue", "short",
                 Q("max(slurm_scheduler_dbd_agent_queue_size{@c})"), w=4,
                 steps=[("green", None), ("orange", 1000), ("red", 10000)],
                 runbook="dbd-agent-queue"),
            stat("sdiag stats reset", "dateTimeFromNow",
                 Q("max(slurm_scheduler_stats_reset_timestamp_seconds{@c}) * 1000"), w=4,
                 graph=False),
            stat("Agent threads", "short", Q("max(slurm_scheduler_agents{@c})"), w=4),
        ]),
        Row("Scheduling cycles", [
            timeseries("Main scheduling cycle", "s",
                       Q("max(slurm_scheduler_cycle_last_seconds{@c})", "last"),
                       Q("max(slurm_scheduler_cycle_mean_seconds{@c})", "mean"),
                       Q("max(slurm_scheduler_cycle_max_seconds{@c})", "max since reset"), w=8),
            timeseries("Backfill cycle", "s",
                       Q("max(slurm_scheduler_backfill_cycle_last_seconds{@c})", "last"),
                       Q("max(slurm_scheduler_backfill_cycle_mean_seconds{@c})", "mean"),
                       Q("max(slurm_scheduler_backfill_cycle_max_seconds{@c})", "max since reset"),
                       w=8),
            timeseries("Cycles per second", "ops",
                       Q(f"sum(rate(slurm_scheduler_cycles_total{{@c}}[{R}]))", "main"),
                       Q(f"sum(rate(slurm_scheduler_backfill_cycles_total{{@c}}[{R}]))",
                         "backfill"), w=8),
            timeseries("Queue and backfill depth", "short",
                       Q("max(slurm_scheduler_queue_length{@c})", "main queue"),
                       Q("max(slurm_scheduler_backfill_queue_length{@c})", "backfill queue"),
                       Q("max(slurm_scheduler_backfill_depth{@c})", "backfill depth"), w=12),
            timeseries("Job throughput", "ops",
                       Q(f"sum(rate(slurm_scheduler_jobs_submitted_total{{@c}}[{R}]))", "submitted"),
                       Q(f"sum(rate(slurm_scheduler_jobs_started_total{{@c}}[{R}]))", "started"),
                       Q(f"sum(rate(slurm_scheduler_backfilled_jobs_total{{@c}}[{R}]))",
                         "started by backfill"),
                       Q(f"sum(rate(slurm_scheduler_jobs_completed_total{{@c}}[{R}]))", "completed"),
                       Q(f"sum(rate(slurm_scheduler_jobs_failed_total{{@c}}[{R}]))", "failed"),
                       Q(f"sum(rate(slurm_scheduler_jobs_canceled_total{{@c}}[{R}]))", "canceled"),
                       w=12),
        ]),
        Row("RPCs", [
            timeseries("RPC rate by message type (top 10)", "reqps",
                       Q(f"topk(10, sum by (type) (rate(slurm_rpc_calls_total{{@c}}[{R}])))",
                         "{{type}}"), w=12),
            timeseries("RPC mean latency by message type (top 10)", "s",
                       Q(f"topk(10, sum by (type) (rate(slurm_rpc_duration_seconds_total{{@c}}[{R}]))"
                         f" / sum by (type) (rate(slurm_rpc_calls_total{{@c}}[{R}]) > 0))",
                         "{{type}}"), w=12),
            timeseries("RPC rate by user (top 10)", "reqps",
                       Q(top(f"sum by (user) (rate(slurm_rpc_user_calls_total{{@c}}[{R}]))", 10),
                         "{{user}}"), w=12),
            timeseries("slurmctld time spent per user (top 10)", "percentunit",
                       Q(top(f"sum by (user) (rate(slurm_rpc_user_duration_seconds_total{{@c}}[{R}]))", 10),
                         "{{user}}"), w=12,
                       description="Seconds of slurmctld RPC time per second, by user: one "
                                   "user near 1 keeps a server thread busy all the time."),
            table("RPCs by user since the stats reset (top 20)", "short",
                  iq(RPC_USERS),
                  iq(among("sum by (user) (slurm_rpc_user_duration_seconds_total{@c})", RPC_USERS, "user")),
                  w=24, rename={"Value #A": "calls", "Value #B": "seconds"}, sort_by="calls"),
        ]),
        Row("Accounting (slurmdbd)", [
            timeseries("slurmdbd agent queue", "short",
                       Q("max(slurm_scheduler_dbd_agent_queue_size{@c})", "queued messages"),
                       w=24, runbook="dbd-agent-queue", steps=[("green", None), ("red", 10000)],
                       description="Messages slurmctld holds for slurmdbd; near MaxDBDMsgs "
                                   "accounting records are dropped."),
        ]),
    ],
)
