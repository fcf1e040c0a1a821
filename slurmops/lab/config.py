"""The lab's settings: one frozen value that every other lab module reads.

Everything the lab writes lives under ``LabConfig.dir``; every port it opens is derived from
``port_base`` so a second lab (tests do this) or a real Slurm on the same host never collides.
"""
from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

DEFAULT_DIR = Path("/var/tmp/slurmops-lab")
DEFAULT_PORT_BASE = 16800
# Environment marker set on every process the lab starts (children inherit it): `down` uses it to
# find and stop everything that belongs to this lab and nothing else.
MARKER_ENV = "SLURMOPS_LAB_DIR"

# Offsets from port_base. The Slurm ones mirror Slurm's defaults (6817, 6819, ...).
PORT_OFFSETS = {
    "slurmctld": 17,
    "slurmdbd": 19,
    "slurmrestd": 20,
    "mariadb": 33,
    "node_exporter": 110,
    "slurm_exporter": 180,
    "job_exporter": 181,
    "prometheus": 190,
    "alertmanager": 193,
}
SLURMD_PORT_OFFSET = 100  # slurmd of node i listens on port_base + 100 + i


@dataclass(frozen=True)
class LabConfig:
    dir: Path = DEFAULT_DIR
    port_base: int = DEFAULT_PORT_BASE
    cluster: str = "lab"
    node_prefix: str = ""
    cpu_nodes: int = 3
    cloud_nodes: int = 2
    node_cpus: int = 8
    node_memory_mb: int = 4000
    def_mem_per_cpu_mb: int = 100
    suspend_time_s: int = 30
    resume_timeout_s: int = 60
    # Scale testing: this many extra powered-down CLOUD nodes (cn00001...) in partition `big`;
    # held jobs there never start, so slurmctld carries a large cluster on a 2-core machine.
    bench_nodes: int = 0
    # A backup slurmctld in its own network + UTS namespace (see ARCHITECTURE.md, "Backup
    # controller"). Off by default: the default lab stays on 127.0.0.1 exactly as before.
    backup_controller: bool = False
    # Separate hosts (issue 13): every cpu node's slurmd, its own munged (own key file) and an
    # sshd in its own network + UTS + mount namespace on the lab's host network (a bridge).
    hosts: bool = False
    # Real GPU GRES on every cpu node (issue 12): Gres=gpu[:TYPE]:N, a gres.conf with AutoDetect=off
    # and File= device nodes under <dir>/dev, and gres/gpu in AccountingStorageTRES.
    gpus: int = 0
    gpu_type: str = ""
    gpu_tres: bool = True        # False: gres/gpu not in AccountingStorageTRES (Slurm's default)
    # The Slurm generation (generations.py): 22.05 is the host's Debian 12 Slurm; newer ones run
    # from a Debian root filesystem in a private mount + UTS namespace (nsroot.py).
    slurm: str = "22.05"
    # Daemons running another generation than `slurm` (an upgrade rehearsal: `lab switch`): keys
    # "slurmdbd", "slurmctld", "slurmrestd", "slurmd-<node>", and "clients" (the Slurm commands in
    # the lab's PATH); values generations. Empty: everything is `slurm`.
    daemons: dict[str, str] = field(default_factory=dict)
    hostname: str = field(default_factory=lambda: socket.gethostname().split(".")[0])

    # ---- derived names -------------------------------------------------------------------
    @property
    def cpu_node_names(self) -> list[str]:
        return [f"{self.node_prefix}n{i}" for i in range(1, self.cpu_nodes + 1)]

    @property
    def cloud_node_names(self) -> list[str]:
        return [f"{self.node_prefix}c{i}" for i in range(1, self.cloud_nodes + 1)]

    @property
    def node_names(self) -> list[str]:
        return self.cpu_node_names + self.cloud_node_names

    @property
    def gres(self) -> str:
        """The cpu nodes' ``Gres=`` value ("" without GPUs)."""
        return f"gpu:{self.gpu_type}:{self.gpus}" if self.gpu_type else (
            f"gpu:{self.gpus}" if self.gpus else "")

    def gpu_files(self, node: str) -> list[Path]:
        return [self.dir / "dev" / f"{node}-gpu{i}" for i in range(self.gpus)]

    def port(self, component: str) -> int:
        return self.port_base + PORT_OFFSETS[component]

    def slurmd_port(self, node: str) -> int:
        return self.port_base + SLURMD_PORT_OFFSET + 1 + self.node_names.index(node)

    # ---- backup controller: network namespace, veth pair, addresses ------------------------
    @property
    def netns(self) -> str:
        return f"slurmops-{self.cluster}-{self.port_base}"

    @property
    def veth_host(self) -> str:          # interface names: at most 15 characters
        return f"sob{self.port_base}"

    @property
    def veth_ns(self) -> str:
        return f"son{self.port_base}"

    @property
    def _subnet(self) -> str:
        # 10.<hi>.<lo & ~3>.0/30 from the port base: two labs whose port bases give the same /30
        # would also share ports, so a lab's /30 is as unique as its ports.
        return f"10.{(self.port_base >> 8) & 0xFF}.{self.port_base & 0xFC}"

    @property
    def veth_host_addr(self) -> str:
        return f"{self._subnet}.1"

    @property
    def backup_addr(self) -> str:
        """The backup slurmctld's address: its /30 veth, or with --hosts its controller host's
        address on the hosts' bridge."""
        return self.node_addr(self.backup_hostname) if self.hosts else f"{self._subnet}.2"

    @property
    def backup_veth(self) -> bool:
        """Whether the backup controller has its own /30 veth pair and namespace (without
        --hosts; with it the backup is a controller host on the bridge)."""
        return self.backup_controller and not self.hosts

    @property
    def backup_hostname(self) -> str:
        return f"{self.cluster.replace('_', '-')}-backup"

    @property
    def host_addr(self) -> str:
        """The address the lab host's daemons (slurmdbd, cloud nodes' slurmd) are reached at.
        127.0.0.1 in the default lab; with a backup controller the host's veth address, because
        127.0.0.1 inside the backup's namespace is that namespace's own loopback; with --hosts
        the bridge's address."""
        if self.hosts:
            return self.hosts_gateway
        return self.veth_host_addr if self.backup_controller else "127.0.0.1"

    @property
    def ctld_host(self) -> str:
        """The primary slurmctld's host name (SlurmctldHost): the lab host, or with --hosts the
        controller host of its own."""
        return self.ctl_hostname if self.hosts else self.hostname

    @property
    def ctld_addr(self) -> str:
        """The address the primary slurmctld is reached at (SlurmctldHost=NAME(ADDR))."""
        return self.ctl_addr if self.hosts else self.host_addr

    # ---- separate hosts (lab up --hosts): a bridge, a veth pair and a namespace per node ------
    @property
    def _hosts_net(self) -> str:
        # 172.16.0.0/12: one /24 per lab from bits 4..15 of the port base (labs 16 ports apart
        # or more get different networks; closer ones would share ports anyway). The backup
        # controller's /30s live in 10.0.0.0/8, so the two never overlap.
        return f"172.{16 + ((self.port_base >> 12) & 0x0F)}.{(self.port_base >> 4) & 0xFF}"

    @property
    def hosts_network(self) -> str:
        return f"{self._hosts_net}.0/24"

    @property
    def hosts_gateway(self) -> str:
        return f"{self._hosts_net}.1"

    @property
    def hosts_bridge(self) -> str:
        return f"sobr{self.port_base}"

    def host_nodes(self) -> list[str]:
        """The nodes that are hosts of their own (cloud nodes stay on the lab host: the
        ResumeProgram starts their slurmd there)."""
        return self.cpu_node_names if self.hosts else []

    @property
    def ctl_hostname(self) -> str:
        """The controller host's name (--hosts): the primary slurmctld runs there."""
        return f"{self.cluster.replace('_', '-')}-ctl"

    @property
    def ctl_addr(self) -> str:
        # .250: above every node's address (.2 .. .201, at most 200 cpu nodes)
        return f"{self._hosts_net}.250"

    def controller_hosts(self) -> list[str]:
        """The controller hosts of their own (--hosts): the primary slurmctld's, then the
        backup's (--backup-controller)."""
        if not self.hosts:
            return []
        return [self.ctl_hostname, *([self.backup_hostname] if self.backup_controller else [])]

    def lab_hosts(self) -> list[str]:
        """Every host of its own (--hosts): the controller host(s), then the cpu nodes. Each has
        a network + UTS + mount namespace, its own munged and key file, and an sshd."""
        return [*self.controller_hosts(), *self.host_nodes()]

    def node_addr(self, node: str) -> str:
        if node in self.host_nodes():
            return f"{self._hosts_net}.{2 + self.cpu_node_names.index(node)}"
        if node in self.controller_hosts():      # .250, the backup .251
            return f"{self._hosts_net}.{250 + self.controller_hosts().index(node)}"
        return self.host_addr

    def host_netns(self, node: str) -> str:
        return f"slurmops-{self.cluster}-{self.port_base}-{node}"

    def host_veth(self, node: str) -> str:       # host side; the namespace side is eth0
        if node in self.controller_hosts():
            return f"soh{self.port_base}c{self.controller_hosts().index(node) + 1}"
        return f"soh{self.port_base}i{self.cpu_node_names.index(node) + 1}"

    def host_dir(self, node: str) -> Path:
        """A host's own files: munge.key (its copy) and munge/ (socket, pid, seed), which its
        mount namespace shows at run/munge, where slurm.conf's AuthInfo socket points."""
        return self.dir / "hosts" / node

    @property
    def inventory(self) -> Path:
        return self.dir / "inventory.toml"

    @property
    def ssh_dir(self) -> Path:
        return self.etc / "ssh"

    # ---- paths ---------------------------------------------------------------------------
    @property
    def etc(self) -> Path:
        return self.dir / "etc"

    @property
    def run(self) -> Path:
        return self.dir / "run"

    @property
    def log(self) -> Path:
        return self.dir / "log"

    @property
    def spool(self) -> Path:
        return self.dir / "spool"

    @property
    def bin(self) -> Path:
        return self.dir / "bin"

    @property
    def slurm_conf(self) -> Path:
        return self.etc / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.run / "munge" / "munge.socket"

    @property
    def slurm_conf_backup(self) -> Path:
        """The backup slurmctld's copy of slurm.conf: private pid and log file (slurmctld has
        no option for its pid file and slurm.conf expands no %h there)."""
        return self.etc / "slurm-backup.conf"

    @property
    def state_file(self) -> Path:
        return self.dir / "lab.json"

    def pidfile(self, name: str) -> Path:
        return self.run / f"{name}.pid"

    def url(self, component: str) -> str:
        """Where a component answers HTTP from the lab host: 127.0.0.1, except slurmctld (its
        /metrics, 26.05) on a controller host of its own (--hosts)."""
        host = self.ctld_addr if component == "slurmctld" and self.hosts else "127.0.0.1"
        return f"http://{host}:{self.port(component)}"

    def generation_of(self, daemon: str) -> str:
        """The generation a daemon (or "clients") runs: its `lab switch`, else the lab's."""
        return self.daemons.get(daemon, self.slurm)

    @property
    def extra_generations(self) -> list[str]:
        """Generations other than `slurm` that some daemon runs (each has its own root)."""
        return sorted(set(self.daemons.values()) - {self.slurm})

    def switchable(self) -> list[str]:
        return ["slurmdbd", "slurmctld", "slurmrestd", "clients",
                *(f"slurmd-{n}" for n in self.cpu_node_names)]

    # ---- persistence: options chosen at the first `up` stay with the lab ------------------
    def to_json(self) -> str:
        d = asdict(self)
        d["dir"] = str(self.dir)
        return json.dumps(d, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LabConfig:
        raw = json.loads(text)
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in raw.items() if k in known}
        d["dir"] = Path(d["dir"])
        return cls(**d)

    def differences(self, other: LabConfig) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]

    def validate(self) -> None:
        from .generations import generation
        generation(self.slurm)                # ValueError: unknown generation
        if self.hosts and self.cpu_nodes > 200:
            raise ValueError("--hosts supports at most 200 cpu nodes (one /24)")
        if self.cpu_nodes < 1:
            raise ValueError("the lab needs at least one cpu node")
        if not 0 <= self.bench_nodes <= 99999:
            raise ValueError("bench nodes must be between 0 and 99999")
        if not 0 <= self.gpus <= 64:
            raise ValueError("GPUs per node must be between 0 and 64")
        if self.gpu_type and (not self.gpus or not self.gpu_type.isalnum()):
            raise ValueError("--gpu-type needs --gpus and must be letters and digits")
        if self.cloud_nodes < 0:
            raise ValueError("cloud node count cannot be negative")
        if not (1024 <= self.port_base <= 65535 - 200):
            raise ValueError(f"port base {self.port_base} out of range 1024..65335")
        if not self.cluster.isidentifier() or not self.cluster.islower():
            raise ValueError(f"cluster name {self.cluster!r} must be lower-case letters, digits, _")
