"""The fleet a runbook acts on: a small declarative inventory (TOML) of hosts, their addresses,
their groups and their own values, and the selection of hosts a step targets.

::

    [defaults]                       # optional, for every host
    user = "root"
    identity_file = "/root/.ssh/id_ed25519"
    ssh_options = ["StrictHostKeyChecking=accept-new"]

    [hosts.ctl1]
    connection = "local"             # this machine: no ssh (Ansible's ansible_connection=local)
    groups = ["controllers", "database"]

    [hosts.node01]
    address = "10.1.0.11"
    groups = ["compute"]
    vars = { munge_key = "/etc/munge/munge.key" }   # per-host placeholder values

A selection (``Step`` targets, ``--set hosts=...``) is a comma list of group names, ``all`` and
Slurm hostlists of inventory host names (``node[01-04]``, hostlist.py), e.g.
``controllers,node[01-02]``; the result keeps inventory order and has no duplicates. A name that is
neither a group nor a host is an error, never an empty selection: a runbook that would act on
nothing because of a typo must not report success.

Why ssh with an inventory and not Ansible: docs/runbooks.md ("Fleet execution").
"""
from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from slurmops.slurm.hostlist import expand

from .model import RunbookError
from .transport import LocalTransport, SshTransport, Transport

GROUPS = ("controllers", "database", "compute", "rest")   # the groups runbooks use; others are allowed
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_HOST_KEYS = {"address", "connection", "groups", "vars", "user", "port", "identity_file",
              "ssh_options"}
_DEFAULT_KEYS = _HOST_KEYS - {"address", "connection", "groups"}


@dataclass(frozen=True)
class Host:
    name: str
    address: str = ""               # "" with connection "local"
    connection: str = "ssh"         # "ssh" or "local"
    groups: tuple[str, ...] = ()
    vars: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None
    ssh_options: tuple[str, ...] = ()

    def transport(self) -> Transport:
        if self.connection == "local":
            return LocalTransport(name=f"local:{self.name}")
        return self.ssh_transport()

    def ssh_transport(self) -> SshTransport:
        opts = ["BatchMode=yes", "ConnectTimeout=5", *self.ssh_options]
        if self.identity_file:
            opts.append(f"IdentityFile={self.identity_file}")
        return SshTransport(host=self.address, user=self.user, port=self.port, options=opts)


@dataclass(frozen=True)
class Inventory:
    hosts: tuple[Host, ...]
    source: str = ""

    @property
    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for h in self.hosts:
            for g in h.groups:
                out.setdefault(g, []).append(h.name)
        return out

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise RunbookError(f"inventory {self.source}: no host {name!r}")

    def select(self, expr: str) -> list[Host]:
        """Hosts named by ``expr`` (groups, ``all``, hostlists), in inventory order."""
        if not expr or not expr.strip():
            raise RunbookError("empty host selection (name a group, all, or a hostlist)")
        groups = self.groups
        names = {h.name for h in self.hosts}
        wanted: set[str] = set()
        for item in _split(expr):
            if item == "all":
                wanted |= names
            elif item in groups:
                wanted |= set(groups[item])
            else:
                try:
                    listed = expand(item)
                except ValueError as exc:
                    raise RunbookError(f"host selection {item!r}: {exc}") from None
                unknown = [n for n in listed if n not in names]
                if unknown:
                    raise RunbookError(
                        f"host selection {item!r}: {', '.join(unknown[:5])} is neither a group "
                        f"({', '.join(sorted(groups)) or 'none'}) nor a host of inventory {self.source}")
                wanted |= set(listed)
        return [h for h in self.hosts if h.name in wanted]


def _split(expr: str) -> list[str]:
    """Split at commas outside brackets: ``compute,n[1-2,4]`` -> ``compute``, ``n[1-2,4]``."""
    out, depth, cur = [], 0, ""
    for ch in expr.strip():
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    if any(not item for item in out):
        raise RunbookError(f"host selection {expr!r}: empty item")
    return out


def _str_list(where: str, key: str, value) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RunbookError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def _host(where: str, name: str, raw: dict, defaults: dict) -> Host:
    if not isinstance(raw, dict):
        raise RunbookError(f"{where}: expected a table [hosts.{name}]")
    unknown = sorted(set(raw) - _HOST_KEYS)
    if unknown:
        raise RunbookError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_HOST_KEYS))})")
    if not _NAME.fullmatch(name):
        raise RunbookError(f"{where}: host name {name!r} is not a host name")
    merged = {**defaults, **raw}
    connection = merged.get("connection", "ssh")
    if connection not in ("ssh", "local"):
        raise RunbookError(f"{where}: connection {connection!r} is not ssh or local")
    address = merged.get("address", "")
    if connection == "ssh":
        if not isinstance(address, str) or not address:
            raise RunbookError(f"{where}: ssh host needs an address")
        try:
            ipaddress.ip_address(address)
        except ValueError:
            if not _NAME.fullmatch(address):
                raise RunbookError(f"{where}: address {address!r} is not an IP address or host name") from None
    groups = _str_list(where, "groups", merged.get("groups", []))
    for g in groups:
        if not _NAME.fullmatch(g) or g == "all" or "[" in g:
            raise RunbookError(f"{where}: group name {g!r} is not usable")
    hvars = merged.get("vars", {})
    if not isinstance(hvars, dict) or not all(isinstance(v, str) for v in hvars.values()):
        raise RunbookError(f"{where}: vars must be a table of strings")
    port = merged.get("port")
    if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
        raise RunbookError(f"{where}: port {port!r} is not a TCP port")
    ident = merged.get("identity_file")
    if ident is not None and (not isinstance(ident, str) or not ident.startswith("/")):
        raise RunbookError(f"{where}: identity_file must be an absolute path")
    user = merged.get("user")
    if user is not None and (not isinstance(user, str) or not _NAME.fullmatch(user)):
        raise RunbookError(f"{where}: user {user!r} is not a user name")
    return Host(name=name, address=address if connection == "ssh" else "", connection=connection,
                groups=groups, vars=dict(hvars), user=user, port=port, identity_file=ident,
                ssh_options=_str_list(where, "ssh_options", merged.get("ssh_options", [])))


def parse(text: str, source: str = "<inventory>") -> Inventory:
    """An Inventory, or one RunbookError line naming the file and the problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RunbookError(f"inventory {source}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"defaults", "hosts"})
    if unknown:
        raise RunbookError(f"inventory {source}: unknown table {unknown[0]!r} (defaults, hosts)")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict) or set(defaults) - _DEFAULT_KEYS:
        bad = sorted(set(defaults) - _DEFAULT_KEYS) if isinstance(defaults, dict) else ["?"]
        raise RunbookError(f"inventory {source}: [defaults] takes {', '.join(sorted(_DEFAULT_KEYS))}"
                           f" (not {bad[0]!r})")
    hosts = data.get("hosts")
    if not isinstance(hosts, dict) or not hosts:
        raise RunbookError(f"inventory {source}: no [hosts.NAME] tables")
    out = tuple(_host(f"inventory {source}, host {name}", name, raw, defaults)
                for name, raw in hosts.items())
    addrs = [h.address for h in out if h.address]
    dup = sorted({a for a in addrs if addrs.count(a) > 1})
    if dup:
        raise RunbookError(f"inventory {source}: address {dup[0]} is given to two hosts")
    return Inventory(out, source)


def load(path: Path | str) -> Inventory:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise RunbookError(f"inventory {path}: {exc.strerror}") from None
    return parse(text, str(path))


def with_vars(values: dict[str, str], host: Host) -> dict[str, str]:
    """The placeholder values on ``host``: the target's, overridden by the host's own."""
    return {**values, **host.vars, "host": host.name}


__all__ = ["GROUPS", "Host", "Inventory", "load", "parse", "with_vars"]
