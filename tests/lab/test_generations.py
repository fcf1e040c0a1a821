"""`slurmops lab up --slurm X` refuses bad input with one `error:` line, a non-zero exit and
nothing left running or mounted: an unknown generation, a half-built root filesystem, a missing
one that cannot be built (registry unreachable), a port in use, another generation on a running
lab. The generations themselves run in run.sh's matrix (tests/lab/ against a 24.11 and a 26.05 lab)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from slurmops.lab import rootfs
from slurmops.lab.generations import GENERATIONS, ROOTFS_PACKAGES

REPO = Path(__file__).resolve().parents[2]
PORT_BASE = 17800        # this file's own (no lab is started: every case fails before)


def up(lab_dir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "slurmops", "lab", "up", "--dir", str(lab_dir),
                           "--port-base", str(PORT_BASE), "--cluster", "badin", "--node-prefix", "bi",
                           *args], capture_output=True, text=True, timeout=600, cwd=REPO,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def assert_clean_failure(r: subprocess.CompletedProcess, lab_dir: Path, *words: str) -> None:
    assert r.returncode != 0, r.stdout
    errors = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), r.stderr
    for w in words:
        assert w in errors[0], errors[0]
    assert "Traceback" not in r.stdout + r.stderr
    # nothing of that lab runs: no process carries its marker or has its root there
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            env = (p / "environ").read_bytes()
            root = os.readlink(p / "root")
        except OSError:
            continue
        assert f"SLURMOPS_LAB_DIR={lab_dir}\0".encode() not in env + b"\0", p.name
        assert not root.startswith(str(lab_dir)), (p.name, root)
    assert str(lab_dir) not in Path("/proc/self/mountinfo").read_text()


@pytest.fixture
def lab_dir():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    parent = Path(tempfile.mkdtemp(prefix="slurmops-badin-", dir="/var/tmp"))
    os.chmod(parent, 0o755)
    yield parent / "lab"
    subprocess.run([sys.executable, "-m", "slurmops", "lab", "down", "--purge", "--dir",
                    str(parent / "lab")], capture_output=True, timeout=120, cwd=REPO)
    shutil.rmtree(parent, ignore_errors=True)


def test_unknown_generation(lab_dir):
    r = up(lab_dir, "--slurm", "23.02")
    assert_clean_failure(r, lab_dir, "unknown Slurm generation '23.02'", "22.05, 24.11, 26.05")
    assert not lab_dir.exists()


def test_half_built_root_filesystem_is_refused(lab_dir, tmp_path):
    cache = tmp_path / "cache"
    half = rootfs.path_for(GENERATIONS["24.11"].suite, ROOTFS_PACKAGES, cache)
    (half / "usr" / "bin").mkdir(parents=True)          # what a killed copy would leave: no stamp
    r = up(lab_dir, "--slurm", "24.11", env={"SLURMOPS_ROOTFS_CACHE": str(cache)})
    assert_clean_failure(r, lab_dir, "half-built", str(half))
    assert (half / "usr" / "bin").is_dir()              # refused, not used and not deleted


def test_missing_root_filesystem_and_unreachable_registry(lab_dir, tmp_path):
    cache = tmp_path / "cache"
    dead = "http://127.0.0.1:9/debian"                  # discard port: connection refused
    r = up(lab_dir, "--slurm", "24.11", env={"SLURMOPS_ROOTFS_CACHE": str(cache),
                                              "SLURMOPS_DEBIAN_MIRROR": dead,
                                              "SLURMOPS_DEBIAN_SECURITY_MIRROR": dead})
    assert_clean_failure(r, lab_dir, "mmdebstrap trixie failed: E: Failed to fetch", "Connection refused")
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []   # no temp left


def test_port_in_use(lab_dir):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", PORT_BASE + 17))
        s.listen()
        r = up(lab_dir, "--slurm", "24.11")
    assert_clean_failure(r, lab_dir, f"port {PORT_BASE + 17} for slurmctld is already in use")


@pytest.mark.lab
def test_other_generation_on_a_running_lab(lab):
    """`up --slurm` of another generation on a running lab's dir: refused, the lab untouched."""
    other = next(g for g in GENERATIONS if g != lab.cfg.slurm)
    r = subprocess.run([sys.executable, "-m", "slurmops", "lab", "up", "--dir", str(lab.cfg.dir),
                        "--slurm", other], capture_output=True, text=True, timeout=120, cwd=REPO,
                       stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    errors = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: ") and "slurm" in errors[0], r.stderr
    assert all(s.healthy for s in lab.status())
