"""slurm-upgrade rehearsed for real: a private Slurm 24.11 lab upgraded to 26.05 (each daemon swapped
to Debian forky's Slurm with `lab switch`, the lab's state kept), with a running, a held and a
resource-pending job that must survive; a disk that fills during the backup; kill -9 inside the
destructive steps, then `runbook resume --rollback` (back to 24.11, every job still known) and
`runbook resume` (finish: 26.05 everywhere). The truth is Slurm's own answers: `sinfo %v`,
`scontrol show config`, `sacctmgr show config`, squeue and sacct.

The full set (kill -9 + resume to the end in *every* destructive step, each on a fresh 24.11 lab)
runs with SLURMOPS_UPGRADE_FULL=1; by default one kill + finish case runs (the CI-sized subset)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labtools import lab_cmd, private_lab

REPO = Path(__file__).resolve().parents[3]
RUNBOOK = [sys.executable, "-m", "slurmops.runbook", "runbook"]
LAB_DIR = Path(os.environ.get("SLURMOPS_UPGRADE_LAB_DIR", "/var/tmp/slurmops-upgrade-lab"))
# Port base 15300: distinct from every other private lab's (tests/README, HELPERS.md).
LAB_ARGS = ["--port-base", "15300", "--cluster", "uplab", "--node-prefix", "u", "--cloud-nodes", "0",
            "--cpu-nodes", "2", "--slurm", "24.11"]
NODES = ["un1", "un2"]
FULL = os.environ.get("SLURMOPS_UPGRADE_FULL") == "1"

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _up() -> None:
    r = lab_cmd("up", "--dir", str(LAB_DIR), *LAB_ARGS, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


@pytest.fixture(scope="module")
def lab():
    with private_lab(LAB_DIR, *LAB_ARGS, timeout=900) as d:
        yield d


def env(lab_dir: Path) -> dict:
    """The lab's own PATH: clients-bin follows `lab switch clients`."""
    return {"PATH": f"{lab_dir}/clients-bin:{lab_dir}/rootfs-bin:{os.environ['PATH']}",
            "SLURM_CONF": str(lab_dir / "etc" / "slurm.conf"), "SLURMOPS_LAB_DIR": str(lab_dir)}


def slurm(lab_dir: Path, *argv: str) -> str:
    r = subprocess.run(list(argv), capture_output=True, text=True, env=env(lab_dir), timeout=60,
                       cwd=lab_dir)
    assert r.returncode == 0, f"{argv}: {r.stderr}"
    return r.stdout


def versions(lab_dir: Path) -> dict[str, str]:
    """Each daemon's release as Slurm itself reports it."""
    ctl = re.search(r"SLURM_VERSION\s*=\s*(\S+)", slurm(lab_dir, "scontrol", "show", "config")).group(1)
    dbd = re.search(r"SLURMDBD_VERSION\s*=\s*(\S+)", slurm(lab_dir, "sacctmgr", "show", "config")).group(1)
    out = {"slurmctld": ctl[:5], "slurmdbd": dbd[:5]}
    for ln in slurm(lab_dir, "sinfo", "-h", "-N", "-o", "%N %v").splitlines():
        node, v = ln.split()
        out[node] = v[:5]
    return out


def submit_jobs(lab_dir: Path, tag: str) -> dict[str, str]:
    """A running job on the first node (it ends when the test creates LAB/release-TAG: the lab dir
    is at its own path inside every root filesystem), a held job, and one pending for resources
    (it asks for both nodes)."""
    def sb(*args: str) -> str:
        return slurm(lab_dir, "sbatch", "--parsable", "-o", "/dev/null", *args).strip()
    flag = lab_dir / f"release-{tag}"
    jobs = {"running": sb("-N1", "-w", NODES[0], "--wrap",
                          f"while [ ! -e {flag} ]; do sleep 1; done"),
            "held": sb("-H", "--wrap", "sleep 1"),
            "resources": sb("-N2", "--exclusive", "--wrap", "sleep 1")}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and state(lab_dir, jobs["running"]) != "RUNNING":
        time.sleep(0.5)
    assert state(lab_dir, jobs["running"]) == "RUNNING"
    return jobs


def state(lab_dir: Path, job: str) -> str:
    return slurm(lab_dir, "squeue", "-h", "-j", job, "-t", "all", "-o", "%T").strip()


def sacct_ids(lab_dir: Path) -> set[str]:
    return set(slurm(lab_dir, "sacct", "-X", "-n", "-a", "-S", "2020-01-01", "-o", "JobID").split())


def assert_jobs_survived(lab_dir: Path, jobs: dict[str, str], accounted: set[str]) -> None:
    assert state(lab_dir, jobs["running"]) == "RUNNING"
    assert state(lab_dir, jobs["held"]) == "PENDING"
    assert state(lab_dir, jobs["resources"]) == "PENDING"
    lost = accounted - sacct_ids(lab_dir)
    assert not lost, f"job records lost from accounting: {sorted(lost)}"


def run_bg(state_dir: Path, lab_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([*RUNBOOK, "run", "--target", f"lab:{lab_dir}", "--state-dir", str(state_dir),
                             "--yes", "slurm-upgrade", "-p", "to=26.05", *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, cwd=REPO, start_new_session=True)


def audit(state_dir: Path) -> tuple[str | None, list[dict]]:
    logs = list((state_dir / "runs").glob("*/audit.jsonl")) if (state_dir / "runs").exists() else []
    if not logs:
        return None, []
    recs = []
    for ln in logs[0].read_text().splitlines():
        try:
            recs.append(json.loads(ln))
        except json.JSONDecodeError:
            pass                     # a torn last line after kill -9
    return logs[0].parent.name, recs


def wait_in_step(state_dir: Path, step: int, after_cmd: str | None, timeout: float = 300) -> str:
    """Until step `step` has started and, if after_cmd, a command whose argv contains it ran there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_id, recs = audit(state_dir)
        started = any(r["event"] == "step_start" and r["step"] == step for r in recs)
        if started and (after_cmd is None or any(
                r["event"] == "cmd" and r.get("step") == step and after_cmd in " ".join(r.get("argv", []))
                for r in recs)):
            return run_id
        time.sleep(0.05)
    raise AssertionError(f"step {step} ({after_cmd}) not reached: {[r['event'] for r in audit(state_dir)[1]][-10:]}")


def kill_in(state_dir: Path, lab_dir: Path, step: int, after_cmd: str | None) -> str:
    p = run_bg(state_dir, lab_dir)
    try:
        run_id = wait_in_step(state_dir, step, after_cmd)
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    _, recs = audit(state_dir)
    assert not any(r["event"] == "run_end" for r in recs), "the run ended before the kill"
    return run_id


def resume(state_dir: Path, run_id: str, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    r = subprocess.run([*RUNBOOK, "resume", "--state-dir", str(state_dir), run_id, *args],
                       capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL, cwd=REPO)
    ends = [x for x in audit(state_dir)[1] if x["event"] == "run_end"]
    assert ends, r.stdout[-3000:] + r.stderr[-2000:]
    return r, ends[-1]


OLD = {"slurmctld": "24.11", "slurmdbd": "24.11", **{n: "24.11" for n in NODES}}
NEW = {k: "26.05" for k in OLD}

# (step, command after which kill -9 lands): the destructive steps of slurm-upgrade
KILL_POINTS = [(4, "stop slurmdbd"), (6, "switch slurmdbd"), (7, "switch slurmctld"),
               (8, f"switch slurmd-{NODES[0]}"), (9, "switch clients")]


def test_disk_full_during_the_backup_rolls_back(lab, tmp_path):
    """The backup dir is an 8 MiB tmpfs: room at the disk-space check, then another writer fills
    it while slurmdbd is being stopped, so mysqldump hits ENOSPC. The run rolls back: no partial
    backup left, the old slurmdbd running again on its untouched database, every job kept."""
    jobs = submit_jobs(lab, "disk")
    accounted = sacct_ids(lab)
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(small)], check=True)
    state_dir = tmp_path / "state"
    try:
        p = run_bg(state_dir, lab, "--set", f"backup_dir={small}/b")
        wait_in_step(state_dir, 4, None)
        fill = subprocess.run(["dd", "if=/dev/zero", f"of={small}/filler", "bs=64k"], capture_output=True)
        assert b"No space left" in fill.stderr
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 1, out
        _, recs = audit(state_dir)
        assert [r for r in recs if r["event"] == "run_end"][-1]["status"] == "rolled-back"
        failed = [r for r in recs if r["event"] == "step_failed"]
        assert failed and failed[0]["step"] == 5 and failed[0]["phase"] == "action", failed
        assert {r["step"] for r in recs if r["event"] == "rollback_step_done"} >= {4, 5}
        left = [str(f) for f in (small / "b").rglob("*") if f.is_file()]
        assert not [f for f in left if f.endswith(".part")], left
    finally:
        subprocess.run(["umount", str(small)])
    assert versions(lab) == OLD
    assert_jobs_survived(lab, jobs, accounted)
    slurm(lab, "scancel", *jobs.values())


@pytest.mark.parametrize("step,after", KILL_POINTS if FULL else KILL_POINTS[1:4],
                         ids=lambda x: str(x).replace(" ", "-"))
def test_kill9_in_a_destructive_step_then_resume_rollback(lab, tmp_path, step, after):
    jobs = submit_jobs(lab, f"rollback-{step}")
    accounted = sacct_ids(lab)
    state_dir = tmp_path / "state"
    run_id = kill_in(state_dir, lab, step, after)
    r, end = resume(state_dir, run_id, "--rollback")
    assert r.returncode == 1 and end["status"] == "rolled-back", r.stdout[-3000:] + r.stderr
    assert versions(lab) == OLD
    assert_jobs_survived(lab, jobs, accounted)
    slurm(lab, "scancel", *jobs.values())


@pytest.mark.parametrize("step,after", KILL_POINTS if FULL else [KILL_POINTS[2]],
                         ids=lambda x: str(x).replace(" ", "-"))
def test_kill9_then_resume_finishes_the_upgrade(lab, tmp_path, step, after):
    """The rehearsal: 24.11 -> 26.05 with jobs in flight, interrupted by kill -9 and finished by
    `resume`. The running job keeps running under its 24.11 slurmstepd and completes; the held
    job, released, runs on 26.05; nothing disappears from accounting."""
    if versions(lab) != OLD:         # a previous case finished an upgrade: a fresh 24.11 lab
        lab_cmd("down", "--purge", "--dir", str(lab))
        _up()
    jobs = submit_jobs(lab, f"finish-{step}")
    accounted = sacct_ids(lab)
    state_dir = tmp_path / "state"
    t0 = time.monotonic()
    run_id = kill_in(state_dir, lab, step, after)
    r, end = resume(state_dir, run_id, "--yes")
    print(f"upgrade with kill -9 in step {step} + resume: {time.monotonic() - t0:.1f} s")
    print("\n".join(ln for ln in r.stdout.splitlines() if re.match(r"\s*\d+\s", ln)))   # the step table
    assert r.returncode == 0 and end["status"] == "succeeded", r.stdout[-3000:] + r.stderr
    assert versions(lab) == NEW
    assert slurm(lab, "sinfo", "--version").split()[-1].startswith("26.05")
    assert_jobs_survived(lab, jobs, accounted)
    (lab / f"release-finish-{step}").touch()        # the running job ends, under its 24.11 slurmstepd
    slurm(lab, "scontrol", "release", jobs["held"])
    deadline = time.monotonic() + 120
    want = {jobs["running"], jobs["held"], jobs["resources"]}
    while time.monotonic() < deadline:
        done = {ln.split("|")[0] for ln in slurm(lab, "sacct", "-X", "-n", "-P", "-j", ",".join(want),
                                                    "-o", "JobID,State").splitlines()
                if ln.endswith("|COMPLETED")}
        if done == want:
            break
        time.sleep(1)
    assert done == want, f"not COMPLETED in sacct: {sorted(want - done)}"
    assert accounted <= sacct_ids(lab)
