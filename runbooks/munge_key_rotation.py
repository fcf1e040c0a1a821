"""Rotate the munge key: back up, install a new key (owner, 0400), restart munged, then Slurm."""
from slurmops.runbook import Check, Cmd, Param, Runbook, Service, Step
from slurmops.runbook.health import (
    munge_roundtrip,
    nodes_responding,
    postflight,
    preflight,
    slurmctld_up,
    slurmdbd_answers,
)
from slurmops.runbook.steps import backup_file, differs_check, file_mode_check, install_secret, restore_file

BACKUP = "{backup_dir}/munge.key.{run_id}"


def daemons(ctx) -> list[str]:
    return list(ctx.p.daemons or str(ctx.values["slurm_daemons"]).split(","))


def new_key(ctx):
    if ctx.p.key_file:
        return install_secret("{munge_key}", "0400", "{munge_owner}", source="{key_file}")
    return install_secret("{munge_key}", "0400", "{munge_owner}", generate=("bs=1024", "count=1"))


def restore(ctx):
    """Old key back, then munged and every Slurm daemon restarted on it, in the same order as
    the rotation (the restart steps have no rollback of their own: this one covers them)."""
    return [*restore_file(BACKUP, "{munge_key}"),
            Service("restart", "munged"),
            Check("munge round trip", munge_roundtrip, "", retry_s=30),
            *[Service("restart", d) for d in daemons(ctx)]]


def restart_slurm(ctx):
    return [Service("restart", d) for d in daemons(ctx)]


RUNBOOK = Runbook(
    name="munge-key-rotation",
    title="Rotate the munge key",
    purpose="Replace the munge key shared by munged on every Slurm host, restart munged and then the "
            "Slurm daemons, and prove that credentials decode and Slurm still authenticates. The old "
            "key is kept in a 0700 backup dir and restored automatically if anything fails.",
    when="Scheduled key rotation, a suspected key leak, or a host that was decommissioned while it "
         "held the key. Every host must get the same key: on a real cluster distribute it (config "
         "management) to all nodes before step 4, or run this runbook per host with key_file.",
    params=[
        Param("key_file", "install this key (from your config management) instead of generating "
              "one", type="path"),
        Param("daemons", "Slurm daemons to restart after munged, in order (default: the target's "
              "slurm_daemons; lab: slurmdbd,slurmctld,slurmd,slurmrestd)", type="list",
              choices=("slurmdbd", "slurmctld", "slurmd", "slurmrestd")),
    ],
    steps=[
        preflight(),
        Step("Back up the current key", "the only way back if the new key fails",
             check=[Cmd(("test", "-f", "{munge_key}"), why="key exists")],
             action=backup_file("{munge_key}", BACKUP),
             verify=[Cmd(("cmp", "-s", "--", "{munge_key}", BACKUP), why="backup is identical")]),
        Step("Install the new key", "munged cannot decode old credentials once restarted",
             action=new_key,
             verify=[file_mode_check("munge_key", "0400", "munge_owner"),
                     differs_check("{munge_key}", BACKUP, "new key")],
             rollback=restore, destructive=True, timeout_s=400),
        Step("Restart munged", "munged reads its key only at start",
             action=[Service("restart", "munged")],
             verify=[Check("munge round trip", munge_roundtrip, "munge -n | unmunge", retry_s=30)],
             destructive=True),
        Step("Restart the Slurm daemons", "they must authenticate with credentials of the new key",
             action=restart_slurm,
             verify=[Check("slurmctld answers", slurmctld_up, "", retry_s=60),
                     Check("slurmdbd answers", slurmdbd_answers, "", retry_s=60),
                     Check("nodes responding", nodes_responding, "", retry_s=60)],
             destructive=True, timeout_s=400),
        postflight(),
    ],
    references=[
        "SchedMD, Authentication plugins (authentication.shtml): munge.key owned by munge, mode 0400, "
        "same key on every host, restart after a change",
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml): munged before the Slurm daemons",
    ],
    notes="The key bytes go from /dev/urandom (or key_file) to the key file with dd/cp; they never "
          "pass through slurmops, its audit log or the terminal. The backup keeps owner and mode "
          "(cp -p) in a 0700 directory; delete it once the rotation is proven.",
)
