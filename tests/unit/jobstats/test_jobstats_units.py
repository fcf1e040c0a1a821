"""jobstats' pure parts: the stored summary format, sacct parsing (a line recorded from the lab's
Slurm 22.05.8), the rules table against its thresholds, and the GPU lines fed by the real job
exporter running on the fake NVML module (no GPU here)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from slurmops.jobstats import summary as sm
from slurmops.jobstats.config import load
from slurmops.jobstats.figures import compute
from slurmops.jobstats.prom import build_summary, node_keys
from slurmops.jobstats.report import build, render_text, to_json
from slurmops.jobstats.rules import RULES, evaluate
from slurmops.jobstats.sacct import DELIM, FIELDS, JobRecord, parse, parse_cputime, parse_size

T = load(None).thresholds
# Recorded from `sacct -X -n -P --delimiter=$'\x1e' -o <FIELDS>` on the lab (Slurm 22.05.8,
# SLURM_TIME_FORMAT=%s), a 4-CPU job; only the AdminComment was emptied.
RECORDED = DELIM.join(["3", "3", "w15", "root", "research", "cpu", "normal", "COMPLETED", "0:0", "1", "4",
                       "billing=4,cpu=4,mem=600M,node=1", "jn1", "1795771375", "1795771376",
                       "1795771403", "27", "10", "00:13.678", "wrap", ""])


def rec(**kw) -> JobRecord:
    base = dict(jobid="10", jobid_raw="10", cluster="c", user="u", account="a", partition="p",
                qos="normal", state="COMPLETED", exit_code="0:0", nnodes=1, ncpus=8,
                mem_bytes=64 * 2**30, gpus=0, nodelist="n1", submit=0, start=1000, end=1000 + 7200,
                elapsed_s=7200, timelimit_s=86400, total_cpu_s=None, name="x", admin_comment="")
    base.update(kw)
    return JobRecord(**base)


def test_sacct_recorded_line_parses():
    (r,), bad = parse(RECORDED + "\n")
    assert not bad and len(FIELDS) == 21
    assert (r.jobid, r.ncpus, r.mem_bytes, r.nodes, r.start, r.end, r.timelimit_s) == \
        ("3", 4, 600 * 2**20, ["jn1"], 1795771376, 1795771403, 600)
    assert r.total_cpu_s == pytest.approx(13.678)
    assert parse("3" + DELIM + "oops\n")[1] == ["3" + DELIM + "oops"]
    assert parse_size("1.5G") == 1.5 * 2**30 and parse_cputime("1-02:03:04") == 93784


def test_summary_round_trip_survives_case_changes():
    s = sm.Summary(nodes={"n1": sm.NodeUsage(cpus=4, cpu_s=123.4, span_s=60, mem_peak=3e8,
                                             slurm_nodes=["n1"],
                                             gpus={"0": sm.GpuUsage(util=0.5, mem_used=1e9, mem_total=8e10)})},
                   stored_at=1700000000)
    text = sm.encode(s)
    assert text.startswith("so1:") and text == text.lower() and len(text) < 400
    back = sm.decode(text.upper().replace("SO1:", "so1:"))      # what sacctmgr may do to case
    assert back.nodes["n1"].cpu_s == 123.4 and back.nodes["n1"].gpus["0"].util == 0.5
    assert back.source == "stored"


@pytest.mark.parametrize("text,why", [
    ("so2:abc", "not so1"), ("so1:!!!", "corrupt"), ("so1:" + "ab" * 16, "corrupt"),
    ("hello", "not a slurmops summary"),
])
def test_malformed_summaries_are_refused_with_a_reason(text, why):
    with pytest.raises(sm.SummaryError, match=why):
        sm.decode(text)


def test_wrong_types_in_a_summary_are_refused():
    import json
    import zlib
    raw = json.dumps({"v": 1, "n": {"n1": {"u": "lots"}}}).encode()
    text = "so1:" + zlib.compress(raw).hex()
    with pytest.raises(sm.SummaryError, match="not a number"):
        sm.decode(text)


def test_rules_fire_at_their_thresholds_with_evidence():
    s = sm.Summary(nodes={"n1": sm.NodeUsage(cpu_s=0.2 * 8 * 7200, span_s=7200, mem_peak=4 * 2**30)})
    r = rec()
    notes = {n.rule: n for n in evaluate(r, compute(r, s), s, T)}
    assert set(notes) == {"cpu-low", "memory-over-requested", "time-limit-too-long"}
    assert notes["cpu-low"].severity == "red" and notes["cpu-low"].evidence["cpu_eff"] == pytest.approx(0.2)
    assert notes["memory-over-requested"].evidence["suggested_mem_gb"] == 5     # 4 GB x 1.25
    assert "--mem=5G" in notes["memory-over-requested"].text
    # just above the thresholds: silent
    s2 = sm.Summary(nodes={"n1": sm.NodeUsage(cpu_s=0.81 * 8 * 7200, span_s=7200, mem_peak=33 * 2**30)})
    r2 = rec(timelimit_s=int(7200 / 0.26))
    assert evaluate(r2, compute(r2, s2), s2, T) == []
    assert len({rule for rule, _, _ in RULES}) == len(RULES)


def test_oom_note_without_any_usage_data():
    r = rec(state="OUT_OF_MEMORY", elapsed_s=1)
    assert [n.rule for n in evaluate(r, compute(r, None), None, T)] == ["oom-killed"]


def test_hosts_map_to_slurm_nodes():
    keys = node_keys(["n1.cluster:9342", "10.0.0.9:9342"], ["n1", "n2", "n3"])
    assert keys["n1.cluster:9342"] == ("n1", ["n1"])
    assert keys["10.0.0.9:9342"] == ("10.0.0.9", ["n2", "n3"])      # one host, several slurmd


def _fake_nvml_results():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "node"))
    from fake_nvml import FakeGPU, FakeNVML
    from slurmops.node.exporter import JobExporter
    from slurmops.node.jobinfo import JobInfoCache
    fix = Path(__file__).resolve().parents[2] / "fixtures" / "cgroup" / "v1-slurm-23.02"
    nv = FakeNVML([FakeGPU("GPU-aaaa", 0, util=87, mem_used=30 * 2**30, power_mw=312500,
                           processes={7010: 20 * 2**30, 7011: 2**30}),
                   FakeGPU("GPU-bbbb", 1), FakeGPU("GPU-cccc", 2)])
    body = JobExporter(str(fix), lookup=JobInfoCache(lambda ids: ""), nvml=nv).render().decode()
    fam_of = {"slurm_job_gpu_utilization_ratio": "gpu_util", "slurm_job_gpu_process_memory_bytes": "gpu_mem_job",
              "slurm_job_gpu_memory_used_bytes": "gpu_mem_used", "slurm_job_gpu_memory_total_bytes": "gpu_mem_total",
              "slurm_job_gpu_idle": "gpu_idle", "slurm_job_gpu_power_watts": "gpu_power",
              "slurm_job_cpu_usage_seconds_total": "cpu_s", "slurm_job_memory_peak_bytes": "mem_peak"}
    res: dict[str, list] = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            if s.name in fam_of and s.labels.get("jobid") == "555":
                # one scrape: max/avg over time of one sample is that sample
                res.setdefault(fam_of[s.name], []).append(
                    {"metric": {**s.labels, "instance": "gpu-node1:9342"}, "value": [0, str(s.value)]})
    return res


def test_gpu_lines_from_the_job_exporter_on_fake_nvml():
    res = _fake_nvml_results()
    r = rec(jobid="555", jobid_raw="555", gpus=2, nodelist="gpu-node1")
    s = build_summary(r, res, now=9000)
    g = s.nodes["gpu-node1"].gpus
    assert g["0"].util == pytest.approx(0.87) and g["0"].mem_used == 21 * 2**30   # the job's own
    assert g["0"].power_w == pytest.approx(312.5) and g["0"].idle == 0
    report = build(r, sm.decode(sm.encode(s)), "stored", T)
    text = render_text(report)
    assert "gpu-node1 (GPU 0): 87.0%, 21.0 GB/" in text
    idle = [k for k, v in g.items() if v.idle == 1]
    assert idle and "gpu-idle" in [n.rule for n in report.notes]
    assert to_json(report)["figures"]["idle_gpus"] == len(idle)


def test_report_links_the_per_job_dashboard():
    from urllib.parse import parse_qs, urlsplit
    r = rec(jobid="7_2", jobid_raw="9")
    url = build(r, None, "none", T, grafana_url="https://grafana.example/").dashboard
    u = urlsplit(url)
    assert u.path == "/d/slurmops-job/"
    q = parse_qs(u.query)
    assert q["var-jobid"] == ["9"] and q["var-cluster"] == ["c"]
    assert int(q["from"][0]) == (r.start - 60) * 1000 and int(q["to"][0]) == (r.end + 60) * 1000
    assert url in render_text(build(r, None, "none", T, grafana_url="https://grafana.example/"))
    # the dashboard this links to exists with that uid and a jobid variable
    import json
    d = json.loads((Path(__file__).resolve().parents[3] / "dashboards" / "build" / "job.json").read_text())
    assert d["uid"] == "slurmops-job"
    assert "jobid" in [v["name"] for v in d["templating"]["list"]]


def test_dcgm_figures_replace_nvml_ones_by_uuid():
    """Hand-derived DCGM answers (no DCGM exporter here): joined on the UUID the job exporter reports."""
    res = _fake_nvml_results()
    res["dcgm_util"] = [{"metric": {"UUID": "GPU-aaaa", "gpu": "0"}, "value": [0, "0.42"]}]
    res["dcgm_fb"] = [{"metric": {"UUID": "GPU-aaaa", "gpu": "0"}, "value": [0, str(5 * 2**30)]}]
    s = build_summary(rec(jobid="555", jobid_raw="555", gpus=2, nodelist="gpu-node1"), res, now=9000)
    g = s.nodes["gpu-node1"].gpus
    assert (g["0"].util, g["0"].mem_used, g["0"].source) == (0.42, 5 * 2**30, "dcgm")
    assert all(v.source == "nvml" for k, v in g.items() if k != "0")
