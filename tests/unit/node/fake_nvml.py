"""A fake NVML module (the parts of nvidia-ml-py's ``pynvml`` the GPU collector calls), so GPU
mapping and metrics are tested without a GPU. Build one with ``FakeNVML([FakeGPU(...), ...])`` and
pass it as ``nvml=`` to ``GpuCollector``; values are in NVML's own units (mW, mJ, bytes)."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

NVML_TEMPERATURE_GPU = 0
NVML_DEVICE_MIG_ENABLE = 1
NVML_DEVICE_MIG_DISABLE = 0
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_LIBRARY_NOT_FOUND = 12


class NVMLError(Exception):
    def __init__(self, value: int):
        super().__init__(f"NVML error {value}")
        self.value = value


@dataclass
class FakeMig:
    uuid: str
    name: str                     # e.g. "NVIDIA A100-SXM4-40GB MIG 1g.5gb"
    mem_used: int
    mem_total: int
    processes: dict[int, int] = field(default_factory=dict)   # pid -> used bytes


@dataclass
class FakeGPU:
    uuid: str
    minor: int
    util: int = 0                 # percent
    mem_used: int = 0
    mem_total: int = 80 * 2**30
    power_mw: int = 70000
    energy_mj: int = 1_000_000
    temp: int = 40
    processes: dict[int, int] = field(default_factory=dict)
    migs: list[FakeMig | None] | None = None   # None: MIG off; a None slot: no instance there
    broken_power: bool = False


class FakeNVML:
    NVMLError = NVMLError
    NVML_TEMPERATURE_GPU = NVML_TEMPERATURE_GPU
    NVML_DEVICE_MIG_ENABLE = NVML_DEVICE_MIG_ENABLE
    NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED

    def __init__(self, gpus: list[FakeGPU], *, init_error: int | None = None):
        self.gpus = gpus
        self.init_error = init_error
        self.init_calls = 0

    def nvmlInit(self):
        self.init_calls += 1
        if self.init_error is not None:
            raise NVMLError(self.init_error)

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i):
        return self.gpus[i]

    def nvmlDeviceGetUUID(self, h):
        return h.uuid

    def nvmlDeviceGetMinorNumber(self, h):
        if isinstance(h, FakeMig):
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return h.minor

    def nvmlDeviceGetName(self, h):
        return h.name if isinstance(h, FakeMig) else "NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetMigMode(self, h):
        return (NVML_DEVICE_MIG_ENABLE, NVML_DEVICE_MIG_ENABLE) if h.migs is not None else (0, 0)

    def nvmlDeviceGetMaxMigDeviceCount(self, h):
        return len(h.migs or [])

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h, k):
        m = h.migs[k]
        if m is None:
            raise NVMLError(999)   # NVML_ERROR_NOT_FOUND
        return m

    def nvmlDeviceGetUtilizationRates(self, h):
        if isinstance(h, FakeMig):
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return SimpleNamespace(gpu=h.util, memory=0)

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(used=h.mem_used, total=h.mem_total, free=h.mem_total - h.mem_used)

    def nvmlDeviceGetPowerUsage(self, h):
        if h.broken_power:
            raise NVMLError(15)    # NVML_ERROR_GPU_IS_LOST
        return h.power_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        return h.energy_mj

    def nvmlDeviceGetTemperature(self, h, kind):
        assert kind == NVML_TEMPERATURE_GPU
        return h.temp

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        return [SimpleNamespace(pid=p, usedGpuMemory=b) for p, b in h.processes.items()]

    def nvmlDeviceGetGraphicsRunningProcesses(self, h):
        return []
