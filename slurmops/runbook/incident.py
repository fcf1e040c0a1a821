"""Building blocks of the incident runbooks (runbooks/*_down.py and friends): they start from the
broken state an alert describes, so they read what they need without the daemon that is down.

- which controllers answer (`scontrol ping`, scontrol(1));
- StateSaveLocation read from slurm.conf itself (slurmctld may be down; slurm.conf(5));
- the jobs known before a repair, from slurmctld (squeue) or, when it is down, from slurmdbd
  (`sacct -s ... ` with no start time lists the jobs in those states *now*, sacct(1)) and the batch
  jobs saved in StateSaveLocation; kept in the run's directory so a resumed run compares with the
  same list;
- the DBD agent queue from `sdiag` ("DBD Agent queue size", sdiag(1)).
"""
from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import Any

from slurmops.slurm.hostlist import expand
from slurmops.slurm.parse.controllers import parse_scontrol_ping

from .health import check_named
from .model import Check, Cmd, RunbookError, Service, Step

# Job states that slurmctld must still know after it comes back (squeue(1)/sacct(1) state codes).
LIVE_STATES = "PD,R,RQ,RS,S"    # what sacct(1) accepts of the live states (it refuses CG, CF, ...)


def _first(out) -> str:
    text = (out.stdout + out.stderr).strip()
    return text.splitlines()[-1].strip() if text else f"exit {out.rc}"


# ---- controllers ------------------------------------------------------------------------------
def controllers(ctx) -> dict[str, tuple[str, str]]:
    """{role: (host, UP|DOWN)} from `scontrol ping`."""
    out = ctx.run(["scontrol", "ping"], timeout=15)
    return {c.role: (c.host, "UP" if c.up else "DOWN")
            for c in parse_scontrol_ping(out.stdout + out.stderr)}


def show_controllers(ctl) -> str:
    return "; ".join(f"{role} {host} {state}" for role, (host, state) in ctl.items()) or "no answer"


def primary_in_control(ctx) -> tuple[bool, str]:
    """The primary answers (it takes control back at startup) and every backup is on standby."""
    ctl = controllers(ctx)
    ok = bool(ctl) and ctl.get("primary", ("", ""))[1] == "UP" and all(s == "UP" for _, s in ctl.values())
    return ok, show_controllers(ctl)


def backup_in_control(ctx) -> tuple[bool, str]:
    """The primary is DOWN, a backup UP, and clients get answers: with the primary gone only a
    backup in control can answer sinfo."""
    ctl = controllers(ctx)
    backups = [r for r in ctl if r != "primary" and ctl[r][1] == "UP"]
    if ctl.get("primary", ("", ""))[1] != "DOWN" or not backups:
        return False, show_controllers(ctl)
    info = ctx.run(["sinfo", "-h", "-o", "%P"], timeout=15)
    if info.rc != 0:
        return False, f"{show_controllers(ctl)}; sinfo exit {info.rc}"
    return True, f"{show_controllers(ctl)}; sinfo answers (a backup is in control)"


# ---- StateSaveLocation, from the file ------------------------------------------------------------
def conf_value(text: str, key: str) -> str | None:
    """The last ``Key=value`` of a slurm.conf text (keys are case-insensitive, slurm.conf(5));
    comments and blank lines are skipped."""
    found = None
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(rf"(?i){re.escape(key)}\s*=\s*(\S+)", line)
        if m:
            found = m.group(1)
    return found


def derive_statesave(ctx) -> dict[str, str]:
    """StateSaveLocation and the cluster name from slurm.conf (slurmctld may be down)."""
    conf = ctx.values["slurm_conf"]
    out = ctx.run(["cat", "--", conf], timeout=15)
    if out.rc != 0:
        raise RunbookError(f"cannot read {conf}: {_first(out)}")
    loc = (conf_value(out.stdout, "StateSaveLocation") or "/var/spool").rstrip("/") or "/"
    cluster = conf_value(out.stdout, "ClusterName") or "cluster"
    parent, _, name = loc.rpartition("/")
    return {"state_save": loc, "state_save_parent": parent or "/", "state_save_name": name,
            "cluster": cluster}


STATESAVE_ARCHIVE = "{backup_dir}/statesave-{cluster}-{run_id}.tar.gz"


def statesave_checks() -> list:
    """The state directory is there, writable, holds the job state and its previous copy, and the
    file system has room (slurm.conf(5) StateSaveLocation: SlurmUser must create files there)."""
    return [Cmd(("test", "-d", "{state_save}"), why="StateSaveLocation is a directory"),
            Cmd(("test", "-w", "{state_save}"), why="writable"),
            Check("job state and its backup copy", _state_files,
                  "job_state, and job_state.old (slurmctld keeps the previous save)"),
            Check("free space in StateSaveLocation", _free_space, "df: at least 100 MB free")]


def _state_files(ctx) -> tuple[bool, str]:
    out = ctx.run(["ls", "-l", "--", ctx.values["state_save"]], timeout=15)
    names = {ln.split()[-1] for ln in out.stdout.splitlines() if len(ln.split()) >= 9}
    if out.rc != 0:
        return False, _first(out)
    have = [n for n in ("job_state", "job_state.old", "node_state", "node_state.old") if n in names]
    if "job_state" not in names and "job_state.old" not in names:
        return False, "neither job_state nor job_state.old: slurmctld would start with no jobs " \
                      "(restore a statesave-backup archive first)"
    return True, "present: " + ", ".join(have)


def _free_space(ctx) -> tuple[bool, str]:
    out = ctx.run(["df", "-P", "-k", "--", ctx.values["state_save"]], timeout=15)
    lines = out.stdout.strip().splitlines()
    try:
        avail_kb = int(lines[-1].split()[3])
    except (IndexError, ValueError):
        return False, f"df: {_first(out)}"
    return avail_kb >= 100 * 1024, f"{avail_kb // 1024} MB free"


def statesave_backup_ops() -> list:
    """tar of StateSaveLocation into the backup dir, 0600 from the start (it may hold the JWT key)."""
    arc = STATESAVE_ARCHIVE
    return [Cmd(("mkdir", "-p", "-m", "0700", "{backup_dir}"), why="backup dir"),
            Cmd(("install", "-m", "0600", "/dev/null", arc + ".part"), why="0600 from the start"),
            Cmd(("tar", "-C", "{state_save_parent}", "-czf", arc + ".part", "{state_save_name}"),
                ok_rc=(0, 1), timeout_s=600, why="tar (exit 1: a file changed while read)"),
            Cmd(("mv", "-f", "--", arc + ".part", arc), why="complete"),
            Cmd(("tar", "-tzf", arc), why="archive is readable", timeout_s=300)]


# ---- jobs known before and after ------------------------------------------------------------------
def _jobs_file(ctx):
    if ctx.run_dir is None:
        return None
    return ctx.run_dir / "jobs-before.txt"


def _squeue_ids(ctx) -> set[str] | None:
    out = ctx.run(["squeue", "-h", "-a", "-t", "all", "-o", "%i"], timeout=30)
    return set(out.stdout.split()) if out.rc == 0 else None


def _statesave_batch_jobs(ctx) -> set[str] | None:
    """Batch jobs slurmctld saved: each keeps its script in StateSaveLocation/hash.N/job.ID/ (the
    layout statesave-restore reads too). Held jobs that never became eligible are here but not in
    sacct (seen on 22.05 and 24.11: slurmdbd gets a job's record once it is eligible)."""
    loc = ctx.values.get("state_save")
    if not loc:
        return None
    out = ctx.run(["find", loc, "-mindepth", "2", "-maxdepth", "2", "-type", "d", "-name", "job.*"],
                  timeout=30)
    if out.rc != 0:
        return None
    return {m.group(1) for m in re.finditer(r"/hash\.\d+/job\.(\d+)$", out.stdout, re.M)}


def record_jobs_before(ctx) -> tuple[bool, str]:
    """The job ids slurmctld knows now (squeue), or, when it does not answer, the union of those
    slurmdbd has in a live state now (sacct -s with no start time: "now") and the batch jobs in
    StateSaveLocation. Saved in the run's directory."""
    ids = _squeue_ids(ctx)
    source = "squeue"
    if ids is None:
        out = ctx.run(["sacct", "-X", "-n", "-P", "-a", "-s", LIVE_STATES, "-o", "JobID"], timeout=30)
        saved = _statesave_batch_jobs(ctx)
        if out.rc != 0 and saved is None:
            return False, f"neither squeue, sacct nor StateSaveLocation answer: {_first(out)}"
        ids = (set(out.stdout.split()) if out.rc == 0 else set()) | (saved or set())
        source = " + ".join(n for n, ok in (("sacct (slurmdbd)", out.rc == 0),
                                             ("StateSaveLocation batch jobs", saved is not None)) if ok)
    path = _jobs_file(ctx)
    if path is not None and not path.exists():   # a resumed run keeps the first list
        path.write_text("\n".join(sorted(ids, key=_num)) + "\n")
    ctx.memory["jobs_before"] = ids
    return True, f"{len(ids)} live jobs known before, from {source}"


def jobs_known_after(ctx) -> tuple[bool, str]:
    """Every job id known before is known to slurmctld now (any state: a job that ended meanwhile
    stays listed for MinJobAge, slurm.conf(5))."""
    path = _jobs_file(ctx)
    before = ctx.memory.get("jobs_before")
    if before is None and path is not None and path.exists():
        before = set(path.read_text().split())
    if before is None:
        return False, "no list of the jobs before (the step that records it did not run)"
    now = _squeue_ids(ctx)
    if now is None:
        return False, "squeue does not answer"
    lost = sorted(before - now, key=_num)
    if lost:
        return False, f"{len(lost)} of {len(before)} jobs lost: {', '.join(lost[:20])}"
    return True, f"all {len(before)} jobs known before are known now"


def _num(job_id: str):
    return (0, int(job_id)) if job_id.isdigit() else (1, job_id)


# ---- the DBD agent queue ----------------------------------------------------------------------------
def dbd_queue(ctx) -> int | None:
    out = ctx.run(["sdiag"], timeout=30)
    m = re.search(r"DBD Agent queue size:\s*(\d+)", out.stdout)
    return int(m.group(1)) if out.rc == 0 and m else None


def dbd_queue_empty(ctx) -> tuple[bool, str]:
    n = dbd_queue(ctx)
    if n is None:
        return False, "sdiag shows no DBD Agent queue size"
    return n == 0, f"DBD Agent queue size: {n}"


def dbd_queue_noted(ctx) -> tuple[bool, str]:
    """The queue now, for the record (it is what the alert saw)."""
    n = dbd_queue(ctx)
    ctx.memory["dbd_queue_first"] = n
    return True, "sdiag does not answer" if n is None else f"DBD Agent queue size: {n}"


# ---- nodes ------------------------------------------------------------------------------------------
def parse_nodes(text: str) -> list[dict[str, str]]:
    """`scontrol show node` records as {key: value}, multi-line or one line each (`-o`); Reason
    keeps its spaces up to ' [' (who set it, and when)."""
    nodes = []
    for block in re.split(r"\n(?=NodeName=)", text.strip()):
        if "NodeName=" not in block:
            continue
        d = dict(re.findall(r"(\w+)=(\S*)", block))
        m = re.search(r"Reason=(.*?)(?: \[|$)", block, re.M)
        d["Reason"] = m.group(1).strip() if m else ""
        nodes.append(d)
    return nodes


def node_flags(state: str) -> set[str]:
    return set(state.replace("+", " ").split())


def show_nodes(ctx, nodes: str = "") -> list[dict[str, str]]:
    argv = ["scontrol", "show", "node"] + ([nodes] if nodes else [])
    out = ctx.run(argv, timeout=20)
    return parse_nodes(out.stdout) if out.rc == 0 else []


NOT_RESPONDING_REASON = re.compile(r"^Not responding", re.I)


def down_for_not_responding(node: dict[str, str]) -> bool:
    """slurmctld itself set it DOWN because it did not respond (Reason "Not responding")."""
    return "DOWN" in node_flags(node.get("State", "")) and \
        bool(NOT_RESPONDING_REASON.match(node.get("Reason", "")))


def resumable(node: dict[str, str]) -> bool:
    """DOWN only because slurmctld set it so for not responding: not drained, no other reason."""
    return down_for_not_responding(node) and "DRAIN" not in node_flags(node.get("State", ""))


def resume_cmd(node: dict[str, str]) -> Cmd:
    return Cmd(("scontrol", "update", f"NodeName={node['NodeName']}", "State=RESUME"),
               why=f"{node['NodeName']} was DOWN only for not responding")


def resume_not_responding(nodes: list[dict[str, str]]) -> list[Cmd]:
    """RESUME only the nodes slurmctld set DOWN for not responding (scontrol(1): update
    State=RESUME); a node drained or downed by an operator (any other reason: hardware,
    maintenance) stays as it is. slurmctld does not ping a DOWN node that does not respond and asks
    it to register only about every 20th ping (ping_nodes.c, MAX_REG_FREQUENCY): left alone,
    such a node can take minutes to come back after its cause is fixed."""
    return [resume_cmd(n) for n in nodes if resumable(n)]


RESUMES_PER_NODE = 3


def resume_until_responding(ctx, names: str | None = None) -> tuple[bool, str]:
    """One try of a retried check: RESUME the nodes (a hostlist; None: every node; "": none) that
    slurmctld has set DOWN for not responding (resume_not_responding; each at most
    RESUMES_PER_NODE times in a run), then pass when none is still not responding. Tried again
    and again because a node can still be IDLE* (not responding, not DOWN yet) when its cause is
    fixed and go DOWN only at slurmctld's next ping: seen on 26.05 after munged came back, the
    nodes were DOWN at the second minute and a one-shot RESUME before that found nothing to do."""
    if names == "":
        return True, "no node to look at"
    counts = ctx.memory.setdefault("resumed_not_responding", {})
    said = []
    nodes = show_nodes(ctx, names or "")
    for n in nodes:
        name = n["NodeName"]
        if not resumable(n) or counts.get(name, 0) >= RESUMES_PER_NODE:
            continue
        counts[name] = counts.get(name, 0) + 1
        cmd = resume_cmd(n)
        out = ctx.run(list(cmd.argv), timeout=20, why=cmd.why)
        said.append(f"{name} resumed" if out.rc == 0 else
                    f"{name} RESUME failed: {(out.stderr or out.stdout).strip()[:120]}")
    if said:                        # what the RESUMEs changed
        nodes = show_nodes(ctx, names or "")
    ok, detail = nodes_respond(nodes)
    return ok, "; ".join([detail, *said])


def return_nodes_check(names: Callable[[Any], str | None] = lambda ctx: None) -> Check:
    """The retried check of the incident runbooks that return nodes (resume_until_responding)."""
    return Check("nodes respond (RESUME those DOWN for not responding)",
                 lambda ctx: resume_until_responding(ctx, names(ctx)),
                 "scontrol show node; scontrol update NodeName=<node> State=RESUME", retry_s=150)


def still_not_responding(nodes: list[dict[str, str]]) -> list[str]:
    """NODE=STATE of the nodes marked not responding (`*`) or DOWN for not responding."""
    return [f"{n['NodeName']}={n.get('State')}" for n in nodes
            if "NOT_RESPONDING" in node_flags(n.get("State", "")) or down_for_not_responding(n)]


def nodes_respond(nodes: list[dict[str, str]]) -> tuple[bool, str]:
    """A check's result: none of these nodes is still not responding."""
    bad = still_not_responding(nodes)
    return not bad, ("still: " + ", ".join(bad)) if bad else f"{len(nodes)} nodes respond"


def slurmd_port(conf_text: str, node: str) -> int:
    """The node's slurmd port from slurm.conf: its NodeName line's Port, else SlurmdPort, else
    6818 (slurm.conf(5); `scontrol show node` does not print it in 22.05)."""
    port = None
    for line in conf_text.splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"(?i)NodeName=(\S+)", line)
        if m and node in expand(m.group(1)):
            p = conf_value(line.replace(" ", "\n"), "Port")
            port = int(p) if p and p.isdigit() else port
    default = conf_value(conf_text, "SlurmdPort")
    return port or (int(default) if default and default.isdigit() else 6818)


def tcp_open(host: str, port: int, timeout: float = 3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


DB_PING = Cmd(("mysqladmin", "--defaults-file={my_cnf}", "ping"), expect="alive", timeout_s=20,
              why="the database answers slurmdbd's credentials")


def database_steps() -> list[Step]:
    """slurmdbd-down and dbd-agent-queue: the database answers (started if it was down), then slurmdbd."""
    return [
        Step("The database answers", "slurmdbd cannot start or write without it (accounting.shtml)",
             action=[Service("start", "mariadb", why="starting a running database is a no-op")],
             verify=[Cmd(DB_PING.argv, DB_PING.why, DB_PING.timeout_s, expect="alive", retry_s=90)],
             destructive=True, timeout_s=240),
        Step("slurmdbd answers", "started if it was down; sacctmgr gets an answer",
             action=[Service("start", "slurmdbd", why="starting a running slurmdbd is a no-op")],
             verify=[check_named("slurmdbd", retry_s=90)],
             destructive=True, timeout_s=240),
        Step("slurmctld's DBD agent queue drains", "slurmctld sends what it queued while slurmdbd "
             "was away (sdiag(1): DBD Agent queue size)",
             verify=[Check("DBD agent queue empty", dbd_queue_empty, "sdiag", retry_s=180)],
             timeout_s=240),
    ]
