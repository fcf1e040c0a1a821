"""GPU per job with a fake NVML module (tests/unit/node/fake_nvml.py): mapping by v1 devices.list,
by a job process's environment (SLURM_JOB_GPUS, MIG UUIDs in CUDA_VISIBLE_DEVICES) and by running
processes; idle allocations; MIG profiles; NVML errors and a missing NVML never break a scrape."""
import shutil
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from fake_nvml import FakeGPU, FakeMig, FakeNVML
from slurmops.node.exporter import JobExporter
from slurmops.node.jobinfo import JobInfoCache

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "cgroup"
NO_LOOKUP = JobInfoCache(lambda ids: "")


def samples(body: bytes) -> dict:
    out = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            out[(s.name, s.labels.get("jobid"), s.labels.get("gpu"))] = (s.value, s.labels)
    return out


def test_gpu_per_job_v1_devices_list_with_fake_nvml():
    nv = FakeNVML([
        FakeGPU("GPU-aaaa", 0, util=87, mem_used=30 * 2**30, power_mw=312500, energy_mj=9_000_000, temp=61,
                processes={7010: 20 * 2**30, 7011: 2**30, 99999: 5 * 2**30}),
        FakeGPU("GPU-bbbb", 1, processes={88888: 2**30}),        # another job's / nobody's
        FakeGPU("GPU-cccc", 2),                                     # allocated to 555, unused
    ])
    e = JobExporter(str(FIX / "v1-slurm-23.02"), lookup=NO_LOOKUP, nvml=nv)
    s = samples(e.render())
    assert s[("slurm_job_exporter_gpu_available", None, None)][0] == 1
    v, labels = s[("slurm_job_gpu_utilization_ratio", "555", "0")]
    assert v == 0.87 and labels["uuid"] == "GPU-aaaa" and labels["mig_profile"] == "" and labels["user"] == "root"
    assert s[("slurm_job_gpu_idle", "555", "0")][0] == 0
    assert s[("slurm_job_gpu_processes", "555", "0")][0] == 2
    assert s[("slurm_job_gpu_process_memory_bytes", "555", "0")][0] == 21 * 2**30
    assert s[("slurm_job_gpu_memory_used_bytes", "555", "0")][0] == 30 * 2**30
    assert s[("slurm_job_gpu_power_watts", "555", "0")][0] == 312.5
    assert s[("slurm_job_gpu_energy_joules_total", "555", "0")][0] == 9000
    assert s[("slurm_job_gpu_temperature_celsius", "555", "0")][0] == 61
    assert s[("slurm_job_gpu_idle", "555", "2")][0] == 1          # the waste this exporter exists for
    assert s[("slurm_job_gpu_allocated", "555", "2")][0] == 1
    assert not any(k[2] == "1" for k in s)                          # GPU 1 belongs to no job here
    assert not any(k[1] == "556" and k[0].startswith("slurm_job_gpu") for k in s)


def test_gpu_mig_and_environ_mapping_with_fake_nvml(tmp_path):
    proc = tmp_path / "proc"
    shutil.copytree(FIX / "proc-26.05", proc)
    (proc / "4110" / "environ").write_bytes(b"SLURM_JOB_ID=4242\0CUDA_VISIBLE_DEVICES=MIG-1111\0")
    nv = FakeNVML([
        FakeGPU("GPU-a100", 0, power_mw=100000, migs=[
            FakeMig("MIG-1111", "NVIDIA A100-SXM4-40GB MIG 1g.5gb", 0, 5 * 2**30),
            None,
            FakeMig("MIG-3333", "NVIDIA A100-SXM4-40GB MIG 3g.20gb", 2**30, 20 * 2**30, processes={4301: 2**30}),
        ]),
        FakeGPU("GPU-h100", 1, util=50, processes={4110: 2**30}),   # 4242 also runs on a whole GPU
    ])
    e = JobExporter(str(FIX / "v2-26.05-sluid"), lookup=NO_LOOKUP, nvml=nv, proc_root=str(proc))
    s = samples(e.render())
    v, labels = s[("slurm_job_gpu_idle", "4242", "0/0")]
    assert v == 1 and labels["mig_profile"] == "1g.5gb" and labels["uuid"] == "MIG-1111"
    assert ("slurm_job_gpu_utilization_ratio", "4242", "0/0") not in s   # NOT_SUPPORTED on MIG
    assert s[("slurm_job_gpu_memory_total_bytes", "4242", "0/0")][0] == 5 * 2**30
    v, labels = s[("slurm_job_gpu_idle", "4300", "0/2")]
    assert v == 0 and labels["mig_profile"] == "3g.20gb"
    assert s[("slurm_job_gpu_power_watts", "4300", "0/2")][0] == 100.0   # whole-board value
    assert s[("slurm_job_gpu_utilization_ratio", "4242", "1")][0] == 0.5
    assert not [k for k in s if k[0] == "slurm_job_exporter_errors_total"]   # NOT_SUPPORTED is silent


def test_nvml_error_is_counted_not_fatal_with_fake_nvml():
    nv = FakeNVML([FakeGPU("GPU-aaaa", 0, processes={7010: 1}, broken_power=True)])
    e = JobExporter(str(FIX / "v1-slurm-23.02"), lookup=NO_LOOKUP, nvml=nv)
    body = e.render().decode()
    assert 'slurm_job_exporter_errors_total{collector="gpu",reason="nvml"} 1.0' in body
    assert "slurm_job_gpu_power_watts{" not in body
    assert 'slurm_job_gpu_temperature_celsius{account="",gpu="0"' in body


def test_no_nvml_degrades_to_gpu_available_0_with_fake_nvml():
    nv = FakeNVML([], init_error=12)      # NVML_ERROR_LIBRARY_NOT_FOUND
    e = JobExporter(str(FIX / "v2-25.05"), lookup=NO_LOOKUP, nvml=nv)
    body = e.render().decode()
    assert "slurm_job_exporter_gpu_available 0.0" in body
    assert 'slurm_job_exporter_collector_success{collector="gpu"} 1.0' in body
    assert "slurm_job_cpu_user_seconds_total{" in body
    assert nv.init_calls == 1


def test_real_pynvml_without_driver_degrades():
    """The real nvidia-ml-py on a machine without the NVIDIA driver (CI, this lab)."""
    e = JobExporter(str(FIX / "v2-25.05"), lookup=NO_LOOKUP)
    body = e.render().decode()
    assert "slurm_job_exporter_gpu_available" in body
    assert 'slurm_job_exporter_collector_success{collector="gpu"} 1.0' in body
