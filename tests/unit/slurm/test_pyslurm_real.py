"""The REAL pyslurm against a live Slurm, compared with the cli source. It runs only where an
importable pyslurm matches the running Slurm's major.minor (the exporter's own version gate) and
skips otherwise with the gate's reason: here the lab's Slurm is 22.05.8 and PyPI has no pyslurm for
22.05. Skipping needs no lab; running uses whatever Slurm SLURM_CONF names (it starts nothing)."""
from __future__ import annotations

import os

import pytest

from slurmops.exporter.collectors import accounting, jobs as jobs_c, nodes as nodes_c, partitions as parts_c
from slurmops.slurm.sources import CallStats
from slurmops.slurm.sources.cli import CliSource
from slurmops.slurm.sources.pyslurm_source import PyslurmSource, PyslurmUnavailable, open_pyslurm

# Values that move between two calls a moment apart.
TIME_DEPENDENT = {"slurm_node_cpu_load", "slurm_node_memory_bytes"}


@pytest.fixture(scope="module")
def sources():
    env = {"SLURM_CONF": os.environ["SLURM_CONF"]} if os.environ.get("SLURM_CONF") else {}
    try:
        module = open_pyslurm(env, stats=CallStats())
    except PyslurmUnavailable as exc:
        pytest.skip(f"no usable real pyslurm here: {exc}")
    return PyslurmSource(module), CliSource(env=env)


def values(families) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in families for s in f.samples if s.name not in TIME_DEPENDENT}


def test_real_pyslurm_gives_the_cli_sources_metric_values(sources):
    pys, cli = sources
    got_nodes, want_nodes = pys.nodes(), cli.nodes()
    got_parts, want_parts = pys.partitions(), cli.partitions()
    assert values(nodes_c.build("c", got_nodes)) == values(nodes_c.build("c", want_nodes))
    assert values(parts_c.build("c", got_parts, got_nodes)) == \
        values(parts_c.build("c", want_parts, want_nodes))
    assert values(accounting.reservations("c", pys.reservations(), 0)) == \
        values(accounting.reservations("c", cli.reservations(), 0))
    assert values(accounting.controllers("c", pys.controllers())) == \
        values(accounting.controllers("c", cli.controllers()))
    assert pys.info().cluster == cli.info().cluster
    assert pys.stats.errors == {}


def test_real_pyslurm_gives_the_cli_sources_job_metric_values(sources):
    """Compared when the queue did not change around the pyslurm call (cli before == cli after)."""
    pys, cli = sources
    for _ in range(5):
        before, got, after = cli.jobs(), pys.jobs(), cli.jobs()
        if before == after:
            break
    else:
        pytest.skip("the job queue kept changing between calls")
    parts = [p.name for p in cli.partitions()]
    assert sorted(j.job_id for j in got) == sorted(j.job_id for j in before)
    assert values(jobs_c.build("c", got, 0, parts, True, True)) == \
        values(jobs_c.build("c", before, 0, parts, True, True))
