"""A private lab with a backup slurmctld (`lab up --backup-controller`): both controllers answer,
kill -9 of the primary hands control to the backup, `lab up` brings the primary back, the
slurmctld-takeover runbook runs end to end, and `lab down` leaves no process and no namespace.

Own dir, ports, cluster and node names: the shared lab in /var/tmp/slurmops-lab is never touched.
SLURMOPS_HA_HOSTS=1 runs the same drills on a lab of separate hosts (`--hosts`): both controllers
are then controller hosts of their own on the hosts' bridge.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labtools import lab_cmd, lab_env, private_lab
from slurmops.lab import proc
from slurmops.lab.checks import parse_ping
from slurmops.lab.platform import load_config

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# Fixed for the 22.05 suite; the generation matrix (run.sh) moves them for its own HA labs.
LAB_DIR = Path(os.environ.get("SLURMOPS_HA_LAB_DIR", "/var/tmp/slurmops-ha-lab"))
LAB_ARGS = ["--port-base", os.environ.get("SLURMOPS_HA_PORT_BASE", "28800"), "--cluster", "halab",
            "--node-prefix", os.environ.get("SLURMOPS_HA_NODE_PREFIX", "h"), "--cloud-nodes", "0",
            "--backup-controller"]
HOSTS = os.environ.get("SLURMOPS_HA_HOSTS") == "1"
if HOSTS:
    LAB_ARGS.append("--hosts")
SLURMOPS = [sys.executable, "-m", "slurmops"]


def env() -> dict[str, str]:
    return lab_env(LAB_DIR)


def ping() -> dict[str, tuple[str, str]]:
    r = proc.run(["scontrol", "ping"], env=env(), timeout=15)
    return parse_ping(r.stdout + r.stderr)


def state(role: str) -> str:
    return ping().get(role, ("", "missing"))[1]


def wait_for(pred, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


def srun_ok() -> subprocess.CompletedProcess:
    return proc.run(["srun", "-p", "cpu", "-N1", "-t", "1", "true"], env=env(), timeout=120)


@pytest.fixture(scope="module")
def ha_lab():
    with private_lab(LAB_DIR, *LAB_ARGS) as d:
        yield load_config(d)


def test_both_controllers_answer(ha_lab):
    ctl = ping()
    assert ctl["primary"] == (ha_lab.ctld_host, "UP"), ctl
    assert ctl["backup"] == (ha_lab.backup_hostname, "UP"), ctl
    r = lab_cmd("status", "--dir", str(LAB_DIR))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "slurmctld_backup" in r.stdout
    # private pid files: the backup never overwrites the primary's
    primary = proc.owned_pid(ha_lab.pidfile("slurmctld"), LAB_DIR)
    backup = proc.owned_pid(ha_lab.pidfile("slurmctld_backup"), LAB_DIR)
    assert primary and backup and primary != backup
    # the backup runs in its own network and UTS namespace
    assert os.readlink(f"/proc/{backup}/ns/net") != os.readlink(f"/proc/{primary}/ns/net")
    assert os.readlink(f"/proc/{backup}/ns/uts") != os.readlink(f"/proc/{primary}/ns/uts")
    if HOSTS:           # each in its controller host's namespace, as iproute2 lists them
        for pid, host in ((primary, ha_lab.ctl_hostname), (backup, ha_lab.backup_hostname)):
            listed = proc.run(["ip", "netns", "pids", ha_lab.host_netns(host)]).stdout.split()
            assert str(pid) in listed, (host, listed)


def test_kill_primary_backup_takes_over_and_lab_up_restores(ha_lab):
    pid = proc.owned_pid(ha_lab.pidfile("slurmctld"), LAB_DIR)
    assert pid
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)

    def backup_serves() -> bool:
        return state("primary") == "DOWN" and state("backup") == "UP" and \
            proc.run(["sinfo", "-h"], env=env(), timeout=10).returncode == 0
    assert wait_for(backup_serves, 30), ping()
    r = srun_ok()
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    assert took < 45, f"a job ran {took:.1f} s after kill -9 of the primary"
    print(f"kill -9 of the primary -> job ran under the backup after {took:.1f} s")

    t0 = time.monotonic()
    r = lab_cmd("up", "--dir", str(LAB_DIR))
    assert r.returncode == 0, r.stdout + r.stderr
    print(f"lab up restored the primary in {time.monotonic() - t0:.1f} s")
    assert state("primary") == "UP" and state("backup") == "UP", ping()
    assert srun_ok().returncode == 0


def test_takeover_runbook(ha_lab, tmp_path):
    def runbook(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "slurmops", "runbook", "run", *args,
                               "--target", f"lab:{LAB_DIR}", "--yes", "--state-dir",
                               str(tmp_path / "state")], capture_output=True, text=True,
                              timeout=600, stdin=subprocess.DEVNULL, cwd=REPO)

    # Maintenance mode: the run ends with the backup in control and the primary stopped.
    r = runbook("slurmctld-takeover")
    assert r.returncode == 0, r.stdout + r.stderr
    assert state("primary") == "DOWN" and state("backup") == "UP", ping()
    assert srun_ok().returncode == 0
    # After the work on the primary's host: start it again, it takes control back.
    r = lab_cmd("up", "--dir", str(LAB_DIR))
    assert r.returncode == 0, r.stdout + r.stderr

    # Drill: takeover and hand back in one run, then the cluster health runbook passes.
    r = runbook("slurmctld-takeover", "-p", "hand_back=true")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Hand control back" in r.stdout
    assert state("primary") == "UP" and state("backup") == "UP", ping()
    r = runbook("cluster-health")
    assert r.returncode == 0, r.stdout + r.stderr
    r = lab_cmd("status", "--dir", str(LAB_DIR))
    assert r.returncode == 0, r.stdout + r.stderr


def test_down_leaves_no_process_and_no_namespace(ha_lab):
    r = lab_cmd("down", "--dir", str(LAB_DIR))
    assert r.returncode == 0, r.stdout + r.stderr
    assert proc.lab_processes(LAB_DIR) == []
    names = proc.run(["ip", "netns", "list"]).stdout.split()
    assert ha_lab.netns not in names
    assert not [h for h in ha_lab.lab_hosts() if ha_lab.host_netns(h) in names]
    assert proc.run(["ip", "link", "show", "dev", ha_lab.veth_host]).returncode != 0
    assert proc.run(["ip", "link", "show", "dev", ha_lab.hosts_bridge]).returncode != 0
