"""GPUs: allocation from Slurm, device metrics from DCGM exporter, and which job holds which GPU
(the job exporter's `uuid` joined to DCGM's `UUID`)."""
from slurmops.grafana import (DEFAULT, Q, Row, bargauge, build, cluster_var, iq, partition_var,
                              stat, table, timeseries)

DCGM = DEFAULT.dcgm_util_metric
# Job labels onto DCGM series: slurm_job_gpu_allocated{uuid} -> UUID.
JOB_MAP = ('label_replace(max by (uuid, jobid, user, account) '
           '(slurm_job_gpu_allocated{@jcp}), "UUID", "$1", "uuid", "(.+)")')


def per_job(metric: str) -> str:
    return (f"max by (UUID, Hostname, gpu) ({metric}{{@c}}) * on (UUID) group_left (jobid, user, "
            f"account) {JOB_MAP}")


dashboard = build(
    "gpus", "Slurm / GPUs",
    description="GPU allocation (Slurm), device utilization (DCGM) and the job on each GPU.",
    variables=[cluster_var(), partition_var()],
    rows=[
        Row("Allocation (Slurm)", [
            stat("GPUs allocated", "short",
                 Q('sum(slurm_partition_gpus{@cp, status="allocated"})'), w=6),
            stat("GPUs total", "short", Q('sum(slurm_partition_gpus{@cp, status="total"})'), w=6),
            stat("GPUs held with no process", "short",
                 Q("sum(slurm_job_gpu_idle{@jcp}) or vector(0)"), w=6,
                 steps=[("green", None), ("red", 1)]),
            stat("GPUs reporting to DCGM", "short", Q(f"count({DCGM}{{@c}}) or vector(0)"), w=6),
            timeseries("GPUs allocated per partition", "short",
                       Q('sum by (partition) (slurm_partition_gpus{@cp, status="allocated"})',
                         "{{partition}} allocated"),
                       Q('sum by (partition) (slurm_partition_gpus{@cp, status="total"})',
                         "{{partition}} total"), w=12),
            bargauge("GPUs allocated per user", "short",
                     Q("sum by (user) (slurm_user_gpus_allocated{@c})", "{{user}}", instant=True),
                     w=6),
            bargauge("GPUs allocated per account", "short",
                     Q("sum by (account) (slurm_account_gpus_allocated{@c})", "{{account}}",
                       instant=True), w=6),
        ]),
        Row("Devices (DCGM)", [
            timeseries("GPU utilization", "percent",
                       Q(f"max by (Hostname, gpu) ({DCGM}{{@c}})", "{{Hostname}} gpu{{gpu}}"),
                       w=12, min=0, max=100),
            timeseries("GPU framebuffer used", "decmbytes",
                       Q("max by (Hostname, gpu) (DCGM_FI_DEV_FB_USED{@c})",
                         "{{Hostname}} gpu{{gpu}}"), w=12),
            timeseries("GPU power", "watt",
                       Q("max by (Hostname, gpu) (DCGM_FI_DEV_POWER_USAGE{@c})",
                         "{{Hostname}} gpu{{gpu}}"), w=12),
            timeseries("GPU temperature", "celsius",
                       Q("max by (Hostname, gpu) (DCGM_FI_DEV_GPU_TEMP{@c})",
                         "{{Hostname}} gpu{{gpu}}"), w=12),
        ]),
        Row("Which job is on which GPU", [
            table("GPU -> job (DCGM utilization with the job exporter's mapping)", "percent",
                  iq(per_job(DCGM)), w=24, rename={"Value": "utilization"}),
            timeseries("GPU utilization per job (DCGM)", "percent",
                       Q(f"avg by (jobid, user) ({per_job(DCGM)})", "{{jobid}} ({{user}})"),
                       w=12, min=0, max=100),
            timeseries("GPU power per job (job exporter)", "watt",
                       Q("sum by (jobid, user) (slurm_job_gpu_power_watts{@jcp})",
                         "{{jobid}} ({{user}})"), w=12),
        ]),
    ],
)
