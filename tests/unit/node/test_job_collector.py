"""The job collector end to end on fixture trees: labels, SLUID job ids, multiple-slurmd merging,
errors_total, single-flight, the HTTP endpoint and the generated metrics doc."""
import shutil
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from reference import client_python_exposition
from slurmops.exporter.server import MetricsServer
from slurmops.node.collector import ErrorCounter, JobScanner
from slurmops.node.exporter import JobExporter, SingleFlight, jobs as jobs_command
from slurmops.node.jobinfo import JobInfo, JobInfoCache, parse_squeue
from slurmops.node.metrics import metrics_doc

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "cgroup"
REPO = Path(__file__).resolve().parents[3]
SQUEUE_TEXT = ("1234|alice|physics|gpu\n1235|bob|chem|cpu\n555|root|research|cpu\n88|root|research|cpu\n"
               "4242|carol|bio|long\n")


def fixture_lookup(calls=None):
    def run(ids):
        if calls is not None:
            calls.append(list(ids))
        return SQUEUE_TEXT
    return JobInfoCache(run)


def samples(body: bytes) -> dict:
    out = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def L(jobid, user, account, partition, **extra):
    d = {"jobid": jobid, "user": user, "account": account, "partition": partition, **extra}
    return tuple(sorted(d.items()))


def test_parse_squeue():
    got = parse_squeue("12|alice|phys|gpu\nbad line\n13|(null)|N/A|cpu\n")
    assert got == {"12": JobInfo("alice", "phys", "gpu"), "13": JobInfo("", "", "cpu")}


def test_v2_exposition_exact_values():
    e = JobExporter(str(FIX / "v2-25.05"), gpu=False, lookup=fixture_lookup())
    s = samples(e.render())
    a = L("1234", "alice", "physics", "gpu")
    assert s[("slurm_job_cpu_user_seconds_total", a)] == 100.0
    assert s[("slurm_job_cpu_system_seconds_total", a)] == 23.456789
    assert s[("slurm_job_cpus_allocated", a)] == 5
    assert s[("slurm_job_memory_used_bytes", a)] == 536870912
    assert s[("slurm_job_memory_peak_bytes", a)] == 805306368
    assert s[("slurm_job_memory_limit_bytes", a)] == 2147483648
    assert s[("slurm_job_memory_rss_bytes", a)] == 402653184
    assert s[("slurm_job_io_read_bytes_total", a)] == 1052672
    assert s[("slurm_job_io_write_operations_total", a)] == 1024
    assert s[("slurm_job_pressure_memory_stalled_seconds_total", a)] == 0.12
    assert s[("slurm_job_pressure_cpu_waiting_seconds_total", a)] == 2.5
    assert s[("slurm_job_processes", a)] == 7 and s[("slurm_job_threads", a)] == 17
    assert s[("slurm_job_oom_kills_total", L("1235", "bob", "chem", "cpu"))] == 1
    assert s[("slurm_job_exporter_jobs", ())] == 2
    assert s[("slurm_job_exporter_collector_success", (("collector", "jobs"),))] == 1


def test_lookup_once_per_job_and_failures_leave_labels_empty():
    calls = []
    cache = fixture_lookup(calls)
    scanner = JobScanner(str(FIX / "v2-25.05"), lookup=cache, max_age_s=0)
    scanner.scan()
    scanner.scan()
    assert calls == [["1234", "1235"]]

    now = [0.0]

    def broken(ids):
        raise TimeoutError("squeue timed out")
    errors = ErrorCounter()
    scanner = JobScanner(str(FIX / "v2-25.05"), lookup=JobInfoCache(broken, retry_s=60, clock=lambda: now[0]),
                         errors=errors, max_age_s=0)
    jobs = scanner.scan()
    assert [j.labels for j in jobs] == [("1234", "", "", ""), ("1235", "", "", "")]
    scanner.scan()          # within retry_s: not asked again
    assert errors.get("jobs", "lookup") == 1
    now[0] = 61
    scanner.scan()
    assert errors.get("jobs", "lookup") == 2


def test_v1_user_from_uid_and_parse_errors_counted():
    e = JobExporter(str(FIX / "v1-slurm-23.02"), gpu=False, lookup=JobInfoCache(lambda ids: ""))
    s = samples(e.render())
    assert s[("slurm_job_memory_used_bytes", L("555", "root", "", ""))] == 8589934592
    assert s[("slurm_job_memory_used_bytes", L("556", "4242", "", ""))] == 1048576   # no passwd entry
    assert s[("slurm_job_exporter_errors_total", (("collector", "jobs"), ("reason", "parse")))] == 1
    time.sleep(1.05)
    s = samples(e.render())
    # a counter: kept and increased across scrapes
    assert s[("slurm_job_exporter_errors_total", (("collector", "jobs"), ("reason", "parse")))] == 2


def test_sluid_jobid_from_process_environment():
    scanner = JobScanner(str(FIX / "v2-26.05-sluid"), lookup=fixture_lookup(),
                         proc_root=str(FIX / "proc-26.05"))
    got = {j.jobid: j.labels for j in scanner.scan()}
    assert got == {"4242": ("4242", "carol", "bio", "long"),          # SLURM_JOB_ID of pid 4110
                   "4300": ("4300", "", "", ""),
                   "sBR1JB8J1YM4Z9": ("sBR1JB8J1YM4Z9", "", "", "")}  # no readable process: SLUID


def test_steps_add_a_step_label():
    e = JobExporter(str(FIX / "v2-25.05"), steps=True, gpu=False, lookup=fixture_lookup())
    s = samples(e.render())
    assert s[("slurm_job_cpu_user_seconds_total", L("1234", "alice", "physics", "gpu", step="0"))] == 99.199
    assert s[("slurm_job_cpu_user_seconds_total", L("1234", "alice", "physics", "gpu", step="extern"))] == 0.001


def test_multiple_slurmd_same_job_under_two_nodes_is_summed(tmp_path):
    src = FIX / "v1-multislurmd-22.05.8"
    shutil.copytree(src, tmp_path / "root")
    for ctl in ("memory", "cpuacct", "cpuset", "freezer"):
        shutil.copytree(tmp_path / "root" / ctl / "slurm_n1", tmp_path / "root" / ctl / "slurm_n2")
    e = JobExporter(str(tmp_path / "root"), gpu=False, lookup=fixture_lookup())
    s = samples(e.render())
    a = L("88", "root", "research", "cpu")
    assert s[("slurm_job_memory_used_bytes", a)] == 2 * 41414656
    assert s[("slurm_job_cpus_allocated", a)] == 2
    assert s[("slurm_job_exporter_jobs", ())] == 1
    e1 = JobExporter(str(tmp_path / "root"), gpu=False, node="n2", lookup=fixture_lookup())
    assert samples(e1.render())[("slurm_job_memory_used_bytes", a)] == 41414656


def test_vanished_mid_scrape_is_counted_not_fatal(tmp_path, monkeypatch):
    shutil.copytree(FIX / "v2-25.05", tmp_path / "root")
    from slurmops.node import cgroup as cgmod
    real_read = cgmod.read_job

    def racing_read(cg, *args):
        if cg.jobid == "1235":
            shutil.rmtree(cg.paths["unified"])
        return real_read(cg, *args)
    monkeypatch.setattr(cgmod, "read_job", racing_read)
    e = JobExporter(str(tmp_path / "root"), gpu=False, lookup=fixture_lookup())
    s = samples(e.render())
    assert s[("slurm_job_exporter_jobs", ())] == 1
    assert s[("slurm_job_exporter_errors_total", (("collector", "jobs"), ("reason", "vanished")))] == 1


def test_single_flight_shares_one_collection():
    n = [0]
    gate = threading.Event()

    def slow():
        n[0] += 1
        gate.wait(2)
        return b"x"
    sf = SingleFlight(slow, max_age_s=5)
    out = []
    ts = [threading.Thread(target=lambda: out.append(sf())) for _ in range(8)]
    for t in ts:
        t.start()
    time.sleep(0.1)
    gate.set()
    for t in ts:
        t.join()
    assert n[0] == 1 and out == [b"x"] * 8


def test_served_over_http():
    e = JobExporter(str(FIX / "v2-25.05"), gpu=False, lookup=fixture_lookup())
    srv = MetricsServer("127.0.0.1:0", e.render).start()
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/metrics", timeout=5).read()
    finally:
        srv.stop()
    assert b'slurm_job_cpus_allocated{account="physics",jobid="1234",partition="gpu",user="alice"} 5.0' in body


def test_metrics_doc_in_sync():
    doc = (REPO / "docs" / "metrics-jobs.md").read_text()
    assert doc == metrics_doc(), "regenerate: slurmops exporter jobs --print-metrics-doc > docs/metrics-jobs.md"
    r = CliRunner().invoke(jobs_command, ["--print-metrics-doc"])
    assert r.exit_code == 0 and r.output == doc


def test_every_emitted_family_is_documented():
    e = JobExporter(str(FIX / "v2-25.05"), gpu=True, nvml=None, lookup=fixture_lookup())
    names = {f.name for f in text_string_to_metric_families(e.render().decode())}
    doc = metrics_doc()
    for n in names:
        assert f"`{n}" in doc, n


def test_bad_web_config_is_one_error_line(tmp_path):
    bad = tmp_path / "web.yml"
    bad.write_text("tls_server_config: {cert_file: x}\n")
    r = CliRunner().invoke(jobs_command, ["--web.config.file", str(bad), "--web.listen-address", "127.0.0.1:0"])
    assert r.exit_code != 0 and "cert_file and key_file" in r.output


@pytest.mark.parametrize("tree", ["v2-25.05", "v1-slurm-23.02", "v1-multislurmd-22.05.8"])
def test_fast_render_is_byte_identical_to_client_python(tree):
    from slurmops.exporter.render import render as fast
    e = JobExporter(str(FIX / tree), gpu=False, lookup=fixture_lookup())
    fams = list(e.collector_set.collect()) + list(e.errors.collect())
    assert fast(fams) == client_python_exposition(fams)   # the job rows render themselves


def test_fast_render_escapes_label_values():
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    from slurmops.exporter.render import render as fast
    g = GaugeMetricFamily("x", 'help with \\ and\nnewline "quoted"', labels=["a", "b"])
    g.add_metric(['q"uote', "back\\slash\nnl"], 1.5e10)
    g.add_metric(["ünïcode ✓", "{0}}{"], float("nan"))
    c = CounterMetricFamily("y", "h\\")
    c.add_metric([], 3)
    assert fast([g, c]) == client_python_exposition([g, c])
    assert b'x{a="q\\"uote",b="back\\\\slash\\nnl"} 1.5e+10\n' in fast([g])


def test_example_web_config_and_unit_are_valid():
    from slurmops.exporter.webconfig import load
    web = load(REPO / "exporters" / "job-exporter.web-config.example.yml")
    assert web.check("prometheus", "example-only-change-me") and web.tls["min_version"] == "TLS12"
    unit = (REPO / "exporters" / "slurm-job-exporter.service").read_text()
    assert "slurmops exporter jobs" in unit and "--web.listen-address=:9342" in unit
