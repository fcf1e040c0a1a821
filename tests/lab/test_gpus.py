"""Allocated GPUs on a real Slurm (issue 12): a private lab whose nodes have real GPU GRES
(``lab up --gpus 2 --gpu-type a100``: Gres=gpu:a100:2, gres.conf AutoDetect=off with File= device
nodes, gres/gpu tracked or not), jobs holding 1 and 2 GPUs, and the exporter's ``slurm_gpus`` /
``slurm_node_gpus`` / ``slurm_partition_gpus`` equal to what squeue and ``scontrol -d`` say, from
both the cli source (AllocTRES: ``scontrol show nodes -o`` prints no GresUsed without -d; -d
only where AllocTRES cannot tell) and the rest source (slurmrestd's gres_used)."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from test_slurm_exporter import poll, value

from labtools import private_lab
from slurmops.lab import proc
from slurmops.lab.platform import Lab, load_config

pytestmark = [pytest.mark.lab, pytest.mark.slow]

GPU_LAB = Path("/var/tmp/slurmops-gpu-lab")
UP_ARGS = ("--port-base", "19800", "--cluster", "gpulab", "--node-prefix", "g12", "--cpu-nodes", "2",
           "--cloud-nodes", "0", "--gpus", "2", "--gpu-type", "a100")


@pytest.fixture(scope="module", params=["gpu-tres", "no-gpu-tres"])
def gpu_lab(lab, request):   # the shared lab first: it installs everything a private lab needs
    """Two labs in turn: gres/gpu tracked in AccountingStorageTRES (AllocTRES names the GPUs),
    and not (Slurm's default: only scontrol -d says how many are in use)."""
    with private_lab(GPU_LAB, *UP_ARGS, f"--{request.param}") as d:
        yield Lab(load_config(d))


def test_allocated_gpus_match_squeue_and_scontrol(gpu_lab):
    lab = gpu_lab
    env = lab.env
    # One job asks for a typed GPU by --gres, one for two untyped GPUs by --gpus.
    for args in (["--gres=gpu:a100:1"], ["--gpus=2"]):
        r = proc.run(["sbatch", "-p", "cpu", "-o", "/dev/null", *args, "--wrap", "sleep 300"], env=env)
        assert r.returncode == 0, r.stderr
    try:
        deadline = time.time() + 60
        while True:
            states = proc.run(["squeue", "-h", "-o", "%T"], env=env).stdout.split()
            if states == ["RUNNING", "RUNNING"] or time.time() > deadline:
                break
            time.sleep(1)
        assert states == ["RUNNING", "RUNNING"]
        # Truth 1: squeue: the allocated TRES of the running jobs (gres/gpu is their total) where
        # gres/gpu is tracked, else their requests (one node each: per job = per node).
        rows = proc.run(["squeue", "-h", "-t", "R", "-O", "tres-alloc:|,tres-per-job:|,tres-per-node:"],
                        env=env).stdout.split()
        by_job = sorted(int(re.search(r"gres/gpu=(\d+)" if lab.cfg.gpu_tres else
                                      r"gpu(?::[a-z0-9]+)?[:=](\d+)", row).group(1)) for row in rows)
        assert by_job == [1, 2]
        # Truth 2: scontrol's GRES details (-d), per node.
        detail = proc.run(["scontrol", "show", "nodes", "-o", "-d"], env=env).stdout
        used = {m.group(1): int(m.group(2)) for m in
                re.finditer(r"NodeName=(\S+).*?GresUsed=gpu:a100:(\d+)", detail)}
        assert sorted(used.values()) == [1, 2]
        # Without -d scontrol prints no GresUsed at all: the cli source reads AllocTRES, which
        # names the GPUs only when gres/gpu is tracked; otherwise it asks with -d.
        plain = proc.run(["scontrol", "show", "nodes", "-o"], env=env).stdout
        assert "GresUsed" not in plain
        assert ("gres/gpu=" in plain) == lab.cfg.gpu_tres
        c = lab.cfg.cluster
        for source in ("cli", "rest"):
            p, s, failed = poll(lab, source)
            if source == "cli":
                assert p.source.node_details == (not lab.cfg.gpu_tres)
            assert "nodes" not in failed and "partitions" not in failed, (source, failed)
            assert value(s, "slurm_gpus", cluster=c, type="a100", status="allocated") == sum(by_job)
            assert value(s, "slurm_gpus", cluster=c, type="a100", status="total") == 4
            assert value(s, "slurm_partition_gpus", cluster=c, partition="cpu", status="allocated") == 3
            for node, n in used.items():
                assert value(s, "slurm_node_gpus", cluster=c, node=node, type="a100",
                             status="allocated") == n, (source, node)
    finally:
        proc.run(["scancel", "-u", "root"], env=env)
