"""Cluster overview: is the cluster up, how full is it, what is queued, what burst to the cloud.
Drill down: partition table -> partitions dashboard; node counts -> nodes dashboard."""
from slurmops.grafana import (Q, Row, bargauge, build, cluster_var, drill, gauge, iq, stat,
                              table, timeseries)

UTIL = 'sum(slurm_cpus{@c, status="allocated"}) / sum(slurm_cpus{@c, status="total"})'
MEM = ('sum(slurm_memory_bytes{@c, status="allocated"}) / '
       'sum(slurm_memory_bytes{@c, status="total"})')

dashboard = build(
    "overview", "Slurm / Cluster overview",
    description="Utilization, nodes by state, running and pending jobs, cloud-burst nodes.",
    variables=[cluster_var()],
    rows=[
        Row("Health and utilization", [
            stat("slurmctld reachable", "bool_yes_no", Q("min(slurm_up{@c})"), w=4,
                 steps=[("red", None), ("green", 1)], runbook="cluster-health", graph=False),
            gauge("CPUs allocated", "percentunit", Q(UTIL), w=4),
            gauge("Memory allocated", "percentunit", Q(MEM), w=4),
            stat("Jobs running", "short", Q('sum(slurm_jobs{@c, state=~"(?i)running"})'), w=4),
            stat("Jobs pending", "short", Q('sum(slurm_jobs{@c, state=~"(?i)pending"})'), w=4),
            stat("Nodes drained or draining", "short",
                 Q('sum(slurm_nodes_flagged{@c, flag="DRAIN"}) or vector(0)'), w=4,
                 steps=[("green", None), ("orange", 1)], runbook="node-drain"),
            timeseries("CPU and memory utilization", "percentunit",
                       Q(UTIL, "CPUs allocated"), Q(MEM, "memory allocated"),
                       w=12, min=0, max=1),
            timeseries("Jobs by state", "short",
                       Q("sum by (state) (slurm_jobs{@c})", "{{state}}"), w=12, stack=True),
        ]),
        Row("Nodes", [
            timeseries("Nodes by state", "short",
                       Q("sum by (state) (slurm_nodes{@c})", "{{state}}"), w=12, stack=True,
                       fill=40, links=[drill("Nodes", "nodes", cluster="$cluster")]),
            bargauge("Nodes by state now", "short",
                     Q("sum by (state) (slurm_nodes{@c})", "{{state}}", instant=True), w=6,
                     data_links=[drill("Nodes in this state", "nodes", cluster="$cluster")]),
            bargauge("Nodes by flag now", "short",
                     Q("sum by (flag) (slurm_nodes_flagged{@c})", "{{flag}}", instant=True), w=6),
        ]),
        Row("Cloud bursting", [
            timeseries("Cloud and power-saving nodes by power state", "short",
                       Q("sum by (power_state) (slurm_nodes_power_state{@c})", "{{power_state}}"),
                       w=16, stack=True, fill=40),
            stat("Cloud nodes powered up", "short",
                 Q('sum(slurm_nodes_power_state{@c, power_state=~"powered_up|powering_up"})'
                   ' or vector(0)'), w=8),
        ]),
        Row("Partitions", [
            table("Partitions (click for details)", "short",
                  iq('sum by (cluster, partition) (slurm_partition_cpus{@c, status="allocated"})'),
                  iq('sum by (cluster, partition) (slurm_partition_cpus{@c, status="total"})'),
                  iq('sum by (cluster, partition) (slurm_partition_jobs{@c, state=~"(?i)pending"})'),
                  iq('sum by (cluster, partition) (slurm_partition_jobs{@c, state=~"(?i)running"})'),
                  w=24, rename={"Value #A": "CPUs allocated", "Value #B": "CPUs total",
                                "Value #C": "jobs pending", "Value #D": "jobs running"},
                  data_links=[drill("Partition ${__data.fields.partition}", "partitions",
                                    cluster="$cluster",
                                    partition="${__data.fields.partition}")]),
        ]),
    ],
)
