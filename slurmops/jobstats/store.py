"""`slurmops jobstats store JOBID`: at job end, ask Prometheus once and write the summary into the
job's AdminComment (sacctmgr), so reports keep working after Prometheus' retention.

Run from slurmctld's EpilogSlurmctld (slurm.conf(5)): once per job, on the controller, as
SlurmUser — an administrator, which AdminComment needs (sacctmgr(1): "Can only be modified by a
Slurm administrator") — after the allocation ends, so the job's series are complete. The per-node
Epilog would run N times for an N-node job, as root on compute nodes that need no Slurm admin
rights, and jobcomp/script is the one slot sites use for their job-completion archive.

It never fails the job: whatever goes wrong is a log line and a counter
(`slurmops_jobstats_store_total{result=...}` in a node_exporter textfile-collector file), and the
exit code says which (0 stored, 4 Slurm, 5 Prometheus).
"""
from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path

from . import prom as promq, sacct
from .config import Config
from .service import EXIT_NOT_FOUND, EXIT_PROMETHEUS, EXIT_SLURM, JobstatsError, find_job
from .summary import encode, is_ours

log = logging.getLogger("slurmops.jobstats.store")
RESULTS = ("stored", "no_data", "prometheus_error", "slurm_error", "occupied")
COUNTER_FILE = "slurmops_jobstats.prom"


def bump(state_dir: Path, result: str) -> None:
    """Add one to the counter of `result` in the textfile-collector file (atomic, locked: several
    epilogs run at once)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        counts = dict.fromkeys(RESULTS, 0)
        path = state_dir / COUNTER_FILE
        if path.exists():
            for line in path.read_text().splitlines():
                if line.startswith("slurmops_jobstats_store_total{"):
                    key = line.split('result="', 1)[1].split('"', 1)[0]
                    if key in counts:
                        counts[key] = int(float(line.rsplit(" ", 1)[1]))
        counts[result] += 1
        text = ("# HELP slurmops_jobstats_store_total Job-end summaries by result (stored in "
                "AdminComment, or why not).\n# TYPE slurmops_jobstats_store_total counter\n")
        text += "".join(f'slurmops_jobstats_store_total{{result="{k}"}} {v}\n' for k, v in counts.items())
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
        tmp.replace(path)


def _finished_record(jobid: str, cluster: str | None, wait_s: float):
    """The job as sacct shows it. slurmctld sends job records to slurmdbd asynchronously, so right
    at EpilogSlurmctld time a short job may not be in sacct yet, or its End still Unknown: wait up
    to wait_s for both. A failing sacct (slurmdbd down) is not waited for."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            rec = find_job(jobid, cluster)
        except JobstatsError as exc:
            if exc.code != EXIT_NOT_FOUND or time.monotonic() >= deadline:
                raise
            rec = None
        if rec is not None and (rec.end is not None or time.monotonic() >= deadline):
            return rec
        time.sleep(1)


def store(jobid: str, cluster: str | None, cfg: Config, client: promq.PromClient | None,
          state_dir: Path, wait_s: float = 10) -> int:
    def done(result: str, code: int, msg: str) -> int:
        (log.info if code == 0 else log.error)("job %s: %s", jobid, msg)
        try:
            bump(state_dir, result)
        except OSError as exc:
            log.error("cannot update the counter in %s: %s", state_dir, exc)
        return code

    try:
        rec = _finished_record(jobid, cluster, wait_s)
    except JobstatsError as exc:
        return done("slurm_error", exc.code, f"summary missing: {exc}")
    if client is None:
        return done("prometheus_error", EXIT_PROMETHEUS, "summary missing: no Prometheus URL")
    if rec.start is None:
        return done("no_data", 0, "never started: nothing to store")
    if rec.admin_comment and not is_ours(rec.admin_comment):
        # another tool's AdminComment (a site's own use of the field): never overwritten
        return done("occupied", 0, "summary missing: AdminComment already holds something else")
    try:
        s = promq.collect(client, rec, cfg.cluster_label or None)
    except promq.PrometheusError as exc:
        return done("prometheus_error", EXIT_PROMETHEUS, f"summary missing: {exc}")
    if not s.nodes:
        return done("no_data", 0, "summary missing: Prometheus has no series for this job")
    text = encode(s)
    try:
        # the JOBID_TASK form for array tasks: sacctmgr's jobid=<array job id> would match them all
        sacct.set_admin_comment(rec.jobid, text, rec.cluster or cluster)
    except sacct.SlurmError as exc:
        return done("slurm_error", EXIT_SLURM, f"summary missing: {exc}")
    return done("stored", 0, f"summary stored ({len(text)} characters, {len(s.nodes)} node(s))")
