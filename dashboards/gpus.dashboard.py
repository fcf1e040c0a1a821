"""GPUs: allocation from Slurm, device metrics from DCGM exporter, and which job holds which GPU
(the job exporter's `uuid` joined to DCGM's `UUID`)."""
from slurmops.grafana import (
    DEFAULT,
    Q,
    Row,
    bargauge,
    bottom,
    build,
    cluster_var,
    iq,
    partition_var,
    stat,
    table,
    timeseries,
    top,
)

DCGM = DEFAULT.dcgm_util_metric
# Job labels onto DCGM series: slurm_job_gpu_allocated{uuid} -> UUID.
JOB_MAP = ('label_replace(max by (uuid, jobid, user, account) '
           '(slurm_job_gpu_allocated{@jcp}), "UUID", "$1", "uuid", "(.+)")')


def per_job(metric: str) -> str:
    return (f"max by (UUID, Hostname, gpu) ({metric}{{@c}}) * on (UUID) group_left (jobid, user, "
            f"account) {JOB_MAP}")


# XIDs that are the application's fault (NVIDIA "XID Errors"); the rest point at the GPU, driver,
# NVLink or PCIe (alerts/gpus.rules.yml GPUXidError uses the same split).
APP_XIDS = (13, 31, 43)
XID_TEXT = {13: "graphics engine exception (app)", 31: "GPU memory page fault (app)",
            43: "GPU stopped processing (app)", 45: "preemptive cleanup", 48: "double-bit ECC error",
            61: "internal micro-controller breakpoint", 62: "internal micro-controller halt",
            63: "ECC page retirement / row remap recorded", 64: "ECC page retirement / row remap failed",
            74: "NVLink error", 79: "GPU has fallen off the bus", 92: "high single-bit ECC rate",
            94: "contained ECC error", 95: "uncontained ECC error", 119: "GSP RPC timeout",
            120: "GSP error"}
XID_MAPPINGS = [{"type": "value", "options": {
    str(code): {"text": f"{code}: {text}", "color": "blue" if code in APP_XIDS else "red", "index": i}
    for i, (code, text) in enumerate(XID_TEXT.items())}}]
NOT_APP = " ".join(f"!= {c}" for c in APP_XIDS)

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
                     Q(top("sum by (user) (slurm_user_gpus_allocated{@c})"), "{{user}}", instant=True),
                     w=6),
            bargauge("GPUs allocated per account", "short",
                     Q(top("sum by (account) (slurm_account_gpus_allocated{@c})"), "{{account}}",
                       instant=True), w=6),
        ]),
        Row("Devices (DCGM)", [
            timeseries("GPU utilization (least used 20)", "percent",
                       Q(bottom(f"max by (Hostname, gpu) ({DCGM}{{@c}})"), "{{Hostname}} gpu{{gpu}}"),
                       w=12, min=0, max=100),
            timeseries("GPU framebuffer used (top 20)", "decmbytes",
                       Q(top("max by (Hostname, gpu) (DCGM_FI_DEV_FB_USED{@c})"),
                         "{{Hostname}} gpu{{gpu}}"), w=12),
            timeseries("GPU power (top 20)", "watt",
                       Q(top("max by (Hostname, gpu) (DCGM_FI_DEV_POWER_USAGE{@c})"),
                         "{{Hostname}} gpu{{gpu}}"), w=12),
            timeseries("GPU temperature (hottest 20)", "celsius",
                       Q(top("max by (Hostname, gpu) (DCGM_FI_DEV_GPU_TEMP{@c})"),
                         "{{Hostname}} gpu{{gpu}}"), w=12),
        ]),
        Row("GPU health (DCGM): XID, ECC, row remapping", [
            stat("GPUs with a hardware XID (10m)", "short",
                 Q(f"count(changes(DCGM_FI_DEV_XID_ERRORS{{@c}}[10m]) > 0 "
                   f"and DCGM_FI_DEV_XID_ERRORS{{@c}} {NOT_APP} > 0) or vector(0)"), w=6,
                 steps=[("green", None), ("red", 1)], runbook="node-drain", graph=False),
            stat("GPUs with double-bit ECC errors (1h)", "short",
                 Q("count(increase(DCGM_FI_DEV_ECC_DBE_VOL_TOTAL{@c}[1h]) > 0) or vector(0)"), w=6,
                 steps=[("green", None), ("red", 1)], runbook="node-drain", graph=False,
                 description="DCGM_FI_DEV_ECC_DBE_VOL_TOTAL is not in dcgm-exporter's default "
                             "counters: enable it."),
            stat("GPUs with a failed row remap", "short",
                 Q("count(DCGM_FI_DEV_ROW_REMAP_FAILURE{@c} > 0) or vector(0)"), w=6,
                 steps=[("green", None), ("red", 1)], runbook="node-drain", graph=False),
            stat("GPUs with uncorrectable remapped rows", "short",
                 Q("count(DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS{@c} > 0) or vector(0)"), w=6,
                 steps=[("green", None), ("orange", 1)], graph=False),
            table("Last XID per GPU (non-zero; 20 shown)", "none",
                  iq(top("max by (Hostname, gpu, UUID) (DCGM_FI_DEV_XID_ERRORS{@c} > 0)")), w=12,
                  rename={"Value": "last XID"}, mappings=XID_MAPPINGS, runbook="node-drain"),
            bargauge("Remapped rows per GPU (uncorrectable; top 20)", "short",
                     Q(top("max by (Hostname, gpu) (DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS{@c} > 0)"),
                       "{{Hostname}} gpu{{gpu}}", instant=True), w=12,
                     steps=[("orange", None), ("red", 8)]),
        ]),
        Row("Which job is on which GPU", [
            table("GPU -> job (DCGM utilization with the job exporter's mapping; least used 20)", "percent",
                  iq(bottom(per_job(DCGM))), w=24, rename={"Value": "utilization"}),
            timeseries("GPU utilization per job (DCGM; least used 20)", "percent",
                       Q(bottom(f"avg by (jobid, user) ({per_job(DCGM)})"), "{{jobid}} ({{user}})"),
                       w=12, min=0, max=100),
            timeseries("GPU power per job (job exporter; top 20)", "watt",
                       Q(top("sum by (jobid, user) (slurm_job_gpu_power_watts{@jcp})"),
                         "{{jobid}} ({{user}})"), w=12),
        ]),
    ],
)
