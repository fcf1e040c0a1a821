"""Job efficiency from the per-node job exporter (cgroups + NVML): who holds CPUs, memory and
GPUs without using them. Variables narrow to a user, account, job or host (drill-down target of
the nodes dashboard)."""
from slurmops.grafana import (
    DEFAULT,
    Q,
    Row,
    among,
    bargauge,
    bottom,
    build,
    cluster_var,
    iq,
    partition_var,
    query_var,
    stat,
    table,
    timeseries,
    top,
)

R = "$__rate_interval"
CPU_USED = f"rate(slurm_job_cpu_usage_seconds_total{{@job}}[{R}])"
CPU_ALLOC = "slurm_job_cpus_allocated{@job}"
GPU_LABELS = "jobid, user, account, gpu"
# Jobs that asked for the most memory they did not use: peak / limit, smallest first.
OVER = bottom('sum by (jobid, user, account) (slurm_job_memory_peak_bytes{@job}) / '
              'sum by (jobid, user, account) (slurm_job_memory_limit_bytes{@job})')


def by(labels: str, expr: str) -> str:
    return f"sum by ({labels}) ({expr})"


# Per job / per user panels show the top 20 (panels.TOP): thousands of jobs run at once.


dashboard = build(
    "jobs", "Slurm / Job efficiency",
    description="Per job, user and account: CPU, memory, IO and GPU use against what was "
                "allocated (slurmops job exporter).",
    variables=[
        cluster_var(), partition_var(),
        query_var("user", "label_values(slurm_job_cpus_allocated{@jcp}, user)", "User",
                  multi=True, include_all=True),
        query_var("account", 'label_values(slurm_job_cpus_allocated{@jcp, user=~"$user"}, account)',
                  "Account", multi=True, include_all=True),
        query_var("host", "label_values(slurm_job_cpus_allocated{@jcp}, instance)", "Host",
                  multi=True, include_all=True, regex=f"/{DEFAULT.node_exporter_node_regex}/"),
        query_var("jobid", 'label_values(slurm_job_cpus_allocated{@jcp, user=~"$user", '
                  'account=~"$account"}, jobid)', "Job", multi=True, include_all=True),
    ],
    rows=[
        Row("Summary", [
            stat("Jobs on the selected hosts", "short", Q("count(count by (jobid) (slurm_job_cpus_allocated{@job}))"),
                 w=4),
            stat("CPUs allocated", "short", Q(f"sum({CPU_ALLOC})"), w=4),
            stat("CPUs in use", "short", Q(f"sum({CPU_USED})"), w=4, decimals=1),
            stat("CPU efficiency", "percentunit", Q(f"sum({CPU_USED}) / sum({CPU_ALLOC})"), w=4,
                 steps=[("red", None), ("orange", 0.5), ("green", 0.8)]),
            stat("Memory used / limit", "percentunit",
                 Q("sum(slurm_job_memory_used_bytes{@job}) / sum(slurm_job_memory_limit_bytes{@job})"),
                 w=4),
            stat("GPUs held with no process", "short",
                 Q("sum(slurm_job_gpu_idle{@job}) or vector(0)"), w=4,
                 steps=[("green", None), ("red", 1)]),
        ]),
        Row("CPU: who wastes what", [
            bargauge("Idle CPUs held, by user", "short",
                     Q(top(by("user", f"clamp_min({CPU_ALLOC} - {CPU_USED}, 0)")), "{{user}}",
                       instant=True), w=8),
            bargauge("Idle CPUs held, by account", "short",
                     Q(top(by("account", f"clamp_min({CPU_ALLOC} - {CPU_USED}, 0)")), "{{account}}",
                       instant=True), w=8),
            bargauge("CPU efficiency by user (least efficient first)", "percentunit",
                     Q(bottom(f'{by("user", CPU_USED)} / {by("user", CPU_ALLOC)}'), "{{user}}",
                       instant=True), w=8, max=1,
                     steps=[("red", None), ("orange", 0.5), ("green", 0.8)]),
            timeseries("CPU efficiency per job (least efficient)", "percentunit",
                       Q(bottom(f'{by("jobid, user", CPU_USED)} / {by("jobid, user", CPU_ALLOC)}'),
                         "{{jobid}} ({{user}})"), w=12, min=0),
            timeseries("CPUs in use per job (user + system)", "short",
                       Q(top(by("jobid, user", CPU_USED)), "{{jobid}} ({{user}})"), w=12),
        ]),
        Row("Memory", [
            timeseries("Memory used per job", "bytes",
                       Q(top(by("jobid, user", "slurm_job_memory_used_bytes{@job}")),
                         "{{jobid}} ({{user}})"), w=12),
            timeseries("RSS per user", "bytes",
                       Q(top(by("user", "slurm_job_memory_rss_bytes{@job}")), "{{user}}"), w=12),
            table("Memory requested vs peak per job (over-requests first)", "bytes",
                  iq(among(by("jobid, user, account", "slurm_job_memory_limit_bytes{@job}"), OVER, "jobid")),
                  iq(among(by("jobid, user, account", "slurm_job_memory_peak_bytes{@job}"), OVER, "jobid")),
                  iq(OVER),
                  w=16, rename={"Value #A": "limit", "Value #B": "peak", "Value #C": "peak / limit"},
                  overrides=[{"matcher": {"id": "byName", "options": "peak / limit"},
                              "properties": [{"id": "unit", "value": "percentunit"}]}]),
            bargauge("OOM kills in the last hour, by job", "short",
                     Q(top(by("jobid, user", "increase(slurm_job_oom_kills_total{@job}[1h])") + " > 0"),
                       "{{jobid}} ({{user}})", instant=True), w=8,
                     steps=[("green", None), ("red", 1)]),
        ]),
        Row("IO", [
            timeseries("Block IO per job", "Bps",
                       Q(top(by("jobid, user", f"rate(slurm_job_io_read_bytes_total{{@job}}[{R}])")),
                         "{{jobid}} read"),
                       Q(top(by("jobid, user", f"rate(slurm_job_io_write_bytes_total{{@job}}[{R}])")),
                         "{{jobid}} write"), w=12),
            timeseries("Block IO operations per user", "iops",
                       Q(top(by("user", f"rate(slurm_job_io_read_operations_total{{@job}}[{R}])")),
                         "{{user}} read"),
                       Q(top(by("user", f"rate(slurm_job_io_write_operations_total{{@job}}[{R}])")),
                         "{{user}} write"), w=12),
        ]),
        Row("Processes", [
            timeseries("Processes and threads per job", "short",
                       Q(top(by("jobid", "slurm_job_processes{@job}")), "{{jobid}} processes"),
                       Q(top(by("jobid", "slurm_job_threads{@job}")), "{{jobid}} threads"), w=24),
        ]),
        Row("GPU", [
            table("Idle GPUs: held by a job with no process on them", "short",
                  iq(top(f"max by ({GPU_LABELS}, uuid) (slurm_job_gpu_idle{{@job}} == 1)")), w=12,
                  hide=("Time", "Value")),
            bargauge("GPU utilization by user (least used first)", "percentunit",
                     Q(bottom("avg by (user) (slurm_job_gpu_utilization_ratio{@job})"), "{{user}}",
                       instant=True), w=12, max=1,
                     steps=[("red", None), ("orange", 0.3), ("green", 0.7)]),
            timeseries("GPU utilization per job (least used)", "percentunit",
                       Q(bottom("avg by (jobid, user) (slurm_job_gpu_utilization_ratio{@job})"),
                         "{{jobid}} ({{user}})"), w=12, min=0, max=1),
            timeseries("GPU memory of the job's processes", "bytes",
                       Q(top("sum by (jobid, user) (slurm_job_gpu_process_memory_bytes{@job})"),
                         "{{jobid}} ({{user}})"), w=12),
        ]),
    ],
)
