"""Incident: a backup slurmctld is in control (alert SlurmctldBackupInControl). Return control to
the primary: it takes control back at startup."""
from slurmops.runbook import Check, Runbook, Service, Step
from slurmops.runbook.health import NOT_NEEDED, WARN, check_named, postflight, preflight
from slurmops.runbook.incident import (
    backup_in_control,
    derive_statesave,
    jobs_known_after,
    primary_in_control,
    record_jobs_before,
    statesave_checks,
)


def who_is_in_control(ctx):
    """A backup in control is the expected state; the primary already back is fine too."""
    ok, detail = backup_in_control(ctx)
    if ok:
        return True, detail
    ok, detail2 = primary_in_control(ctx)
    return ok, ("the primary is in control already: " if ok else "neither the primary nor a backup "
                "is in control (see slurmctld-down): ") + detail2


RUNBOOK = Runbook(
    name="slurmctld-failback",
    title="Incident: the backup slurmctld is in control",
    purpose="Return control from the backup slurmctld to the primary: note the jobs the backup "
            "knows, check the shared StateSaveLocation from the primary's side, start slurmctld on "
            "the primary (it notifies the backup, which saves state and returns to standby), and "
            "prove every job is still known and the cluster works.",
    when="Alert SlurmctldBackupInControl (the primary is DOWN in `scontrol ping`, a backup answers), "
         "after the primary's host is repaired, or after a planned slurmctld-takeover. Run it on the "
         "primary controller's host (`--ssh` for a systemd target).",
    derive=derive_statesave,
    steps=[
        preflight(slurmctld=NOT_NEEDED, nodes=WARN, slurmdbd=WARN, slurmrestd=WARN,
                  test_job=NOT_NEEDED),
        Step("A backup is in control", "scontrol ping: primary DOWN, a backup UP and answering",
             check=[Check("who is in control", who_is_in_control, "scontrol ping; sinfo")]),
        Step("Note the jobs known now", "the backup answers squeue; kept in the run's directory",
             check=[Check("jobs known before", record_jobs_before, "squeue")]),
        Step("StateSaveLocation is usable from the primary", "both controllers share it "
             "(quickstart_admin.shtml, High Availability); the primary recovers from it",
             check=statesave_checks()),
        Step("Start the primary slurmctld", "it takes control back at startup; the backup saves "
             "state and returns to standby",
             action=[Service("start", "slurmctld")],
             verify=[Check("primary in control, backups on standby", primary_in_control,
                           "scontrol ping: every controller UP", retry_s=120),
                     check_named("nodes", retry_s=90)],
             destructive=True, timeout_s=300),
        Step("Every job known before is known after", "squeue on the primary lists each job id",
             verify=[Check("jobs recovered", jobs_known_after, "squeue -t all", retry_s=30)]),
        postflight(retry_s=90, slurmrestd=WARN),
    ],
    references=[
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml), High Availability: when "
        "the primary returns it notifies the backup, which saves state and returns to backup mode; "
        "the primary reads the saved state and resumes normal operation",
        "scontrol(1), 22.05.8: ping, takeover (\"the primary controller will take the control back "
        "at startup\")",
        "slurm.conf(5), 22.05.8: SlurmctldHost, StateSaveLocation (readable and writable by both)",
    ],
    notes="No rollback: if the primary does not take control, stop it again and the backup keeps "
          "the cluster (it never gave up control before the primary answered). Nodes may show "
          "UNKNOWN for a few seconds after the hand-over until they register with the primary.",
)
