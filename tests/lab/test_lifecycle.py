"""A second, private lab (own dir, ports, node names) proves the lifecycle without touching the
shared one: up is fast and idempotent, status sees a dead slurmctld, down leaves no process, and
bad input gives one clear error line."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from slurmops.lab import proc
from slurmops.lab.config import LabConfig
from slurmops.lab.platform import Lab, load_config

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PORT_BASE = 18800


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "slurmops", "lab", *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def error_lines(r: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in r.stderr.splitlines() if ln.strip()]


@pytest.fixture
def lab_parent():
    """Where a test lab lives: like /var/tmp, reachable by the daemons' own users (pytest's
    tmp_path is mode 0700, which `lab up` rightly refuses)."""
    d = Path(tempfile.mkdtemp(prefix="slurmops-test-", dir="/var/tmp"))
    os.chmod(d, 0o755)
    yield d
    if (d / "lab" / "lab.json").exists():
        cli("down", "--purge", "--dir", str(d / "lab"))
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def second_lab(lab, lab_parent):
    """`lab` first: the shared lab is up, so packages are installed and we test a second one."""
    return lab_parent / "lab"


def test_up_is_fast_idempotent_and_down_leaves_nothing(second_lab):
    d = str(second_lab)
    args = ["--dir", d, "--port-base", str(PORT_BASE), "--cluster", "lab2", "--node-prefix", "t",
            "--cloud-nodes", "1"]
    t0 = time.monotonic()
    r = cli("up", *args)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"lab up in ([\d.]+) s", r.stdout)
    assert m and float(m.group(1)) < 60 and took < 75, r.stdout
    cfg = load_config(second_lab)
    assert cfg.cluster == "lab2" and cfg.node_names == ["tn1", "tn2", "tn3", "tc1"]
    lab2 = Lab(cfg)
    before = {s.name: s.pids for s in lab2.status()}
    assert all(before.values()), before

    # Idempotent: a second up starts nothing new.
    r = cli("up", "--dir", d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert {s.name: s.pids for s in lab2.status()} == before
    # ... and refuses to silently change the lab's shape.
    r = cli("up", "--dir", d, "--cpu-nodes", "5")
    assert r.returncode == 2 and "cpu_nodes" in r.stderr

    # Stopping slurmctld is detected by status.
    os.kill(before["slurmctld"][0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while proc.alive(before["slurmctld"][0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    r = cli("status", "--dir", d)
    assert r.returncode == 1
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("slurmctld"))
    assert "DOWN" in line
    assert re.search(r"^munged\s+healthy", r.stdout, re.M)
    # up brings back exactly the missing piece.
    r = cli("up", "--dir", d)
    assert r.returncode == 0, r.stdout + r.stderr
    after = {s.name: s.pids for s in lab2.status()}
    assert after["slurmctld"] != before["slurmctld"]
    assert after["mariadb"] == before["mariadb"]

    # A running job's processes belong to the lab too; down cancels it and stops them all.
    r = subprocess.run(["sbatch", "--parsable", "-p", "cpu", "-o", "/dev/null", "--wrap", "sleep 600"],
                       env=lab2.env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "RUNNING" not in subprocess.run(
            ["squeue", "-h", "-o", "%T"], env=lab2.env, capture_output=True, text=True).stdout:
        time.sleep(0.5)
    pids = proc.lab_processes(second_lab)
    n_components = len(lab2.components())
    assert len(pids) >= n_components + 3  # daemons + 3 slurmd (one is counted) + a slurmstepd
    r = cli("down", "--dir", d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [p for p in pids if proc.alive(p)] == []
    assert proc.lab_processes(second_lab) == []
    r = cli("status", "--dir", d)
    assert r.returncode == 1 and r.stdout.count("DOWN") == n_components

    r = cli("down", "--purge", "--dir", d)
    assert r.returncode == 0 and not second_lab.exists()
    assert not any(Path("/sys/fs/cgroup/memory").glob("slurm_tn*"))


def test_dir_that_is_a_file_is_one_clear_error(tmp_path):
    f = tmp_path / "not-a-dir"
    f.write_text("x")
    r = cli("up", "--dir", str(f))
    assert r.returncode != 0
    assert error_lines(r) == [f"error: --dir {f} exists and is not a directory"]
    r = cli("up", "--dir", str(f / "sub"))
    assert r.returncode != 0 and len(error_lines(r)) == 1 and "is a file" in r.stderr


def test_dir_not_reachable_by_daemon_users_is_one_clear_error(tmp_path):
    r = cli("up", "--dir", str(tmp_path / "lab"))  # pytest's tmp dirs are 0700
    assert r.returncode == 1
    assert len(error_lines(r)) == 1 and "is not searchable by other users" in r.stderr


def up_with_slurmctld_port_taken(lab_parent: Path, base: int) -> tuple[LabConfig, subprocess.CompletedProcess]:
    """`lab up` while another socket listens on the lab's slurmctld port."""
    cfg = LabConfig(dir=lab_parent / "lab", port_base=base)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", cfg.port("slurmctld")))
        s.listen()
        return cfg, cli("up", "--dir", str(cfg.dir), "--port-base", str(base), "--node-prefix", "p")


def test_port_taken_is_one_clear_error_and_nothing_left_running(lab_parent):
    base = PORT_BASE + 1000
    cfg, r = up_with_slurmctld_port_taken(lab_parent, base)
    assert r.returncode == 1
    assert error_lines(r) == [f"error: port {cfg.port('slurmctld')} for slurmctld is already in use "
                              "on this host (another lab? pick one with --port-base)"]
    assert proc.lab_processes(cfg.dir) == []
    r = cli("status", "--dir", str(cfg.dir))  # status reports it: nothing running
    assert r.returncode in (1, 3)
    assert "healthy" not in r.stdout


def test_port_taken_in_the_ephemeral_range_says_so(lab_parent):
    # CI once failed because an outgoing connection held a lab port above 32768 at random: the
    # error must tell the operator that, not only "another lab?".
    low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    base = low + 1000
    cfg, r = up_with_slurmctld_port_taken(lab_parent, base)
    assert r.returncode == 1
    port = cfg.port("slurmctld")
    assert error_lines(r) == [f"error: port {port} for slurmctld is already in use on this host (another lab, "
                              f"or an outgoing connection: {port} lies in the kernel's ephemeral range "
                              f"{low}-{high}; pick a --port-base below {low})"]
    assert proc.lab_processes(cfg.dir) == []


def test_missing_package_is_one_clear_error(lab_parent):
    d = lab_parent / "lab"
    r = cli("up", "--dir", str(d), "--port-base", str(PORT_BASE + 2000),
            "--extra-package", "slurmops-no-such-package", timeout=600)
    assert r.returncode == 1
    lines = error_lines(r)
    assert len(lines) == 1 and lines[0].startswith("error: apt-get cannot install slurmops-no-such-package")
    assert "Unable to locate package" in lines[0]
    assert proc.lab_processes(d) == []
