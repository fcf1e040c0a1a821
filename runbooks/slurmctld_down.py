"""Incident: slurmctld does not answer (alert SlurmctldDown). Check the saved state and its copy,
back it up, start slurmctld, prove every job known before is known after."""
from slurmops.runbook import Check, Runbook, Service, Step
from slurmops.runbook.health import NOT_NEEDED, WARN, check_named, postflight, preflight
from slurmops.runbook.incident import (
    derive_statesave,
    jobs_known_after,
    record_jobs_before,
    statesave_backup_ops,
    statesave_checks,
)


def not_answering(ctx):
    """What the alert says, seen from here; slurmctld already answering is not an error (the
    rest of the runbook is then a check that nothing was lost)."""
    ok, detail = check_named("slurmctld").fn(ctx)
    return True, ("slurmctld answers already: " if ok else "confirmed, slurmctld does not answer: ") + detail


RUNBOOK = Runbook(
    name="slurmctld-down",
    title="Incident: slurmctld is down",
    purpose="Bring a dead slurmctld back without losing jobs: note the jobs slurmdbd knows are live, "
            "check StateSaveLocation (the job state and its previous copy, free space), archive it, "
            "start slurmctld, and prove that every job known before is known after.",
    when="Alert SlurmctldDown (`scontrol ping` says DOWN, sdiag fails), users get \"Unable to contact "
         "slurm controller\". Starts from the broken state: slurmctld is not required to answer.",
    derive=derive_statesave,
    steps=[
        preflight(slurmctld=NOT_NEEDED, nodes=NOT_NEEDED, slurmrestd=NOT_NEEDED, test_job=NOT_NEEDED,
                  slurmdbd=WARN),
        Step("Confirm slurmctld does not answer", "scontrol ping from this host",
             check=[Check("scontrol ping", not_answering, "DOWN is the expected state here")]),
        Step("Note the jobs known now", "from slurmctld if it answers, else from slurmdbd (sacct -s: "
             "jobs in a live state now); kept in the run's directory",
             check=[Check("jobs known before", record_jobs_before, "squeue, else sacct",
                           grade="warn")]),
        Step("Check StateSaveLocation and its backup copy", "slurmctld recovers every job from here "
             "(slurm.conf(5) StateSaveLocation); a missing job_state means starting it would lose jobs",
             check=statesave_checks(),
             action=statesave_backup_ops(), timeout_s=900),
        Step("Start slurmctld", "it recovers its state from StateSaveLocation at startup",
             action=[Service("start", "slurmctld")],
             verify=[check_named("slurmctld", retry_s=90)],
             destructive=True, timeout_s=240),
        Step("Every job known before is known after", "squeue lists each job id noted in step 3",
             verify=[Check("jobs recovered", jobs_known_after, "squeue -t all", retry_s=30)]),
        postflight(retry_s=90, slurmdbd=WARN, slurmrestd=WARN),
    ],
    references=[
        "slurm.conf(5), 22.05.8: StateSaveLocation (\"all running and pending job information is "
        "stored here\"; SlurmUser must be able to create files there), MinJobAge",
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml): state is saved to "
        "StateSaveLocation and recovered by the controller at startup; lost if not on disk",
        "sacct(1), 22.05.8: with --state and no --starttime the start time is 'now'",
        "scontrol(1), 22.05.8: ping",
    ],
    notes="No rollback: starting a stopped daemon cannot be undone usefully. If slurmctld does not "
          "come up, its log says why (a bad slurm.conf line, a full disk, a state file it cannot "
          "read); the archive made in step 4 is in backup_dir. If the jobs check fails, do not "
          "restart again: restore the archive with statesave-restore and contact SchedMD.",
)
