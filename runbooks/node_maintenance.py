"""Drain nodes for maintenance under a MAINT reservation; node-resume ends it."""
from slurmops.runbook import Check, Cmd, Param, Runbook, Step
from slurmops.runbook.health import preflight

NODES = r"[A-Za-z0-9_.\-\[\],]+"


def derive(ctx):
    return {"resv": ctx.params.get("reservation") or "maint_{}".format(ctx.values["ts"].lower())}


def drained_with_reason(ctx):
    """Every node is DRAINED (or still DRAINING, when wait is false) with exactly our reason."""
    out = ctx.run(["scontrol", "show", "node", ctx.values["nodes"]], timeout=15)
    if out.rc != 0:
        return False, out.stderr.strip()
    blocks = [b for b in out.stdout.split("\n\n") if "NodeName=" in b]
    want = {"DRAINED", "DRAIN"} if ctx.params["wait"] else {"DRAINED", "DRAIN", "DRAINING"}
    bad = []
    for b in blocks:
        name = b.split("NodeName=", 1)[1].split()[0]
        state = b.split("State=", 1)[1].split()[0]
        reason = b.split("Reason=", 1)[1].split(" [", 1)[0].strip() if "Reason=" in b else ""
        flags = set(state.replace("+", " ").split())
        if not (flags & want) or (ctx.params["wait"] and "DRAINING" in flags) or reason != ctx.params["reason"]:
            bad.append(f"{name} {state} reason={reason!r}")
    return (not bad and bool(blocks)), ("; ".join(bad) or f"{len(blocks)} nodes drained, reason kept literally")


RUNBOOK = Runbook(
    name="node-drain",
    title="Drain nodes for maintenance (with a MAINT reservation)",
    purpose="Reserve the nodes (Flags=MAINT,IGNORE_JOBS: no new job is planned onto them, and the "
            "maintenance shows in sinfo/squeue), drain them with a reason, and wait until running "
            "jobs have left. Undo with the node-resume runbook.",
    when="Hardware or OS work on nodes, firmware or kernel updates, a node to be debugged.",
    params=[
        Param("nodes", "node list, Slurm hostlist syntax (rn[1-2])", required=True, pattern=NODES),
        Param("reason", "drain reason shown to users (quoted literally)", required=True),
        Param("reservation", "reservation name (default maint_<timestamp>)", pattern=r"[A-Za-z0-9_.-]+"),
        Param("duration", "reservation length in minutes", type="int", default=120),
        Param("wait", "wait until running jobs ended (DRAINED, not DRAINING)", type="bool", default=True),
    ],
    derive=derive,
    steps=[
        preflight(),
        Step("Create the maintenance reservation", "no job will be scheduled into the window",
             action=[Cmd(("scontrol", "create", "reservation", "ReservationName={resv}", "StartTime=now",
                          "Duration={duration}", "Nodes={nodes}", "Users=root", "Flags=MAINT,IGNORE_JOBS"))],
             verify=[Cmd(("scontrol", "show", "reservation", "{resv}"), expect=r"Flags=\S*MAINT")],
             rollback=[Cmd(("scontrol", "delete", "reservation", "{resv}"), ok_rc=(0, 1))]),
        Step("Drain the nodes", "running jobs finish; no new job starts there",
             action=[Cmd(("scontrol", "update", "NodeName={nodes}", "State=DRAIN", "Reason={reason}"))],
             verify=[Check("nodes drained, reason literal", drained_with_reason,
                           "scontrol show node: DRAINED and Reason exactly as given", retry_s=3600)],
             rollback=[Cmd(("scontrol", "update", "NodeName={nodes}", "State=RESUME"), ok_rc=(0, 1))],
             destructive=True, timeout_s=3700),
    ],
    references=[
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml): `scontrol update "
        "NodeName=... State=DRAIN Reason=...`, State=RESUME",
        "scontrol(1) 22.05.8: reservations, Flags=MAINT,IGNORE_JOBS",
    ],
)
