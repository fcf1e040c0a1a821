"""Shared fixtures. Tests marked `lab` run against the real lab (`slurmops lab up`); `./run.sh test`
starts it and sets SLURMOPS_REQUIRE_LAB=1 so a missing lab fails the run instead of skipping."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from slurmops.lab.config import DEFAULT_DIR
from slurmops.lab.platform import Lab, load_config

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite the golden exposition files (tests/fixtures/slurm-*/e2e-output-*.txt)")


@pytest.fixture(scope="session")
def promtool_bin() -> str:
    """promtool ($PROMTOOL or PATH): missing fails under SLURMOPS_REQUIRE_LAB=1, else skips."""
    import need
    return need.promtool()


@pytest.fixture(scope="session")
def lab() -> Lab:
    lab_dir = Path(os.environ.get("SLURMOPS_LAB_DIR", DEFAULT_DIR))
    cfg = load_config(lab_dir)
    problem = None
    if cfg is None:
        problem = f"no lab in {lab_dir}"
    else:
        bad = [s.name for s in Lab(cfg).status() if not s.healthy]
        if bad:
            problem = f"lab in {lab_dir} unhealthy: {', '.join(bad)}"
    if problem:
        if os.environ.get("SLURMOPS_REQUIRE_LAB") == "1":
            pytest.fail(f"{problem} (./run.sh test starts it)")
        pytest.skip(f"{problem}: start it with `slurmops lab up` or run ./run.sh test")
    lab = Lab(cfg)
    # A known baseline: no jobs, no drained nodes, no reservation (the demo's workload may be there).
    from slurmops.lab import workload
    workload.stop(lab)
    return lab


@pytest.fixture(scope="session")
def scratch_lab(lab):
    """A second, private lab for tests that break things on purpose (stop slurmctld, kill
    slurmrestd): the shared lab stays untouched. Each test leaves it healthy again."""
    import shutil
    import tempfile

    from labtools import private_lab

    parent = Path(tempfile.mkdtemp(prefix="slurmops-scratch-", dir="/var/tmp"))
    os.chmod(parent, 0o755)
    with private_lab(parent / "lab", "--port-base", "24800", "--cluster", "scratch",
                     "--node-prefix", "s", "--cloud-nodes", "0", "--cpu-nodes", "2") as d:
        yield Lab(load_config(d))
    shutil.rmtree(parent, ignore_errors=True)
