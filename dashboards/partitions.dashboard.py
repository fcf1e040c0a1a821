"""Partitions and queue: capacity per partition, what is pending and why, how long jobs wait.
Drill down: partition -> nodes dashboard for that partition."""
from slurmops.grafana import (Q, Row, bargauge, build, cluster_var, drill, heatmap, iq,
                              partition_var, stat, table, timeseries)

dashboard = build(
    "partitions", "Slurm / Partitions and queue",
    description="Per-partition capacity, pending jobs by reason, wait-time distribution.",
    variables=[cluster_var(), partition_var()],
    rows=[
        Row("Queue", [
            stat("Jobs pending", "short", Q('sum(slurm_partition_jobs{@cp, state=~"(?i)pending"})'), w=6),
            stat("Jobs running", "short", Q('sum(slurm_partition_jobs{@cp, state=~"(?i)running"})'), w=6),
            stat("Longest wait (p99 bucket)", "s",
                 Q("histogram_quantile(0.99, sum by (le) (slurm_jobs_pending_wait_seconds_bucket{@cp}))"),
                 w=6, steps=[("green", None), ("orange", 3600), ("red", 86400)]),
            stat("Pending CPUs", "short", Q('sum(slurm_jobs_cpus{@cp, state=~"(?i)pending"})'), w=6),
            timeseries("Pending jobs by reason", "short",
                       Q("sum by (reason) (slurm_jobs_pending{@cp})", "{{reason}}"), w=12,
                       stack=True, fill=30),
            bargauge("Pending jobs by reason now", "short",
                     Q("sum by (reason) (slurm_jobs_pending{@cp})", "{{reason}}", instant=True),
                     w=12),
            timeseries("Jobs by partition and state", "short",
                       Q("sum by (partition, state) (slurm_partition_jobs{@cp})",
                         "{{partition}} {{state}}"), w=12),
            timeseries("Wait time of pending jobs (quantiles)", "s",
                       Q("histogram_quantile(0.5, sum by (le, partition) "
                         "(slurm_jobs_pending_wait_seconds_bucket{@cp}))", "p50 {{partition}}"),
                       Q("histogram_quantile(0.9, sum by (le, partition) "
                         "(slurm_jobs_pending_wait_seconds_bucket{@cp}))", "p90 {{partition}}"),
                       w=12),
            heatmap("Wait time of pending jobs", "s",
                    Q("sum by (le) (slurm_jobs_pending_wait_seconds_bucket{@cp})", "{{le}}",
                      fmt="heatmap"), w=24,
                    description="How long the jobs pending at each moment had been waiting "
                                "(the exporter's histogram is of the current queue, so no rate())."),
        ]),
        Row("Capacity", [
            bargauge("CPUs allocated per partition", "percentunit",
                     Q('sum by (partition) (slurm_partition_cpus{@cp, status="allocated"}) / '
                       'sum by (partition) (slurm_partition_cpus{@cp, status="total"})',
                       "{{partition}}", instant=True), w=12, max=1,
                     data_links=[drill("Nodes of ${__field.labels.partition}", "nodes",
                                       cluster="$cluster",
                                       partition="${__field.labels.partition}")]),
            timeseries("Partition CPUs by status", "short",
                       Q('sum by (partition, status) (slurm_partition_cpus{@cp, status!="total"})',
                         "{{partition}} {{status}}"), w=12, stack=True, fill=30),
            timeseries("Partition memory allocated", "percentunit",
                       Q('sum by (partition) (slurm_partition_memory_bytes{@cp, status="allocated"})'
                         ' / sum by (partition) (slurm_partition_memory_bytes{@cp, status="total"})',
                         "{{partition}}"), w=12, min=0, max=1),
            timeseries("Partition nodes by state", "short",
                       Q("sum by (partition, state) (slurm_partition_nodes{@cp})",
                         "{{partition}} {{state}}"), w=12, stack=True, fill=30),
            table("Partitions", "short",
                  iq("max by (cluster, partition, state, default) (slurm_partition_info{@cp})"),
                  iq('sum by (cluster, partition) (slurm_partition_cpus{@cp, status="total"})'),
                  iq('sum by (cluster, partition) (slurm_partition_nodes{@cp})'),
                  w=24, rename={"Value #A": "info", "Value #B": "CPUs", "Value #C": "nodes"},
                  hide=("Time", "__name__", "job", "instance", "Value #A"),
                  data_links=[drill("Nodes of ${__data.fields.partition}", "nodes",
                                    cluster="$cluster",
                                    partition="${__data.fields.partition}")]),
        ]),
    ],
)
