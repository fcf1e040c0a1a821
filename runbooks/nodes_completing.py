"""Incident: nodes stuck in COMPLETING. Find the jobs that hold them, restart slurmd there (it
reports the end of the job's epilog again), and only with force_down, for a node running nothing
else, DOWN + RESUME it."""
from slurmops.runbook import Check, Cmd, Param, Runbook, Service, Step
from slurmops.runbook.health import NOT_NEEDED, WARN, postflight, preflight
from slurmops.runbook.incident import node_flags, show_nodes
from slurmops.runbook.steps import graded

NODES = r"[A-Za-z0-9_.\-\[\],]+"


def derive(ctx):
    if ctx.params.get("nodes"):
        return {"target_nodes": ctx.params["nodes"]}
    out = ctx.run(["sinfo", "-h", "-N", "-t", "completing", "-o", "%N"], timeout=20)
    return {"target_nodes": ",".join(sorted(set(out.stdout.split())))}


def _completing(ctx) -> list[dict]:
    names = ctx.values.get("target_nodes", "")
    return [n for n in (show_nodes(ctx, names) if names else [])
            if "COMPLETING" in node_flags(n.get("State", ""))]


def jobs_holding(ctx):
    out = ctx.run(["squeue", "-h", "-t", "CG", "-o", "%i %N %M"], timeout=20)
    lines = [ln.strip() for ln in out.stdout.splitlines() if ln.strip()]
    return "PASS", ("; ".join(lines[:20]) or "no job in COMPLETING") + \
        (f" (+{len(lines) - 20} more)" if len(lines) > 20 else "")


def none_completing(ctx):
    left = _completing(ctx)
    return not left, ("still COMPLETING: " + ", ".join(n["NodeName"] for n in left)) if left \
        else "no node COMPLETING"


def down_resume(ctx):
    """scontrol(1): State=DOWN ends every job on the node, so only nodes that run nothing but
    the completing job(s) are cycled; the others are listed for a person."""
    if not ctx.params.get("force_down"):
        return []
    ops = []
    for n in _completing(ctx):
        running = ctx.run(["squeue", "-h", "-w", n["NodeName"], "-t", "R,S", "-o", "%i"], timeout=20)
        if running.rc != 0 or running.stdout.strip():
            continue
        ops += [Cmd(("scontrol", "update", f"NodeName={n['NodeName']}", "State=DOWN",
                     "Reason=slurmops: stuck completing ({run_id})")),
                Cmd(("scontrol", "update", f"NodeName={n['NodeName']}", "State=RESUME"))]
    return ops


RUNBOOK = Runbook(
    name="nodes-completing",
    title="Incident: nodes stuck in COMPLETING",
    purpose="A node stays COMPLETING until slurmd reports that the job's processes are gone and its "
            "epilog ended. List the jobs holding the nodes, restart slurmd there, wait; with "
            "force_down=true cycle the nodes that still hang and run nothing else through DOWN and "
            "RESUME.",
    when="sinfo shows comp/COMPLETING nodes for minutes; squeue shows jobs in CG that do not go "
         "away (an unkillable process in D state, a hung epilog, a dead slurmd).",
    params=[Param("nodes", "nodes to look at (default: every COMPLETING node)", pattern=NODES),
            Param("force_down", "cycle nodes still COMPLETING through DOWN/RESUME when they run "
                                "no other job", type="bool", default=False)],
    derive=derive,
    steps=[
        preflight(nodes=WARN, test_job=NOT_NEEDED, slurmdbd=WARN, slurmrestd=WARN),
        Step("Which jobs hold the nodes", "read-only",
             check=[graded("jobs in COMPLETING", jobs_holding, "squeue -t CG")]),
        Step("Restart slurmd on the nodes", "a fresh slurmd reports the job's end again (a systemd "
             "target: --ssh NODE)",
             action=[Service("restart", "slurmd")], destructive=True, timeout_s=180),
        Step("Cycle nodes still COMPLETING (force_down)", "only nodes running nothing else",
             action=down_resume, destructive=True),
        Step("No node is COMPLETING", "slurmd reported, or the node was cycled",
             verify=[Check("no node COMPLETING", none_completing, "scontrol show node", retry_s=120)],
             timeout_s=180),
        postflight(retry_s=90, slurmrestd=WARN),
    ],
    references=[
        "scontrol(1), 22.05.8: update NodeName State=DOWN (\"Setting a node DOWN will cause all "
        "running and suspended jobs on that node to be terminated\"), State=RESUME; node state "
        "COMPLETING (\"all jobs on the node are in the process of completing\")",
        "slurm.conf(5), 22.05.8: UnkillableStepTimeout, Epilog",
    ],
    notes="A job process in uninterruptible sleep (D state, often a hung file system) keeps the "
          "node COMPLETING whatever slurmd does: then the node's host needs attention first.",
)
