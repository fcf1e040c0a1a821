"""The gates configured in pyproject.toml, run with the tests (so `./run.sh test`, CI, runs them):
ruff at zero findings, mypy clean on slurmops/ (the strict flag set on slurmops.slurm and
slurmops.exporter, see [tool.mypy]), and no duplicated code (pylint's duplicate-code) in the tree."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import need

pytestmark = pytest.mark.slow    # about a minute: `-m "not slow"` for a quick run; ./run.sh runs it
REPO = Path(__file__).resolve().parents[2]
TREE = ["slurmops", "runbooks", "dashboards", "bench", "tests"]


def tool(module: str, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
    if r.returncode != 0:
        need.absent(f"{module} is not installed: pip install -e '.[dev]'")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)


def test_ruff_finds_nothing():
    r = tool("ruff", "check", "--no-cache", ".")
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]


def test_mypy_is_clean():
    r = tool("mypy")
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]


def test_no_duplicated_code():
    r = tool("pylint", "--rcfile", str(REPO / "pyproject.toml"), *TREE)
    assert r.returncode == 0 and "R0801" not in r.stdout, r.stdout[-6000:] + r.stderr[-2000:]
