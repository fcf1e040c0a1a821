"""The README's `./run.sh demo` on a fresh Debian 12 tree (tests/rootfs/fresh_readme.py): opt-in
only (SLURMOPS_FRESH_README=1), never in the normal suite — it takes 10-20 minutes, downloads
chromium, Slurm and the Python packages again, and its lab is the default one (ports 16800-16999
and the default node names must be free, no CI run going). SLURMOPS_FRESH_README_ARGS passes
options (e.g. "--reuse-base --unit-tests")."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.environ.get("SLURMOPS_FRESH_README") != "1",
                                 reason="opt-in: SLURMOPS_FRESH_README=1 (many minutes, the default lab's ports)")]

SCRIPT = Path(__file__).with_name("fresh_readme.py")


@pytest.mark.timeout(3900)
def test_run_sh_demo_on_a_fresh_debian_12():
    if os.geteuid() != 0:
        pytest.skip("needs root (mmdebstrap, chroot, namespaces)")
    args = shlex.split(os.environ.get("SLURMOPS_FRESH_README_ARGS", ""))
    r = subprocess.run([sys.executable, str(SCRIPT), *args], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True)
    report = "\n".join(ln for ln in r.stdout.splitlines() if ln.startswith(("fresh-readme:", "    ")))
    print(report)                       # the phases' times and the last lines (pytest -s shows them)
    assert r.returncode == 0, f"./run.sh demo failed in the fresh tree:\n{report}\n{r.stderr[-2000:]}"
