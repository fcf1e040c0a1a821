"""Restart slurmctld and prove the cluster still works."""
from slurmops.runbook import Check, Runbook, Service, Step
from slurmops.runbook.health import postflight, preflight, slurmctld_up

RUNBOOK = Runbook(
    name="slurmctld-restart",
    title="Restart slurmctld",
    purpose="Restart the controller daemon (state is saved to StateSaveLocation on shutdown and "
            "recovered on start: running jobs keep running).",
    when="A change that `scontrol reconfigure` does not apply (quickstart_admin.shtml: e.g. changes to "
         "SlurmctldPort, AuthType, node or partition addressing), a leak or a hung controller.",
    steps=[
        preflight(),
        Step("Restart slurmctld", "the controller is unavailable for a few seconds; jobs keep running",
             action=[Service("restart", "slurmctld")],
             verify=[Check("slurmctld answers", slurmctld_up, "scontrol ping says UP", retry_s=60)],
             rollback=[Service("start", "slurmctld", why="make sure it runs again")],
             destructive=True, timeout_s=180),
        postflight(),
    ],
    references=[
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml): daemons, StateSaveLocation, "
        "`scontrol ping`",
    ],
)
