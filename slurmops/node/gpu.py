"""GPU per job through NVML: which job holds which GPU, and whether it uses it.

A GPU (or MIG instance) belongs to a job when
1. the job's v1 ``devices.list`` allows ``/dev/nvidia<minor>`` (char major 195) — what Slurm's
   ConstrainDevices writes; an allow-all list says nothing;
2. otherwise ``SLURM_JOB_GPUS`` (minor numbers, as gres.conf ``File=/dev/nvidia<N>`` counts) or the
   UUIDs in ``CUDA_VISIBLE_DEVICES`` (``GPU-…``/``MIG-…``) of one of the job's processes say so
   (numeric CUDA_VISIBLE_DEVICES are renumbered inside a constrained job and are not trusted);
3. and always when one of the job's processes (pids from its cgroups, no /proc walk) runs on it.
1 and 2 are read once per job and cached: an allocation does not change while the job runs.
A job with a GPU from 1/2 and no process on it is ``slurm_job_gpu_idle 1`` — the waste DCGM cannot
see, since DCGM knows GPUs, not jobs.

The NVML module is a parameter (tests inject ``tests/unit/node/fake_nvml.py``). With no library or no
GPU the collector yields ``slurm_job_exporter_gpu_available 0`` and nothing else, and retries
``nvmlInit`` every few minutes (a driver may be installed after the exporter started).
"""
from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..exporter.core import register
from .cgroup import parse_devices_list, parse_environ
from .collector import ErrorCounter, Job, JobScanner
from .metrics import GPU_LABELS, GPU_METRICS, PREFIX

log = logging.getLogger(__name__)
NVIDIA_MAJOR = 195
_MIG_PROFILE = re.compile(r"(\d+g\.\d+gb(?:\+\w+)?)", re.I)


@dataclass
class GpuUnit:
    """A whole GPU or one MIG instance, as metrics see it."""
    label: str                 # NVML index, "<index>/<mig n>" for MIG
    uuid: str
    minor: int | None          # the parent's /dev/nvidia<minor>
    mig_profile: str
    handle: Any
    parent: Any                # handle for power/energy/temperature (whole-board values)
    is_mig: bool = False
    pids: dict[int, int] = field(default_factory=dict)   # pid -> used GPU memory bytes


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def mig_profile(name: str) -> str:
    """'NVIDIA A100-SXM4-40GB MIG 1g.5gb' -> '1g.5gb'."""
    m = _MIG_PROFILE.search(name)
    return m.group(1).lower() if m else ""


def gpus_from_environ(env: dict[str, str]) -> tuple[set[int], set[str]]:
    """(minor numbers, UUIDs) a job process's environment assigns to it."""
    minors: set[int] = set()
    uuids: set[str] = set()
    for part in env.get("SLURM_JOB_GPUS", "").split(","):
        if part.strip().isdigit():
            minors.add(int(part))
    for part in env.get("CUDA_VISIBLE_DEVICES", "").split(","):
        part = part.strip()
        if part.startswith(("GPU-", "MIG-")):
            uuids.add(part)
    return minors, uuids


class GpuCollector:
    name = "gpu"

    def __init__(self, scanner: JobScanner, nvml: Any = None, *, errors: ErrorCounter | None = None,
                 proc_root: str = "/proc", retry_init_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic):
        self.scanner = scanner
        self.errors = errors if errors is not None else scanner.errors
        self.proc_root = proc_root
        self.retry_init_s = retry_init_s
        self.clock = clock
        self._nvml = nvml
        self._ready = False
        self._next_init = 0.0
        self._alloc: dict[str, tuple[set[int], set[str]]] = {}   # jobid -> (minors, uuids)

    # ---------------------------------------------------------------- NVML edge
    def _init(self) -> bool:
        if self._ready:
            return True
        now = self.clock()
        if now < self._next_init:
            return False
        self._next_init = now + self.retry_init_s
        try:
            if self._nvml is None:
                import pynvml  # nvidia-ml-py; fails cleanly only at nvmlInit without a driver
                self._nvml = pynvml
            self._nvml.nvmlInit()
            self._ready = True
        except Exception as exc:   # no library, no driver, no GPU: degrade, never crash
            log.info("NVML unavailable, GPU metrics off: %s", exc)
            self._ready = False
        return self._ready

    def _call(self, fn: str, *args: Any) -> Any:
        """One NVML call; NOT_SUPPORTED (e.g. utilization of a MIG instance) is silent, other NVML
        errors are counted, and either way the value is just missing."""
        try:
            return getattr(self._nvml, fn)(*args)
        except Exception as exc:
            code = getattr(exc, "value", None)
            if code != getattr(self._nvml, "NVML_ERROR_NOT_SUPPORTED", 3):
                self.errors.inc("gpu", "nvml")
            return None

    def _procs(self, handle: Any) -> dict[int, int]:
        out: dict[int, int] = {}
        for fn in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            for p in self._call(fn, handle) or ():
                used = getattr(p, "usedGpuMemory", None)
                out[int(p.pid)] = out.get(int(p.pid), 0) + (int(used) if isinstance(used, int) else 0)
        return out

    def units(self) -> list[GpuUnit]:
        nv = self._nvml
        out: list[GpuUnit] = []
        count = self._call("nvmlDeviceGetCount") or 0
        for i in range(count):
            h = self._call("nvmlDeviceGetHandleByIndex", i)
            if h is None:
                continue
            minor = self._call("nvmlDeviceGetMinorNumber", h)
            mode = None
            try:
                mode = nv.nvmlDeviceGetMigMode(h)
            except Exception:   # pre-Ampere boards: no MIG at all
                pass
            if mode and mode[0] == getattr(nv, "NVML_DEVICE_MIG_ENABLE", 1):
                for k in range(self._call("nvmlDeviceGetMaxMigDeviceCount", h) or 0):
                    try:
                        mh = nv.nvmlDeviceGetMigDeviceHandleByIndex(h, k)
                    except Exception:   # slot without an instance
                        continue
                    name = _text(self._call("nvmlDeviceGetName", mh) or "")
                    u = GpuUnit(f"{i}/{k}", _text(self._call("nvmlDeviceGetUUID", mh) or ""), minor,
                                mig_profile(name), mh, h, True)
                    u.pids = self._procs(mh)
                    out.append(u)
            else:
                u = GpuUnit(str(i), _text(self._call("nvmlDeviceGetUUID", h) or ""), minor, "", h, h)
                u.pids = self._procs(h)
                out.append(u)
        return out

    # ---------------------------------------------------------------- job mapping
    def _allocation(self, job: Job, pids: list[int]) -> tuple[set[int], set[str]]:
        cached = self._alloc.get(job.jobid)
        if cached is not None:
            return cached
        minors: set[int] = set()
        uuids: set[str] = set()
        constrained = False
        for cg in job.cgroups:
            dev = cg.paths.get("devices")
            if not dev:
                continue
            try:
                with open(os.path.join(dev, "devices.list")) as f:
                    allow_all, found = parse_devices_list(f.read(), NVIDIA_MAJOR)
            except OSError:
                continue
            if not allow_all:
                constrained = True
                minors.update(found)
        # The environment is read even when devices.list answered: MIG instances are named
        # only by UUID there (their device nodes are nvidia-caps, not 195:<minor>).
        for pid in pids[:4]:
            try:
                with open(os.path.join(self.proc_root, str(pid), "environ"), "rb") as f:
                    env = parse_environ(f.read())
            except OSError:
                continue
            if "SLURM_JOB_ID" not in env:
                continue       # slurmstepd: try the next pid
            env_minors, uuids = gpus_from_environ(env)
            if not constrained:
                minors = env_minors
            break
        else:
            if not constrained:
                return minors, uuids     # nothing readable yet: try again next scrape
        self._alloc[job.jobid] = (minors, uuids)
        return minors, uuids

    def collect(self) -> Iterable[Metric]:
        avail = GaugeMetricFamily(f"{PREFIX}_gpu_available",
                                  "1 when NVML answered and GPU metrics are collected, 0 otherwise.")
        if not self._init():
            avail.add_metric([], 0)
            yield avail
            return
        units = self.units()
        avail.add_metric([], 1 if units else 0)
        yield avail
        # one entry per job (steps merged: a GPU is allocated to the job)
        jobs: dict[str, tuple[Job, list[int]]] = {}
        for job in self.scanner.scan():
            entry = jobs.setdefault(job.jobid, (job, []))
            entry[1].extend(job.stats.pids)
        for gone in [j for j in self._alloc if j not in jobs]:
            del self._alloc[gone]
        pid_job = {pid: jid for jid, (_, pids) in jobs.items() for pid in pids}

        fams = {d.name: (CounterMetricFamily if d.kind == "counter" else GaugeMetricFamily)(
            d.name, d.help, labels=list(GPU_LABELS)) for d in GPU_METRICS}
        board: dict[int, tuple] = {}
        for u in units:
            users: dict[str, list[int]] = {}
            for pid in u.pids:
                jid = pid_job.get(pid)
                if jid is not None:
                    users.setdefault(jid, []).append(pid)
            holders = set(users)
            for jid, (job, pids) in jobs.items():
                minors, uuids = self._allocation(job, pids)
                if u.uuid in uuids or (not u.is_mig and u.minor is not None and u.minor in minors):
                    holders.add(jid)
            if not holders:
                continue
            mem = self._call("nvmlDeviceGetMemoryInfo", u.handle)
            util = None if u.is_mig else self._call("nvmlDeviceGetUtilizationRates", u.handle)
            key = id(u.parent)
            if key not in board:
                temp_kind = getattr(self._nvml, "NVML_TEMPERATURE_GPU", 0)
                board[key] = (self._call("nvmlDeviceGetPowerUsage", u.parent),
                              self._call("nvmlDeviceGetTotalEnergyConsumption", u.parent),
                              self._call("nvmlDeviceGetTemperature", u.parent, temp_kind))
            power_mw, energy_mj, temp = board[key]
            for jid in sorted(holders):
                job = jobs[jid][0]
                labels = list(job.labels[:4]) + [u.label, u.uuid, u.mig_profile]
                mine = users.get(jid, [])

                def put(name: str, v: float | None) -> None:
                    if v is not None:
                        fams[name].add_metric(labels, v)   # noqa: B023 (called in this iteration only)
                put("slurm_job_gpu_allocated", 1)
                put("slurm_job_gpu_idle", 0 if mine else 1)
                put("slurm_job_gpu_utilization_ratio", util.gpu / 100 if util is not None else None)
                put("slurm_job_gpu_memory_used_bytes", mem.used if mem is not None else None)
                put("slurm_job_gpu_memory_total_bytes", mem.total if mem is not None else None)
                put("slurm_job_gpu_process_memory_bytes", sum(u.pids[p] for p in mine))
                put("slurm_job_gpu_processes", len(mine))
                put("slurm_job_gpu_power_watts", power_mw / 1000 if power_mw is not None else None)
                put("slurm_job_gpu_energy_joules_total", energy_mj / 1000 if energy_mj is not None else None)
                put("slurm_job_gpu_temperature_celsius", temp)
        yield from fams.values()


@register("jobs", "gpu", "GPU use of each job through NVML (--collector.gpu).")
def _gpu(ctx: Any) -> GpuCollector | None:
    return GpuCollector(ctx.scanner, ctx.nvml, errors=ctx.errors, proc_root=ctx.proc_root) if ctx.gpu else None
