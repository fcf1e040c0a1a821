"""Restart slurmdbd and prove accounting still works."""
from slurmops.runbook import Runbook
from slurmops.runbook.health import postflight, preflight
from slurmops.runbook.steps import restart_step

RUNBOOK = Runbook(
    name="slurmdbd-restart",
    title="Restart slurmdbd",
    purpose="Restart the accounting daemon. slurmctld queues accounting records while slurmdbd is "
            "away and sends them when it is back, so no job record is lost.",
    when="After a slurmdbd.conf change, a database migration or upgrade (upgrade slurmdbd first), "
         "or when `sacctmgr` hangs or slurmctld logs 'slurmdbd: ... connection refused'.",
    steps=[
        preflight(),
        restart_step("slurmdbd", why="accounting queries fail for a few seconds; slurmctld queues records"),
        postflight(),
    ],
    references=[
        "SchedMD, Accounting and Resource Limits (accounting.shtml): slurmdbd, database, agent queue",
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml): daemons",
    ],
)
