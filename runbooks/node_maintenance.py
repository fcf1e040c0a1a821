"""Drain nodes for maintenance under a MAINT reservation; node-resume ends it."""
import json
import time

from slurmops.runbook import Check, Cmd, Param, Runbook, Step
from slurmops.runbook.health import WARN, preflight
from slurmops.runbook.incident import node_flags, show_nodes

NODES = r"[A-Za-z0-9_.\-\[\],]+"
PROGRESS_S = 60     # how often the wait says what it is waiting for
POLL_S = 5


def derive(ctx):
    return {"resv": ctx.params.get("reservation") or "maint_{}".format(ctx.values["ts"].lower())}


# ---- what was there before: a node already drained or down keeps its reason and its state --------
def _before_file(ctx):
    return ctx.run_dir / "nodes-before.json" if ctx.run_dir is not None else None


def note_nodes(ctx):
    """Each node's state and reason before this run (kept in the run's directory: a resumed run
    and its rollback see the same). A node already DRAIN or DOWN was taken out by someone else,
    for a reason (ECC errors, a failed disk): this run never changes its reason, never resumes it."""
    path = _before_file(ctx)
    if path is not None and path.exists():
        before = json.loads(path.read_text())
    else:
        nodes = show_nodes(ctx, ctx.values["nodes"])
        if not nodes:
            return False, f"scontrol show node {ctx.values['nodes']}: no such node"
        before = {n["NodeName"]: {"state": n.get("State", ""), "reason": n["Reason"]} for n in nodes}
        if path is not None:
            path.write_text(json.dumps(before, indent=1) + "\n")
    ctx.memory["nodes_before"] = before
    kept = [f"{n} ({b['state']}: {b['reason']!r})" for n, b in before.items() if _taken_out(b)]
    return True, (f"{len(before)} nodes; already out, left as they are: " + "; ".join(kept)) if kept \
        else f"{len(before)} nodes, none drained or down yet"


def _taken_out(b: dict) -> bool:
    flags = node_flags(b.get("state", ""))
    return bool(flags & {"DRAIN", "DRAINED", "DRAINING", "DOWN", "FAIL"})


def _before(ctx) -> dict | None:
    if not hasattr(ctx, "memory"):      # the rendered docs: no cluster, no run
        return None
    if "nodes_before" not in ctx.memory:
        path = _before_file(ctx)
        ctx.memory["nodes_before"] = json.loads(path.read_text()) if path and path.exists() else None
    return ctx.memory["nodes_before"]


def ours(ctx) -> list[str]:
    """The nodes this run drains: those that were not already out."""
    before = _before(ctx)
    return [n for n, b in before.items() if not _taken_out(b)] if before else []


GENERIC = "only the nodes not already drained or down before (step 2)"


def drain_ops(ctx):
    if _before(ctx) is None:
        return [Cmd(("scontrol", "update", "NodeName={nodes}", "State=DRAIN", "Reason={reason}"), why=GENERIC)]
    mine = ours(ctx)
    return [Cmd(("scontrol", "update", f"NodeName={','.join(mine)}", "State=DRAIN", "Reason={reason}"))] \
        if mine else []


def resume_ops(ctx):
    """Rollback: RESUME only what this run drained; without the record of the state before, resume
    nothing (a person decides) rather than return a broken node to service."""
    before = _before(ctx)
    if not hasattr(ctx, "memory"):
        return [Cmd(("scontrol", "update", "NodeName={nodes}", "State=RESUME"), ok_rc=(0, 1), why=GENERIC)]
    if before is None:
        return [Cmd(("echo", "no record of the nodes' state before this run: resuming nothing"))]
    mine = ours(ctx)
    return [Cmd(("scontrol", "update", f"NodeName={','.join(mine)}", "State=RESUME"), ok_rc=(0, 1))] \
        if mine else []


def _pending(ctx) -> tuple[list[str], int]:
    """(nodes not yet as wanted, running jobs on them)."""
    want_done = ctx.params["wait"]
    before = _before(ctx) or {}
    bad = []
    for n in show_nodes(ctx, ctx.values["nodes"]):
        name, flags = n["NodeName"], node_flags(n.get("State", ""))
        if name in before and _taken_out(before[name]):
            continue            # someone else's drain: its reason is theirs
        if "DRAIN" not in flags and "DRAINED" not in flags and "DRAINING" not in flags:
            bad.append(f"{name} {n.get('State')} (not drained)")
        elif n["Reason"] != ctx.params["reason"]:
            bad.append(f"{name} reason={n['Reason']!r}")
        elif want_done and ("DRAINING" in flags or flags & {"ALLOCATED", "MIXED", "COMPLETING"}):
            bad.append(f"{name} {n.get('State')}")
    jobs = 0
    if bad and want_done:
        out = ctx.run(["squeue", "-h", "-w", ctx.values["nodes"], "-t", "R,CG,S", "-o", "%i"], timeout=20)
        jobs = len(out.stdout.split())
    return bad, jobs


def drained(ctx):
    """Wait until every node this run drained is DRAINED (wait=true) or at least DRAINING, with the
    reason exactly as given. No fixed limit: wait_minutes (0 = unbounded) ends the wait, and a line
    of progress is printed every minute."""
    limit = ctx.params.get("wait_minutes") or 0
    t0 = last = time.monotonic()
    while True:
        bad, jobs = _pending(ctx)
        if not bad:
            return True, f"{len(ours(ctx))} nodes drained by this run, reason kept literally"
        waited = time.monotonic() - t0
        if ctx.params["wait"] and time.monotonic() - last >= PROGRESS_S:
            last = time.monotonic()
            ctx.say(f"    ... waiting {waited / 60:.0f} min for {jobs} running jobs to end: " + "; ".join(bad))
            if ctx.audit:
                ctx.audit.write("progress", step=ctx.step_index, waited_s=round(waited), jobs=jobs,
                                pending=bad)
        if not ctx.params["wait"] or (limit and waited >= limit * 60):
            return False, "; ".join(bad) + (f" after {waited / 60:.0f} min" if ctx.params["wait"] else "")
        time.sleep(POLL_S)


RUNBOOK = Runbook(
    name="node-drain",
    title="Drain nodes for maintenance (with a MAINT reservation)",
    purpose="Reserve the nodes (Flags=MAINT,IGNORE_JOBS: no new job is planned onto them, and the "
            "maintenance shows in sinfo/squeue), drain them with a reason, and wait until running "
            "jobs have left, as long as they take (or up to wait_minutes), printing progress. Nodes "
            "already drained or down keep their reason and are never resumed by a rollback. Undo "
            "with the node-resume runbook.",
    when="Hardware or OS work on nodes, firmware or kernel updates, a node to be debugged.",
    params=[
        Param("nodes", "node list, Slurm hostlist syntax (rn[1-2])", required=True, pattern=NODES),
        Param("reason", "drain reason shown to users (quoted literally)", required=True),
        Param("reservation", "reservation name (default maint_<timestamp>)", pattern=r"[A-Za-z0-9_.-]+"),
        Param("duration", "reservation length in minutes", type="int", default=120),
        Param("wait", "wait until running jobs ended (DRAINED, not DRAINING)", type="bool", default=True),
        Param("wait_minutes", "give up waiting after this many minutes (0: wait as long as the jobs "
                              "run)", type="int", default=0),
    ],
    derive=derive,
    steps=[
        preflight(nodes=WARN, test_job=WARN),
        Step("Note the nodes' state and reason", "a node already drained or down (ECC errors, a "
             "failed disk) keeps its reason and is never resumed by this run",
             check=[Check("state before", note_nodes, "scontrol show node; kept in the run's directory")]),
        Step("Create the maintenance reservation", "no job will be scheduled into the window",
             action=[Cmd(("scontrol", "create", "reservation", "ReservationName={resv}", "StartTime=now",
                          "Duration={duration}", "Nodes={nodes}", "Users=root", "Flags=MAINT,IGNORE_JOBS"))],
             verify=[Cmd(("scontrol", "show", "reservation", "{resv}"), expect=r"Flags=\S*MAINT")],
             rollback=[Cmd(("scontrol", "delete", "reservation", "{resv}"), ok_rc=(0, 1))]),
        Step("Drain the nodes", "running jobs finish; no new job starts there",
             action=drain_ops,
             verify=[Check("nodes drained, reason literal", drained,
                           "scontrol show node: DRAINED and Reason exactly as given; progress every "
                           "minute; no limit unless wait_minutes")],
             rollback=resume_ops,
             destructive=True, timeout_s=float("inf")),
    ],
    references=[
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml): `scontrol update "
        "NodeName=... State=DRAIN Reason=...`, State=RESUME",
        "scontrol(1) 22.05.8: reservations, Flags=MAINT,IGNORE_JOBS; node states DRAINING, DRAINED",
    ],
    notes="The wait has no fixed limit: jobs longer than any guess are normal on HPC systems. "
          "Interrupt it (Ctrl-C rolls back: the reservation goes, and only the nodes this run "
          "drained are resumed) or set wait_minutes. A node someone else drained keeps that drain.",
)
