"""End node maintenance: resume the nodes, delete the maintenance reservation, check health."""
from slurmops.runbook import Check, Cmd, Param, Runbook, Step
from slurmops.runbook.health import postflight


def not_drained(ctx):
    out = ctx.run(["sinfo", "-h", "-N", "-n", ctx.values["nodes"], "-o", "%N %T"], timeout=15)
    lines = [ln.split() for ln in out.stdout.splitlines() if len(ln.split()) == 2]
    bad = [f"{n}={s}" for n, s in lines if "drain" in s or s.endswith("*")]
    return (out.rc == 0 and lines and not bad), ("; ".join(bad) or f"{len(lines)} nodes back in service")


RUNBOOK = Runbook(
    name="node-resume",
    title="Return nodes from maintenance",
    purpose="Resume drained nodes, delete their maintenance reservation, and prove the cluster is healthy.",
    when="Maintenance started with node-drain is finished.",
    params=[
        Param("nodes", "node list, Slurm hostlist syntax", required=True, pattern=r"[A-Za-z0-9_.\-\[\],]+"),
        Param("reservation", "maintenance reservation to delete (empty: none)", pattern=r"[A-Za-z0-9_.-]+"),
    ],
    steps=[
        Step("Resume the nodes", "they accept jobs again",
             action=[Cmd(("scontrol", "update", "NodeName={nodes}", "State=RESUME"))],
             verify=[Check("nodes not drained", not_drained, "sinfo", retry_s=60)],
             rollback=[Cmd(("scontrol", "update", "NodeName={nodes}", "State=DRAIN",
                            "Reason=slurmops node-resume rolled back ({run_id})"))],
             destructive=True),
        Step("Delete the maintenance reservation", "skipped without a reservation name",
             action=lambda ctx: [Cmd(("scontrol", "delete", "reservation", "{reservation}"))]
             if ctx.params.get("reservation") else [],
             verify=lambda ctx: [Cmd(("scontrol", "show", "reservation", "{reservation}"), ok_rc=(0, 1),
                                     reject=r"ReservationName=")] if ctx.params.get("reservation") else []),
        postflight(),
    ],
    references=[
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml): State=RESUME",
        "scontrol(1) 22.05.8: delete reservation",
    ],
)
