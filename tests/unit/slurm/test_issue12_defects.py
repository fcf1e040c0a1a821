"""Issue 12: one test per defect, each with the minimal input that showed it at commit 7da5b5b.

Expected values come from Slurm's documented meaning (slurm.conf(5) AccountingStorageTRES,
scontrol(1), slurm.h sentinels) and from client_python's parser of the exposition, never from the
code under test."""
from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from slurmops.exporter.collectors import jobs as jobs_c, nodes as nodes_c, partitions as parts_c, scheduler as sched_c
from slurmops.exporter.poller import merge_chunks, render_chunk
from slurmops.slurm.hostlist import HostlistTooLarge, expand
from slurmops.slurm.models import Gres
from slurmops.slurm.parse import jsondoc as jp, text as tp
from slurmops.slurm.sources import CallStats, SourceError
from slurmops.slurm.sources.cli import CliSource
from slurmops.slurm.sources.rest import RestSource


def exposition(families) -> dict[tuple, float]:
    """Render as the exporter does, read back with client_python's own parser."""
    text = merge_chunks([render_chunk(families)]).decode("utf-8")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def node_line(**kv: str) -> str:
    base = {"NodeName": "g1", "CPUAlloc": "2", "CPUTot": "8", "RealMemory": "1000",
            "State": "MIXED", "Partitions": "gpu"}
    base.update(kv)
    return " ".join(f"{k}={v}" for k, v in base.items()) + "\n"


def rest() -> RestSource:
    return RestSource("http://127.0.0.1:9", stats=CallStats())      # decode only: nothing is asked


# ---------------------------------------------------------------------------- defect 1

GPU_CASES = [
    # (Gres=, CfgTRES=, AllocTRES=, GPUs in use by type); the CfgTRES says which TRES are tracked
    ("gpu:2", "cpu=8,gres/gpu=2", "cpu=2,gres/gpu=1", {"": 1}),
    ("gpu:2", "cpu=8,gres/gpu=2", "", {"": 0}),                                 # idle: none in use
    # Typed GRES, AccountingStorageTRES=gres/gpu only: the one configured type gets the count.
    ("gpu:a100:4", "cpu=8,gres/gpu=4", "cpu=2,gres/gpu=3", {"a100": 3}),
    # gres/gpu is the total and gres/gpu:a100 repeats it: 3, not 6.
    ("gpu:a100:4", "cpu=8,gres/gpu=4,gres/gpu:a100=4", "gres/gpu=3,gres/gpu:a100=3", {"a100": 3}),
    # Two types, only a100 tracked by type: the third GPU's type is unknown ("").
    ("gpu:a100:2,gpu:v100:2", "gres/gpu=4,gres/gpu:a100=2", "gres/gpu=3,gres/gpu:a100=2",
     {"a100": 2, "v100": 0, "": 1}),
    # Typed entries only (AccountingStorageTRES=gres/gpu:a100,gres/gpu:v100).
    ("gpu:a100:2,gpu:v100:2", "gres/gpu:a100=2,gres/gpu:v100=2", "gres/gpu:v100=1",
     {"a100": 0, "v100": 1}),
]


@pytest.mark.parametrize("gres,cfg,alloc,used", GPU_CASES)
def test_defect1_allocated_gpus_come_from_alloc_tres_without_d(gres, cfg, alloc, used):
    errors: list[str] = []
    nodes = tp.parse_scontrol_nodes(node_line(Gres=gres, CfgTRES=cfg, AllocTRES=alloc), errors)
    assert errors == []
    got = exposition(nodes_c.build("c", nodes))
    for gtype, n in used.items():
        assert got[("slurm_gpus", (("cluster", "c"), ("status", "allocated"), ("type", gtype)))] == n
    assert sum(v for (name, labels), v in got.items() if name == "slurm_gpus"
               and ("status", "allocated") in labels) == sum(used.values())


def test_defect1_untracked_gpus_are_unknown_not_zero():
    """AccountingStorageTRES without gres/gpu: no GPU in CfgTRES/AllocTRES, so without -d nothing
    says how many are in use: no allocated series (a 0 would be the lie of issue 12)."""
    nodes = tp.parse_scontrol_nodes(node_line(Gres="gpu:2", CfgTRES="cpu=8", AllocTRES="cpu=2"))
    assert nodes[0].gres_used is None
    got = exposition(nodes_c.build("c", nodes) + parts_c.build(
        "c", tp.parse_scontrol_partitions("PartitionName=gpu Nodes=g1 State=UP\n"), nodes))
    assert got[("slurm_gpus", (("cluster", "c"), ("status", "total"), ("type", "")))] == 2
    assert not [k for k in got if k[0] in ("slurm_gpus", "slurm_partition_gpus", "slurm_node_gpus")
                and ("status", "allocated") in k[1]]


def test_defect1_recorded_gpu_nodes_without_d_agree_with_d():
    """Real 22.05.8 output (tests/fixtures/gpu-22.05): what AllocTRES gives without -d is
    what slurmctld's own GRES details (-d, GresUsed) say, minus the device indexes."""
    cli = Path(__file__).resolve().parents[2] / "fixtures" / "gpu-22.05" / "cli"
    errors: list[str] = []
    plain = tp.parse_scontrol_nodes((cli / "scontrol-show-nodes.txt").read_text(), errors)
    detail = tp.parse_scontrol_nodes((cli / "scontrol-show-nodes-details.txt").read_text(), errors)
    assert errors == []
    assert {n.name: n.gres_used for n in detail} == {
        "un1": (Gres("gpu", "a100", 1, (0,)),), "un2": (Gres("gpu", "a100", 2, (0, 1)),)}
    assert {n.name: n.gres_used for n in plain} == {
        n.name: tuple(Gres(g.name, g.type, g.count) for g in n.gres_used) for n in detail}
    jobs = tp.parse_squeue((cli / "squeue-exporter.txt").read_text(), errors)
    assert errors == [] and sorted(j.gpus for j in jobs) == [1, 2]


def test_defect1_gres_used_with_d_wins():
    line = node_line(Gres="gpu:a100:4(S:0-1)", GresUsed="gpu:a100:2(IDX:0,2)",
                     CfgTRES="cpu=8", AllocTRES="cpu=2")
    assert tp.parse_scontrol_nodes(line)[0].gres_used == (Gres("gpu", "a100", 2, (0, 2)),)


def test_defect1_json_node_without_gres_used_reads_tres_used():
    doc = {"nodes": [{"name": "g1", "state": ["MIXED"], "gres": "gpu:a100:4",
                      "tres": "cpu=8,gres/gpu=4", "tres_used": "cpu=2,gres/gpu=2"}]}
    assert jp.parse_nodes(doc)[0].gres_used == (Gres("gpu", "a100", 2),)


# ---------------------------------------------------------------------------- defect 2

@pytest.mark.parametrize("body,key", [
    (b'{"nodes":"abc"}', "nodes"), (b'{"jobs":12}', "jobs"), (b'{"meta":{},"errors":[]}', "jobs"),
    (b'{"nodes":null}', "nodes"), (b"null", "jobs"), (b"{}", "nodes"), (b"[]", "jobs")])
def test_defect2_missing_null_or_non_list_records_are_an_error(body, key):
    src = rest()
    stream = jp.stream_nodes if key == "nodes" else jp.stream_jobs
    with pytest.raises(SourceError) as exc:
        src.decode_stream(key, f"slurm/{key}", io.BytesIO(body), stream)
    assert exc.value.reason == "parse"
    assert src.stats.snapshot()[1] == {(f"slurm/{key}", "parse"): 1}


def test_defect2_diag_without_statistics_is_an_error():
    src = rest()
    for body in (b'{"meta": {}, "errors": []}', b'{"statistics": null}'):
        with pytest.raises(SourceError) as exc:
            src._parse("scheduler", "diag", jp.parse_diag, src.decode("slurm/diag", io.BytesIO(body)))
        assert exc.value.reason == "parse"


def test_defect2_dict_parsers_note_the_missing_list():
    for parse, key in ((jp.parse_jobs, "jobs"), (jp.parse_nodes, "nodes"),
                       (jp.parse_partitions, "partitions"), (jp.parse_licenses, "licenses")):
        for doc in ({key: "abc"}, {key: 12}, {key: None}, {}):
            errors: list[str] = []
            assert parse(doc, errors) == [] and len(errors) == 1, (key, doc)


# ---------------------------------------------------------------------------- defect 3

def test_defect3_errors_not_a_list_is_a_source_error():
    src = rest()
    with pytest.raises(SourceError) as exc:
        src.decode("slurm/diag", io.BytesIO(b'{"errors": 5, "statistics": {}}'))
    assert exc.value.reason == "parse"


@pytest.mark.parametrize("depth", [1_100, 20_000])
def test_defect3_deep_nesting_is_a_source_error(depth):
    deep = b"[" * depth + b"]" * depth
    src = rest()
    with pytest.raises(SourceError, match="nested deeper"):
        src.decode("slurm/diag", io.BytesIO(b'{"statistics": ' + deep + b"}"))
    with pytest.raises(SourceError, match="nested deeper"):
        src.decode_stream("jobs", "slurm/jobs", io.BytesIO(b'{"jobs": [' + deep + b"]}"),
                          jp.stream_jobs)


def test_defect3_any_exception_in_a_fetcher_is_a_source_error():
    class Broken(CliSource):
        def run(self, argv, any_exit=False):
            raise RuntimeError("boom")
    src = Broken(stats=CallStats())
    with pytest.raises(SourceError) as exc:
        src.nodes()
    assert (exc.value.reason, exc.value.detail) == ("internal", "RuntimeError: boom")
    assert src.stats.snapshot()[1] == {("nodes", "internal"): 1}


# ---------------------------------------------------------------------------- defect 4

def test_defect4_deep_nodes_body_costs_no_memory():
    body = b'{"nodes": [' + b"[" * 20_000 + b"]" * 20_000 + b"]}"     # 39 KiB
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="nested deeper"):
            jp.stream_nodes(io.BytesIO(body), [], {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2 ** 20          # was 981 MiB with ijson


@pytest.mark.parametrize("expr", ["n[1-20000000]", "n[1-18446744073709551615]",
                                  "n[1-1000]x[1-1000]", ",".join(["n[1-100000]"] * 2)])
def test_defect4_hostlist_has_a_node_cap(expr):
    with pytest.raises(HostlistTooLarge):
        expand(expr)
    errors: list[str] = []
    (p,) = tp.parse_scontrol_partitions(f"PartitionName=big Nodes={expr} TotalNodes=4\n", errors)
    assert p.nodes == () and p.total_nodes == 4 and len(errors) == 1
    errors = []
    doc = {"partitions": [{"name": "big", "nodes": expr}, {"name": "ok", "nodes": "n[1-2]"}]}
    assert [p.name for p in jp.parse_partitions(doc, errors)] == ["ok"] and len(errors) == 1


# ---------------------------------------------------------------------------- defect 5

def test_defect5_numbers_above_float_range_never_reach_metric_building():
    huge = "9" * 400
    errors: list[str] = []
    nodes = jp.parse_nodes({"nodes": [{"name": "n1", "state": "IDLE", "cpus": int(huge)},
                                      {"name": "n2", "state": "IDLE", "cpus": 8}]}, errors)
    assert [n.name for n in nodes] == ["n2"] and len(errors) == 1
    errors = []
    (n,) = tp.parse_scontrol_nodes(f"NodeName=n1 CPUTot={huge} RealMemory=1e400 State=IDLE\n", errors)
    assert n.cpus_total is None and n.memory_total_bytes is None and len(errors) == 2
    exposition(nodes_c.build("c", nodes + [n]))


def test_defect5_lone_surrogate_in_a_name_is_rendered_as_replacement_character():
    nodes = jp.parse_nodes({"nodes": [{"name": "n\ud800", "state": "IDLE", "partitions": ["p\udfff"],
                                       "reason": "r\ud800", "gres": "gpu:t\ud800:1"}]})
    got = exposition(nodes_c.build("c", nodes))
    assert got[("slurm_node_state", (("cluster", "c"), ("node", "n\ufffd"), ("state", "idle")))] == 1
    jobs = jp.parse_jobs({"jobs": [{"job_id": 1, "job_state": "PENDING", "partition": "p\ud800",
                                    "submit_time": 1, "user_name": "u"}]})
    got = exposition(jobs_c.build("c", jobs, now=100.0))      # histogram: client_python's path
    assert got[("slurm_jobs_pending_wait_seconds_count", (("cluster", "c"), ("partition", "p\ufffd")))] == 1


def test_defect5_huge_array_task_string():
    errors: list[str] = []
    (j,) = jp.parse_jobs({"jobs": [{"job_id": 5, "array_job_id": 5, "array_task_string": "0-9999999999",
                                    "job_state": "PENDING", "submit_time": 1, "partition": "p"}]}, errors)
    assert j.array_task_count == 1 and len(errors) == 1
    line = "5|0-9999999999|PENDING|p|u|a|1|1|1|cpu=1|N/A|N/A|N/A|2026-01-01T00:00:00|N/A|(null)|None\n"
    errors = []
    (t,) = tp.parse_squeue(line, errors)
    assert t.array_task_count == 1 and len(errors) == 1
    # MaxArraySize's maximum (4000001) is fine, and costs nothing to histogram.
    (t,) = tp.parse_squeue(line.replace("0-9999999999", "0-4000000"))
    assert t.array_task_count == 4_000_001
    got = exposition(jobs_c.build("c", [t], now=2e9))
    assert got[("slurm_jobs_pending_wait_seconds_count", (("cluster", "c"), ("partition", "p")))] == 4_000_001


# ---------------------------------------------------------------------------- defect 6

def test_defect6_invalid_utf8_costs_one_counted_record():
    body = (b'{"jobs": [{"job_id": 1, "job_state": "RUNNING", "user_name": "caf\xe9", "partition": "p"},'
            b' {"job_id": 2, "job_state": "RUNNING", "user_name": "bob", "partition": "p"}]}')
    src = rest()
    jobs, _ = src.decode_stream("jobs", "slurm/jobs", io.BytesIO(body), jp.stream_jobs)
    assert [(j.job_id, j.user) for j in jobs] == [("1", "caf\ufffd"), ("2", "bob")]
    assert src.stats.snapshot()[2] == {"jobs": 1}


def test_defect6_a_400_digit_value_costs_one_field():
    line = "7||RUNNING|p|u|a|1|1|1|cpu=1,mem={}M|N/A|N/A|N/A|2026-01-01T00:00:00|N/A|n1|None\n"
    errors: list[str] = []
    jobs = tp.parse_squeue(line.format("9" * 400) + line.format("100").replace("7|", "8|", 1), errors)
    assert [(j.job_id, j.memory_bytes) for j in jobs] == [("7", None), ("8", 100 * 2 ** 20)]
    assert len(errors) == 1
    errors = []        # found by bench/fuzz_parsers.py --seed 7: the GPUs of a job's TRES
    (j,) = tp.parse_squeue(line.format("100").replace("cpu=1,", "gres/gpu=" + "9" * 400 + ","), errors)
    assert (j.memory_bytes, j.gpus, len(errors)) == (None, None, 1)
    exposition(jobs_c.build("c", [j], now=2e9, per_user=True))
    errors = []
    st = tp.parse_sdiag(f"Jobs submitted: {'9' * 400}\nJobs started: 3\n", errors)
    assert (st.jobs_submitted, st.jobs_started, len(errors)) == (None, 3, 1)
    exposition(sched_c.build("c", st))


# ---------------------------------------------------------------------------- defect 7

def test_defect7_negatives_and_sentinels_mean_unset_on_both_paths():
    text = tp.parse_scontrol_partitions(
        "PartitionName=p TotalNodes=-5 TotalCPUs=18446744073709551615 Nodes=n1\n")[0]
    js = jp.parse_partitions({"partitions": [{"name": "p", "total_nodes": -5, "nodes": "n1",
                                              "total_cpus": 18446744073709551615}]})[0]
    assert (text.total_nodes, text.cpus_total) == (js.total_nodes, js.cpus_total) == (None, None)
    (n,) = tp.parse_scontrol_nodes("NodeName=n1 CPUTot=4294967294 CPUAlloc=-2 State=IDLE\n")
    assert (n.cpus_total, n.cpus_alloc) == (None, None)
