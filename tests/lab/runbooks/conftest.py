"""A private lab for the runbook tests: own dir, ports, cluster and node names, so runbooks that
restart daemons and rotate keys never touch the shared lab in /var/tmp/slurmops-lab."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from labtools import private_lab

REPO = Path(__file__).resolve().parents[3]
LAB_DIR = Path(os.environ.get("SLURMOPS_RB_LAB_DIR", "/var/tmp/slurmops-rb-lab"))
# Port base and node names fixed for CI; SLURMOPS_RB_PORT_BASE and SLURMOPS_RB_NODE_PREFIX move them
# (a helper running beside CI: node names must be unique per lab on the host, cgroup dirs).
NODE_PREFIX = os.environ.get("SLURMOPS_RB_NODE_PREFIX", "r")
LAB_ARGS = ["--port-base", os.environ.get("SLURMOPS_RB_PORT_BASE", "20800"), "--cluster", "rblab",
            "--node-prefix", NODE_PREFIX, "--cloud-nodes", "0"]
SLURMOPS = [sys.executable, "-m", "slurmops"]
RUNBOOK = [sys.executable, "-m", "slurmops.runbook", "runbook"]


@pytest.fixture(scope="session")
def rb_lab():
    """Up once for the session (~20 s), down --purge at the end."""
    with private_lab(LAB_DIR, *LAB_ARGS) as d:
        yield d


@pytest.fixture
def state_dir(tmp_path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def runbook(rb_lab, state_dir):
    """Run `runbook <verb> ...` against the private lab, no stdin (as automation would)."""
    def call(verb: str, *args: str, timeout: float = 600, target: bool = True) -> subprocess.CompletedProcess:
        extra = ["--state-dir", str(state_dir)] if verb in ("run", "resume", "log") else []
        tgt = ["--target", f"lab:{rb_lab}"] if target and verb in ("run", "plan") else []
        return subprocess.run([*RUNBOOK, verb, *tgt, *extra, *args], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, cwd=REPO)
    return call


@pytest.fixture
def healthy(runbook):
    """Assert the lab is healthy (the cluster-health runbook: daemons, nodes, a test job)."""
    def check():
        r = runbook("run", "cluster-health")
        assert r.returncode == 0, r.stdout + r.stderr
    return check
