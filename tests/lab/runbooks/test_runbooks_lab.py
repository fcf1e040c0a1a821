"""Every shipped runbook end to end on a private lab, with fault injection, kill -9 + resume,
literal parameters and secrets that never leak."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labtools import GENERATION, lab_env, wait_until

REPO = Path(__file__).resolve().parents[3]
RUNBOOK = [sys.executable, "-m", "slurmops.runbook", "runbook"]

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NODE = os.environ.get("SLURMOPS_RB_NODE_PREFIX", "r") + "n"     # the lab's nodes (conftest.LAB_ARGS)

# slurmrestd's answer to a token signed with a rotated-out JWT key, per generation (observed in the
# lab: 22.05 maps slurmctld's refusal to 500, 24.11 and 26.05 to 511; docs/runbooks.md).
OLD_TOKEN_STATUS = {"": 500, "22.05": 500, "24.11": 511, "26.05": 511}[GENERATION]
# "Starting in 23.11, [scontrol reconfigure] operates by creating new processes for the daemons"
# (scontrol(1), shared/reference/slurm/25.05.5/man/scontrol.1): a change that 22.05 refuses as
# needing a restart (SchedulerType) is applied, and a file slurmctld cannot start with ends it.
RECONFIGURE_RESTARTS = GENERATION not in ("", "22.05")


def records(state_dir: Path, run_id: str | None = None) -> list[dict]:
    paths = sorted((state_dir / "runs").glob(f"{run_id or '*'}/audit.jsonl"), key=lambda p: p.stat().st_mtime)
    assert paths, f"no audit log in {state_dir}"
    return [json.loads(ln) for ln in paths[-1].read_text().splitlines() if ln.strip()]


def end(recs: list[dict]) -> dict:
    ends = [r for r in recs if r["event"] == "run_end"]
    assert ends, [r["event"] for r in recs]
    return ends[-1]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def slurm_env(lab: Path) -> dict:
    return lab_env(lab)


@pytest.mark.parametrize("name", ["cluster-health", "slurmctld-restart", "slurmdbd-restart",
                                  "slurmrestd-restart", "statesave-backup", "database-backup"])
def test_runbook_end_to_end(runbook, state_dir, healthy, name):
    r = runbook("run", name, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    recs = records(state_dir)
    assert end(recs)["status"] == "succeeded"
    assert {r["name"] for r in recs if r["event"] == "evidence"} == {"ping", "sdiag", "config", "sinfo"}
    assert "step" in r.stdout and "SUCCEEDED" in r.stdout
    healthy()


def test_backups_are_real(runbook, state_dir, rb_lab):
    assert runbook("run", "statesave-backup").returncode == 0
    assert runbook("run", "database-backup").returncode == 0
    backups = rb_lab / "backups"
    tars = sorted(backups.glob("statesave-rblab-*.tar.gz"))
    dumps = sorted(backups.glob("slurm_acct_db-*.sql"))
    assert tars and dumps
    assert tars[-1].stat().st_mode & 0o777 == 0o600 and dumps[-1].stat().st_mode & 0o777 == 0o600
    listing = subprocess.run(["tar", "-tzf", str(tars[-1])], capture_output=True, text=True).stdout
    assert "ctld/job_state" in listing
    assert "rblab_job_table" in dumps[-1].read_text()


def test_munge_rotation_new_key_and_no_leak(runbook, state_dir, rb_lab, healthy):
    key = rb_lab / "etc" / "munge.key"
    before = key.read_bytes()
    r = runbook("run", "munge-key-rotation", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    after = key.read_bytes()
    assert after != before and len(after) == 1024
    assert key.stat().st_mode & 0o777 == 0o400 and key.stat().st_uid == 0
    # a target without an inventory is a fleet of one host, "localhost" (runbook/fleet.py)
    backup = next((rb_lab / "backups").glob(f"munge.key.localhost.{end(records(state_dir))['run_id']}"))
    assert backup.read_bytes() == before
    assert_no_secret([before, after], r, state_dir)
    healthy()


def test_jwt_rotation_old_token_rejected_and_no_leak(runbook, state_dir, rb_lab, healthy):
    key = rb_lab / "etc" / "jwt.key"
    before = key.read_bytes()
    r = runbook("run", "jwt-key-rotation", "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    assert key.read_bytes() != before and key.stat().st_mode & 0o777 == 0o600
    checks = [x for x in records(state_dir) if x["event"] == "check"
              and x["name"] == "new token accepted, old rejected"]
    assert checks and checks[-1]["ok"] and f"old token -> {OLD_TOKEN_STATUS}" in checks[-1]["detail"]
    assert_no_secret([before, key.read_bytes()], r, state_dir)
    # tokens are redacted too: nothing that looks like a JWT in the audit log
    for path in state_dir.rglob("*"):
        if path.is_file():
            assert "eyJ" not in path.read_text(errors="replace"), path
    healthy()


def assert_no_secret(keys: list[bytes], r: subprocess.CompletedProcess, state_dir: Path) -> None:
    texts = [r.stdout.encode(), r.stderr.encode()]
    texts += [p.read_bytes() for p in state_dir.rglob("*") if p.is_file()]
    for k in keys:
        forms = [k, k.hex().encode(), base64.b64encode(k), k[:16].hex().encode()]
        for t in texts:
            for f in forms:
                assert f not in t


def test_munge_bad_key_rolls_back(runbook, state_dir, rb_lab, healthy, tmp_path):
    """Fault: a distributed key munged refuses (4 bytes). The verification munged on the new key
    (step 4) does not start, so no live munged is touched: the staged copies are removed, the
    live key never changed, the cluster is healthy, every step audited."""
    key = rb_lab / "etc" / "munge.key"
    before = md5(key)
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"abcd")
    r = runbook("run", "munge-key-rotation", "--yes", "-p", f"key_file={bad}")
    assert r.returncode == 1, r.stdout + r.stderr
    assert md5(key) == before
    recs = records(state_dir)
    assert end(recs)["status"] == "rolled-back"
    failed = [x for x in recs if x["event"] == "step_failed"]
    assert failed and failed[0]["step"] == 4 and failed[0]["phase"] == "action"
    rb_steps = [x["step"] for x in recs if x["event"] == "rollback_step_done"]
    assert rb_steps == [4, 3, 2, 1] and all(x["ok"] for x in recs if x["event"] == "rollback_step_done")
    all_cmds = [" ".join(x["argv"]) for x in recs if x["event"] == "cmd"]
    assert not any("lab restart" in c for c in all_cmds)      # no live daemon was touched
    assert not list(rb_lab.glob("etc/munge.key.slurmops-*"))
    healthy()


def test_reconfigure_good_garbage_and_restart_needed(runbook, state_dir, rb_lab, healthy, tmp_path):
    conf = rb_lab / "etc" / "slurm.conf"
    original = conf.read_text()
    try:
        good = tmp_path / "good.conf"
        good.write_text(original.replace("SlurmctldDebug=info", "SlurmctldDebug=verbose"))
        r = runbook("run", "slurmctld-reconfigure", "--yes", "-p", f"new_config={good}")
        assert r.returncode == 0, r.stdout + r.stderr
        diff = [x for x in records(state_dir) if x["event"] == "config_diff"][-1]
        assert "SlurmctldDebug" in diff["diff"]
        current = conf.read_text()

        garbage = tmp_path / "garbage.conf"
        garbage.write_text(current + "NoSuchKey=1\n")
        r = runbook("run", "slurmctld-reconfigure", "--yes", "-p", f"new_config={garbage}")
        assert r.returncode == 1 and conf.read_text() == current
        assert end(records(state_dir))["status"] == "failed"    # refused before any change

        needs_restart = tmp_path / "restart.conf"
        needs_restart.write_text(current.replace("SchedulerType=sched/backfill", "SchedulerType=sched/builtin"))
        r = runbook("run", "slurmctld-reconfigure", "--yes", "-p", f"new_config={needs_restart}")
        if RECONFIGURE_RESTARTS:
            # Applied by the restart that reconfigure is now: the running controller says so.
            assert r.returncode == 0, r.stdout + r.stderr
            assert scheduler_type(rb_lab) == "sched/builtin"
            current = conf.read_text()
            # Passes the parser, but slurmctld cannot start with it: the reconfigure ends the
            # controller; the rollback restores the file and starts it again.
            broken = tmp_path / "broken.conf"
            broken.write_text(current.replace("SchedulerType=sched/builtin", "SchedulerType=sched/nosuch"))
            r = runbook("run", "slurmctld-reconfigure", "--yes", "-p", f"new_config={broken}")
        # Passes the parser, refused by slurmctld at reconfigure: installed, then rolled back.
        assert r.returncode == 1, r.stdout
        recs = records(state_dir)
        assert end(recs)["status"] == "rolled-back"
        assert [x["step"] for x in recs if x["event"] == "rollback_step_done"] == [4, 3, 2, 1]
        assert conf.read_text() == current
        assert scheduler_type(rb_lab) == ("sched/builtin" if RECONFIGURE_RESTARTS else "sched/backfill")
    finally:
        conf.write_text(original)
        subprocess.run(["scontrol", "reconfigure"], env=slurm_env(rb_lab), capture_output=True)
        wait_until("slurmctld back on the original slurm.conf", lambda: scheduler_type(rb_lab) == "sched/backfill",
                   timeout=60)
    healthy()


def scheduler_type(lab: Path) -> str | None:
    """SchedulerType of the running slurmctld (`scontrol show config`), None when it does not answer."""
    out = subprocess.run(["scontrol", "show", "config"], env=slurm_env(lab), capture_output=True, text=True)
    return next((ln.split("=", 1)[1].strip() for ln in out.stdout.splitlines()
                 if ln.startswith("SchedulerType ")), None)


def test_refuses_without_yes_and_without_terminal(runbook, state_dir):
    t = time.monotonic()
    r = runbook("run", "slurmctld-restart", timeout=30)
    assert r.returncode == 4 and "--yes" in r.stderr
    assert time.monotonic() - t < 10
    assert not (state_dir / "runs").exists()


def test_node_drain_reason_is_literal(runbook, rb_lab, healthy, tmp_path):
    marker = tmp_path / "pwned"
    reason = f"disk; touch {marker} $(touch {marker}) `touch {marker}` | rm -rf / & \"q\" 's'"
    r = runbook("run", "node-drain", "--yes", "-p", f"nodes={NODE}3", "-p", f"reason={reason}",
                "-p", "reservation=maint_t")
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        assert not marker.exists()
        show = subprocess.run(["scontrol", "show", "node", f"{NODE}3"], env=slurm_env(rb_lab),
                              capture_output=True, text=True).stdout
        assert f"Reason={reason} [" in show
        assert "DRAIN" in show
    finally:
        r2 = runbook("run", "node-resume", "--yes", "-p", f"nodes={NODE}3", "-p", "reservation=maint_t")
    assert r2.returncode == 0, r2.stdout + r2.stderr
    healthy()


def _start_and_kill(state_dir: Path, rb_lab: Path, name: str, at_step: int, *args: str) -> str:
    """Start a run in its own process group; kill -9 the group once step `at_step` has started."""
    p = subprocess.Popen([*RUNBOOK, "run", "--target", f"lab:{rb_lab}", "--state-dir", str(state_dir),
                          "--yes", name, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, cwd=REPO, start_new_session=True)
    deadline = time.monotonic() + 120
    run_id = None
    while time.monotonic() < deadline:
        logs = list((state_dir / "runs").glob("*/audit.jsonl")) if (state_dir / "runs").exists() else []
        if logs:
            text = logs[0].read_text()
            run_id = logs[0].parent.name
            if f'"event": "step_start", "step": {at_step},' in text:
                break
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    assert run_id, "run never started"
    return run_id


def test_kill9_then_resume_finishes(runbook, state_dir, rb_lab, healthy):
    run_id = _start_and_kill(state_dir, rb_lab, "munge-key-rotation", 6)
    time.sleep(3)   # a lab restart the killed run had started may still be finishing
    lines = (state_dir / "runs" / run_id / "audit.jsonl").read_text().splitlines()
    parsed = [json.loads(ln) for ln in lines[:-1]]     # all but a possibly torn last line are whole
    assert parsed[0]["event"] == "run_start" and not any(x["event"] == "run_end" for x in parsed)
    assert [x["seq"] for x in parsed] == list(range(1, len(parsed) + 1))
    log = runbook("log")
    assert run_id in log.stdout and "INTERRUPTED" in log.stdout
    r = runbook("resume", run_id, "--yes")
    assert r.returncode == 0, r.stdout + r.stderr
    recs = records(state_dir, run_id)
    assert end(recs)["status"] == "succeeded"
    assert any(x["event"] == "resume" for x in recs)
    assert {x["step"] for x in recs if x["event"] == "step_done"} >= {1, 2, 3, 4, 5, 6, 7, 8}
    # a finished run cannot be resumed again
    again = runbook("resume", run_id, "--yes")
    assert again.returncode == 2 and "already ended" in again.stderr
    healthy()


def test_kill9_then_resume_rollback_restores_key(runbook, state_dir, rb_lab, healthy):
    key = rb_lab / "etc" / "munge.key"
    before = md5(key)
    run_id = _start_and_kill(state_dir, rb_lab, "munge-key-rotation", 5)
    time.sleep(3)
    r = runbook("resume", run_id, "--rollback")
    assert r.returncode == 1, r.stdout + r.stderr
    recs = records(state_dir, run_id)
    assert end(recs)["status"] == "rolled-back"
    assert md5(key) == before
    assert [x["step"] for x in recs if x["event"] == "rollback_step_done"][:2] in ([5, 4], [4, 3])
    healthy()


def test_plan_reads_state_and_changes_nothing(runbook, rb_lab):
    key = rb_lab / "etc" / "munge.key"
    before = md5(key)
    r = runbook("plan", "munge-key-rotation")
    assert r.returncode == 0, r.stderr
    assert f"$ dd if=/dev/urandom of={rb_lab}/backups/munge.key.new." in r.stdout
    assert f"[localhost] $ cp -p -- {key}.slurmops-new {key}.slurmops-tmp" in r.stdout
    assert "lab restart munged --dir" in r.stdout and "now: ok" in r.stdout
    assert md5(key) == before
    r = runbook("plan", "statesave-backup")
    assert f"{rb_lab}/spool/ctld" in r.stdout     # derived from the running slurmctld


def _proc_start(pid: int) -> str:
    """Field 22 of /proc/PID/stat: the process start time in clock ticks since boot (proc(5))."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def test_slurmctld_restart_backs_up_restarts_and_keeps_jobs(runbook, state_dir, rb_lab, healthy):
    env = slurm_env(rb_lab)
    held = subprocess.run(["sbatch", "-p", "cpu", "-o", "/dev/null", "-H", "-J", "keepme", "--wrap", "sleep 600"],
                          env=env, capture_output=True, text=True)
    assert held.returncode == 0, held.stderr
    job = held.stdout.split()[-1]
    pidfile = rb_lab / "run" / "slurmctld.pid"
    pid = int(pidfile.read_text().split()[0])
    started = _proc_start(pid)
    try:
        r = runbook("run", "slurmctld-restart", "--yes")
        assert r.returncode == 0, r.stdout + r.stderr
        new_pid = int(pidfile.read_text().split()[0])
        assert (new_pid, _proc_start(new_pid)) != (pid, started)       # a new process, per the kernel
        assert not Path(f"/proc/{pid}").exists() or _proc_start(pid) != started
        run_id = end(records(state_dir))["run_id"]
        archive = rb_lab / "backups" / f"statesave-rblab-{run_id}.tar.gz"
        assert archive.stat().st_mode & 0o777 == 0o600
        listing = subprocess.run(["tar", "-tzf", str(archive)], capture_output=True, text=True).stdout
        assert "ctld/job_state" in listing
        squeue = subprocess.run(["squeue", "-h", "-o", "%i %j"], env=env, capture_output=True, text=True).stdout
        assert f"{job} keepme" in squeue
        assert "all " in r.stdout and "jobs known before are known now" in r.stdout
    finally:
        subprocess.run(["scancel", job], env=env)
    healthy()


def test_node_drain_never_resumes_a_node_drained_for_hardware(runbook, state_dir, rb_lab, healthy):
    """rn2 is drained for ECC errors before; node-drain of rn[2-3] waits for a job on rn3 with
    wait_minutes=1, gives up, rolls back: rn3 is resumed, rn2 keeps its drain and its reason."""
    env = slurm_env(rb_lab)
    subprocess.run(["scontrol", "update", f"NodeName={NODE}2", "State=DRAIN", "Reason=ECC errors DIMM B2"],
                   env=env, check=True)
    job = subprocess.run(["sbatch", "-p", "cpu", "-o", "/dev/null", "-w", f"{NODE}3", "--wrap", "sleep 600"], env=env,
                         capture_output=True, text=True).stdout.split()[-1]
    try:
        def running():
            return subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], env=env, capture_output=True,
                                  text=True).stdout.strip() == "RUNNING"
        deadline = time.monotonic() + 60
        while not running() and time.monotonic() < deadline:
            time.sleep(1)
        assert running()
        r = runbook("run", "node-drain", "--yes", "-p", f"nodes={NODE}[2-3]", "-p", "reason=kernel update",
                    "-p", "reservation=maint_hw", "-p", "wait_minutes=1")
        assert r.returncode == 1, r.stdout + r.stderr                 # gave up waiting, rolled back
        assert "waiting 1 min for 1 running jobs" in r.stdout           # progress while it waited
        assert end(records(state_dir))["status"] == "rolled-back"
        show = subprocess.run(["scontrol", "show", "node", f"{NODE}[2-3]"], env=env, capture_output=True,
                              text=True).stdout
        rn2, rn3 = [b for b in show.split("\n\n") if "NodeName=" in b]
        assert "DRAIN" in rn2 and "Reason=ECC errors DIMM B2 [" in rn2
        assert "DRAIN" not in rn3
        resv = subprocess.run(["scontrol", "show", "reservation", "maint_hw"], env=env, capture_output=True,
                              text=True)
        assert "ReservationName=maint_hw" not in resv.stdout
    finally:
        subprocess.run(["scancel", job], env=env)
        subprocess.run(["scontrol", "update", f"NodeName={NODE}2", "State=RESUME"], env=env)
    # On a loaded 2-core CI machine a ping of the just-resumed rn2 once went unanswered (idle*);
    # it answers the next one: wait for that before the strict health check.
    wait_until(f"{NODE}2 and {NODE}3 to respond", lambda: "*" not in subprocess.run(
        ["sinfo", "-h", "-N", "-n", f"{NODE}[2-3]", "-o", "%t"], env=env, capture_output=True, text=True).stdout,
        timeout=60)
    healthy()


def _next_job_id(env) -> str:
    out = subprocess.run(["scontrol", "show", "config"], env=env, capture_output=True, text=True).stdout
    return next(ln.split("=", 1)[1].strip() for ln in out.splitlines() if ln.startswith("NEXT_JOB_ID"))


def test_plan_is_read_only_and_fails_on_required_prechecks(runbook, state_dir, rb_lab, healthy, tmp_path):
    """plan submits no job (slurmctld's NEXT_JOB_ID does not move), writes no state dir, and exits 1
    when a required pre-check fails: slurmctld-restart with slurmctld down; the incident runbook for
    that state plans fine and then brings slurmctld back. --force-unhealthy takes only known names."""
    env = slurm_env(rb_lab)
    before = _next_job_id(env)
    r = runbook("plan", "cluster-health")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "test job completes" in r.stdout and "not run by plan" in r.stdout
    assert _next_job_id(env) == before
    assert not state_dir.exists()

    r = runbook("plan", "cluster-health", "--force-unhealthy", "slurmctl")
    assert r.returncode == 2 and "error: --force-unhealthy 'slurmctl': no such check" in r.stderr

    stop = subprocess.run([sys.executable, "-m", "slurmops", "lab", "stop", "slurmctld", "--dir", str(rb_lab)],
                          capture_output=True, text=True)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    try:
        r = runbook("plan", "slurmctld-restart")
        assert r.returncode == 1, r.stdout + r.stderr
        assert "a required pre-check fails now" in r.stdout and "slurmctld answers" in r.stdout
        r = runbook("plan", "slurmctld-down")
        assert r.returncode == 0, r.stdout + r.stderr
        r = runbook("run", "slurmctld-down", "--yes")
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        subprocess.run([sys.executable, "-m", "slurmops", "lab", "start", "slurmctld", "--dir", str(rb_lab)],
                       capture_output=True, text=True)
    healthy()


def test_force_unhealthy_goes_past_a_required_check_and_is_audited(runbook, state_dir, rb_lab, healthy):
    """slurmdbd stopped: cluster-health fails on it; with --force-unhealthy slurmdbd it passes, and
    the audit log names the override."""
    stop = subprocess.run([sys.executable, "-m", "slurmops", "lab", "stop", "slurmdbd", "--dir", str(rb_lab)],
                          capture_output=True, text=True)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    try:
        r = runbook("run", "cluster-health")
        assert r.returncode == 1 and "slurmdbd answers" in r.stdout
        r = runbook("run", "cluster-health", "--force-unhealthy", "slurmdbd")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "FORCED (--force-unhealthy slurmdbd)" in r.stdout
        recs = records(state_dir)
        assert recs[0]["force_unhealthy"] == ["slurmdbd"]
        assert [x["check"] for x in recs if x["event"] == "health_override"] == ["slurmdbd"]
    finally:
        subprocess.run([sys.executable, "-m", "slurmops", "lab", "start", "slurmdbd", "--dir", str(rb_lab)],
                       capture_output=True, text=True)
    healthy()


def test_database_backup_refuses_a_disk_without_room(runbook, state_dir, rb_lab, tmp_path):
    """A backup dir on a 64 KiB tmpfs: the dump is refused before anything is written (df against
    twice the database size from information_schema)."""
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        r = runbook("run", "database-backup", "-p", f"dest={small}/dumps")
        assert r.returncode == 1, r.stdout + r.stderr
        assert "room for the dump" in r.stdout and f"free in {small}" in r.stdout
        assert list(small.iterdir()) == []
        checks = [x for x in records(state_dir) if x["event"] == "check" and x["name"] == "room for the dump"]
        assert checks and not checks[-1]["ok"]
    finally:
        subprocess.run(["umount", str(small)])
