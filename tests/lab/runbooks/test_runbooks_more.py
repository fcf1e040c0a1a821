"""The restore, upgrade-check, archive-check and munge-health runbooks end to end on a private lab:
round trips (backup -> change -> restore -> the change is gone) and a corrupt backup for each restore
(the run stops, rolls back, the lab is healthy, the audit log shows the rollback)."""
from __future__ import annotations

import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from labtools import GENERATION, lab_cmd, lab_env, private_lab, wait_until

REPO = Path(__file__).resolve().parents[3]


pytestmark = [pytest.mark.lab, pytest.mark.slow]

# Own dir, ports, cluster and node names: these tests stop slurmctld and slurmdbd, so they must not
# share a lab with test_runbooks_lab.py (or anyone else) running at the same time.
MORE_DIR = Path(os.environ.get("SLURMOPS_RB_MORE_LAB_DIR", "/var/tmp/slurmops-rb-more-lab"))
MORE_ARGS = ["--port-base", os.environ.get("SLURMOPS_RB_MORE_PORT_BASE", "21800"), "--cluster", "rbmore",
             "--node-prefix", os.environ.get("SLURMOPS_RB_MORE_NODE_PREFIX", "m"), "--cloud-nodes", "0"]


# slurmdbd-upgrade-check per generation: whether its slurmdbd has -u (the help text of Debian's
# 24.11.5 and 26.05.5 lists it, 22.05.8's does not: slurmdbd(8) in shared/reference/slurm/22.05.8
# and 25.05.5), a target within the window, and a target refused with what the runbook says.
HAS_U, TARGET_OK, TARGET_REFUSED, REFUSAL = {
    "22.05": (False, "23.11", "25.05", "upgrade in steps 22.05 -> 23.11 -> 25.05"),
    # 26.11 is four releases after 24.11, beyond its window of three (upgrades.shtml, 25.05.5)
    "24.11": (True, "25.05", "26.11", "upgrade in steps 24.11 -> 26.05 -> 26.11"),
    # no known release is beyond 26.05's window: a downgrade is what is refused there
    "26.05": (True, "26.11", "24.11", "target 24.11 is older than slurmdbd 26.05: downgrades are not supported"),
}[GENERATION or "22.05"]


@pytest.fixture(scope="module")
def rb_lab():
    """Overrides conftest's rb_lab for this module; conftest's runbook/healthy fixtures use it."""
    with private_lab(MORE_DIR, *MORE_ARGS) as d:
        # A clean stop saves slurmctld's whole state (assoc_usage too, else written only by the
        # periodic save): 26.05 does not start from job state without it (statesave-restore).
        r = lab_cmd("restart", "slurmctld", "--dir", str(d))
        assert r.returncode == 0, r.stdout + r.stderr
        wait_until("every node registered again", lambda: _nodes_idle(d), timeout=60)
        yield d


def _nodes_idle(lab: Path) -> bool:
    states = sh(lab, "sinfo", "-N", "-h", "-o", "%T").stdout.split()
    return bool(states) and all(s == "idle" for s in states)


def env(lab: Path) -> dict:
    return lab_env(lab)


def sh(lab: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), env=env(lab), capture_output=True, text=True, timeout=60)


def records(state_dir: Path) -> list[dict]:
    paths = sorted((state_dir / "runs").glob("*/audit.jsonl"), key=lambda p: p.stat().st_mtime)
    assert paths, f"no audit log in {state_dir}"
    return [json.loads(ln) for ln in paths[-1].read_text().splitlines() if ln.strip()]


def status(recs: list[dict]) -> str:
    return [r for r in recs if r["event"] == "run_end"][-1]["status"]


def newest(lab: Path, pattern: str) -> Path:
    found = sorted((lab / "backups").glob(pattern), key=lambda p: p.stat().st_mtime)
    assert found, pattern
    return found[-1]


def no_leak(secret: bytes, r: subprocess.CompletedProcess, state_dir: Path) -> None:
    assert secret and secret not in (r.stdout + r.stderr).encode()
    for p in state_dir.rglob("*"):
        if p.is_file():
            assert secret not in p.read_bytes(), p


def test_read_only_checks(runbook, state_dir, rb_lab, healthy):
    r = runbook("run", "munge-health")
    assert r.returncode == 0, r.stdout + r.stderr
    checks = {x["name"]: x for x in records(state_dir) if x["event"] == "check"}
    assert checks["credential round trip and replay"]["detail"].startswith("PASS")
    assert "Replayed credential" in checks["credential round trip and replay"]["detail"]
    assert "mode 400" in checks["key file"]["detail"]
    assert "one clock" in checks["clocks"]["detail"]
    assert "0 FAIL" in checks["verdict"]["detail"]

    r = runbook("run", "slurmdbd-archive-check")
    assert r.returncode == 0, r.stdout + r.stderr
    checks = {x["name"]: x for x in records(state_dir) if x["event"] == "check"}
    assert checks["archive/purge settings"]["detail"].startswith("WARN: nothing is ever purged")
    assert "rbmore_job_table" in checks["table sizes"]["detail"]
    r = runbook("run", "slurmdbd-archive-check", "-p", "strict=true")
    assert r.returncode == 1 and "WARN archive/purge settings" in r.stdout

    password = (rb_lab / "etc" / "db.password").read_bytes().strip()
    r = runbook("run", "slurmdbd-upgrade-check", "--yes", "-p", f"target_version={TARGET_OK}", timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    recs = records(state_dir)
    checks = {x["name"]: x for x in recs if x["event"] == "check"}
    if HAS_U:
        assert "has -u" in checks["slurmdbd -u available"]["detail"]
        # the copy is of this very slurmdbd's database: slurmdbd -u says no conversion (exit 0)
        assert checks["slurmdbd -u on the copy"]["ok"]
        assert "no conversion needed" in checks["slurmdbd -u on the copy"]["detail"]
    else:
        assert "has no -u" in checks["slurmdbd -u available"]["detail"]
    assert "schema 12 -> 12" in checks["conversion report"]["detail"] or "->" in checks["conversion report"]["detail"]
    assert checks["scratch config points at the copy only"]["ok"]
    no_leak(password, r, state_dir)
    scratch = sh(rb_lab, "mysql", f"--defaults-file={rb_lab}/etc/my.cnf", "-N", "-e", "SHOW DATABASES")
    assert "upgchk" not in scratch.stdout
    assert not list((rb_lab / "backups").glob("upgrade-check-*"))
    # beyond the target's window (22.05 -> 25.05: in steps), or a downgrade: refused, nothing changes
    r = runbook("run", "slurmdbd-upgrade-check", "--yes", "-p", f"target_version={TARGET_REFUSED}")
    assert r.returncode == 1 and REFUSAL in r.stdout, r.stdout
    healthy()


@pytest.mark.skipif(GENERATION not in ("", "22.05"), reason="an upgrade from the host's 22.05 (to 24.11, "
                    "beyond its window); on a newer lab test_read_only_checks refuses a target beyond it")
def test_upgrade_outside_the_window_is_refused(runbook, state_dir, rb_lab):
    """22.05 -> 24.11 is four major releases; 24.11 accepts three (upgrades.shtml, Compatibility
    Window): both upgrade runbooks refuse with the reason and the path in steps, and slurm-upgrade
    stops before its first change (slurmdbd still answers, still 22.05)."""
    r = runbook("run", "slurmdbd-upgrade-check", "--yes", "-p", "target_version=24.11")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "22.05 -> 24.11 is 4 releases, beyond 24.11's window of 3: upgrade in steps " \
           "22.05 -> 23.11 -> 24.11" in r.stdout
    r = runbook("run", "slurm-upgrade", "--yes", "-p", "to=24.11")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "slurmctld 22.05 -> 24.11 is 4 major releases, outside 24.11's compatibility window of 3 " \
           "earlier releases (upgrades.shtml): upgrade in steps 22.05 -> 23.11 -> 24.11" in r.stdout
    recs = records(state_dir)
    assert [x["step"] for x in recs if x["event"] == "step_failed"] == [2]
    assert not any(x["event"] == "step_start" and x["step"] > 2 for x in recs)
    out = sh(rb_lab, "sacctmgr", "show", "config")
    assert out.returncode == 0 and "SLURMDBD_VERSION       = 22.05" in out.stdout


def test_database_restore_round_trip(runbook, state_dir, rb_lab, healthy):
    healthy()      # a job in the accounting db
    job = sh(rb_lab, "sacct", "-n", "-X", "-P", "-a", "-S", "2000-01-01", "-o", "JobID").stdout.split()[-1]
    assert runbook("run", "database-backup").returncode == 0
    dump = newest(rb_lab, "slurm_acct_db-*.sql")
    assert sh(rb_lab, "sacctmgr", "-i", "add", "account", "rb_after_backup").returncode == 0
    r = runbook("run", "database-restore", "--yes", "-p", f"dump={dump}", "-p", f"job_id={job}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"job {job} in sacct" in r.stdout
    assert "rb_after_backup" not in sh(rb_lab, "sacctmgr", "-n", "-P", "show", "account").stdout
    assert list((rb_lab / "backups").glob("slurm_acct_db-pre-restore-*.sql"))
    healthy()


def test_database_restore_corrupt_dump_rolls_back(runbook, state_dir, rb_lab, healthy, tmp_path):
    assert runbook("run", "database-backup").returncode == 0
    good = newest(rb_lab, "slurm_acct_db-*.sql").read_text()
    assert sh(rb_lab, "sacctmgr", "-i", "add", "account", "rb_must_survive").returncode == 0
    # Passes every pre-check (complete, right database) but breaks half way through loading.
    cut = good.index("CREATE TABLE", len(good) // 2)
    bad = tmp_path / "corrupt.sql"
    bad.write_text(good[:cut] + "THIS IS NOT SQL;\n" + good[cut:])
    r = runbook("run", "database-restore", "--yes", "-p", f"dump={bad}")
    assert r.returncode == 1, r.stdout + r.stderr
    recs = records(state_dir)
    assert status(recs) == "rolled-back"
    failed = [x for x in recs if x["event"] == "step_failed"]
    assert failed[0]["step"] == 5 and failed[0]["phase"] == "action"
    done = [x for x in recs if x["event"] == "rollback_step_done"]
    assert [x["step"] for x in done] == [5, 4, 3, 2, 1] and all(x["ok"] for x in done)
    assert any("reload the safety dump" == x.get("why") for x in recs if x["event"] == "cmd")
    assert "rb_must_survive" in sh(rb_lab, "sacctmgr", "-n", "-P", "show", "account").stdout
    healthy()


def _held(lab: Path, name: str) -> str:
    r = sh(lab, "sbatch", "--parsable", "-o", "/dev/null", "--hold", "-p", "cpu", "-J", name, "--wrap", "true")
    assert r.returncode == 0, r.stderr
    time.sleep(6)    # slurmctld writes job_state a moment after the submit; let the backup see it
    return r.stdout.strip()


def _names(lab: Path) -> list[str]:
    return sh(lab, "squeue", "-h", "-o", "%j").stdout.split()


def test_statesave_restore_round_trip(runbook, state_dir, rb_lab, healthy):
    a = _held(rb_lab, "rb_before_backup")
    try:
        assert runbook("run", "statesave-backup").returncode == 0
        archive = newest(rb_lab, "statesave-rbmore-*.tar.gz")
        _held(rb_lab, "rb_after_backup")
        r = runbook("run", "statesave-restore", "--yes", "-p", f"archive={archive}", "-p", f"jobs={a}")
        assert r.returncode == 0, r.stdout + r.stderr
        names = _names(rb_lab)
        assert "rb_before_backup" in names and "rb_after_backup" not in names
        assert "job(s) from the backup: " in r.stdout and a in r.stdout
        assert list((rb_lab / "backups").glob("ctld.pre-restore-*"))
        healthy()
    finally:
        sh(rb_lab, "scancel", "--name=rb_before_backup")
        sh(rb_lab, "scancel", "--name=rb_after_backup")


def test_statesave_restore_corrupt_archive_rolls_back(runbook, state_dir, rb_lab, healthy, tmp_path):
    a = _held(rb_lab, "rb_kept")
    try:
        assert runbook("run", "statesave-backup").returncode == 0
        good = newest(rb_lab, "statesave-rbmore-*.tar.gz")
        # Right layout and cluster, garbage job and node state: slurmctld cannot use it.
        with tarfile.open(good) as t:
            t.extractall(tmp_path / "x")
        for f in ("job_state", "job_state.old", "node_state", "node_state.old"):
            p = tmp_path / "x" / "ctld" / f
            if p.exists():
                p.write_bytes(os.urandom(200))
        bad = tmp_path / "corrupt.tar.gz"
        with tarfile.open(bad, "w:gz") as t:
            t.add(tmp_path / "x" / "ctld", arcname="ctld")
        r = runbook("run", "statesave-restore", "--yes", "-p", f"archive={bad}", "-p", f"jobs={a}")
        assert r.returncode == 1, r.stdout + r.stderr
        recs = records(state_dir)
        assert status(recs) == "rolled-back"
        done = [x for x in recs if x["event"] == "rollback_step_done"]
        assert 5 in [x["step"] for x in done] and all(x["ok"] for x in done)
        assert any(x.get("why") == "the state from before the restore" for x in recs if x["event"] == "cmd")
        assert "rb_kept" in _names(rb_lab)
        assert list((rb_lab / "backups").glob("ctld.failed-restore-*"))
        healthy()
    finally:
        sh(rb_lab, "scancel", "--name=rb_kept")


def test_restore_refuses_foreign_backups(runbook, state_dir, rb_lab, tmp_path):
    """Truncated dump, a dump of another database, an archive of another directory: refused in the
    pre-checks, nothing stopped, nothing to roll back."""
    assert runbook("run", "database-backup").returncode == 0
    good = newest(rb_lab, "slurm_acct_db-*.sql").read_text()
    trunc = tmp_path / "trunc.sql"
    trunc.write_text(good[: len(good) // 2])
    r = runbook("run", "database-restore", "--yes", "-p", f"dump={trunc}")
    assert r.returncode == 1 and status(records(state_dir)) == "failed"
    other = tmp_path / "other.sql"
    other.write_text(good.replace("`slurm_acct_db`", "`other_db`"))
    r = runbook("run", "database-restore", "--yes", "-p", f"dump={other}")
    assert r.returncode == 1 and "other_db" in r.stdout
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / "job_state").write_text("x")
    arch = tmp_path / "wrong.tar.gz"
    with tarfile.open(arch, "w:gz") as t:
        t.add(tmp_path / "spool", arcname="spool")
    r = runbook("run", "statesave-restore", "--yes", "-p", f"archive={arch}")
    assert r.returncode == 1 and "outside ctld/" in r.stdout
    assert status(records(state_dir)) == "failed"
    assert " is UP" in sh(rb_lab, "scontrol", "ping").stdout
