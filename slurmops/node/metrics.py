"""Every metric the job exporter can emit, in one table: the collectors build their families from it
and ``docs/metrics-jobs.md`` is generated from it (a test fails when the two differ), so the names
alerts and dashboards rely on cannot drift from the code."""
from __future__ import annotations

from collections.abc import Callable

from ..exporter.core import DURATION, DURATION_HELP, SUCCESS, SUCCESS_HELP
from ..exporter.metrics import Spec
from .cgroup import JobStats

PREFIX = "slurm_job_exporter"
JOB_LABELS = ("jobid", "user", "account", "partition")
GPU_LABELS = JOB_LABELS + ("gpu", "uuid", "mig_profile")


def MetricDef(name: str, kind: str, help: str, source: str,
              get: Callable[[JobStats], float | None] | None = None,
              labels: tuple[str, ...] = JOB_LABELS) -> Spec:
    """A row of the job exporter's table: the metric spec type both exporters share."""
    return Spec(name, kind, help, labels, "jobs", source=source, get=get)


def _psi(res: str, full: bool) -> Callable[[JobStats], float | None]:
    def get(s: JobStats) -> float | None:
        p = s.pressure.get(res)
        if p is None:
            return None
        return p.full_s if full else p.some_s
    return get


JOB_METRICS: tuple[Spec, ...] = (
    MetricDef("slurm_job_cpu_user_seconds_total", "counter",
              "CPU time the job's processes spent in user mode.",
              "v2 cpu.stat user_usec; v1 cpuacct.usage_user (or cpuacct.stat user / USER_HZ)",
              lambda s: s.cpu_user_s),
    MetricDef("slurm_job_cpu_system_seconds_total", "counter",
              "CPU time the job's processes spent in kernel mode.",
              "v2 cpu.stat system_usec; v1 cpuacct.usage_sys (or cpuacct.stat system / USER_HZ)",
              lambda s: s.cpu_system_s),
    MetricDef("slurm_job_cpu_usage_seconds_total", "counter",
              "Total CPU time of the job's processes (user + system, as the kernel accounts it).",
              "v2 cpu.stat usage_usec; v1 cpuacct.usage", lambda s: s.cpu_usage_s),
    MetricDef("slurm_job_cpus_allocated", "gauge",
              "CPUs in the job's cpuset on this node (compare with CPU seconds per second to find idle allocations).",
              "v2 cpuset.cpus.effective; v1 cpuset.effective_cpus (or cpuset.cpus)", lambda s: s.cpus),
    MetricDef("slurm_job_memory_used_bytes", "gauge",
              "Memory charged to the job now, page cache included.",
              "v2 memory.current; v1 memory.usage_in_bytes", lambda s: s.mem_used),
    MetricDef("slurm_job_memory_peak_bytes", "gauge",
              "Highest memory charge since the job started on this node.",
              "v2 memory.peak (kernel 5.19+); v1 memory.max_usage_in_bytes", lambda s: s.mem_peak),
    MetricDef("slurm_job_memory_limit_bytes", "gauge",
              "The job's memory limit; absent when unlimited.",
              "v2 memory.max; v1 memory.limit_in_bytes", lambda s: s.mem_limit),
    MetricDef("slurm_job_memory_rss_bytes", "gauge",
              "Anonymous memory (RSS) of the job.",
              "v2 memory.stat anon; v1 memory.stat total_rss", lambda s: s.mem_rss),
    MetricDef("slurm_job_memory_cache_bytes", "gauge",
              "Page cache charged to the job (includes shmem).",
              "v2 memory.stat file; v1 memory.stat total_cache", lambda s: s.mem_cache),
    MetricDef("slurm_job_memory_shmem_bytes", "gauge",
              "Shared memory and tmpfs pages charged to the job.",
              "v2 memory.stat shmem; v1 memory.stat total_shmem", lambda s: s.mem_shmem),
    MetricDef("slurm_job_memory_swap_bytes", "gauge",
              "Swap used by the job.",
              "v2 memory.swap.current; v1 memory.stat total_swap (or memsw.usage - usage)",
              lambda s: s.mem_swap),
    MetricDef("slurm_job_oom_kills_total", "counter",
              "Processes of the job killed by the OOM killer.",
              "v2 memory.events oom_kill (hierarchical); v1 memory.oom_control oom_kill summed over the job's cgroups",
              lambda s: s.oom_kills),
    MetricDef("slurm_job_io_read_bytes_total", "counter", "Bytes the job read from block devices.",
              "v2 io.stat rbytes; v1 blkio.throttle.io_service_bytes Read (only where Slurm creates blkio cgroups)",
              lambda s: s.io_read_bytes),
    MetricDef("slurm_job_io_write_bytes_total", "counter", "Bytes the job wrote to block devices.",
              "v2 io.stat wbytes; v1 blkio.throttle.io_service_bytes Write", lambda s: s.io_write_bytes),
    MetricDef("slurm_job_io_read_operations_total", "counter", "Read operations the job issued to block devices.",
              "v2 io.stat rios; v1 blkio.throttle.io_serviced Read", lambda s: s.io_read_ops),
    MetricDef("slurm_job_io_write_operations_total", "counter", "Write operations the job issued to block devices.",
              "v2 io.stat wios; v1 blkio.throttle.io_serviced Write", lambda s: s.io_write_ops),
    MetricDef("slurm_job_pressure_cpu_waiting_seconds_total", "counter",
              "Time at least one of the job's tasks waited for a CPU (PSI some).",
              "v2 cpu.pressure some total", _psi("cpu", False)),
    MetricDef("slurm_job_pressure_cpu_stalled_seconds_total", "counter",
              "Time all of the job's tasks waited for a CPU (PSI full).",
              "v2 cpu.pressure full total", _psi("cpu", True)),
    MetricDef("slurm_job_pressure_memory_waiting_seconds_total", "counter",
              "Time at least one of the job's tasks stalled on memory (reclaim, swap-in) (PSI some).",
              "v2 memory.pressure some total", _psi("memory", False)),
    MetricDef("slurm_job_pressure_memory_stalled_seconds_total", "counter",
              "Time all of the job's tasks stalled on memory at once (PSI full).",
              "v2 memory.pressure full total", _psi("memory", True)),
    MetricDef("slurm_job_pressure_io_waiting_seconds_total", "counter",
              "Time at least one of the job's tasks waited for block IO (PSI some).",
              "v2 io.pressure some total", _psi("io", False)),
    MetricDef("slurm_job_pressure_io_stalled_seconds_total", "counter",
              "Time all of the job's tasks waited for block IO at once (PSI full).",
              "v2 io.pressure full total", _psi("io", True)),
    MetricDef("slurm_job_processes", "gauge",
              "Processes in the job's cgroups (slurmstepd of each step included).",
              "cgroup.procs of the job directory and every directory below it "
              "(v1: the freezer tree, proctrack/cgroup's, when there is one)",
              lambda s: s.processes),
    MetricDef("slurm_job_threads", "gauge", "Threads in the job's cgroups.",
              "pids.current where the pids controller is on; else v2 cgroup.threads / v1 tasks, summed",
              lambda s: s.threads),
)

GPU_METRICS: tuple[Spec, ...] = (
    MetricDef("slurm_job_gpu_allocated", "gauge", "1 for each GPU (or MIG instance) the job holds on this node.",
              "devices.list (v1), SLURM_JOB_GPUS / CUDA_VISIBLE_DEVICES of a job process, or a job process on the GPU",
              labels=GPU_LABELS),
    MetricDef("slurm_job_gpu_idle", "gauge",
              "1 when the job holds the GPU but has no process on it (an allocation wasted), else 0.",
              "NVML running compute and graphics processes matched to the job's cgroup pids", labels=GPU_LABELS),
    MetricDef("slurm_job_gpu_utilization_ratio", "gauge",
              "Fraction of the last sample period a kernel ran on the GPU (0-1); not reported for MIG instances.",
              "nvmlDeviceGetUtilizationRates().gpu / 100", labels=GPU_LABELS),
    MetricDef("slurm_job_gpu_memory_used_bytes", "gauge", "Memory in use on the GPU (all processes).",
              "nvmlDeviceGetMemoryInfo().used", labels=GPU_LABELS),
    MetricDef("slurm_job_gpu_memory_total_bytes", "gauge", "Memory size of the GPU or MIG instance.",
              "nvmlDeviceGetMemoryInfo().total", labels=GPU_LABELS),
    MetricDef("slurm_job_gpu_process_memory_bytes", "gauge",
              "GPU memory used by this job's own processes (a shared GPU shows each job's part).",
              "sum of usedGpuMemory of the job's processes in nvmlDeviceGetComputeRunningProcesses", labels=GPU_LABELS),
    MetricDef("slurm_job_gpu_processes", "gauge", "The job's processes running on the GPU.",
              "nvmlDeviceGetCompute/GraphicsRunningProcesses", labels=GPU_LABELS),
    MetricDef("slurm_job_gpu_power_watts", "gauge", "Power draw of the whole GPU (not per MIG instance).",
              "nvmlDeviceGetPowerUsage / 1000", labels=GPU_LABELS),
    MetricDef("slurm_job_gpu_energy_joules_total", "counter",
              "Energy the whole GPU used since the driver loaded (take increase() over the job's lifetime).",
              "nvmlDeviceGetTotalEnergyConsumption / 1000", labels=GPU_LABELS),
    MetricDef("slurm_job_gpu_temperature_celsius", "gauge", "GPU core temperature.",
              "nvmlDeviceGetTemperature(NVML_TEMPERATURE_GPU)", labels=GPU_LABELS),
)

MUNGE_METRICS: tuple[Spec, ...] = (
    MetricDef(f"{PREFIX}_munge_up", "gauge",
              "1 when a credential encoded and decoded through munged's socket in this scrape, else 0 "
              "(the reason is counted in errors_total{collector=\"munge\"}).",
              "`munge -n -S SOCKET` piped to `unmunge -S SOCKET`, within --collector.munge.timeout", labels=()),
    MetricDef(f"{PREFIX}_munge_roundtrip_seconds", "gauge",
              "How long this scrape's munge round trip took, or took to fail (at most the timeout).",
              "wall-clock time of the round trip", labels=()),
)

SELF_METRICS: tuple[Spec, ...] = (
    MetricDef(f"{PREFIX}_jobs", "gauge", "Job cgroups found on this node in this scrape.",
              "directory walk of the cgroup tree", labels=()),
    MetricDef(f"{PREFIX}_errors_total", "counter",
              "Problems met while reading jobs (vanished, permission, parse, io, lookup, nvml) and "
              "failed munge round trips (no_client, no_socket, refused, timeout, encode, decode), "
              "counted across scrapes.",
              "the collectors", labels=("collector", "reason")),
    MetricDef(f"{PREFIX}_gpu_available", "gauge",
              "1 when NVML answered and GPU metrics are collected, 0 when there is no NVML library or no GPU.",
              "nvmlInit()", labels=()),
    MetricDef(PREFIX + DURATION, "gauge", DURATION_HELP, "slurmops.exporter.core", labels=("collector",)),
    MetricDef(PREFIX + SUCCESS, "gauge", SUCCESS_HELP, "slurmops.exporter.core", labels=("collector",)),
)


def metrics_doc() -> str:
    """The text of docs/metrics-jobs.md."""
    out = [
        "# Job exporter metrics (`slurmops exporter jobs`)",
        "",
        "Generated from `slurmops/node/metrics.py` by `slurmops exporter jobs --print-metrics-doc`;",
        "`tests/unit/node/test_job_collector.py::test_metrics_doc_in_sync` fails when this file and the code differ.",
        "",
        "One exporter per compute node, default port **9342** (node_exporter is 9100, the cluster",
        "exporter 9341). Labels on job series: `jobid`, `user`, `account`, `partition`; with",
        "`--collector.steps` a `step` label is added (`batch`, `extern`, `0`, ...) and the series are per",
        "step. `user` comes from the v1 cgroup path (`uid_<n>`) or from Slurm; `account` and `partition`",
        "from one cached `squeue` per job, empty while Slurm cannot answer. For a Slurm 26.05 job",
        "directory named by SLUID, `jobid` is `SLURM_JOB_ID` from a job process's environment, or the",
        "SLUID when no process can be read. With multiple-slurmd (several nodes on one host) a job's",
        "cgroups under every local node are added up. Series missing on a node mean the kernel or the",
        "Slurm cgroup configuration does not provide the file (e.g. PSI and `memory.peak` are v2 only;",
        "Slurm creates v1 blkio cgroups only on request).",
        "",
    ]
    for title, defs in (("Per job", JOB_METRICS), ("GPU per job (NVML)", GPU_METRICS),
                        ("munged on the node (`--collector.munge`)", MUNGE_METRICS),
                        ("Exporter self-metrics", SELF_METRICS)):
        out += [f"## {title}", "", "| Metric | Type | Labels | Help | Source |", "|---|---|---|---|---|"]
        for d in defs:
            labels = ", ".join(d.labels) if d.labels else "—"
            out.append(f"| `{d.name}` | {d.kind} | {labels} | {d.help} | {d.source} |")
        out.append("")
    out += [
        "GPU series carry `gpu` (NVML index, `<gpu>/<n>` for a MIG instance), `uuid` (joins with DCGM",
        "exporter's `UUID`) and `mig_profile` (e.g. `1g.10gb`, empty for a whole GPU). A GPU belongs to",
        "a job when the job's v1 `devices.list` allows `/dev/nvidia<minor>`, when `SLURM_JOB_GPUS`",
        "(minor numbers) or `CUDA_VISIBLE_DEVICES` (UUIDs) of a job process names it, or when a job",
        "process runs on it.",
        "",
        "The munge collector (`--collector.munge`, on by default; `--no-collector.munge` on a node whose",
        "Slurm uses auth/slurm and runs no munged) makes one credential round trip per scrape through",
        "`--collector.munge.socket` (default `/run/munge/munge.socket.2`): `munge -n` then `unmunge`",
        "(from PATH, or `--collector.munge.bin-dir`),",
        "argument lists, the credential on a pipe and never logged, both within",
        "`--collector.munge.timeout` (2 s; the children are killed when it passes). A failed round trip",
        "is `munge_up 0` and one `errors_total{collector=\"munge\",reason}`: `no_client` (munge not",
        "installed), `no_socket`, `refused` (a stale socket: munged killed), `timeout` (munged hung),",
        "`encode`, `decode`; the exporter logs each change with munge's own message. Alert `MungedDown`",
        "reads `munge_up`. Cost on a healthy munged: ~5 ms wall, ~2.4 ms CPU (munge + unmunge) per scrape",
        "(`bench/bench_munge_collector.py`).",
        "",
    ]
    return "\n".join(out)
