"""Archive slurmctld's StateSaveLocation (jobs, nodes, reservations, JWT key if kept there)."""
import os

from slurmops.runbook import Check, Cmd, Param, Runbook, RunbookError, Step
from slurmops.runbook.health import slurmctld_up

ARCHIVE = "{dest_dir}/statesave-{cluster}-{ts}.tar.gz"


def derive(ctx):
    """Where the state lives, read from the running controller (not guessed from a file)."""
    out = ctx.run(["scontrol", "show", "config"], timeout=15)
    conf = dict((k.strip(), v.strip()) for k, _, v in
                (ln.partition("=") for ln in out.stdout.splitlines() if "=" in ln))
    loc = conf.get("StateSaveLocation")
    if out.rc != 0 or not loc:
        raise RunbookError("cannot read StateSaveLocation from `scontrol show config` "
                           f"(exit {out.rc}); is slurmctld up?")
    loc = loc.rstrip("/")
    return {"state_save": loc, "state_save_parent": os.path.dirname(loc) or "/",
            "state_save_name": os.path.basename(loc), "cluster": conf.get("ClusterName", "cluster"),
            "dest_dir": ctx.params.get("dest") or ctx.values["backup_dir"]}


RUNBOOK = Runbook(
    name="statesave-backup",
    title="Back up StateSaveLocation",
    purpose="Write a compressed tar archive (mode 0600) of slurmctld's StateSaveLocation and prove it "
            "is readable. The archive is what you restore after losing the controller's disk.",
    when="Before an upgrade or any slurmctld change (upgrades.shtml), and on a schedule.",
    params=[Param("dest", "directory for the archive (default: the target's backup_dir)", type="path")],
    derive=derive,
    steps=[
        Step("Controller answers, state dir exists", "the path comes from the running slurmctld",
             check=[Check("slurmctld answers", slurmctld_up, "scontrol ping"),
                    Cmd(("test", "-d", "{state_save}"), why="StateSaveLocation is a directory")]),
        Step("Archive", "slurmctld replaces its state files by rename, so each file is whole",
             action=[Cmd(("mkdir", "-p", "-m", "0700", "{dest_dir}"), why="backup dir"),
                     Cmd(("install", "-m", "0600", "/dev/null", ARCHIVE + ".part"), why="0600 from the start"),
                     Cmd(("tar", "-C", "{state_save_parent}", "-czf", ARCHIVE + ".part", "{state_save_name}"),
                         ok_rc=(0, 1), timeout_s=600, why="tar (exit 1: a file changed while read)"),
                     Cmd(("mv", "-f", "--", ARCHIVE + ".part", ARCHIVE), why="complete")],
             verify=[Cmd(("tar", "-tzf", ARCHIVE), why="archive is readable", timeout_s=300),
                     Cmd(("sha256sum", "--", ARCHIVE), why="checksum (in the audit log)")],
             rollback=[Cmd(("rm", "-f", "--", ARCHIVE + ".part", ARCHIVE), why="no half archive")],
             timeout_s=900),
    ],
    references=[
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml): StateSaveLocation",
        "SchedMD, Upgrade Guide (upgrades.shtml): back up StateSaveLocation before upgrading",
        "SchedMD, JSON Web Tokens (jwt.shtml): the JWT key is often kept in StateSaveLocation",
    ],
    notes="The archive may contain the JWT key (jwt.shtml suggests keeping it in StateSaveLocation): it "
          "is created 0600 in a 0700 directory; store it as a secret.",
)
