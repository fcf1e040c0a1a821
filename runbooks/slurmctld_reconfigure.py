"""Install a new slurm.conf and apply it with `scontrol reconfigure`, after validating it."""
from slurmops.runbook import Check, Cmd, Param, Runbook, Service, Step
from slurmops.runbook.health import postflight, preflight, slurmctld_up
from slurmops.runbook.steps import backup_file, restore_file

BACKUP = "{backup_dir}/slurm.conf.{run_id}"


def same_cluster(ctx):
    """The candidate keeps ClusterName: a new name orphans StateSaveLocation and accounting."""
    cand = ctx.run(["cat", "--", ctx.values["new_config"]], timeout=10)
    if cand.rc != 0:
        return False, f"cannot read {ctx.values['new_config']}: {cand.stderr.strip()}"
    keys = {}
    for line in cand.stdout.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line and " " not in line.split("=", 1)[0]:
            k, v = line.split("=", 1)
            keys.setdefault(k.lower(), v.split()[0] if v.split() else "")
    missing = [k for k in ("clustername", "slurmctldhost") if k not in keys]
    if missing and not ("controlmachine" in keys and missing == ["slurmctldhost"]):
        return False, f"candidate lacks {', '.join(missing)}"
    live = ctx.run(["scontrol", "show", "config"], timeout=15)
    current = next((ln.split("=", 1)[1].strip() for ln in live.stdout.splitlines()
                    if ln.startswith("ClusterName")), None)
    if current and keys["clustername"] != current:
        return False, f"ClusterName {keys['clustername']} != running {current}"
    return True, f"ClusterName {current} kept; SlurmctldHost set"


RUNBOOK = Runbook(
    name="slurmctld-reconfigure",
    title="Apply a new slurm.conf (validate, install, scontrol reconfigure)",
    purpose="Replace slurm.conf with a candidate file and make every daemon re-read it with "
            "`scontrol reconfigure`, after Slurm's own parser accepted the candidate; on failure the "
            "previous file is restored and applied again.",
    when="Any slurm.conf change that reconfigure can apply (partitions, limits, scheduler parameters). "
         "On 22.05 changes that need a restart (SchedulerType, AuthType, ports, node addresses) are "
         "refused by slurmctld; this runbook then rolls back, use slurmctld-restart after installing "
         "the file. From 23.11 reconfigure restarts the daemons and applies those too (not ports or "
         "authentication); a file slurmctld cannot start with ends it, and the rollback brings it "
         "back on the previous file.",
    params=[Param("new_config", "absolute path of the candidate slurm.conf on the target",
                  type="path", required=True)],
    steps=[
        preflight(),
        Step("Validate the candidate", "Slurm's own parser must accept it before anything changes",
             check=[Cmd(("test", "-f", "{new_config}"), why="candidate exists"),
                    Cmd(("env", "SLURM_CONF={new_config}", "scontrol", "show", "hostnames", "localhost"),
                        why="Slurm parses the candidate", reject=r"(?i)error|fatal"),
                    Check("ClusterName and SlurmctldHost", same_cluster,
                          "ClusterName unchanged, SlurmctldHost present"),
                    Cmd(("diff", "-u", "--", "{slurm_conf}", "{new_config}"), ok_rc=(0, 1),
                        why="what changes (recorded in the audit log)")]),
        Step("Install the candidate", "back up the live file, then replace it atomically",
             action=[*backup_file("{slurm_conf}", BACKUP),
                     Cmd(("install", "-m", "0644", "--", "{new_config}", "{slurm_conf}.slurmops-new"),
                         why="copy, mode 0644"),
                     Cmd(("mv", "-f", "--", "{slurm_conf}.slurmops-new", "{slurm_conf}"),
                         why="atomic replace")],
             verify=[Cmd(("cmp", "--", "{new_config}", "{slurm_conf}"), why="installed")],
             rollback=[*restore_file(BACKUP, "{slurm_conf}"),
                       Cmd(("scontrol", "reconfigure"), ok_rc=(0, 1), timeout_s=60,
                           why="apply the old file again"),
                       Service("start", "slurmctld", why="in case the controller died"),
                       Check("slurmctld answers", slurmctld_up, "", retry_s=60)],
             destructive=True),
        Step("scontrol reconfigure", "slurmctld and every slurmd re-read slurm.conf (from 23.11: "
             "restart in place, so slurmctld does not answer for a moment)",
             action=[Cmd(("scontrol", "reconfigure"), timeout_s=60)],
             verify=[Check("slurmctld answers", slurmctld_up, "scontrol ping says UP (polled: "
                           "a restarted slurmctld answers again within seconds)", retry_s=30)],
             destructive=True),
        postflight(),
    ],
    references=[
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml): `scontrol reconfig`",
        "slurm.conf(5) and scontrol(1), 22.05.8 man pages: reconfigure, parameters that need a restart",
        "scontrol(1), 25.05.5 man page: from 23.11 reconfigure creates new daemon processes with the "
        "new file; it cannot change listening ports or the authentication mechanism",
    ],
    notes="Validation runs `scontrol show hostnames` with SLURM_CONF pointing at the candidate: every "
          "Slurm client parses the whole file first and exits with `fatal: Unable to process "
          "configuration file` on a syntax error or unknown key. It cannot catch values slurmctld "
          "refuses at reconfigure time (a plugin that needs a restart); those fail the reconfigure step "
          "and roll back. From 23.11 reconfigure restarts the daemons (scontrol(1)); observed on 24.11 "
          "and 26.05 in the lab (slurmctld -D): a changed SchedulerType is applied, and a plugin that "
          "does not load is fatal to slurmctld while scontrol still exits 0, so the verify finds "
          "slurmctld down and the run rolls back (restore, start slurmctld). A slurmctld that forks its "
          "successor instead keeps running on the old file (scontrol(1)): check `scontrol show config` "
          "for the change. The rollback of 'Install' restores the file, reconfigures again and starts "
          "slurmctld if it is down, so the reconfigure step itself has no rollback of its own.",
)
