"""Restart slurmctld: back up StateSaveLocation, restart, prove it really restarted, recovered every
job, and that the cluster still works."""
import re

from slurmops.runbook import Check, Runbook, Service, Step
from slurmops.runbook.health import check_named, postflight, preflight
from slurmops.runbook.incident import (
    derive_statesave,
    jobs_known_after,
    record_jobs_before,
    statesave_backup_ops,
    statesave_checks,
)


def _boot_time(ctx) -> str | None:
    out = ctx.run(["scontrol", "show", "config"], timeout=20)
    m = re.search(r"^BOOT_TIME\s*=\s*(.+)$", out.stdout, re.M)
    return m.group(1).strip() if out.rc == 0 and m else None


def note_boot_time(ctx):
    """slurmctld's start time (`scontrol show config`: BOOT_TIME) before the restart."""
    t = _boot_time(ctx)
    ctx.memory["boot_before"] = t
    return t is not None, f"BOOT_TIME {t}" if t else "scontrol show config shows no BOOT_TIME"


def restarted(ctx):
    """BOOT_TIME moved: a new slurmctld answers, not the old one that ignored the restart."""
    before, now = ctx.memory.get("boot_before"), _boot_time(ctx)
    if before is None:
        return now is not None, f"BOOT_TIME now {now} (the time before is gone after a resume)"
    return bool(now) and now != before, f"BOOT_TIME {before} -> {now}"


RUNBOOK = Runbook(
    name="slurmctld-restart",
    title="Restart slurmctld",
    purpose="Restart the controller daemon safely: note every job it knows, check and archive "
            "StateSaveLocation (slurmctld saves its state there on shutdown and recovers it on "
            "start), restart, prove a new slurmctld runs (BOOT_TIME changed) and that every job "
            "known before is known after. Running jobs keep running.",
    when="A change that `scontrol reconfigure` does not apply (quickstart_admin.shtml: e.g. changes to "
         "SlurmctldPort, AuthType, node or partition addressing), a leak or a hung controller. For a "
         "slurmctld that is already down, use slurmctld-down.",
    derive=derive_statesave,
    steps=[
        preflight(),
        Step("Note the jobs and the start time", "compared after the restart",
             check=[Check("jobs known before", record_jobs_before, "squeue -t all"),
                    Check("BOOT_TIME before", note_boot_time, "scontrol show config")]),
        Step("Back up StateSaveLocation", "the way back if the restart loses state (upgrades.shtml: "
             "back it up before a slurmctld change)",
             check=statesave_checks(), action=statesave_backup_ops(), timeout_s=900),
        Step("Restart slurmctld", "the controller is unavailable for a few seconds; jobs keep running",
             action=[Service("restart", "slurmctld")],
             verify=[check_named("slurmctld", retry_s=60),
                     Check("a new slurmctld runs", restarted, "BOOT_TIME changed", retry_s=30)],
             rollback=[Service("start", "slurmctld", why="make sure it runs again")],
             destructive=True, timeout_s=180),
        Step("Every job known before is known after", "squeue lists each job id noted in step 2",
             verify=[Check("jobs recovered", jobs_known_after, "squeue -t all", retry_s=30)]),
        postflight(),
    ],
    references=[
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml): daemons, StateSaveLocation "
        "(state saved and recovered at startup), `scontrol ping`",
        "slurm.conf(5), 22.05.8: StateSaveLocation, MinJobAge",
        "scontrol(1), 22.05.8: show config (its BOOT_TIME line is slurmctld's start time)",
        "SchedMD, Upgrade Guide (upgrades.shtml, 25.05.5): back up the contents of StateSaveLocation",
    ],
    notes="The archive of StateSaveLocation stays in backup_dir (mode 0600: it may hold the JWT key); "
          "statesave-restore puts it back. If the jobs check fails, do not restart again: restore.",
)
