"""Planned takeover: move control from the primary slurmctld to the backup (scontrol takeover)."""
from slurmops.runbook import Check, Cmd, Param, Runbook, Service, Step
from slurmops.runbook.health import check_named, nodes_responding, preflight
from slurmops.slurm.parse.controllers import parse_scontrol_ping


def _controllers(ctx):
    """{role: (host, UP|DOWN)} from `scontrol ping` (scontrol(1): ping)."""
    out = ctx.run(["scontrol", "ping"], timeout=15)
    ctl = {c.role: (c.host, "UP" if c.up else "DOWN")
           for c in parse_scontrol_ping(out.stdout + out.stderr)}
    return ctl, out


def _show(ctl) -> str:
    return "; ".join(f"{role} {host} {state}" for role, (host, state) in ctl.items()) or "no answer"


def both_up(ctx):
    """A backup is configured (a second SlurmctldHost) and both controllers answer."""
    ctl, _ = _controllers(ctx)
    if "backup" not in ctl:
        return False, f"no backup controller configured (scontrol ping: {_show(ctl)})"
    ok = ctl.get("primary", ("", ""))[1] == "UP" and ctl["backup"][1] == "UP"
    return ok, _show(ctl)


def backup_in_control(ctx):
    """The primary is DOWN (it exits on takeover), the backup UP, and clients get answers: with
    the primary gone only the backup, now in control, can answer sinfo."""
    ctl, _ = _controllers(ctx)
    if ctl.get("primary", ("", ""))[1] != "DOWN" or ctl.get("backup", ("", ""))[1] != "UP":
        return False, _show(ctl)
    info = ctx.run(["sinfo", "-h", "-o", "%P"], timeout=15)
    if info.rc != 0:
        return False, f"{_show(ctl)}; sinfo exit {info.rc}"
    return True, f"{_show(ctl)}; sinfo answers (the backup is in control)"


def primary_in_control(ctx):
    """The primary answers again (it takes control back at startup); the backup is on standby."""
    ctl, _ = _controllers(ctx)
    ok = ctl.get("primary", ("", ""))[1] == "UP" and ctl.get("backup", ("", ""))[1] == "UP"
    return ok, _show(ctl)


def expected_controller(ctx):
    return primary_in_control(ctx) if ctx.params.get("hand_back") else backup_in_control(ctx)


def _hand_back_ops():
    return [Service("start", "slurmctld", why="the primary takes control back at startup"),
            Check("primary in control, backup on standby", primary_in_control,
                  "scontrol ping: primary UP, backup UP", retry_s=90),
            Check("nodes responding", nodes_responding,
                  "nodes re-register with the primary (UNKNOWN for a few seconds)", retry_s=90)]


def _post_checks(retry_s: float = 60):
    return [
        check_named("munge", retry_s),
        Check("the expected controller is in control", expected_controller,
              "hand_back=true: primary UP and backup UP; otherwise primary DOWN, backup in control",
              retry_s),
        *[check_named(n, retry_s) for n in ("slurmdbd", "nodes", "slurmrestd", "test_job")],
    ]


RUNBOOK = Runbook(
    name="slurmctld-takeover",
    title="Planned takeover by the backup slurmctld",
    purpose="Hand control of the cluster from the primary slurmctld to the backup with `scontrol "
            "takeover`: the backup requests control, the primary saves its state to the shared "
            "StateSaveLocation and exits, the backup recovers that state and runs the cluster. "
            "Running jobs keep running. Then prove the cluster works under the backup. With "
            "`hand_back=true` (a drill) the primary is started again afterwards and takes control "
            "back at startup.",
    when="Before planned work on the primary controller's host (OS update, hardware, a move): the "
         "takeover takes a few seconds instead of the SlurmctldTimeout a crash costs. Also as a "
         "regular failover drill (`hand_back=true`). After the work, start slurmctld on the primary "
         "again (it takes control back) or run this with hand_back=true next time.",
    params=[Param("hand_back", "after verifying the backup, start the primary again so it takes "
                               "control back (a drill)", type="bool", default=False)],
    steps=[
        preflight(),
        Step("Both controllers answer", "a takeover needs a configured, answering backup",
             check=[Check("primary and backup UP", both_up,
                          "scontrol ping: Slurmctld(primary) UP and Slurmctld(backup) UP")]),
        Step("scontrol takeover", "the backup requests control; the primary saves state and exits",
             action=[Cmd(("scontrol", "takeover"), timeout_s=60)],
             verify=[Check("backup in control", backup_in_control,
                           "scontrol ping: primary DOWN, backup UP; sinfo answers", retry_s=90)],
             rollback=_hand_back_ops(),
             destructive=True, timeout_s=300),
        Step("The cluster works under the backup", "jobs, nodes, accounting and REST via the backup",
             verify=[check_named("nodes", 90), check_named("slurmdbd", 30),
                     check_named("slurmrestd", 30), check_named("test_job", 60)],
             timeout_s=300),
        Step("Hand control back to the primary", "only with hand_back=true: start the primary "
             "slurmctld; it takes control back at startup and the backup returns to standby",
             action=lambda ctx: _hand_back_ops()[:1] if ctx.params.get("hand_back") else [],
             verify=lambda ctx: _hand_back_ops()[1:] if ctx.params.get("hand_back") else [],
             destructive=True, timeout_s=300),
        Step("Post-check: cluster healthy", "prove the takeover left a working cluster",
             verify=_post_checks(), timeout_s=300),
    ],
    references=[
        "scontrol(1), 22.05.8: `takeover` - the backup requests control from the primary and waits "
        "for its termination; \"Slurm's primary controller will take the control back at startup\"",
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml), High Availability: the "
        "second SlurmctldHost takes over, all hosts share StateSaveLocation; when the primary "
        "returns it notifies the backup, which saves state and returns to backup mode",
        "slurm.conf(5), 22.05.8: SlurmctldHost (the first is the primary, the next the backup)",
    ],
    notes="A failed takeover or a failed check under the backup is rolled back by starting the "
          "primary again, which takes control back at startup (scontrol(1)). On a systemd target "
          "the service actions run where the target runs: use `--ssh` to the primary controller's "
          "host; the scontrol commands work from any host with the cluster's slurm.conf. Without "
          "hand_back the run ends with the primary stopped on purpose: `scontrol ping` shows it "
          "DOWN (and the usual `RESTORE SLURMCTLD DAEMON TO SERVICE` banner) until it is started "
          "again. Seen in the lab: after the primary takes control back, nodes are UNKNOWN for a "
          "few seconds (once ~30 s) until they re-register, hence the retried node checks.",
)
