"""One job over time (the per-job dashboard that `slurmops jobstats JOBID` links to): CPU, memory,
IO, pressure and GPUs of the job selected by the `jobid` variable, per exporter host."""
from slurmops.grafana import Q, Row, build, cluster_var, query_var, stat, timeseries, top

J = 'cluster=~"$cluster|", jobid="$jobid"'
R = "$__rate_interval"
CPU_USED = f"rate(slurm_job_cpu_usage_seconds_total{{{J}}}[{R}])"

dashboard = build(
    "job", "Slurm / Job",
    description="One job's use of what it was allocated, over its run (slurmops job exporter, "
                "NVML). Linked from `slurmops jobstats JOBID`; the job id is the raw id (an array "
                "task has its own).",
    variables=[
        cluster_var(),
        query_var("jobid", 'label_values(slurm_job_cpus_allocated{cluster=~"$cluster|"}, jobid)', "Job"),
    ],
    rows=[
        Row("Summary", [
            stat("CPUs in use", "short", Q(f"sum({CPU_USED})"), w=4, decimals=2),
            stat("CPU efficiency", "percentunit",
                 Q(f"sum({CPU_USED}) / sum(slurm_job_cpus_allocated{{{J}}})"), w=4,
                 steps=[("red", None), ("orange", 0.5), ("green", 0.8)]),
            stat("Peak memory", "bytes", Q(f"sum(max_over_time(slurm_job_memory_peak_bytes{{{J}}}[$__range]))"), w=4),
            stat("Memory limit", "bytes", Q(f"sum(slurm_job_memory_limit_bytes{{{J}}})"), w=4),
            stat("OOM kills", "short", Q(f"sum(slurm_job_oom_kills_total{{{J}}}) or vector(0)"), w=4,
                 steps=[("green", None), ("red", 1)]),
            stat("GPUs with no process", "short", Q(f"sum(slurm_job_gpu_idle{{{J}}}) or vector(0)"), w=4,
                 steps=[("green", None), ("red", 1)]),
        ]),
        Row("CPU and memory", [
            timeseries("CPUs in use vs allocated", "short",
                       Q(top(f"sum by (instance) ({CPU_USED})"), "used {{instance}}"),
                       Q(top(f"sum by (instance) (slurm_job_cpus_allocated{{{J}}})"), "allocated {{instance}}"),
                       w=12, min=0),
            timeseries("Memory", "bytes",
                       Q(top(f"sum by (instance) (slurm_job_memory_used_bytes{{{J}}})"), "used {{instance}}"),
                       Q(top(f"sum by (instance) (slurm_job_memory_rss_bytes{{{J}}})"), "RSS {{instance}}"),
                       Q(top(f"sum by (instance) (slurm_job_memory_limit_bytes{{{J}}})"), "limit {{instance}}"),
                       w=12, min=0),
        ]),
        Row("IO and pressure", [
            timeseries("Block IO", "Bps",
                       Q(top(f"sum by (instance) (rate(slurm_job_io_read_bytes_total{{{J}}}[{R}]))"),
                         "read {{instance}}"),
                       Q(top(f"sum by (instance) (rate(slurm_job_io_write_bytes_total{{{J}}}[{R}]))"),
                         "write {{instance}}"),
                       w=12),
            timeseries("Time stalled (PSI some, cgroup v2)", "percentunit",
                       Q(top(f"sum by (instance) "
                             f"(rate(slurm_job_pressure_memory_waiting_seconds_total{{{J}}}[{R}]))"),
                         "memory {{instance}}"),
                       Q(top(f"sum by (instance) (rate(slurm_job_pressure_io_waiting_seconds_total{{{J}}}[{R}]))"),
                         "io {{instance}}"),
                       w=12, min=0),
        ]),
        Row("GPUs", [
            timeseries("GPU utilisation", "percentunit",
                       Q(f"slurm_job_gpu_utilization_ratio{{{J}}}", "{{instance}} GPU {{gpu}}"), w=12, min=0, max=1),
            timeseries("GPU memory of the job", "bytes",
                       Q(f"slurm_job_gpu_process_memory_bytes{{{J}}}", "{{instance}} GPU {{gpu}}"), w=12, min=0),
        ]),
    ],
)
