"""The lab is a real cluster: jobs run on every node and reach accounting, slurmrestd serves them
with a token and refuses a bad one, Prometheus scrapes node_exporter, drains show."""
from __future__ import annotations

import json

import pytest

import need
from labtools import wait_for
from slurmops.lab import checks, proc

pytestmark = pytest.mark.lab


def sacct_rows(lab, jobid):
    r = proc.run(["sacct", "-n", "-P", "-X", "-j", jobid, "-o", "JobID,State,NodeList,Partition"],
                 env=lab.env, timeout=15)
    return [ln.split("|") for ln in r.stdout.splitlines() if ln]


def test_a_job_runs_on_every_cpu_node_and_is_accounted(lab):
    nodes = lab.cfg.cpu_node_names
    r = proc.run(["srun", f"-N{len(nodes)}", "-p", "cpu", "-t", "1", "-J", "every-node",
                  "printenv", "SLURMD_NODENAME", "SLURM_JOB_ID"], env=lab.env, timeout=60)
    assert r.returncode == 0, r.stderr
    words = r.stdout.split()
    ran_on = set(words[0::2])
    jobid = words[1]
    assert ran_on == set(nodes)
    # slurmdbd receives the record in pieces (start, then end): wait for the whole of it.
    rows = wait_for(lambda: [row for row in sacct_rows(lab, jobid)
                             if row[0] == jobid and row[1] == "COMPLETED" and row[3]], 30)
    assert rows, sacct_rows(lab, jobid)
    assert rows[0][3] == "cpu" and rows[0][2] == f"{lab.cfg.node_prefix}n[1-{len(nodes)}]"


@pytest.mark.slow
def test_cloud_node_is_powered_up_for_a_job(lab):
    """Cloud bursting is real: the ResumeProgram starts a powered-down node's slurmd."""
    if not lab.cfg.cloud_node_names:
        need.absent("lab has no cloud nodes (lab up --cloud-nodes N)")
    r = proc.run(["sbatch", "--parsable", "-p", "cloud", "-o", "/dev/null", "-J", "burst-test",
                  "--wrap", "printenv SLURMD_NODENAME"], env=lab.env, timeout=30)
    assert r.returncode == 0, r.stderr
    jobid = r.stdout.strip()
    rows = wait_for(lambda: [row for row in sacct_rows(lab, jobid)
                             if row[0] == jobid and row[1] == "COMPLETED" and row[3]], 90, 1)
    assert rows, sacct_rows(lab, jobid)
    assert rows[0][2] in lab.cfg.cloud_node_names
    # The node's slurmd is a lab process, started by the ResumeProgram (not by us).
    assert lab.own_pid(f"slurmd-{rows[0][2]}") or "~" in checks.node_states(lab.env)[rows[0][2]]


def rest(lab, path, token):
    return checks.http_get(f"{lab.cfg.url('slurmrestd')}{path}",
                           headers={"X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": token})


def test_slurmrestd_returns_jobs_with_a_token_and_rejects_a_bad_one(lab):
    r = proc.run(["sbatch", "--parsable", "-p", "cpu", "-o", "/dev/null", "-J", "rest-visible",
                  "--hold", "--wrap", "true"], env=lab.env, timeout=30)
    jobid = r.stdout.strip()
    try:
        status, body = rest(lab, f"/slurm/{lab.rest_version()}/jobs", lab.token(lifespan_s=120))
        assert status == 200, body[:300]
        jobs = {str(j["job_id"]): j for j in json.loads(body)["jobs"]}
        assert jobid in jobs and jobs[jobid]["name"] == "rest-visible"
        # v0.0.38 (22.05) a string, v0.0.40+ (24.11, 26.05) a list of state and flags
        assert jobs[jobid]["job_state"] in ("PENDING", ["PENDING"])

        good = lab.token(lifespan_s=120)
        forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
        # slurmrestd 22.05 passes the token on to slurmctld, which refuses it: the answer is an
        # error with no jobs in it (HTTP 500 there; 24.11 answers 511) — never the data.
        for bad in (forged, "not-a-token"):
            status, body = rest(lab, f"/slurm/{lab.rest_version()}/jobs", bad)
            assert status in (401, 403, 500, 511), (status, body[:200])
            doc = json.loads(body)
            assert doc["errors"] and not doc.get("jobs")
        status, body = checks.http_get(f"{lab.cfg.url('slurmrestd')}/slurm/{lab.rest_version()}/jobs")
        assert status == 401 and "Authentication failure" in body
    finally:
        proc.run(["scancel", jobid], env=lab.env)


def test_prometheus_scrapes_node_exporter(lab):
    res = wait_for(lambda: checks.prometheus_query(lab.cfg.url("prometheus"),
                                                   'up{job="node"} == 1'), 30)
    assert res and res[0]["metric"]["instance"] == f"127.0.0.1:{lab.cfg.port('node_exporter')}"
    # And real node data arrived, not just the up series.
    load = checks.prometheus_query(lab.cfg.url("prometheus"), 'node_load1{job="node"}')
    assert load and float(load[0]["value"][1]) >= 0


def test_drained_node_shows_drained(lab):
    node = lab.cfg.cpu_node_names[-1]
    reason = "pytest drain ✓"
    r = proc.run(["scontrol", "update", f"nodename={node}", "state=drain", f"reason={reason}"],
                 env=lab.env, timeout=15)
    assert r.returncode == 0, r.stderr
    try:
        states = checks.node_states(lab.env)
        assert states[node] in ("drained", "draining")
        shown = proc.run(["sinfo", "-h", "-R", "-n", node, "-o", "%E"], env=lab.env).stdout.strip()
        assert shown == reason
    finally:
        proc.run(["scontrol", "update", f"nodename={node}", "state=resume"], env=lab.env)
    assert wait_for(lambda: checks.node_states(lab.env).get(node) == "idle", 15)
