"""Incident: slurmdbd does not take accounting records (alert SlurmdbdUnreachable). Database
reachable? Start it; start slurmdbd; prove slurmctld's DBD agent queue drains."""
from slurmops.runbook import Check, Cmd, Runbook, Step
from slurmops.runbook.health import NOT_NEEDED, WARN, postflight, preflight
from slurmops.runbook.incident import DB_PING, database_steps, dbd_queue_noted

RUNBOOK = Runbook(
    name="slurmdbd-down",
    title="Incident: slurmdbd is down or unreachable",
    purpose="Bring accounting back: check the database answers (start it if not), start slurmdbd, "
            "and prove that slurmctld's DBD agent queue drains to zero, so no job record is lost.",
    when="Alert SlurmdbdUnreachable (the DBD agent queue has not been empty for minutes), sacct or "
         "sacctmgr fail with \"Connection refused\" while slurmctld answers.",
    steps=[
        preflight(slurmdbd=NOT_NEEDED, nodes=WARN, slurmrestd=WARN, test_job=NOT_NEEDED),
        Step("Note the DBD agent queue", "what slurmctld holds for slurmdbd now",
             check=[Check("DBD agent queue now", dbd_queue_noted, "sdiag"),
                    Cmd(DB_PING.argv, "database answers now? (a failure is a finding, the next "
                        "step starts it)", 20, ok_rc=(0, 1))]),
        *database_steps(),
        postflight(retry_s=60, slurmrestd=WARN),
    ],
    references=[
        "SchedMD, Accounting and Resource Limits (accounting.shtml): slurmdbd between slurmctld and "
        "MySQL/MariaDB; slurmctld keeps records while slurmdbd is unavailable",
        "sdiag(1), 22.05.8: DBD Agent queue size (\"If the SlurmDBD, or database, is down then this "
        "number will increase\")",
        "slurm.conf(5), 22.05.8: MaxDBDMsgs (what slurmctld queues before it drops records)",
    ],
    notes="No rollback: starting a stopped daemon cannot be undone usefully. If the database does "
          "not answer after its start, its own log (and disk space) comes first; slurmdbd cannot "
          "help. The queue must reach 0: records are dropped only past MaxDBDMsgs.",
)
