"""`slurmops jobstats --user U --since 7d` over 10,000 finished jobs: wall time and sacct calls.

Real path end to end: the lab's slurmdbd and MariaDB answer a real `sacct`. The 10,000 jobs are
copies of one real finished job of the lab whose summary the EpilogSlurmctld stored (the bench runs
one if there is none), inserted into the lab's job table with new job ids (10,000,001 up), then
deleted again. Prometheus is pointed at a closed port: with stored summaries no query is needed,
and any attempt would show as jobs without data. A wrapper first on PATH counts the sacct calls
(and execs the real sacct). Target (issue 15): <= 5 s, one sacct call.

    .venv/bin/python bench/bench_jobstats_bulk.py [--dir /var/tmp/slurmops-lab] [--jobs 10000] [--keep]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slurmops.lab.platform import Lab, load_config  # noqa: E402
from slurmops.lab.workload import sbatch  # noqa: E402

BASE_ID = 10_000_000


def sql(lab: Lab, query: str) -> str:
    r = subprocess.run(["mariadb", f"--defaults-file={lab.cfg.etc / 'my.cnf'}", "-u", "root", "-N", "-B",
                        "slurm_acct_db", "-e", query], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        sys.exit(f"error: SQL failed: {r.stderr.strip()}")
    return r.stdout


def template_job(lab: Lab, table: str) -> str:
    rows = sql(lab, f"SELECT id_job FROM {table} WHERE admin_comment LIKE 'so1:%' AND id_job < {BASE_ID} "
                    f"AND state = 3 ORDER BY id_job DESC LIMIT 1").split()
    if rows:
        return rows[0]
    jid = sbatch(lab, "-p", "cpu", "-c", "2", "--mem=200M", "--wrap",
                 "python3 -c 'import time\nt=time.time()\nwhile time.time()-t<12: pass'")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if sql(lab, f"SELECT admin_comment FROM {table} WHERE id_job={jid}").strip().startswith("so1:"):
            return jid
        time.sleep(2)
    sys.exit(f"error: job {jid} got no stored summary (is EpilogSlurmctld set? see docs/jobstats.md)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/var/tmp/slurmops-lab")
    ap.add_argument("--jobs", type=int, default=10000)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    cfg = load_config(Path(a.dir))
    if cfg is None:
        sys.exit(f"error: no lab in {a.dir}")
    lab = Lab(cfg)
    table = f"{cfg.cluster}_job_table"
    tpl = template_job(lab, table)
    cols = [c for c in sql(lab, f"SHOW COLUMNS FROM {table}").split("\n") if c]
    cols = [c.split("\t")[0] for c in cols if c.split("\t")[0] != "job_db_inx"]
    now = int(time.time())
    shift = {"id_job": f"{BASE_ID} + n", "time_submit": f"{now} - 3600 - n * 30",
             "time_eligible": f"{now} - 3600 - n * 30", "time_start": f"{now} - 3600 - n * 30",
             "time_end": f"{now} - 3600 - n * 30 + (t.time_end - t.time_start)",
             "id_array_job": "0", "id_array_task": "4294967294", "mod_time": str(now)}
    select = ", ".join(shift.get(c, f"t.`{c}`") for c in cols)
    sql(lab, f"DELETE FROM {table} WHERE id_job > {BASE_ID}")
    t0 = time.monotonic()
    sql(lab, "DROP TABLE IF EXISTS jobstats_bench_nums; CREATE TABLE jobstats_bench_nums (n INT PRIMARY KEY); "
             "INSERT INTO jobstats_bench_nums VALUES " + ",".join(f"({i})" for i in range(1, a.jobs + 1)) + "; "
             f"INSERT INTO {table} ({', '.join(f'`{c}`' for c in cols)}) "
             f"SELECT {select} FROM {table} t JOIN jobstats_bench_nums "
             f"WHERE t.id_job = {tpl}; DROP TABLE jobstats_bench_nums")
    print(f"inserted {a.jobs} copies of job {tpl} in {time.monotonic() - t0:.1f} s")
    shim = Path(tempfile.mkdtemp(prefix="jobstats-bench-"))
    calls = shim / "calls"
    real = shutil.which("sacct")
    (shim / "sacct").write_text(f"#!/bin/sh\necho x >> {calls}\nexec {real} \"$@\"\n")
    os.chmod(shim / "sacct", 0o755)
    env = {**lab.env, "PATH": f"{shim}:{os.environ['PATH']}"}
    try:
        user = sql(lab, f"SELECT u.user FROM {table} t JOIN {cfg.cluster}_assoc_table u ON "
                        f"t.id_assoc = u.id_assoc WHERE t.id_job = {tpl}").split()[0]
        runs, cpus = [], []
        for _ in range(3):
            calls.write_text("")
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.monotonic()
            r = subprocess.run([sys.executable, "-m", "slurmops", "jobstats", "--user", user,
                                "--since", "7d", "--format", "json", "--prometheus", "http://127.0.0.1:1"],
                               env=env, capture_output=True, text=True, timeout=300)
            runs.append(time.monotonic() - t0)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
            if r.returncode != 0:
                sys.exit(f"error: jobstats failed: {r.stderr.strip()}")
            d = json.loads(r.stdout)
            n_calls = len(calls.read_text().split())
        totals = d["totals"]
        print(f"jobstats --user {user} --since 7d: {totals['jobs']} jobs, {totals['stored']} from "
              f"stored summaries, {totals['prometheus_jobs']} Prometheus lookups, {n_calls} sacct call(s)")
        print("wall time (3 runs, whole command incl. Python start): "
              + ", ".join(f"{x:.2f} s" for x in runs) + f"; best {min(runs):.2f} s (target <= 5 s)")
        print("CPU time of jobstats + sacct (3 runs): " + ", ".join(f"{x:.2f} s" for x in cpus)
              + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"totals: {totals['wasted_core_hours']:.1f} wasted core-hours, "
              f"{totals['wasted_gpu_hours']:.1f} wasted GPU-hours")
    finally:
        shutil.rmtree(shim, ignore_errors=True)
        if not a.keep:
            sql(lab, f"DELETE FROM {table} WHERE id_job > {BASE_ID}")


if __name__ == "__main__":
    main()
