"""Nodes: state over time, drains with reasons and who set them, per-node CPU, memory and load,
Slurm's view next to node_exporter's. Drill down: node -> job efficiency for its jobs."""
from slurmops.grafana import (
    DEFAULT,
    Q,
    Row,
    among,
    bottom,
    build,
    cluster_var,
    drill,
    iq,
    node_state_mappings,
    node_var,
    partition_var,
    state_timeline,
    table,
    timeseries,
    top,
)

NE = f'job="{DEFAULT.node_exporter_job}", cluster=~"$cluster"'
JE = f'job="{DEFAULT.job_exporter_job}", cluster=~"$cluster"'
# node_exporter series -> Slurm node name, kept only for the selected nodes.
NODE_JOIN = (' * on (node) group_left () max by (node) (slurm_node_state{@cn})')


# Flags that most nodes of a big cloud or power-saving cluster carry all the time: not news.
ROUTINE_FLAGS = "CLOUD|POWERED_DOWN|DYNAMIC_NORM|PLANNED"
# Every per-node panel shows the TOP (20) worst nodes, so the dashboard holds at 10,000 nodes with
# the node variable left at All; pick nodes in the variable to see those instead.
# Per-node figures come from the recording rules (alerts/recording.rules.yml, slurm-node-recording):
# a panel then ranks 10,000 precomputed series per step instead of joining 20,000 (8-15 s per panel
# at 10,000 nodes without them, bench/README.md). Load alerts/recording.rules.yml with the dashboards.
ALLOC = "cluster_node:slurm_node_cpus_allocated:ratio{@cn}"


LOADED = top("max by (node) (slurm_node_cpu_load{@cn})")
# Drained/down nodes, longest first (ms for Grafana's dateTime unit).
REASON_OLDEST = bottom("max by (node) (slurm_node_reason_since_timestamp_seconds{@cn}) * 1000", 50)


def by_node(expr: str) -> str:
    return (f'label_replace({expr}, "node", "$1", "instance", '
            f'"{DEFAULT.node_exporter_node_regex}"){NODE_JOIN}')


dashboard = build(
    "nodes", "Slurm / Nodes",
    description="Node state timeline, drain reasons, per-node allocation and load joined with "
                "node_exporter.",
    variables=[cluster_var(), partition_var(), node_var()],
    rows=[
        Row("State", [
            # State codes grow with trouble (idle 1 ... down 5, fail 7, unknown 9): the top 20 are
            # the nodes in the worst state.
            state_timeline("Node state (worst 20)", "none",
                           Q(top("cluster_node:slurm_node_state:code{@cn}"), "{{node}}"),
                           mappings=node_state_mappings(), h=8,
                           data_links=[drill("Node ${__field.labels.node}", "nodes",
                                             cluster="$cluster", partition="$partition",
                                             node="${__field.labels.node}")]),
            state_timeline("Node flags (drain, maintenance, not responding, ...; 20 shown)", "none",
                           Q(top(f'max by (node, flag) (slurm_node_flag{{@cn, flag!~"{ROUTINE_FLAGS}"}})'),
                             "{{node}} {{flag}}"),
                           mappings=[{"type": "value", "options": {
                               "1": {"text": "set", "color": "orange", "index": 0}}}],
                           runbook="node-drain", h=8),
            # The job exporter's munge collector, one series per host: hosts failing first.
            state_timeline("munged answering (failing hosts first; 20 shown)", "none",
                           Q(bottom(f'min by (instance) (slurm_job_exporter_munge_up{{{JE}}})'), "{{instance}}"),
                           mappings=[{"type": "value", "options": {
                               "0": {"text": "down", "color": "red", "index": 0},
                               "1": {"text": "up", "color": "green", "index": 1}}}],
                           description="The job exporter's credential round trip (munge -n | unmunge) "
                                       "through munged's socket on each host: down when it failed "
                                       "(MungedDown).",
                           runbook="munged-down", h=6),
            table("Drained and down nodes: reason, who, since", "dateTimeAsIso",
                  iq(among("max by (node, reason, user) (slurm_node_reason_info{@cn})", REASON_OLDEST, "node")),
                  iq(REASON_OLDEST),
                  w=24, rename={"Value #B": "since"},
                  hide=("Time", "__name__", "job", "instance", "cluster", "Value #A"),
                  runbook="node-drain",
                  data_links=[drill("Node ${__data.fields.node}", "nodes",
                                    cluster="$cluster", partition="$partition",
                                    node="${__data.fields.node}")]),
        ]),
        Row("Allocation", [
            timeseries("CPUs allocated per node (least allocated 20)", "percentunit",
                       Q(bottom(ALLOC), "{{node}}"), w=12, min=0, max=1),
            timeseries("Memory allocated per node (top 20)", "percentunit",
                       Q(top("cluster_node:slurm_node_memory_allocated:ratio{@cn}"),
                         "{{node}}"), w=12, min=0, max=1),
            table("Nodes with the highest load (click for jobs)", "short",
                  iq(among('sum by (node) (slurm_node_cpus{@cn, status="allocated"})', LOADED, "node")),
                  iq(among('sum by (node) (slurm_node_cpus{@cn, status="total"})', LOADED, "node")),
                  iq(LOADED),
                  iq(among('sum by (node) (slurm_node_memory_bytes{@cn, status="free"})', LOADED, "node")),
                  w=24, rename={"Value #A": "CPUs allocated", "Value #B": "CPUs",
                                "Value #C": "load (slurmd)", "Value #D": "free memory"},
                  sort_by="load (slurmd)",
                  overrides=[{"matcher": {"id": "byName", "options": "free memory"},
                              "properties": [{"id": "unit", "value": "bytes"}]}],
                  data_links=[drill("Jobs on ${__data.fields.node}", "jobs",
                                    cluster="$cluster", node="${__data.fields.node}")]),
        ]),
        Row("Load: Slurm and node_exporter", [
            timeseries("CPU load as slurmd reports it (top 20)", "short",
                       Q(LOADED, "{{node}}"), w=12),
            timeseries("Load per CPU (node_exporter, joined to Slurm nodes)", "percentunit",
                       Q(top(by_node(f"node_load1{{{NE}}}") + " / " + by_node(
                           f'count without (cpu, mode) (node_cpu_seconds_total{{{NE}, mode="idle"}})')),
                         "{{node}}"), w=12,
                       description="node_exporter's instance host part is taken as the Slurm "
                                   "node name (Config.node_exporter_node_regex)."),
            timeseries("CPU busy (node_exporter, joined to Slurm nodes)", "percentunit",
                       Q(top(by_node(f'1 - avg without (cpu, mode) (rate(node_cpu_seconds_total'
                                     f'{{{NE}, mode="idle"}}[$__rate_interval]))')), "{{node}}"),
                       w=12, min=0, max=1),
            timeseries("Host load (node_exporter, busiest 20 hosts of the cluster)", "short",
                       Q(top(f"node_load1{{{NE}}}"), "{{instance}} 1m"),
                       Q(top(f"node_load5{{{NE}}}"), "{{instance}} 5m"), w=12),
            timeseries("Host memory available (node_exporter, least 20)", "bytes",
                       Q(bottom(f"node_memory_MemAvailable_bytes{{{NE}}}"), "{{instance}}"), w=12),
            timeseries("Host CPU busy (node_exporter, busiest 20)", "percentunit",
                       Q(top(f'1 - avg by (instance) (rate(node_cpu_seconds_total{{{NE}, '
                             f'mode="idle"}}[$__rate_interval]))'), "{{instance}}"), w=12,
                       min=0, max=1),
        ]),
    ],
)
