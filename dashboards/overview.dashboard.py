"""Cluster overview: is the cluster up, how full is it, what is queued, what burst to the cloud.
Drill down: partition table -> partitions dashboard; node counts -> nodes dashboard."""
from slurmops.grafana import Q, Row, bargauge, build, cluster_var, drill, gauge, iq, stat, table, timeseries

UTIL = 'sum(slurm_cpus{@c, status="allocated"}) / sum(slurm_cpus{@c, status="total"})'
MEM = ('sum(slurm_memory_bytes{@c, status="allocated"}) / '
       'sum(slurm_memory_bytes{@c, status="total"})')

# The same conditions as the alerts SlurmNodeDown, SlurmNodeNotResponding, SlurmdbdUnreachable
# (alerts/nodes.rules.yml, alerts/slurmdbd.rules.yml).
POWER = "POWERED_DOWN|POWERING_UP|POWERING_DOWN"
DOWN = (f'slurm_node_state{{@c, state="down"}} == 1 '
        f'unless on (cluster, node) slurm_node_flag{{@c, flag=~"{POWER}|MAINT"}}')
NOT_RESPONDING = (f'slurm_node_flag{{@c, flag="NOT_RESPONDING"}} == 1 '
                  f'unless on (cluster, node) slurm_node_flag{{@c, flag=~"{POWER}|MAINT"}}')
DBDQ = "slurm_scheduler_dbd_agent_queue_size{@c}"
DBD_OK = f"min(clamp_max(resets({DBDQ}[10m]) + (min_over_time({DBDQ}[10m]) == bool 0), 1))"
# MaxDBDMsgs from the recording rule (alerts/recording.rules.yml); its floor 10000 without it.
DBD_FILL = f"max({DBDQ}) / (max(cluster:slurm_dbd_max_msgs:estimate{{@c}}) or vector(10000))"

dashboard = build(
    "overview", "Slurm / Cluster overview",
    description="Utilization, nodes by state, running and pending jobs, cloud-burst nodes.",
    variables=[cluster_var()],
    rows=[
        # The first row answers "is the cluster healthy?" at a glance: every stat is green when
        # nothing needs anyone, and each counts what the matching alert counts.
        Row("Is the cluster healthy?", [
            stat("slurmctld reachable", "bool_yes_no", Q("min(slurm_up{@c})"), w=3,
                 steps=[("red", None), ("green", 1)], runbook="slurmctld-down", graph=False,
                 description="Yes when the Slurm exporter's last poll reached slurmctld (SlurmctldDown)."),
            stat("Nodes down", "short", Q(f"count({DOWN}) or vector(0)"), w=3,
                 steps=[("green", None), ("red", 1)], runbook="node-drain", graph=False,
                 description="DOWN nodes outside maintenance and power saving (SlurmNodeDown)."),
            stat("Not responding", "short", Q(f"count({NOT_RESPONDING}) or vector(0)"), w=3,
                 steps=[("green", None), ("orange", 1)], runbook="node-not-responding", graph=False,
                 description="Powered-up nodes whose slurmd does not answer slurmctld, MAINT "
                             "excluded (SlurmNodeNotResponding)."),
            stat("slurmdbd OK", "bool_yes_no", Q(DBD_OK), w=3,
                 steps=[("red", None), ("green", 1)], runbook="slurmdbd-down", graph=False,
                 description="Yes when slurmctld's DBD agent queue was empty or went down in the "
                             "last 10 minutes (SlurmdbdUnreachable)."),
            stat("DBD queue", "percentunit", Q(DBD_FILL), w=3, decimals=1,
                 steps=[("green", None), ("orange", 0.5), ("red", 0.8)], runbook="dbd-agent-queue",
                 graph=False, description="slurmctld's DBD agent queue as a share of MaxDBDMsgs: past "
                                          "it, accounting records are dropped (SlurmdbdAgentQueueFilling)."),
            stat("Critical alerts", "short",
                 Q('count(ALERTS{alertstate="firing", severity="critical", cluster=~"$cluster|"}) or vector(0)'),
                 w=3, steps=[("green", None), ("red", 1)], graph=False,
                 links=[drill("Alerts", "platform", cluster="$cluster")]),
            stat("Alerts firing", "short",
                 Q('count(ALERTS{alertstate="firing", cluster=~"$cluster|"}) or vector(0)'),
                 w=3, steps=[("green", None), ("orange", 1)], graph=False,
                 links=[drill("Alerts", "platform", cluster="$cluster")]),
            stat("Nodes drained", "short",
                 Q('sum(slurm_nodes_flagged{@c, flag="DRAIN"}) or vector(0)'), w=3,
                 steps=[("green", None), ("orange", 1)], runbook="node-drain", graph=False,
                 description="Nodes drained or draining, planned or not (SlurmManyNodesDrained counts the "
                             "unplanned)."),
        ]),
        Row("Utilization", [
            gauge("CPUs allocated", "percentunit", Q(UTIL), w=4),
            gauge("Memory allocated", "percentunit", Q(MEM), w=4),
            stat("Jobs running", "short", Q('sum(slurm_jobs{@c, state=~"(?i)running"})'), w=4),
            stat("Jobs pending", "short", Q('sum(slurm_jobs{@c, state=~"(?i)pending"})'), w=4),
            stat("Nodes allocated or mixed", "short",
                 Q('sum(slurm_nodes{@c, state=~"allocated|mixed"}) or vector(0)'), w=4),
            stat("Jobs failed by Slurm (1h)", "short",
                 Q("sum(increase(slurm_scheduler_jobs_failed_total{@c}[1h])) or vector(0)"), w=4,
                 decimals=0, steps=[("green", None), ("orange", 1)], graph=False,
                 description="sdiag's Jobs failed: launch failures and NODE_FAIL, not exit codes "
                             "(SlurmJobFailureRate)."),
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
