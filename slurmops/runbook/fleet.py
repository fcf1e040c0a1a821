"""Runbook steps across a fleet: the thin layer between the engine and the inventory.

A step targets hosts with a *selection* (inventory.py: groups, ``all``, hostlists). ``each``
expands ops into one op per selected host (``Cmd(..., host=NAME)``), so the plan prints every
host's exact argv, the audit log records the host of every command, and resume re-runs the same
ops. Commands reach a host through its transport (transport.py: the system ssh with argument
lists quoted for the remote shell, or local), nothing more: no agent, no remote Python.

A target without an inventory is a fleet of one: the host ``localhost`` (every group) with the
target's own transport, so a fleet runbook runs unchanged on a single-host lab or one systemd host.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from .inventory import Host, Inventory
from .model import Check, Cmd, Fan, Op, RunbookError, Service, fill
from .transport import Transport

SINGLE = "localhost"
DOC_HOST = "HOST"          # rendered docs (render.py has no target): one symbolic host per op
# Which group runs which Slurm daemon (quickstart_admin.shtml: slurmdbd on the database host,
# slurmctld on the controllers, slurmd on every compute node; slurmrestd beside slurmctld).
DAEMON_GROUP = {"slurmdbd": "database", "slurmctld": "controllers", "slurmrestd": "controllers",
                "slurmd": "compute"}
# slurmrestd need not run beside slurmctld (rest_quickstart.shtml: it listens on "your preferred
# [HOST]:PORT" and reaches slurmctld like any client): an inventory with a `rest` group names its
# hosts (the lab's: the database host), else `controllers`.
REST_GROUP = "rest"
_GROUPS = itertools.count(1)      # one id per parallel ``each`` (its ops' Fan.group)


def _docs(ctx) -> bool:
    return not hasattr(ctx, "target")


def inventory(ctx) -> Inventory:
    if _docs(ctx):
        return Inventory((Host(DOC_HOST, address=DOC_HOST, groups=("controllers", "database", "compute")),),
                         "(docs)")
    inv = getattr(ctx.target, "inventory", None)
    if inv is not None:
        return inv
    return Inventory((Host(SINGLE, connection="local", groups=("controllers", "database", "compute")),),
                     "(the target itself)")


def select(ctx, selection: str) -> list[Host]:
    """The hosts a selection names; ``{placeholders}`` (a runbook parameter) are filled first.
    ``partition:NAME`` items are the partition's nodes as Slurm reports them now
    (``sinfo -h -p NAME -o %N``, read-only), which must be inventory hosts."""
    if _docs(ctx):
        return list(inventory(ctx).hosts)
    expr = fill(selection, ctx.values)
    items = []
    for item in _split_items(expr):
        if item.startswith("partition:"):
            items.append(partition_nodes(ctx, item[len("partition:"):]))
        else:
            items.append(item)
    return inventory(ctx).select(",".join(items))


def _split_items(expr: str) -> list[str]:
    from .inventory import _split
    return _split(expr) if expr.strip() else [expr]


def partition_nodes(ctx, name: str) -> str:
    if not name or not all(c.isalnum() or c in "_-." for c in name):
        raise RunbookError(f"host selection partition:{name}: not a partition name")
    out = ctx.run(["sinfo", "-h", "-p", name, "-o", "%N"], timeout=20, why=f"nodes of partition {name}")
    nodes = ",".join(ln.strip() for ln in out.stdout.splitlines() if ln.strip())
    if out.rc != 0 or not nodes:
        raise RunbookError(f"host selection partition:{name}: no nodes "
                           f"({(out.stderr.strip() or 'sinfo lists none')[:120]})")
    return nodes


def host_values(ctx, name: str) -> dict[str, str]:
    if _docs(ctx):
        return ctx.values
    host = inventory(ctx).host(name)
    return {**ctx.values, **host.vars, "host": host.name}


def transport_of(ctx, name: str) -> Transport:
    if getattr(ctx.target, "inventory", None) is None and name == SINGLE:
        return ctx.target.transport
    host = inventory(ctx).host(name)
    try:
        return host.transport()
    except ValueError as exc:
        raise RunbookError(f"host {name}: {exc}") from None


def each(selection: str, *ops: Op | Callable[[object, Host], Sequence[Op]],
         parallel: bool = False) -> Callable[[object], list[Op]]:
    """A phase: every op once per selected host (inventory order). An op may be a function
    ``(ctx, host) -> [ops]`` when the ops differ per host (a copy, a host check).

    ``parallel``: the hosts' shares run at once, up to the run's ``--fanout`` hosts (each host's
    ops still in order; a failure starts no further host). For phases where hosts are
    independent (copy a key, restart munged everywhere); leave it off where order is the point
    (slurmd node by node in an upgrade)."""
    group = next(_GROUPS)

    def phase(ctx) -> list[Op]:
        out: list[Op] = []
        for h in select(ctx, selection):
            mine: list[Op] = []
            for op in ops:
                if isinstance(op, (Cmd, Service)):
                    mine.append(replace(op, host=h.name))
                elif callable(op):
                    mine.extend(op(ctx, h))
                else:
                    raise RunbookError(f"fleet.each: {op!r} is not a Cmd, Service or host function")
            if parallel:
                mine = [_fanned(o, group, h.name) for o in mine]
            out.extend(mine)
        return out
    return phase


def in_parallel(ops: Sequence[Cmd | Service]) -> list[Op]:
    """Ops that each name their host, as one parallel phase (as ``each(..., parallel=True)``)."""
    group = next(_GROUPS)
    return [_fanned(op, group, op.host) for op in ops]


def _fanned(op: Op, group: int, lane: str) -> Op:
    if isinstance(op, Cmd) and op.capture:
        raise RunbookError(f"a parallel phase cannot capture output ({op.capture!r}): every host "
                           f"would write the same key of the run's memory")
    return replace(op, fan=Fan(group, lane))


def daemon_hosts(ctx, daemon: str) -> list[Host]:
    """The hosts that run a Slurm daemon (DAEMON_GROUP); none where the inventory lacks the group."""
    if _docs(ctx):
        return list(inventory(ctx).hosts)
    group = DAEMON_GROUP[daemon]
    inv = inventory(ctx)
    if daemon == "slurmrestd" and REST_GROUP in inv.groups:
        group = REST_GROUP
    return inv.select(group) if group in inv.groups else []


def copy_argv(ctx, name: str, src: str, dest: str) -> list[str]:
    """Copy a file from this machine to ``dest`` on host ``name``, run *here*: cp for a local
    host, scp -p (mode kept) with the host's ssh options for an ssh host. The bytes go file to
    file; they never pass through slurmops."""
    host = inventory(ctx).host(name)
    if host.connection == "local":
        return ["cp", "-p", "--", src, dest]
    t = host.ssh_transport()
    argv = ["scp", "-p", "-q"]
    for opt in t.options:
        argv += ["-o", opt]
    if t.port:
        argv += ["-P", str(t.port)]
    remote = f"{t.user + '@' if t.user else ''}{_scp_host(t.host)}:{dest}"
    return [*argv, "--", src, remote]


def _scp_host(addr: str) -> str:
    return f"[{addr}]" if ":" in addr else addr


def copy_to(src: str, dest: str, why: str = "copy") -> Callable[[object, Host], list[Cmd]]:
    """For ``each``: copy ``src`` (here) to ``dest`` (filled with the host's values) on the host."""
    def per_host(ctx, h: Host) -> list[Cmd]:
        if _docs(ctx):          # the page keeps the placeholders
            return [Cmd(tuple(copy_argv(ctx, h.name, src, dest)), why=why)]
        return [Cmd(tuple(copy_argv(ctx, h.name, fill(src, ctx.values),
                                    fill(dest, host_values(ctx, h.name)))), why=why)]
    return per_host


def munge_across(selection: str, socket: str = "{munge_socket}", name: str = "munge across hosts") -> Check:
    """munge | unmunge across hosts: a credential made on the first selected host decodes on
    every other one, and every other host's credential decodes on the first. With a host of
    another key, unmunge says "Invalid credential". ``socket`` is filled with each host's values.
    Hosts are checked at once, up to the run's fanout. Credentials are never logged."""
    def fn(ctx) -> tuple[bool, str]:
        hosts = select(ctx, selection)
        first = hosts[0]

        def cred(h: Host, bad: list[str]) -> str | None:
            sock = fill(socket, host_values(ctx, h.name))
            out = ctx.run(["munge", "-n", "-S", sock], timeout=10, secret_output=True, host=h.name)
            if out.rc != 0:
                bad.append(f"munge on {h.name}: {_first(out)}")
                return None
            return out.stdout

        def decodes(cred_text: str, made: Host, h: Host, bad: list[str]) -> None:
            sock = fill(socket, host_values(ctx, h.name))
            out = ctx.run(["unmunge", "-S", sock], timeout=10, input=cred_text, secret_output=True,
                          host=h.name)
            if out.rc != 0:
                bad.append(f"{made.name} -> {h.name}: {_first(out)}")

        first_bad: list[str] = []
        c0 = cred(first, first_bad)

        def both_ways(h: Host) -> list[str]:
            bad: list[str] = []
            if c0 is not None:
                decodes(c0, first, h, bad)
            if h is not first:
                c = cred(h, bad)
                if c is not None:
                    decodes(c, h, first, bad)
            return bad

        width = max(1, min(getattr(ctx, "fanout", 1), len(hosts)))
        with ThreadPoolExecutor(max_workers=width, thread_name_prefix="munge-across") as pool:
            bad = first_bad + [b for found in pool.map(both_ways, hosts) for b in found]
        if bad:
            return False, "; ".join(bad[:4]) + (f" (+{len(bad) - 4})" if len(bad) > 4 else "")
        return True, f"credentials decode across {len(hosts)} hosts ({first.name} <-> every host)"
    return Check(name, fn, "munge -n on one host | unmunge on another, "
                 "both ways, for every host")


def _first(out) -> str:
    lines = [ln.strip() for ln in (out.stderr + "\n" + out.stdout).splitlines() if ln.strip()]
    return lines[0][:160] if lines else f"exit {out.rc}"
