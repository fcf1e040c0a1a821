"""The monitoring platform's own health: scrape targets, exporters' collectors, Prometheus and
alert states. When this dashboard is red, trust the others less."""
from slurmops.grafana import (
                              DEFAULT,
                              Q,
                              Row,
                              among,
                              bargauge,
                              bottom,
                              build,
                              iq,
                              query_var,
                              stat,
                              table,
                              timeseries,
                              top,
)

R = "$__rate_interval"
JOBS = f'job=~"{DEFAULT.slurm_job}|{DEFAULT.job_exporter_job}|{DEFAULT.node_exporter_job}|prometheus|alertmanager"'
# Node-level targets are thousands at scale: the table shows the 50 worst (down, then slowest).
WORST = top(f"max by (job, instance) ((1 - up{{{JOBS}}}) * 1000 + scrape_duration_seconds{{{JOBS}}})", 50)

dashboard = build(
    "platform", "slurmops / Platform health",
    description="Exporters, Prometheus scraping and alert states.",
    variables=[query_var("cluster", "label_values(slurm_up, cluster)", "Cluster")],
    rows=[
        Row("Targets", [
            stat("Targets down", "short", Q(f"count(up{{{JOBS}}} == 0) or vector(0)"), w=6,
                 steps=[("green", None), ("red", 1)], runbook="cluster-health"),
            stat("Slurm exporter reaches slurmctld", "bool_yes_no",
                 Q("min(slurm_up{@c})"), w=6, graph=False,
                 steps=[("red", None), ("green", 1)], runbook="slurmctld-down"),
            stat("Alerts firing", "short",
                 Q('count(ALERTS{alertstate="firing"}) or vector(0)'), w=6,
                 steps=[("green", None), ("red", 1)]),
            stat("Job exporters up", "short",
                 Q(f'sum(up{{job="{DEFAULT.job_exporter_job}"}}) or vector(0)'), w=6),
            table("Scrape targets (down first, then slowest; 50 shown)", "short",
                  iq(among(f"max by (job, instance) (up{{{JOBS}}})", WORST, "job, instance")),
                  iq(among(f"max by (job, instance) (scrape_duration_seconds{{{JOBS}}})", WORST, "job, instance")),
                  iq(among(f"max by (job, instance) (scrape_samples_scraped{{{JOBS}}})", WORST, "job, instance")),
                  w=24, hide=("Time",),
                  rename={"Value #A": "up", "Value #B": "scrape seconds", "Value #C": "samples"},
                  overrides=[{"matcher": {"id": "byName", "options": "scrape seconds"},
                              "properties": [{"id": "unit", "value": "s"}]}]),
            timeseries("Scrape duration by job", "s",
                       Q(f"max by (job) (scrape_duration_seconds{{{JOBS}}})", "{{job}}"), w=12),
            timeseries("Samples scraped by job", "short",
                       Q(f"sum by (job) (scrape_samples_scraped{{{JOBS}}})", "{{job}}"), w=12),
        ]),
        Row("Slurm exporter", [
            timeseries(
                "Collector success", "bool_yes_no",
                Q("min by (collector) (slurm_exporter_collector_success{@c})", "{{collector}}"),
                w=8, min=0, max=1),
            timeseries("Snapshot age by collector", "s",
                       Q("max by (collector) (slurm_exporter_snapshot_age_seconds{@c})",
                         "{{collector}}"), w=8),
            timeseries("Collector poll duration", "s",
                       Q("max by (collector) (slurm_exporter_collector_duration_seconds{@c})",
                         "{{collector}}"), w=8),
            timeseries("Slurm calls per second by command", "reqps",
                       Q(f"sum by (command) (rate(slurm_exporter_source_calls_total{{@c}}[{R}]))",
                         "{{command}}"), w=12),
            timeseries("Slurm call errors per second (0 when none)", "reqps",
                       Q(f"sum by (command, reason) (rate(slurm_exporter_command_errors_total{{@c}}[{R}]))"
                         f" or sum by (command) (rate(slurm_exporter_source_calls_total{{@c}}[{R}])) * 0",
                         "{{command}} {{reason}}"), w=12),
        ]),
        Row("Job exporter", [
            timeseries("Jobs seen per host (top 20)", "short",
                       Q(top("sum by (instance) (slurm_job_exporter_jobs{@jc})"), "{{instance}}"), w=8),
            timeseries("Collector success per host (failing first; 20 shown)", "bool_yes_no",
                       Q(bottom("min by (instance, collector) (slurm_job_exporter_collector_success{@jc})"),
                         "{{instance}} {{collector}}"), w=8, min=0, max=1),
            timeseries("Read problems per second (top 20 hosts)", "reqps",
                       Q(top(f"(sum by (instance, reason) (rate(slurm_job_exporter_errors_total{{@jc}}[{R}]))"
                             f" or sum by (instance) (slurm_job_exporter_jobs{{@jc}}) * 0)"),
                         "{{instance}} {{reason}}"), w=8),
        ]),
        Row("Prometheus and alerts", [
            timeseries("Head series", "short",
                       Q('max(prometheus_tsdb_head_series{job="prometheus"})', "series"), w=8),
            timeseries("Rule evaluation failures per second (0 when none)", "reqps",
                       Q(f'sum(rate(prometheus_rule_evaluation_failures_total{{job="prometheus"}}[{R}]))'
                         ' or vector(0)', "failures"),
                       Q('max(prometheus_config_last_reload_successful{job="prometheus"}) - 1',
                         "config reload failed (-1)"), w=8),
            timeseries("Notifications dropped or failed per second", "reqps",
                       Q(f'sum(rate(prometheus_notifications_dropped_total{{job="prometheus"}}[{R}]))',
                         "dropped"),
                       Q(f'sum(rate(prometheus_notifications_errors_total{{job="prometheus"}}[{R}]))',
                         "errors"), w=8),
            bargauge("Alertmanager alerts by state", "short",
                     Q('sum by (state) (alertmanager_alerts{job="alertmanager"})', "{{state}}",
                       instant=True), w=8),
            table("Alerts pending or firing", "short",
                  iq('max by (alertname, alertstate, severity, cluster) (ALERTS)'), w=16,
                  hide=("Time", "Value")),
        ]),
    ],
)
