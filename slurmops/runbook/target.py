"""Where a runbook acts: a *target* bundles the transport (local or ssh), the service manager
(lab or systemd) and the site's paths (slurm.conf, munge key, JWT key, ...), so a runbook says
"restart slurmctld" and "{munge_key}" once and works on the lab and on production alike.

Production runs systemd (`systemctl restart slurmctld`); the lab has no systemd and is driven with
`slurmops lab start|stop|restart COMPONENT --dir D`, which also waits for the component's health.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .inventory import Inventory, load as load_inventory
from .model import RunbookError
from .transport import LocalTransport, SshTransport, Transport

COMPONENTS = ("munged", "mariadb", "slurmdbd", "slurmctld", "slurmd", "slurmrestd")


class ServiceManager(Protocol):
    kind: str

    def argv(self, action: str, component: str) -> list[str]: ...


def _known(component: str) -> None:
    if component not in COMPONENTS:
        raise RunbookError(f"unknown service {component!r}; one of {', '.join(COMPONENTS)}")


@dataclass
class LabServices:
    """The lab's components, through its own CLI (which waits for each component's health)."""
    lab_dir: Path
    python: str = sys.executable
    kind: str = "lab"

    def argv(self, action: str, component: str) -> list[str]:
        _known(component)
        return [self.python, "-m", "slurmops", "lab", action, component, "--dir", str(self.lab_dir)]


@dataclass
class SystemdServices:
    """systemd units as Debian/RHEL packages name them; override with ``--set unit_<name>=...``."""
    units: dict[str, str] = field(default_factory=lambda: {
        "munged": "munge", "mariadb": "mariadb", "slurmdbd": "slurmdbd",
        "slurmctld": "slurmctld", "slurmd": "slurmd", "slurmrestd": "slurmrestd"})
    kind: str = "systemd"

    def argv(self, action: str, component: str) -> list[str]:
        _known(component)
        return ["systemctl", action, self.units[component]]


# Paths and names a runbook may use as {placeholders}; production defaults follow SchedMD's docs
# (authentication.shtml, jwt.shtml) and Debian's packages. Every one can be overridden (--set).
SYSTEMD_VALUES = {
    "slurm_conf": "/etc/slurm/slurm.conf",
    "munge_socket": "/run/munge/munge.socket.2",
    "munge_key": "/etc/munge/munge.key",
    "munge_owner": "munge:munge",
    "jwt_key": "/var/spool/slurm/statesave/jwt_hs256.key",
    "jwt_owner": "slurm:slurm",
    "my_cnf": "/etc/mysql/debian.cnf",
    "db_name": "slurm_acct_db",
    "slurmrestd_url": "http://127.0.0.1:6820",
    "slurm_daemons": "slurmdbd,slurmctld",
    "backup_dir": "/var/backups/slurmops",
    "test_partition": "",           # empty: the default partition
}


@dataclass
class Target:
    kind: str
    label: str
    values: dict[str, str]
    env: dict[str, str]
    transport: Transport
    services: ServiceManager
    spec: dict
    # The fleet (inventory.py): lab:DIR reads DIR/inventory.toml when the lab has hosts (lab up
    # --hosts); any target takes --set inventory=FILE. None: one host, this target itself.
    inventory: Inventory | None = None

    @property
    def slug(self) -> str:
        """For lock and file names: one run per runbook *and* target."""
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in self.label).strip("_")


def parse_sets(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RunbookError(f"--set {item!r}: expected NAME=VALUE")
        out[key] = value
    return out


def make_target(spec: str, ssh: str | None = None, sets: dict[str, str] | None = None) -> Target:
    """``lab:/var/tmp/slurmops-lab`` or ``systemd``; ``ssh`` runs commands on another host."""
    sets = dict(sets or {})
    kind, _, arg = spec.partition(":")
    transport: Transport = LocalTransport()
    if ssh:
        user, _, host = ssh.rpartition("@")
        try:
            transport = SshTransport(host=host, user=user or None)
        except ValueError as exc:
            raise RunbookError(str(exc)) from None
    if kind == "lab":
        if ssh:
            raise RunbookError("a lab target runs on this machine; --ssh is for systemd targets")
        from slurmops.lab.platform import Lab, load_config
        lab_dir = Path(arg or "/var/tmp/slurmops-lab").absolute()
        cfg = load_config(lab_dir)
        if cfg is None:
            raise RunbookError(f"no lab in {lab_dir} (run `slurmops lab up --dir {lab_dir}` first)")
        # A lab of a newer Slurm generation runs its commands through wrappers (lab/nsroot.py):
        # the lab's own PATH says where they are.
        lab_path = Lab(cfg).env["PATH"]
        values = {
            "slurm_conf": str(cfg.slurm_conf),
            "munge_socket": str(cfg.munge_socket),
            "munge_key": str(cfg.etc / "munge.key"),
            "munge_owner": "root:root",     # the lab's munged runs as root
            "jwt_key": str(cfg.etc / "jwt.key"),
            "jwt_owner": "root:root",       # SlurmUser=root in the lab
            "my_cnf": str(cfg.etc / "my.cnf"),
            "db_name": "slurm_acct_db",
            "slurmrestd_url": cfg.url("slurmrestd"),
            "slurm_daemons": "slurmdbd,slurmctld,slurmd,slurmrestd",
            "backup_dir": str(lab_dir / "backups"),
            "test_partition": "cpu",
            "lab_dir": str(lab_dir),
        }
        # lab up --hosts wrote an inventory of the lab's hosts: fleet runbooks act across them
        lab_inventory = str(cfg.inventory) if cfg.hosts and cfg.inventory.is_file() else ""
        services: ServiceManager = LabServices(lab_dir)
        label = f"lab:{lab_dir}"
    elif kind == "systemd":
        if arg:
            raise RunbookError(f"target {spec!r}: systemd takes no argument (use --ssh HOST)")
        values = dict(SYSTEMD_VALUES)
        units = {k[len("unit_"):]: v for k, v in sets.items() if k.startswith("unit_")}
        svc = SystemdServices()
        for comp, unit in units.items():
            _known(comp)
            svc.units[comp] = unit
        services = svc
        label = "systemd" + (f"@{transport.name[4:]}" if ssh else "")
    else:
        raise RunbookError(f"target {spec!r}: expected lab:DIR or systemd")
    values.update({k: v for k, v in sets.items() if not k.startswith("unit_")})
    env = {"SLURM_CONF": values["slurm_conf"]}
    if kind == "lab":
        env["PATH"] = lab_path
        if "inventory" not in sets and lab_inventory:
            values["inventory"] = lab_inventory
    inventory = load_inventory(values["inventory"]) if values.get("inventory") else None
    return Target(kind=kind, label=label, values=values, env=env,
                  transport=transport, services=services,
                  spec={"target": spec, "ssh": ssh, "set": sets}, inventory=inventory)
