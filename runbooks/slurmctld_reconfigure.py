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
         "Changes that need a restart (SchedulerType, AuthType, ports, node addresses) are refused by "
         "slurmctld; this runbook then rolls back, use slurmctld-restart after installing the file.",
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
        Step("scontrol reconfigure", "slurmctld and every slurmd re-read slurm.conf",
             action=[Cmd(("scontrol", "reconfigure"), timeout_s=60)],
             verify=[Check("slurmctld answers", slurmctld_up, "scontrol ping says UP", retry_s=30)],
             destructive=True),
        postflight(),
    ],
    references=[
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml): `scontrol reconfig`",
        "slurm.conf(5) and scontrol(1), 22.05.8 man pages: reconfigure, parameters that need a restart",
    ],
    notes="Validation runs `scontrol show hostnames` with SLURM_CONF pointing at the candidate: every "
          "Slurm client parses the whole file first and exits with `fatal: Unable to process "
          "configuration file` on a syntax error or unknown key. It cannot catch values slurmctld "
          "refuses at reconfigure time (a plugin that needs a restart); those fail the reconfigure "
          "step and roll back. The rollback of 'Install' restores the file and reconfigures again, so "
          "the reconfigure step itself has no rollback of its own.",
)
