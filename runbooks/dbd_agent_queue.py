"""Incident: slurmctld's DBD agent queue grows towards MaxDBDMsgs (alerts SlurmdbdAgentQueueFilling,
SlurmdbdAgentQueueNearLimit). Find why, make slurmdbd and the database answer, prove it drains."""
import re

from slurmops.runbook import Check, Runbook, Step
from slurmops.runbook.health import NOT_NEEDED, WARN, postflight, preflight, slurmdbd_answers
from slurmops.runbook.incident import database_steps, dbd_queue
from slurmops.runbook.steps import graded, verdict


def queue_vs_limit(ctx):
    n = dbd_queue(ctx)
    out = ctx.run(["scontrol", "show", "config"], timeout=20)
    m = re.search(r"^MaxDBDMsgs\s*=\s*(\d+)", out.stdout, re.M)
    limit = int(m.group(1)) if m else 10000
    if n is None:
        return "FAIL", "sdiag shows no DBD Agent queue size"
    level = "FAIL" if n > 0.8 * limit else "WARN" if n > 0.5 * limit else "PASS"
    return level, f"{n} queued of MaxDBDMsgs {limit} ({100 * n / limit:.1f} %)"


def slurmdbd_state(ctx):
    ok, detail = slurmdbd_answers(ctx)
    return ("PASS" if ok else "FAIL"), ("slurmdbd answers: " if ok else "slurmdbd does not answer: ") + detail


def database_state(ctx):
    out = ctx.run(["mysqladmin", "--defaults-file=" + ctx.values["my_cnf"], "ping"], timeout=20)
    if out.rc != 0 or "alive" not in out.stdout:
        return "FAIL", "the database does not answer: " + (out.stderr.strip() or out.stdout.strip())[:200]
    busy = ctx.run(["mysqladmin", "--defaults-file=" + ctx.values["my_cnf"], "processlist"], timeout=20)
    long_q = [ln for ln in busy.stdout.splitlines() if re.search(r"\|\s*Query\s*\|\s*(\d{3,})\s*\|", ln)]
    return ("WARN", f"{len(long_q)} queries running for 100 s or more (locks? an archive purge?)") \
        if long_q else ("PASS", "the database answers, no long-running query")


def triage():
    return Step("Why the queue grows", "read-only findings: the queue against MaxDBDMsgs, slurmdbd, "
                "the database", check=[graded("queue against MaxDBDMsgs", queue_vs_limit, "sdiag"),
                                       graded("slurmdbd", slurmdbd_state, "sacctmgr"),
                                       graded("database", database_state, "mysqladmin"),
                                       _findings_only()])


def _findings_only():
    v = verdict(None)
    return Check("findings", lambda ctx: (True, v.fn(ctx)[1]), "listed; the next steps act on them")


RUNBOOK = Runbook(
    name="dbd-agent-queue",
    title="Incident: the DBD agent queue is growing",
    purpose="slurmctld queues accounting records it cannot hand to slurmdbd; past MaxDBDMsgs it "
            "drops them. Find why (slurmdbd down, database down or slow), make slurmdbd and the "
            "database answer, and prove the queue drains to zero.",
    when="Alerts SlurmdbdAgentQueueFilling / SlurmdbdAgentQueueNearLimit; sdiag shows a DBD Agent "
         "queue size that keeps growing.",
    steps=[
        preflight(slurmdbd=NOT_NEEDED, nodes=WARN, slurmrestd=WARN, test_job=NOT_NEEDED),
        triage(),
        *database_steps(),
        postflight(retry_s=60, slurmrestd=WARN),
    ],
    references=[
        "sdiag(1), 22.05.8: DBD Agent queue size; \"If this number begins to grow more than half of "
        "the max queue size, the slurmdbd and the database should be investigated immediately\"",
        "slurm.conf(5), 22.05.8: MaxDBDMsgs",
        "SchedMD, Accounting and Resource Limits (accounting.shtml): slurmdbd and the database",
    ],
    notes="A slow database (long queries, an archive or purge run, locks) fills the queue while "
          "slurmdbd still answers: the last step then waits up to 180 s for it to drain and fails "
          "if it does not, leaving the database to a person.",
)
