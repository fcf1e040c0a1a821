"""Incident: nodes NOT_RESPONDING (alerts SlurmNodeNotResponding, SlurmNodesNotRespondingMany).
Triage (slurmd alive? munge? clock?), start slurmd, return nodes slurmctld marked DOWN for not
responding -- never a node an operator drained."""
import time

from slurmops.runbook import Check, Param, Runbook, Service, Step
from slurmops.runbook.health import NOT_NEEDED, WARN, munge_roundtrip, postflight, preflight
from slurmops.runbook.incident import return_nodes_check, show_nodes, slurmd_port, tcp_open
from slurmops.runbook.steps import graded, verdict

NODES = r"[A-Za-z0-9_.\-\[\],]+"


def derive(ctx):
    """The nodes to look at: the parameter, else every node sinfo marks not responding (`*`)."""
    if ctx.params.get("nodes"):
        return {"target_nodes": ctx.params["nodes"]}
    out = ctx.run(["sinfo", "-h", "-N", "-o", "%N %T"], timeout=20)
    bad = sorted({ln.split()[0] for ln in out.stdout.splitlines()
                  if len(ln.split()) == 2 and ln.split()[1].endswith("*")})
    return {"target_nodes": ",".join(bad)}


def _nodes(ctx):
    names = ctx.values.get("target_nodes", "")
    return show_nodes(ctx, names) if names else []


def slurmd_listens(ctx):
    """slurmd accepts connections on NodeAddr:Port (slurm.conf(5) NodeAddr, Port), from here."""
    nodes = _nodes(ctx)
    if not nodes:
        return "PASS", "no node is marked not responding"
    conf = ctx.run(["cat", "--", ctx.values["slurm_conf"]], timeout=15).stdout
    addr = {n["NodeName"]: (n.get("NodeAddr") or n["NodeName"], slurmd_port(conf, n["NodeName"]))
            for n in nodes}
    dead = [f"{name} ({a}:{p})" for name, (a, p) in addr.items() if not tcp_open(a, p)]
    return ("FAIL", "slurmd does not listen on " + ", ".join(dead)) if dead else \
        ("PASS", f"slurmd listens on all {len(nodes)} nodes")


def munge_here(ctx):
    ok, detail = munge_roundtrip(ctx)
    return ("PASS" if ok else "FAIL"), detail


def clock(ctx):
    """The host's clock against this machine's, and whether it is NTP-synchronised: munge
    credentials carry their creation time and expire (authentication.shtml)."""
    t0 = time.time()
    out = ctx.run(["date", "+%s"], timeout=10)
    try:
        skew = int(out.stdout.strip()) - (t0 + time.time()) / 2
    except ValueError:
        return "WARN", f"date: {out.stdout.strip() or out.stderr.strip()}"
    sync = ctx.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], timeout=10)
    synced = sync.stdout.strip()
    level = "FAIL" if abs(skew) > 60 else "WARN" if synced != "yes" else "PASS"
    return level, f"skew {skew:+.0f} s; NTP synchronised: {synced or 'unknown (no timedatectl)'}"


def reasons(ctx):
    nodes = _nodes(ctx)
    return "PASS", "; ".join(f"{n['NodeName']} {n.get('State')} reason={n['Reason']!r}"
                             for n in nodes) or "no node to look at"


def _findings():
    v = verdict(None)
    return Check("findings", lambda ctx: (True, v.fn(ctx)[1]), "listed; the next steps act on them")


RUNBOOK = Runbook(
    name="node-not-responding",
    title="Incident: nodes not responding",
    purpose="Find why slurmctld cannot reach slurmd on some nodes (slurmd listening? munge working? "
            "clock in sync?), start slurmd, and return to service the nodes slurmctld set DOWN "
            "because they did not respond. Nodes drained or downed for any other reason stay so.",
    when="Alerts SlurmNodeNotResponding / SlurmNodesNotRespondingMany: sinfo shows `*` after the "
         "state (idle*, down*). Many nodes at once points at munge (key, clock) or the network, "
         "one node at its slurmd or host.",
    params=[Param("nodes", "nodes to look at, Slurm hostlist syntax (default: every node marked "
                           "not responding)", pattern=NODES)],
    derive=derive,
    steps=[
        preflight(nodes=NOT_NEEDED, test_job=NOT_NEEDED, slurmdbd=WARN, slurmrestd=WARN),
        Step("Triage: slurmd, munge, clock", "read-only findings for the nodes looked at",
             check=[graded("node state and reason", reasons, "scontrol show node"),
                    graded("slurmd listens", slurmd_listens, "TCP connect to NodeAddr:Port"),
                    graded("munge on the host", munge_here, "munge -n | unmunge"),
                    graded("clock", clock, "date +%s; timedatectl NTPSynchronized"),
                    _findings()]),
        Step("Start slurmd", "on the nodes' host (a systemd target: --ssh NODE); a running slurmd "
             "is left alone",
             action=[Service("start", "slurmd")], destructive=True, timeout_s=180),
        Step("Return nodes DOWN for not responding", "State=RESUME only where slurmctld set the "
             "reason \"Not responding\" (scontrol(1): update State=RESUME), again for a node that "
             "goes DOWN only at slurmctld's next ping, until every node looked at responds",
             action=[return_nodes_check(lambda ctx: ctx.values.get("target_nodes", ""))],
             destructive=True, timeout_s=240),
        postflight(retry_s=90, slurmrestd=WARN),
    ],
    references=[
        "slurm.conf(5), 22.05.8: SlurmdTimeout (a node not responding for it is set DOWN), "
        "ReturnToService, NodeAddr, Port",
        "sinfo(1), 22.05.8: `*` after the state: the node is not responding",
        "scontrol(1), 22.05.8: update NodeName=... State=RESUME",
        "SchedMD, Authentication plugins (authentication.shtml): munge on every host, same key",
    ],
    notes="With ReturnToService=2 slurmctld returns a DOWN node by itself once slurmd registers "
          "with a valid configuration; with 0 or 1 step 4 does it for the not-responding ones only. "
          "If the findings show a munge or clock failure, fix that first (munged-down, munge-health, "
          "NTP): starting slurmd will not help.",
)
