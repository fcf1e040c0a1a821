"""`slurmops lab up|down|status|env`: the lab's components, their order, health and teardown.

Order (accounting.shtml, quickstart_admin.shtml): munged -> MariaDB -> slurmdbd -> cluster and
associations in sacctmgr -> slurmctld -> slurmd (one per cpu node; cloud nodes are started by the
ResumeProgram) -> slurmrestd (JWT) -> node_exporter, Alertmanager, Prometheus.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from . import checks, nsroot, proc, rootfs
from .config import LabConfig
from .generations import NATIVE_ENDPOINTS, NATIVE_JOB, generation

APT_PACKAGES = [
    # slurm-wlm-jwt-plugin: auth/jwt (AuthAltTypes, slurmrestd's rest_auth/jwt) is not a dependency
    # of any daemon package and --no-install-recommends never brings it; the rootfs test proves the
    # list by checking every plugin the rendered configs name.
    "munge", "slurmctld", "slurmd", "slurmdbd", "slurmrestd", "slurm-client",
    "slurm-wlm-basic-plugins", "slurm-wlm-jwt-plugin", "slurm-wlm-mysql-plugin",
    "mariadb-server", "prometheus", "prometheus-alertmanager", "prometheus-node-exporter",
    # lab up --hosts: an sshd per lab host, reached with the lab's own key (fleet runbooks)
    "openssh-server", "openssh-client",
]
# The cgroup v1 hierarchies the lab's slurmd need (cgroup.conf CgroupPlugin=cgroup/v1; cgroup.conf(5)
# and cgroup_v2.shtml, shared/reference/slurm/22.05.8): a cgroup v2-only host (systemd's default on a
# booted Debian 12) has none of them and slurmd stops with "cgroup namespace 'freezer' not mounted".
CGROUP_V1_CONTROLLERS = {"freezer": "proctrack/cgroup", "cpuset": "task/cgroup ConstrainCores",
                         "memory": "task/cgroup ConstrainRAMSpace", "cpuacct": "jobacct_gather/cgroup"}
REST_USER = "slurmrestd"       # slurmrestd refuses to run as root
WORKLOAD_USER = "slurmlab"     # a non-root user for sample jobs (per-user metrics, root vs user)
ACCOUNTS = {"research": ["root"], "physics": [WORKLOAD_USER]}


# Components that run inside a newer generation's root filesystem (the rest run on the host;
# Prometheus and Alertmanager too where the generation carries its own, prometheus_in_rootfs).
IN_ROOTFS = {"rootfs", "munged", "mariadb", "slurmdbd", "slurmctld", "slurmd", "slurmrestd"}
PROMETHEUS_IN_ROOTFS = {"prometheus", "alertmanager"}


class LabError(Exception):
    """One clear line for the operator; the CLI prints it and exits non-zero."""


@dataclass
class Component:
    name: str
    start: Callable[[], None]
    health: Callable[[], checks.Result]
    pidfiles: Callable[[], list[Path]]
    endpoint: str = ""
    log: str = ""
    wait_s: float = 30
    # how many times a process that exits while starting is started again (the lab's stand-in for
    # systemd's Restart=on-failure); each exit is said with its log's cause first
    start_retries: int = 0


@dataclass
class Status:
    name: str
    running: bool
    healthy: bool
    pids: list[int] = field(default_factory=list)
    endpoint: str = ""
    detail: str = ""


def _render_env() -> Environment:
    env = Environment(loader=PackageLoader("slurmops.lab", "templates"), undefined=StrictUndefined,
                      keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["sh"] = shlex.quote
    return env


class Lab:
    def __init__(self, cfg: LabConfig, out=sys.stdout):
        self.cfg = cfg
        self.out = out
        self.gen = generation(cfg.slurm)
        self.env = nsroot.lab_env(cfg)
        self._started: list[str] = []
        self._rest_version: str | None = None
        # Run on one of the lab's hosts (over its ssh, in its namespaces): `lab restart munged`
        # acts on that host's munged, as systemctl does on a real host.
        name = socket.gethostname()
        self.on_host = name if name in cfg.lab_hosts() else ""

    # ---- small helpers ---------------------------------------------------------------------
    def say(self, msg: str) -> None:
        print(msg, file=self.out, flush=True)

    def secret(self, name: str, nbytes: int, mode: int = 0o600, hexed: bool = False) -> Path:
        """Create a random secret once; later `up`s reuse it. Never printed."""
        path = self.cfg.etc / name
        if not path.exists():
            data = secrets.token_hex(nbytes).encode() if hexed else secrets.token_bytes(nbytes)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        os.chmod(path, mode)
        return path

    def own_pid(self, name: str) -> int | None:
        return self.owned(self.cfg.pidfile(name))

    def owned(self, pidfile: Path) -> int | None:
        """The live pid in pidfile if it is this lab's (its marker); an sshd of a lab host
        rewrites its environment (process title), so it is the lab's when it runs inside that
        host's network namespace."""
        pid = proc.owned_pid(pidfile, self.cfg.dir)
        node = pidfile.name[len("sshd-"):-len(".pid")] if pidfile.name.startswith("sshd-") else ""
        if pid or node not in self.cfg.lab_hosts():
            return pid
        pid = proc.read_pid(pidfile)
        if pid is None or proc.is_zombie(pid):
            return None
        try:
            same = os.stat(f"/proc/{pid}/ns/net").st_ino == \
                os.stat(f"/run/netns/{self.cfg.host_netns(node)}").st_ino
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            return None
        return pid if same and comm == "sshd" else None

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        if self.own_pid(name):
            return
        proc.spawn(argv, env=env or self.env, log=self.cfg.log / f"{name}.out",
                   pidfile=self.cfg.pidfile(name), cwd=self.cfg.dir)
        if name not in self._started:
            self._started.append(name)

    # ---- preparation -----------------------------------------------------------------------
    def check_dir(self) -> None:
        d = self.cfg.dir
        if d.exists() and not d.is_dir():
            raise LabError(f"--dir {d} exists and is not a directory")
        for parent in d.parents:
            if parent.exists() and not parent.is_dir():
                raise LabError(f"--dir {d}: {parent} is a file, not a directory")
            # MariaDB and slurmrestd run as their own users and must reach files in the lab.
            if parent.is_dir() and not parent.stat().st_mode & 0o001:
                raise LabError(f"--dir {d}: {parent} is not searchable by other users "
                               f"(mode {parent.stat().st_mode & 0o777:04o}); mysql and "
                               f"{REST_USER} must reach the lab, pick a dir under /var/tmp")

    def check_cgroups(self, root: Path = Path("/sys/fs/cgroup")) -> None:
        """Before anything is installed or started: the v1 hierarchies slurmd will need."""
        missing = missing_cgroup_v1(root)
        if missing:
            raise LabError(
                f"{root} has no cgroup v1 {', '.join(missing)} hierarchy (needed by "
                f"{'; '.join(CGROUP_V1_CONTROLLERS[c] for c in missing)}): the lab's slurmd run "
                f"CgroupPlugin=cgroup/v1 and a cgroup v2-only host is not supported yet; boot with "
                f"systemd.unified_cgroup_hierarchy=0 (v1 controllers, as on the CI machine)")

    def ensure_packages(self, extra: list[str] | None = None) -> None:
        wanted = APT_PACKAGES + list(extra or [])
        missing = [p for p in wanted if not _dpkg_installed(p)]
        if not missing:
            return
        if os.geteuid() != 0:
            raise LabError(f"missing Debian packages {' '.join(missing)}; run as root to install them")
        self.say(f"installing {' '.join(missing)} with apt-get ...")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
        r = proc.run(cmd, env=env, timeout=900)
        if r.returncode != 0:
            proc.run(["apt-get", "update", "-q"], env=env, timeout=600)
            r = proc.run(cmd, env=env, timeout=900)
        if r.returncode != 0:
            errors = [ln.strip() for ln in (r.stderr + r.stdout).splitlines() if ln.startswith("E:")]
            raise LabError(f"apt-get cannot install {' '.join(missing)}: "
                           + (errors[0] if errors else f"exit {r.returncode}"))

    def ensure_users(self) -> None:
        for user in (REST_USER, WORKLOAD_USER):
            if proc.run(["id", "-u", user]).returncode == 0:
                continue
            args = ["useradd", "--system", "--user-group", "--shell", "/usr/sbin/nologin"]
            if user == WORKLOAD_USER:
                args = ["useradd", "--system", "--user-group", "--create-home",
                        "--home-dir", f"/var/lib/{user}", "--shell", "/bin/bash"]
            r = proc.run([*args, user])
            if r.returncode != 0:
                raise LabError(f"cannot create system user {user}: {r.stderr.strip()}")

    def check_ports(self) -> None:
        running = {c.name for c in self.components() if any(
            self.owned(p) for p in c.pidfiles())}
        wanted: list[tuple[str, int]] = []
        for comp in ("slurmctld", "slurmdbd", "slurmrestd", "mariadb", "node_exporter",
                     "slurm_exporter", "job_exporter", "prometheus", "alertmanager"):
            if comp not in running:
                wanted.append((comp, self.cfg.port(comp)))
        for node in self.cfg.cpu_node_names:
            if "slurmd" not in running or not self.own_pid(f"slurmd-{node}"):
                wanted.append((f"slurmd {node}", self.cfg.slurmd_port(node)))
        for what, port in wanted:
            if proc.port_in_use(port):
                why = "another lab? pick one with --port-base"
                eph = proc.ephemeral_ports()
                if eph and eph[0] <= port <= eph[1]:
                    why = (f"another lab, or an outgoing connection: {port} lies in the kernel's "
                           f"ephemeral range {eph[0]}-{eph[1]}; pick a --port-base below {eph[0]}")
                raise LabError(f"port {port} for {what} is already in use on this host ({why})")
        if self.cfg.backup_veth:
            self.check_network()
        if self.cfg.hosts:
            self.check_hosts_network()

    def render(self) -> None:
        c = self.cfg
        for d in (c.etc, c.run, c.log, c.spool / "ctld", c.bin, c.run / "munge",
                  c.dir / "prometheus" / "targets", c.dir / "prometheus" / "rules",
                  c.dir / "prometheus" / "data", c.dir / "alertmanager", c.dir / "jobstats"):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(c.dir, 0o755)
        os.chmod(c.etc, 0o755)
        os.chmod(c.run / "munge", 0o755)
        self.secret("munge.key", 1024, mode=0o400)
        self.secret("jwt.key", 32)
        db_password = self.secret("db.password", 16, hexed=True).read_text()
        env = _render_env()
        ctx = {"c": c, "gen": self.gen, "native_job": NATIVE_JOB, "native_endpoints": NATIVE_ENDPOINTS,
               "db_password": db_password, "version_hint": c.slurm,
               "python": sys.executable, "backup_conf": False}
        files = {
            "etc/slurm.conf": ("slurm.conf.j2", 0o644),
            "etc/cgroup.conf": ("cgroup.conf.j2", 0o644),
            "etc/slurmdbd.conf": ("slurmdbd.conf.j2", 0o600),
            "etc/my.cnf": ("my.cnf.j2", 0o644),
            "prometheus/prometheus.yml": ("prometheus.yml.j2", 0o644),
            "alertmanager/alertmanager.yml": ("alertmanager.yml.j2", 0o644),
        }
        if c.gpus:
            files["etc/gres.conf"] = ("gres.conf.j2", 0o644)
            self.gpu_devices()
        for rel, (tpl, mode) in files.items():
            _write(c.dir / rel, env.get_template(tpl).render(**ctx), mode)
        if c.backup_controller:
            _write(c.slurm_conf_backup,
                   env.get_template("slurm.conf.j2").render(**{**ctx, "backup_conf": True}), 0o644)
        if c.hosts:
            self.render_hosts()
        hosts = nsroot.hosts_file(c.dir)
        if c.backup_veth and self.gen.in_rootfs:
            # From 24.11 slurmd binds (NoInAddrAny) the address its host name resolves to, not its
            # NodeAddr: inside the root filesystem the host name resolves to the veth address first,
            # so slurmd is reachable from the backup controller's namespace too (its only address there).
            name = socket.gethostname()
            others = [ln for ln in Path("/etc/hosts").read_text(errors="replace").splitlines()
                      if name not in ln.split("#")[0].split()[1:]]
            _write(hosts, "\n".join([f"{c.veth_host_addr} {name}", *others]) + "\n", 0o644)
        elif c.hosts and self.gen.in_rootfs:
            # The same for every lab host: slurmd binds the address its host name resolves to, and
            # srun (on the lab host) the lab host's; each name on its bridge address only.
            names = {c.hostname: c.hosts_gateway, **{h: c.node_addr(h) for h in c.lab_hosts()}}
            others = [ln for ln in Path("/etc/hosts").read_text(errors="replace").splitlines()
                      if not set(names) & set(ln.split("#")[0].split()[1:])]
            _write(hosts, "\n".join([*(f"{a} {n}" for n, a in names.items()), *others]) + "\n", 0o644)
        elif hosts.exists():
            hosts.unlink()
        programs = {action: env.get_template("power.j2").render(action=action, **ctx)
                    for action in ("resume", "suspend")}
        programs["jobstats-epilog"] = env.get_template("jobstats-epilog.j2").render(**ctx)
        for name, text in programs.items():
            if self.gen.in_rootfs or c.hosts:
                # slurmctld runs them inside the root filesystem, or on the controller host
                # (--hosts): a hop back to the lab host's Python (its namespaces and root).
                _write(c.bin / f"{name}-host", text, 0o755)
                text = env.get_template("host-hop.j2").render(
                    c=c, target=c.bin / f"{name}-host", anchor=c.pidfile(self.anchor),
                    wrappers=(f"{nsroot.clients_dir(c.dir)}:{nsroot.bin_dir(c.dir)}"
                              if self.gen.in_rootfs else ""))
            _write(c.bin / name, text, 0o755)
        _write(c.state_file, c.to_json() + "\n", 0o644)

    def gpu_devices(self) -> None:
        """One character device per GPU (major 1, minor 3: what /dev/null is), for gres.conf's
        File=: slurmd takes a GPU's device numbers from its file, and no GPU is needed."""
        (self.cfg.dir / "dev").mkdir(exist_ok=True)
        for n in self.cfg.cpu_node_names:
            for path in self.cfg.gpu_files(n):
                if not path.exists():
                    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))

    # ---- components --------------------------------------------------------------------------
    def components(self) -> list[Component]:
        c = self.cfg
        return [
            *([Component("rootfs", self._start_rootfs, self._rootfs_health,
                         lambda: [c.pidfile("rootfs"), c.pidfile("rootfs-host"),
                                  *sorted(c.run.glob("rootfs-[0-9]*.pid"))],
                         f"Debian {self.gen.suite_name} (mount+UTS ns)",
                         "rootfs.out")] if self.gen.in_rootfs else []),
            Component("munged", self._start_munged,
                      lambda: checks.munge_roundtrip(str(c.munge_socket)),
                      lambda: [c.pidfile("munged")], str(c.munge_socket), "munged.out",
                      # a restart on a loaded 2-core CI machine once took longer than 30 s (26.05)
                      wait_s=60),
            Component("mariadb", self._start_mariadb, self._mariadb_health,
                      lambda: [c.pidfile("mariadb")], f"127.0.0.1:{c.port('mariadb')}", "mariadb.out"),
            Component("slurmdbd", self._start_slurmdbd, lambda: checks.sacctmgr_ping(self.env),
                      lambda: [c.pidfile("slurmdbd")], f"{c.host_addr}:{c.port('slurmdbd')}", "slurmdbd.log",
                      # 24.11's exited at start in two CI runs: MariaDB went away during its table
                      # check; the second start brings MariaDB back first (_start_slurmdbd)
                      start_retries=1),
            # --hosts: the hosts (the controller host among them) before slurmctld, which runs there
            *([Component("hosts", self._start_hosts, self._hosts_health,
                         lambda: [*(c.pidfile(f"{d}-{n}") for n in c.lab_hosts()
                                    for d in ("munged", "sshd")),
                                  *([c.pidfile(self.anchor)] if not self.gen.in_rootfs else [])],
                         f"{len(c.lab_hosts())} hosts on {c.hosts_network} (ssh, munged)",
                         "munged-<host>.log, sshd-<host>.out")] if c.hosts else []),
            Component("slurmctld", self._start_slurmctld, self._slurmctld_health,
                      lambda: [c.pidfile("slurmctld")], f"{c.ctld_addr}:{c.port('slurmctld')}", "slurmctld.log",
                      # a backup in control hands it back first: 28 s measured on 24.11
                      wait_s=90 if c.backup_controller else 30),
            Component("slurmd", self._start_slurmd, self._slurmd_health,
                      lambda: [c.pidfile(f"slurmd-{n}") for n in c.node_names],
                      f"{len(c.cpu_node_names)} cpu + {len(c.cloud_node_names)} cloud nodes",
                      "slurmd-<node>.log"),
            *([Component("slurmctld_backup", self._start_slurmctld_backup,
                         lambda: checks.controller_up(self.env, "backup"),
                         lambda: [c.pidfile("slurmctld_backup")],
                         f"{c.backup_addr}:{c.port('slurmctld')}", "slurmctld_backup.log")]
              if c.backup_controller else []),
            Component("slurmrestd", self._start_slurmrestd, self._slurmrestd_health,
                      lambda: [c.pidfile("slurmrestd")], c.url("slurmrestd"), "slurmrestd.out"),
            Component("node_exporter", self._start_node_exporter,
                      lambda: _http_ok(c.url("node_exporter") + "/metrics"),
                      lambda: [c.pidfile("node_exporter")], c.url("node_exporter") + "/metrics",
                      "node_exporter.out"),
            Component("slurm_exporter", self._start_slurm_exporter, self._slurm_exporter_health,
                      lambda: [c.pidfile("slurm_exporter")], c.url("slurm_exporter") + "/metrics",
                      "slurm_exporter.out"),
            Component("job_exporter", self._start_job_exporter,
                      lambda: _http_ok(c.url("job_exporter") + "/metrics"),
                      lambda: [c.pidfile("job_exporter")], c.url("job_exporter") + "/metrics",
                      "job_exporter.out"),
            Component("alertmanager", self._start_alertmanager,
                      lambda: _http_ok(c.url("alertmanager") + "/-/ready"),
                      lambda: [c.pidfile("alertmanager")], c.url("alertmanager"), "alertmanager.out"),
            Component("prometheus", self._start_prometheus, self._prometheus_health,
                      lambda: [c.pidfile("prometheus")], c.url("prometheus"), "prometheus.out", 60),
        ]

    # ---- a newer generation's root filesystem (nsroot.py) -----------------------------------
    @property
    def rootfs_path(self) -> Path:
        return rootfs.path_for(self.gen.suite, self.gen.rootfs_packages)

    @property
    def in_rootfs(self) -> set[str]:
        """The components this lab runs inside its root filesystem (none for the host's 22.05)."""
        if not self.gen.in_rootfs:
            return set()
        return IN_ROOTFS | (PROMETHEUS_IN_ROOTFS if self.gen.prometheus_in_rootfs else set())

    @property
    def anchor(self) -> str:
        """Pid file name of a process in the lab host's own namespaces and root, which programs
        slurmctld runs (Resume/Suspend, EpilogSlurmctld) nsenter to get back to the lab host."""
        return "rootfs-host" if self.gen.in_rootfs else "host-anchor"

    def ensure_rootfs(self) -> Path:
        """The generation's root filesystem, built (cached) when absent; refused when half-built."""
        try:
            return rootfs.ensure(self.gen.suite, self.gen.rootfs_packages, log=self.out)
        except rootfs.RootfsError as exc:
            raise LabError(str(exc)) from None

    def _start_rootfs(self) -> None:
        nsroot.write_wrappers(self.cfg.dir, nsroot.commands(self.gen))
        nsroot.point_clients(self.cfg)
        self._spawn("rootfs", nsroot.holder_argv(self.ensure_rootfs(), self.cfg.dir))
        # A host-side anchor: the Resume/Suspend programs (run by slurmctld inside) nsenter it to
        # get back to the host's mount namespace and root, where the lab's Python is.
        self._spawn("rootfs-host", ["sleep", "infinity"])

    def _rootfs_health(self) -> checks.Result:
        pid = self.own_pid("rootfs")
        if not pid or not nsroot.in_root(pid, self.cfg.dir):
            return False, "namespace not ready"
        anchor = self.own_pid("rootfs-host")
        if not anchor or os.readlink(f"/proc/{anchor}/root") != "/":
            return False, "host anchor (run/rootfs-host.pid) not running"
        r = proc.run(["sinfo", "--version"], env=self.env, timeout=10)
        if r.returncode != 0:
            return False, f"sinfo --version inside: {_last_line(r)}"
        return True, f"{r.stdout.strip()} from {self.rootfs_path}"

    def _start_munged(self) -> None:
        c = self.cfg
        self._spawn("munged", ["munged", "-F", f"--key-file={c.etc / 'munge.key'}",
                               f"--socket={c.munge_socket}",
                               f"--pid-file={c.run / 'munge' / 'munged.pid'}",
                               f"--log-file={c.log / 'munged.log'}",
                               f"--seed-file={c.run / 'munge' / 'munged.seed'}",
                               "--num-threads=4"])

    def _start_mariadb(self) -> None:
        c = self.cfg
        datadir = c.dir / "mysql"
        rundir = c.run / "mysql"
        rundir.mkdir(parents=True, exist_ok=True)
        shutil.chown(rundir, "mysql", "mysql")
        if not (datadir / "mysql").is_dir():
            datadir.mkdir(parents=True, exist_ok=True)
            shutil.chown(datadir, "mysql", "mysql")
            r = proc.run(["mysql_install_db", f"--defaults-file={c.etc / 'my.cnf'}",
                          "--auth-root-authentication-method=socket", "--skip-test-db"],
                         env=self.env, timeout=120)
            if r.returncode != 0:
                raise LabError(f"mysql_install_db failed: {_last_line(r)}")
        self._spawn("mariadb", ["mariadbd", f"--defaults-file={c.etc / 'my.cnf'}"])

    def _mariadb_health(self) -> checks.Result:
        r = proc.run(["mariadb-admin", f"--defaults-file={self.cfg.etc / 'my.cnf'}", "ping"],
                     env=self.env, timeout=5)
        return r.returncode == 0, (r.stdout.strip() or _last_line(r))

    def _bootstrap_database(self) -> None:
        pw = (self.cfg.etc / "db.password").read_text().strip()
        sql = (f"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '{pw}';"
               f"ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{pw}';"
               "CREATE DATABASE IF NOT EXISTS slurm_acct_db;"
               "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';")
        r = proc.run(["mariadb", f"--defaults-file={self.cfg.etc / 'my.cnf'}", "-u", "root"],
                     env=self.env, input=sql, timeout=30)
        if r.returncode != 0:
            raise LabError(f"cannot create slurmdbd's database user: {_last_line(r)}")

    def _start_slurmdbd(self) -> None:
        # slurmdbd needs its database (systemd: After=/Wants= mariadb): a MariaDB that went away
        # (CI twice: slurmdbd's table check got '2013 Lost connection to server during query', and
        # its restart found no socket) is started again first, its log's last words said
        if not self.own_pid("mariadb"):
            self.say(f"  mariadb is not running ({_log_ref(self.cfg.log / 'mariadb.out')}): starting it again")
            self.start_component("mariadb")
        self._bootstrap_database()
        self._spawn("slurmdbd", ["slurmdbd", "-D"], env=self.daemon_env("slurmdbd"))

    def _bootstrap_accounting(self) -> None:
        """Cluster, accounts and users in slurmdbd (accounting.shtml). Idempotent."""
        c, env = self.cfg, self.env

        def listed(*what: str) -> set[str]:
            r = proc.run(["sacctmgr", "-n", "-P", "show", *what], env=env, timeout=30)
            return {ln.split("|")[0] for ln in r.stdout.splitlines() if ln}

        def add(*what: str) -> None:
            r = proc.run(["sacctmgr", "-i", "add", *what], env=env, timeout=30)
            if r.returncode != 0 and "Nothing new" not in r.stdout + r.stderr:
                raise LabError(f"sacctmgr add {' '.join(what)} failed: {_last_line(r)}")

        if c.cluster not in listed("cluster", "format=cluster"):
            add("cluster", c.cluster)
        have = listed("account", "format=account")
        for account in ACCOUNTS:
            if account not in have:
                add("account", account, f"cluster={c.cluster}", f"description={account}",
                    "organization=lab")
        pairs = {tuple(ln.split("|")[:2]) for ln in proc.run(
            ["sacctmgr", "-n", "-P", "show", "assoc", f"cluster={c.cluster}",
             "format=user,account"], env=env, timeout=30).stdout.splitlines() if ln}
        for account, users in ACCOUNTS.items():
            for user in users:
                if (user, account) not in pairs:
                    add("user", user, f"account={account}", f"cluster={c.cluster}")

    def _start_slurmctld(self) -> None:
        self._bootstrap_accounting()
        argv = ["slurmctld", "-D"]
        if self.cfg.hosts:              # on the controller host, in its own namespaces
            argv = self.host_argv(self.cfg.ctl_hostname, argv, "slurmctld")
        self._spawn("slurmctld", argv, env=self.daemon_env("slurmctld"))

    def _slurmctld_health(self) -> checks.Result:
        if self.cfg.backup_controller:     # the primary answers, whatever the backup does
            return checks.controller_up(self.env, "primary")
        ok, detail = checks.scontrol_ping(self.env)
        if ok and self.gen.metrics_type:   # its own /metrics too, where the generation has one
            native_ok, native = checks.native_metrics(self.cfg.url("slurmctld"))
            return native_ok, f"{detail}; {native}"
        return ok, detail

    # ---- backup controller: its own network and UTS namespace -----------------------------
    def check_network(self) -> None:
        """The lab's /30 must not be on this host already, except on this lab's own veth."""
        c = self.cfg
        _check_network_free(ipaddress.ip_network(f"{c.veth_host_addr}/30", strict=False),
                            c.veth_host, "the backup controller's network")

    def ensure_network(self) -> None:
        """Network namespace + veth pair (host side .1/30, namespace side .2/30). Idempotent.
        Traffic stays between this host and the namespace: no route, no forwarding, no NAT."""
        c = self.cfg
        have_ns = c.netns in proc.run(["ip", "netns", "list"]).stdout.split()
        have_veth = proc.run(["ip", "link", "show", "dev", c.veth_host]).returncode == 0
        if have_ns and have_veth:
            return
        if have_veth:
            proc.run(["ip", "link", "del", "dev", c.veth_host])
        steps = [] if have_ns else [["ip", "netns", "add", c.netns]]
        steps += [
            ["ip", "link", "add", c.veth_host, "type", "veth", "peer", "name", c.veth_ns,
             "netns", c.netns],
            ["ip", "addr", "add", f"{c.veth_host_addr}/30", "dev", c.veth_host],
            ["ip", "link", "set", "dev", c.veth_host, "up"],
            ["ip", "-n", c.netns, "addr", "add", f"{c.backup_addr}/30", "dev", c.veth_ns],
            ["ip", "-n", c.netns, "link", "set", "dev", c.veth_ns, "up"],
            ["ip", "-n", c.netns, "link", "set", "dev", "lo", "up"],
        ]
        for argv in steps:
            r = proc.run(argv, timeout=15)
            if r.returncode != 0:
                raise LabError(f"{' '.join(argv)} failed: {_last_line(r)}")

    def remove_network(self) -> None:
        c = self.cfg
        removed = []
        if proc.run(["ip", "link", "show", "dev", c.veth_host]).returncode == 0:
            proc.run(["ip", "link", "del", "dev", c.veth_host], timeout=15)
            removed.append(c.veth_host)
        if c.netns in proc.run(["ip", "netns", "list"]).stdout.split():
            proc.run(["ip", "netns", "del", c.netns], timeout=15)
            removed.append(f"netns {c.netns}")
        if removed:
            self.say(f"  removed {', '.join(removed)}")

    # ---- separate hosts (lab up --hosts): namespaces on a bridge, own munged and sshd ----------
    def check_hosts_network(self) -> None:
        """The lab's host network must not be on this host already, except on its own bridge."""
        c = self.cfg
        _check_network_free(ipaddress.ip_network(c.hosts_network), c.hosts_bridge,
                            "the lab hosts' network")

    def ensure_hosts_network(self) -> None:
        """A bridge with the gateway address (.1/24), and per host a network namespace joined to
        it by a veth pair (host side enslaved to the bridge, namespace side eth0). Idempotent.
        No route out, no forwarding, no NAT: the hosts reach the lab host and each other only."""
        c = self.cfg

        def run(argv: list[str]) -> None:
            r = proc.run(argv, timeout=15)
            if r.returncode != 0:
                raise LabError(f"{' '.join(argv)} failed: {_last_line(r)}")

        if proc.run(["ip", "link", "show", "dev", c.hosts_bridge]).returncode != 0:
            run(["ip", "link", "add", c.hosts_bridge, "type", "bridge"])
            run(["ip", "addr", "add", f"{c.hosts_gateway}/24", "dev", c.hosts_bridge])
        run(["ip", "link", "set", "dev", c.hosts_bridge, "up"])
        have = proc.run(["ip", "netns", "list"]).stdout.split()
        for node in c.lab_hosts():
            ns, veth = c.host_netns(node), c.host_veth(node)
            if ns in have and proc.run(["ip", "link", "show", "dev", veth]).returncode == 0:
                continue
            if proc.run(["ip", "link", "show", "dev", veth]).returncode == 0:
                run(["ip", "link", "del", "dev", veth])
            if ns not in have:
                run(["ip", "netns", "add", ns])
            for argv in (
                    ["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns],
                    ["ip", "link", "set", "dev", veth, "master", c.hosts_bridge],
                    ["ip", "link", "set", "dev", veth, "up"],
                    ["ip", "-n", ns, "addr", "add", f"{c.node_addr(node)}/24", "dev", "eth0"],
                    ["ip", "-n", ns, "link", "set", "dev", "eth0", "up"],
                    ["ip", "-n", ns, "link", "set", "dev", "lo", "up"]):
                run(argv)

    def hosts_pids(self, nodes: list[str] | None = None) -> list[int]:
        """Processes inside the lab hosts' network namespaces (``ip netns pids``)."""
        have = proc.run(["ip", "netns", "list"]).stdout.split()
        out: list[int] = []
        for node in self.cfg.lab_hosts() if nodes is None else nodes:
            if self.cfg.host_netns(node) in have:
                r = proc.run(["ip", "netns", "pids", self.cfg.host_netns(node)], timeout=15)
                out += [int(p) for p in r.stdout.split() if p.isdigit()]
        return sorted(out)

    def remove_hosts_network(self) -> None:
        c = self.cfg
        removed = []
        have = proc.run(["ip", "netns", "list"]).stdout.split()
        for node in c.lab_hosts():
            if proc.run(["ip", "link", "show", "dev", c.host_veth(node)]).returncode == 0:
                proc.run(["ip", "link", "del", "dev", c.host_veth(node)], timeout=15)
            if c.host_netns(node) in have:
                proc.run(["ip", "netns", "del", c.host_netns(node)], timeout=15)
                removed.append(node)
        if proc.run(["ip", "link", "show", "dev", c.hosts_bridge]).returncode == 0:
            proc.run(["ip", "link", "del", "dev", c.hosts_bridge], timeout=15)
            removed.append(c.hosts_bridge)
        if removed:
            self.say(f"  removed host namespaces and bridge: {', '.join(removed)}")

    def render_hosts(self) -> None:
        """Per host: its own copy of the munge key and its munge dir, an ssh host key; for the
        lab: root's ssh key pair, authorized_keys, known_hosts, sshd_config and the inventory
        (slurmops/runbook/inventory.py) that fleet runbooks read. Keys are made once."""
        c = self.cfg
        c.ssh_dir.mkdir(mode=0o700, exist_ok=True)
        ident = c.ssh_dir / "id_ed25519"
        if not ident.exists():
            _keygen(ident, f"root@{c.cluster}-lab")
        known = []
        for node in c.lab_hosts():
            hd = c.host_dir(node)
            (hd / "munge").mkdir(parents=True, exist_ok=True)
            os.chmod(hd, 0o755)
            os.chmod(hd / "munge", 0o755)
            key = hd / "munge.key"
            if not key.exists():
                shutil.copy2(c.etc / "munge.key", key)       # keeps mode 0400
            hostkey = hd / "ssh_host_ed25519_key"
            if not hostkey.exists():
                _keygen(hostkey, node)
            kind, blob = hostkey.with_suffix(".pub").read_text().split()[:2]
            known.append(f"{c.node_addr(node)} {kind} {blob}")
        _write(c.ssh_dir / "authorized_keys", ident.with_suffix(".pub").read_text(), 0o600)
        _write(c.ssh_dir / "known_hosts", "\n".join(known) + "\n", 0o644)
        _write(c.ssh_dir / "sshd_config", _render_env().get_template("sshd_config.j2").render(c=c), 0o644)
        _write(c.inventory, _render_env().get_template("inventory.toml.j2").render(c=c), 0o644)

    def host_argv(self, node: str, argv: list[str], daemon: str | None = "munged") -> list[str]:
        """argv exec'd in host ``node``'s network, UTS (hostname = node) and mount namespace
        (its own munge dir at run/munge) by nsexec.py. With a newer generation, a ``daemon``'s
        binary is its generation's (nsexec --rootfs-of that root filesystem's holder); None: the
        lab host's own binary (sshd)."""
        c = self.cfg
        rootfs: list[str] = []
        if self.gen.in_rootfs and daemon is not None:
            gen = c.generation_of(daemon)
            if gen != c.slurm:
                self.ensure_generation(gen)
            holder = nsroot.holder_name(None if gen == c.slurm else gen)
            pid = self.own_pid(holder)
            if not pid:
                raise LabError(f"Slurm {gen}'s root filesystem is not running (run/{holder}.pid)")
            rootfs = ["--rootfs-of", str(pid)]
        return [sys.executable, "-m", "slurmops.lab.nsexec", "--netns", c.host_netns(node),
                "--hostname", node, "--bind", f"{c.host_dir(node) / 'munge'}:{c.run / 'munge'}",
                *rootfs, "--", *argv]

    def _start_host_munged(self, node: str) -> None:
        c = self.cfg
        self._spawn(f"munged-{node}", self.host_argv(node, [
            "munged", "-F", f"--key-file={c.host_dir(node) / 'munge.key'}",
            f"--socket={c.munge_socket}", f"--pid-file={c.run / 'munge' / 'munged.pid'}",
            f"--log-file={c.log / f'munged-{node}.log'}",
            f"--seed-file={c.run / 'munge' / 'munged.seed'}", "--num-threads=2"]))

    def _start_host_sshd(self, node: str) -> None:
        c = self.cfg
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)     # sshd's privilege separation dir
        # With a root filesystem, its sessions' Slurm and munge commands (the wrappers) run the
        # generation's binaries on this host's own munge dir (nsroot.WRAPPER).
        session_env = (["-o", f"SetEnv=SLURMOPS_LAB_HOST_MUNGE={c.host_dir(node) / 'munge'} "
                              f"SLURMOPS_LAB_PYTHON={sys.executable}"] if self.gen.in_rootfs else [])
        self._spawn(f"sshd-{node}", self.host_argv(node, [
            "/usr/sbin/sshd", "-D", "-e", "-f", str(c.ssh_dir / "sshd_config"),
            "-h", str(c.host_dir(node) / "ssh_host_ed25519_key"),
            "-o", f"ListenAddress={c.node_addr(node)}", *session_env], daemon=None))

    def _start_host_slurmd(self, node: str) -> None:
        self._spawn(f"slurmd-{node}", self.host_argv(node, ["slurmd", "-D", "-N", node], f"slurmd-{node}"),
                    env=self.daemon_env(f"slurmd-{node}"))

    def _start_hosts(self) -> None:
        self.ensure_hosts_network()
        if not self.gen.in_rootfs:      # (a root filesystem has its own: rootfs-host)
            self._spawn(self.anchor, ["sleep", "infinity"])
        for node in self.cfg.lab_hosts():
            self._start_host_munged(node)
            self._start_host_sshd(node)

    def host_munge_socket(self, node: str) -> Path:
        return self.cfg.host_dir(node) / "munge" / self.cfg.munge_socket.name

    def _host_health(self, node: str) -> checks.Result:
        ok, detail = checks.munge_roundtrip(str(self.host_munge_socket(node)))
        if not ok:
            return False, f"{node} munged: {detail}"
        addr = self.cfg.node_addr(node)
        try:
            with socket.create_connection((addr, 22), timeout=2) as s:
                banner = s.recv(64).decode(errors="replace").strip()
        except OSError as exc:
            return False, f"{node} sshd {addr}:22: {exc}"
        return banner.startswith("SSH-"), f"{node} sshd {addr}:22 {banner[:20]}"

    def _hosts_health(self) -> checks.Result:
        for node in self.cfg.lab_hosts():
            ok, detail = self._host_health(node)
            if not ok:
                return False, detail
        return True, (f"{len(self.cfg.lab_hosts())} hosts ({', '.join(self.cfg.controller_hosts())} "
                      f"and {len(self.cfg.host_nodes())} nodes): munged and sshd answer")

    def host_components(self, node: str) -> list[Component]:
        """What `lab start|stop|restart` means when run on lab host ``node`` (over its ssh):
        its munged, and slurmctld on the controller host, slurmd on a node."""
        c = self.cfg
        munged = Component("munged", lambda: self._start_host_munged(node),
                           lambda: checks.munge_roundtrip(str(self.host_munge_socket(node))),
                           lambda: [c.pidfile(f"munged-{node}")], str(c.munge_socket),
                           f"munged-{node}.log", wait_s=60)
        if node == c.ctl_hostname:
            return [munged, *(comp for comp in self.components() if comp.name == "slurmctld")]
        if node in c.controller_hosts():        # the backup's host: its slurmctld is the backup
            return [munged, *(replace(comp, name="slurmctld") for comp in self.components()
                              if comp.name == "slurmctld_backup")]
        return [munged,
                Component("slurmd", lambda: self._start_host_slurmd(node), self._slurmd_health,
                          lambda: [c.pidfile(f"slurmd-{node}")], c.node_addr(node), f"slurmd-{node}.log")]

    def _start_slurmctld_backup(self) -> None:
        """slurmctld -D -f <backup conf>, exec'd inside the namespace with the backup's hostname."""
        c = self.cfg
        if not (c.spool / "ctld" / "assoc_usage").exists() and self.own_pid("slurmctld"):
            # A primary on its first start has not saved its state yet (it does on shutdown and
            # every few minutes), and 26.05's backup then dies on takeover ("fatal: No Assoc usage
            # file ... to recover"): one clean restart of the primary writes it, as a primary that
            # has run a while would have.
            self.stop_component("slurmctld")
            self.start_component("slurmctld")
        if c.hosts:                     # a controller host of its own on the hosts' bridge
            self._spawn("slurmctld_backup", self.host_argv(
                c.backup_hostname, ["slurmctld", "-D", "-f", str(c.slurm_conf_backup)], "slurmctld"),
                env=self.daemon_env("slurmctld"))
            return
        self.ensure_network()
        self._spawn("slurmctld_backup", [
            sys.executable, "-m", "slurmops.lab.nsexec", "--netns", c.netns,
            "--hostname", c.backup_hostname, "--",
            "slurmctld", "-D", "-f", str(c.slurm_conf_backup)],
            # a newer generation's wrapper enters the root filesystem's mounts but not its UTS
            # namespace: slurmctld must see the backup's hostname to act as the backup
            env={**self.env, "SLURMOPS_NSROOT_OWN_UTS": "1"})

    def _start_slurmd(self) -> None:
        for node in self.cfg.cpu_node_names:
            if node in self.cfg.host_nodes():
                self._start_host_slurmd(node)       # --hosts: in the node's own namespaces
                continue
            self._spawn(f"slurmd-{node}", ["slurmd", "-D", "-N", node],
                        env=self.daemon_env(f"slurmd-{node}"))
        self._reset_lost_cloud_nodes()

    def _reset_lost_cloud_nodes(self) -> None:
        """A cloud node that was powered up when the lab went down has lost its slurmd: slurmctld
        still believes it up, later marks it DOWN or NOT_RESPONDING, and never schedules on it
        again. Every cloud node without a running slurmd of ours that is not cleanly powered
        down goes back to powered-down idle (resume clears DOWN, power_down_force clears the
        rest). Drained nodes and nodes whose resume is meant to fail are left alone."""
        from ..slurm.parse.text import parse_scontrol_nodes
        failing = set()
        fail_file = self.cfg.run / "resume-fail"
        if fail_file.exists():
            failing = set(fail_file.read_text().split())
        r = proc.run(["scontrol", "show", "node", "-o", "--all"], env=self.env, timeout=10)
        for n in parse_scontrol_nodes(r.stdout):
            if (n.name not in self.cfg.cloud_node_names or n.name in failing or "DRAIN" in n.flags
                    or self.own_pid(f"slurmd-{n.name}")):
                continue
            clean = n.state == "idle" and "NOT_RESPONDING" not in n.flags and \
                n.flags & {"POWERED_DOWN", "POWERING_DOWN"}
            if clean:
                continue
            if n.state == "down":
                proc.run(["scontrol", "update", f"nodename={n.name}", "state=resume"], env=self.env)
            proc.run(["scontrol", "update", f"nodename={n.name}", "state=power_down_force"],
                     env=self.env)

    def _slurmd_health(self) -> checks.Result:
        states = checks.node_states(self.env)
        if not states:
            return False, "sinfo does not answer"
        bad = {n: states.get(n, "missing") for n in self.cfg.cpu_node_names
               if not _usable_state(states.get(n, ""))}
        if bad:
            return False, ", ".join(f"{n}={s}" for n, s in sorted(bad.items()))
        return True, " ".join(f"{n}={states.get(n, '?')}" for n in self.cfg.node_names)

    def slurmrestd_argv(self) -> list[str]:
        """slurmrestd's command line (the rootfs test checks the plugins it names exist)."""
        return ["slurmrestd", "-a", "rest_auth/jwt", "-u", REST_USER, "-g", REST_USER,
                f"127.0.0.1:{self.cfg.port('slurmrestd')}"]

    def _start_slurmrestd(self) -> None:
        self._spawn("slurmrestd", self.slurmrestd_argv(),
                    env=dict(self.daemon_env("slurmrestd"), SLURM_JWT="daemon"))

    def token(self, user: str = "root", lifespan_s: int = 3600) -> str:
        """A fresh JWT from slurmctld (jwt.shtml: `scontrol token`). Never logged."""
        r = proc.run(["scontrol", "token", f"username={user}", f"lifespan={lifespan_s}"],
                     env=self.env, timeout=10)
        if r.returncode != 0 or "SLURM_JWT=" not in r.stdout:
            raise LabError(f"scontrol token failed: {_last_line(r)}")
        return r.stdout.strip().split("SLURM_JWT=", 1)[1].strip()

    def rest_version(self, token: str | None = None) -> str:
        """The data_parser version slurmops speaks with this lab's slurmrestd: the newest both
        offer, negotiated by the rest source (v0.0.38 on 22.05, v0.0.42 on 24.11, ...)."""
        from ..slurm.sources import SourceError
        from ..slurm.sources.rest import negotiate_version
        if self._rest_version is None:
            try:
                self._rest_version = negotiate_version(self.cfg.url("slurmrestd"),
                                                       token or self.token(lifespan_s=60))
            except SourceError as exc:
                raise LabError(f"slurmrestd: no data_parser version to speak: {exc}") from None
        return self._rest_version

    def _slurmrestd_health(self) -> checks.Result:
        try:
            tok = self.token(lifespan_s=60)
            version = self.rest_version(tok)
        except LabError as exc:
            return False, str(exc)
        status, body = checks.http_get(
            f"{self.cfg.url('slurmrestd')}/slurm/{version}/diag",
            headers={"X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": tok})
        return status == 200, f"/slurm/{version}/diag -> {status or body}"

    def _start_node_exporter(self) -> None:
        self._spawn("node_exporter", [
            "prometheus-node-exporter",
            f"--web.listen-address=127.0.0.1:{self.cfg.port('node_exporter')}",
            # the counter of `slurmops jobstats store` (EpilogSlurmctld) lands here
            f"--collector.textfile.directory={self.cfg.dir / 'jobstats'}",
            "--no-collector.systemd"])

    def _start_slurm_exporter(self) -> None:
        c = self.cfg
        self._spawn("slurm_exporter", [
            sys.executable, "-m", "slurmops", "exporter", "slurm",
            f"--web.listen-address=127.0.0.1:{c.port('slurm_exporter')}",
            f"--cluster={c.cluster}", f"--slurm.conf={c.slurm_conf}", "--poll.interval=5",
            "--collector.jobs.per-user"])
        self._register_target("slurm", c.port("slurm_exporter"))

    def _start_job_exporter(self) -> None:
        """One job exporter for the whole lab host: every lab node's slurmd shares this machine,
        so it reads all their cgroups (slurm_<node>/ prefixes) at once. Its munge collector makes
        its round trip through the lab's munged, which MungedDown watches, with the host's munge
        client: on 24.11/26.05 munged runs inside the root filesystem and the host's client reaches
        it through the socket (~5 ms a round trip; the rootfs wrappers on PATH cost ~70 ms)."""
        c = self.cfg
        env = dict(self.env)
        self._spawn("job_exporter", [
            sys.executable, "-m", "slurmops", "exporter", "jobs",
            f"--web.listen-address=127.0.0.1:{c.port('job_exporter')}",
            # Only this lab's nodes: another lab on the host reuses job ids under its own prefixes.
            f"--slurm.node={','.join(c.node_names)}",
            "--collector.munge", f"--collector.munge.socket={c.munge_socket}",
            "--collector.munge.bin-dir=/usr/bin"], env=env)     # Debian's munge package, on the host
        self._register_target("slurm_job", c.port("job_exporter"))

    def _slurm_exporter_health(self) -> checks.Result:
        status, body = checks.http_get(self.cfg.url("slurm_exporter") + "/metrics", timeout=3)
        if status != 200:
            return False, f"HTTP {status or body}"
        up = f'slurm_up{{cluster="{self.cfg.cluster}"}} 1.0'
        return (up in body), ("slurm_up 1" if up in body else "slurm_up is not 1 yet")

    def _register_target(self, job: str, port: int) -> None:
        """Prometheus joins exporters through file_sd: one JSON file per exporter, whose `job`
        label (slurm, slurm_job) is what alerts and dashboards select on."""
        target = [{"targets": [f"127.0.0.1:{port}"], "labels": {"job": job, "cluster": self.cfg.cluster}}]
        _write(self.cfg.dir / "prometheus" / "targets" / f"{job}.json", json.dumps(target) + "\n", 0o644)

    def _start_alertmanager(self) -> None:
        c = self.cfg
        self._spawn("alertmanager", [
            "prometheus-alertmanager", f"--config.file={c.dir / 'alertmanager' / 'alertmanager.yml'}",
            f"--storage.path={c.dir / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{c.port('alertmanager')}",
            "--cluster.listen-address="])

    def _start_prometheus(self) -> None:
        c = self.cfg
        self._spawn("prometheus", [
            "prometheus", f"--config.file={c.dir / 'prometheus' / 'prometheus.yml'}",
            f"--storage.tsdb.path={c.dir / 'prometheus' / 'data'}",
            f"--web.listen-address=127.0.0.1:{c.port('prometheus')}",
            "--web.enable-lifecycle", "--storage.tsdb.retention.time=3d"])

    def _prometheus_health(self) -> checks.Result:
        ok, detail = _http_ok(self.cfg.url("prometheus") + "/-/ready")
        if not ok:
            return ok, detail
        res = checks.prometheus_query(self.cfg.url("prometheus"), 'up{job="node"}')
        if not res:
            return False, "has not scraped node_exporter yet"
        if res[0]["value"][1] != "1":
            return False, "node_exporter scrape failing"
        return True, f"ready; node_exporter scraped; {self._prometheus_where()}"

    def _prometheus_where(self) -> str:
        """Which Prometheus this lab runs (2.42 from the host, or the generation's own)."""
        status, body = checks.http_get(self.cfg.url("prometheus") + "/api/v1/status/buildinfo", timeout=3)
        try:
            version = json.loads(body)["data"]["version"] if status == 200 else "?"
        except (ValueError, KeyError, TypeError):
            version = "?"
        where = (f"Debian {self.gen.suite_name} root filesystem" if "prometheus" in self.in_rootfs
                 else "host")
        return f"Prometheus {version} ({where})"

    # ---- several generations at once: an upgrade rehearsal (`lab switch`) ----------------------
    def daemon_env(self, daemon: str) -> dict[str, str]:
        """The environment a daemon starts with; a switched one finds its generation's binaries
        first (and stays in that generation's root filesystem, nsroot.py)."""
        gen = self.cfg.generation_of(daemon)
        if gen != self.cfg.slurm:
            self.ensure_generation(gen)
        return nsroot.daemon_env(self.cfg, self.env, daemon)

    def ensure_generation(self, gen: str) -> None:
        """A holder for another generation's root filesystem (LABDIR/root-GEN) with its wrappers
        (LABDIR/rootfs-bin-GEN): started once, kept until `down`. Idempotent."""
        name = nsroot.holder_name(gen)
        pid = self.own_pid(name)
        if pid and os.readlink(f"/proc/{pid}/root") == str(nsroot.root_dir(self.cfg.dir, gen)):
            return
        try:
            # the same cached tree as a lab of that generation (same package list)
            path = rootfs.ensure(generation(gen).suite, generation(gen).rootfs_packages, log=self.out)
        except rootfs.RootfsError as exc:
            raise LabError(str(exc)) from None
        nsroot.write_wrappers(self.cfg.dir, nsroot.SLURM_COMMANDS, gen)
        self._spawn(name, nsroot.holder_argv(path, self.cfg.dir, gen))

        def ready() -> checks.Result:
            p = self.own_pid(name)
            return bool(p and nsroot.in_root(p, self.cfg.dir)), f"{name} namespace"
        ok, detail = _wait(ready, 30)
        if not ok:
            raise LabError(f"Slurm {gen}'s root filesystem did not come up: {detail} "
                           f"(log: {self.cfg.log / (name + '.out')})")

    def switch(self, daemon: str, gen: str) -> str:
        """Record that `daemon` ("slurmdbd", "slurmctld", "slurmrestd", "slurmd-NODE", "clients")
        runs Slurm `gen` from now on: what installing that generation's package is on a real
        host. A running daemon keeps its binaries until it is restarted (as after apt). Returns
        the generation it ran before."""
        c = self.cfg
        generation(gen)                        # ValueError: unknown
        if daemon not in c.switchable():
            raise LabError(f"cannot switch {daemon!r}; one of {', '.join(c.switchable())}")
        if not (self.gen.in_rootfs and generation(gen).in_rootfs):
            raise LabError(f"switching needs a lab and a target from a root filesystem "
                           f"(24.11 or newer): this lab runs {c.slurm}, asked {gen}")
        before = c.generation_of(daemon)
        daemons = {k: v for k, v in c.daemons.items() if k != daemon}
        if gen != c.slurm:
            daemons[daemon] = gen
            self.ensure_generation(gen)
        self.cfg = replace(c, daemons=daemons)
        self.env = nsroot.lab_env(self.cfg)
        _write(self.cfg.state_file, self.cfg.to_json() + "\n", 0o644)
        if daemon == "clients":
            nsroot.point_clients(self.cfg)
        return before

    def restart_slurmd(self, node: str) -> checks.Result:
        """Stop one node's slurmd (its jobs' slurmstepd keep running) and start it again from the
        generation recorded for it; wait until that node responds and reports that version."""
        if node not in self.cfg.cpu_node_names:
            raise LabError(f"no cpu node {node!r}; one of {', '.join(self.cfg.cpu_node_names)}")
        name = f"slurmd-{node}"
        pid = self.own_pid(name)
        if pid:
            proc.terminate([pid], timeout=20)
        self._spawn(name, ["slurmd", "-D", "-N", node], env=self.daemon_env(name))
        want = self.cfg.generation_of(name)

        def node_ok() -> checks.Result:
            r = proc.run(["sinfo", "-h", "-N", "-n", node, "-o", "%t %v"], env=self.env, timeout=10)
            parts = r.stdout.split()
            ok = len(parts) == 2 and _usable_state(parts[0]) and parts[1].startswith(want + ".")
            return ok, f"{node} {' '.join(parts) or 'not in sinfo'}"
        ok, detail = _wait(node_ok, 60)
        if not ok:
            raise LabError(f"slurmd on {node} did not come back as {want}: {detail} "
                           f"(log: {self.cfg.log / f'slurmd-{node}.log'})")
        return ok, detail

    # ---- verbs -------------------------------------------------------------------------------
    def up(self, extra_packages: list[str] | None = None) -> list[Status]:
        t0 = time.monotonic()
        self.check_dir()
        self.check_cgroups()
        self.ensure_packages(extra_packages)
        self.ensure_users()
        self.check_ports()
        if self.gen.in_rootfs:
            self.ensure_rootfs()
        self.render()
        if self.cfg.backup_veth:
            self.ensure_network()   # slurmdbd, slurmctld and slurmd are reached on its address
        if self.cfg.hosts:
            self.ensure_hosts_network()     # the same: the hosts reach them on the bridge's address
        width = max([14] + [len(comp.name) for comp in self.components()])
        try:
            for comp in self.components():
                was_running = any(self.owned(p) for p in comp.pidfiles())
                ok, detail = self._come_up(comp)
                if not ok:
                    raise self.not_healthy(comp, detail)
                self.say(f"  {comp.name:{width}} {'up' if was_running else 'started':8} {detail}")
            if self._started:   # something was (re)started: prove the whole path again
                self.smoke_job()
        except BaseException:
            self._stop_started()
            raise
        self.say(f"lab up in {time.monotonic() - t0:.1f} s")
        return self.status()

    def smoke_job(self) -> None:
        """A job on every usable cpu node completes and reaches sacct (the end-to-end proof)."""
        states = checks.node_states(self.env)
        nodes = [n for n in self.cfg.cpu_node_names
                 if states.get(n, "").rstrip("~#!%$@^-+") in ("idle", "mixed", "allocated")]
        if not nodes:
            raise LabError(f"no cpu node can run a test job: {states}")
        r = proc.run(["srun", f"-N{len(nodes)}", f"--nodelist={','.join(nodes)}", "-p", "cpu",
                      "-t", "1", "-J", "lab-smoke", "printenv", "SLURMD_NODENAME", "SLURM_JOB_ID"],
                     env=self.env, timeout=60)
        words = r.stdout.split()
        ran_on, jobid = set(words[0::2]), (words[1] if len(words) > 1 else "?")
        if r.returncode != 0 or ran_on != set(nodes):
            raise LabError(f"test job did not run on every node: rc={r.returncode} "
                           f"ran on {sorted(ran_on)}: {_last_line(r)}")
        ok, detail = _wait(lambda: self._in_sacct(jobid), 30)
        if not ok:
            raise LabError(f"test job not accounted in sacct: {detail}")
        width = max([14] + [len(comp.name) for comp in self.components()])
        self.say(f"  {'test job':{width}} {'ok':8} ran on {' '.join(sorted(ran_on))}; {detail}")

    def _in_sacct(self, jobid: str) -> checks.Result:
        r = proc.run(["sacct", "-n", "-X", "-P", "-j", jobid, "-o", "JobID,State"],
                     env=self.env, timeout=10)
        done = [ln for ln in r.stdout.splitlines() if ln == f"{jobid}|COMPLETED"]
        return bool(done), (f"job {jobid} COMPLETED in sacct" if done else f"job {jobid} not yet in sacct")

    def _stop_started(self) -> None:
        names = list(reversed(self._started))
        pids = [p for p in (self.own_pid(n) for n in names) if p]
        if pids:
            self.say(f"stopping what this run started: {' '.join(names)}")
            proc.terminate(pids)

    def component(self, name: str) -> Component:
        if self.on_host:
            for comp in self.host_components(self.on_host):
                if comp.name == name:
                    return comp
            names = ", ".join(c.name for c in self.host_components(self.on_host))
            raise LabError(f"lab host {self.on_host} runs {names} only (not {name})")
        for comp in self.components():
            if comp.name == name:
                return comp
        raise LabError(f"no lab component {name!r}; one of "
                       f"{', '.join(c.name for c in self.components())}")

    def stop_component(self, name: str) -> list[int]:
        """Stop one component (SIGTERM, then SIGKILL): what a runbook or a fault test does."""
        comp = self.component(name)
        pids = [p for p in (self.owned(f) for f in comp.pidfiles()) if p]
        proc.terminate(pids, timeout=20)
        return pids

    def start_component(self, name: str) -> checks.Result:
        """Start one component if it is not running and wait for its health."""
        comp = self.component(name)
        ok, detail = self._come_up(comp)
        if not ok:
            raise self.not_healthy(comp, detail)
        return ok, detail

    def _come_up(self, comp: Component) -> checks.Result:
        """Start comp and wait for its health. A component with start_retries stops waiting when
        its process has exited and is started again, at most that many times, saying so with the
        cause its log gives."""
        def gone() -> bool:
            return not any(self.owned(p) for p in comp.pidfiles())

        for attempt in range(comp.start_retries + 1):
            comp.start()
            ok, detail = _wait(comp.health, comp.wait_s, gave_up=gone if comp.start_retries else None)
            if ok or attempt == comp.start_retries or not gone():
                break
            self.say(f"  {comp.name} exited while starting ({detail}; {_log_ref(self.cfg.log / comp.log)}): "
                     f"starting it again")
        return ok, detail

    def not_healthy(self, comp: Component, detail: str) -> LabError:
        """The error for a component that did not come up: its health detail, its log and that
        log's last lines. slurmd's logs are per node: the first node the detail names unusable (else
        the first cpu node)."""
        log = comp.log
        if "<node>" in log:
            states = dict(re.findall(r"([\w.-]+)=(\S+?)(?:,|$|\s)", detail))
            nodes = self.cfg.cpu_node_names
            node = next((n for n in nodes if n in states and not _usable_state(states[n])),
                        nodes[0] if nodes else "")
            log = log.replace("<node>", node)
        path = self.cfg.log / log
        return LabError(f"{comp.name} did not become healthy: {detail} ({_log_ref(path)})")

    def status(self) -> list[Status]:
        out = []
        for comp in self.components():
            pids = [p for p in (self.owned(f) for f in comp.pidfiles()) if p]
            if pids:
                ok, detail = comp.health()
            else:
                ok, detail = False, "not running"
            out.append(Status(comp.name, bool(pids), ok, pids, comp.endpoint, detail))
        return out

    def cancel_jobs(self, timeout: float = 30) -> None:
        """scancel every job (by user, so 50,000 jobs need few calls), wait until none runs."""
        if not (self.own_pid("slurmctld") or self.own_pid("slurmctld_backup")):
            return
        r = proc.run(["squeue", "-h", "-o", "%u"], env=self.env, timeout=30)
        for user in sorted(set(r.stdout.split())):
            proc.run(["scancel", "--quiet", f"--user={user}"], env=self.env, timeout=30)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._job_ids():
            time.sleep(0.5)

    def _job_ids(self) -> list[str]:
        r = proc.run(["squeue", "-h", "-o", "%i"], env=self.env, timeout=15)
        return r.stdout.split() if r.returncode == 0 else []

    def down(self, purge: bool = False) -> list[int]:
        """Stop every lab process (jobs first), return pids that survived (should be none)."""
        if self.cfg.dir.exists():
            self.cancel_jobs()
            for comp in reversed(self.components()):
                pids = [p for p in (self.owned(f) for f in comp.pidfiles()) if p]
                if comp.name in self.in_rootfs:
                    # Only a process whose root is this lab's root filesystem is one of ours.
                    anchor = self.own_pid("rootfs-host")       # the one host-side process
                    strangers = [p for p in pids if p != anchor and not nsroot.in_root(p, self.cfg.dir)]
                    if strangers:
                        self.say(f"  {comp.name}: pid {strangers} is not in "
                                 f"{nsroot.root_dir(self.cfg.dir)}; left alone")
                    pids = [p for p in pids if p not in strangers]
                if pids:
                    proc.terminate(pids, timeout=20)
                    self.say(f"  stopped {comp.name} ({' '.join(map(str, pids))})")
        if self.cfg.hosts:
            # sshd rewrites its environment (its process title), so it carries no lab marker:
            # everything inside a lab host's own network namespace is the lab's.
            inside = self.hosts_pids()
            if inside:
                self.say(f"  stopping {len(inside)} processes in the lab hosts' namespaces")
                proc.terminate(inside, timeout=10)
        leftovers = proc.lab_processes(self.cfg.dir)
        if leftovers:
            self.say(f"  stopping {len(leftovers)} leftover lab processes")
        survivors = proc.terminate(leftovers, timeout=10)
        if self.cfg.backup_veth and not survivors:
            self.remove_network()
        if self.cfg.hosts and not survivors:
            self.remove_hosts_network()
        if purge:
            _remove_job_cgroups(self.cfg.node_names)
            if self.cfg.dir.is_dir():
                shutil.rmtree(self.cfg.dir)
                self.say(f"  removed {self.cfg.dir}")
        return survivors

    def env_lines(self) -> list[str]:
        c = self.cfg
        return [
            f"export SLURM_CONF={c.slurm_conf}",
            *([f"export PATH={nsroot.clients_dir(c.dir)}:{nsroot.bin_dir(c.dir)}:$PATH"
               f"   # Slurm {c.slurm}'s commands, run inside its root filesystem"]
              if self.gen.in_rootfs else []),
            f"export SLURMOPS_LAB_DIR={c.dir}",
            f"export SLURMRESTD_URL={c.url('slurmrestd')}",
            f"export PROMETHEUS_URL={c.url('prometheus')}",
            f"export ALERTMANAGER_URL={c.url('alertmanager')}",
            f"export NODE_EXPORTER_URL={c.url('node_exporter')}",
            *([f"# slurmctld's own metrics ({self.gen.metrics_type}): "
               f"curl {c.url('slurmctld')}/metrics/nodes   (docs/native-metrics.md)"]
              if self.gen.metrics_type else []),
            "# a token for slurmrestd (not printed here): "
            "export SLURM_JWT=$(scontrol token lifespan=3600 | cut -d= -f2)",
        ]


# ---- module helpers -----------------------------------------------------------------------
def load_config(lab_dir: Path) -> LabConfig | None:
    state = lab_dir / "lab.json"
    if not state.is_file():
        return None
    return LabConfig.from_json(state.read_text())


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _keygen(path: Path, comment: str) -> None:
    r = proc.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                 timeout=30)
    if r.returncode != 0:
        raise LabError(f"ssh-keygen {path}: {_last_line(r)}")


def missing_cgroup_v1(root: Path) -> list[str]:
    """The controllers of CGROUP_V1_CONTROLLERS without a v1 hierarchy under root (a v1 hierarchy
    has a `tasks` file; cgroup2 has none; systemd's joined `cpu,cpuacct` is reached by its link)."""
    return [c for c in CGROUP_V1_CONTROLLERS if not (root / c / "tasks").is_file()]


def _dpkg_installed(pkg: str) -> bool:
    r = proc.run(["dpkg-query", "-W", "-f", "${Status}", pkg])
    return r.returncode == 0 and r.stdout.strip().endswith(" installed")


def _check_network_free(ours: ipaddress.IPv4Network | ipaddress.IPv6Network, own_dev: str, what: str) -> None:
    """No address on this host overlaps ``ours``, except on the lab's own device ``own_dev``."""
    r = proc.run(["ip", "-o", "-4", "addr", "show"])
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[2] != "inet":
            continue
        dev = parts[1].split("@")[0]
        try:
            net = ipaddress.ip_interface(parts[3]).network
        except ValueError:
            continue
        if dev != own_dev and net.overlaps(ours):
            raise LabError(f"{parts[3]} on {dev} overlaps {what} {ours} (pick another --port-base)")


def _log_ref(path: Path) -> str:
    """'log: PATH: its last lines', for a message about a daemon that did not come up."""
    return f"log: {path}{_log_tail(path)}"


def _log_tail(path: Path, lines: int = 3, causes: int = 3) -> str:
    """The last lines of a daemon's log, for an error that says why it did not come up, after the
    error lines just before them: a daemon's last words are often the generic 'fatal: Unable to
    initialize ...', and the line naming the cause (a failed query, a missing mount) comes earlier."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    kept = [ln.strip() for ln in text.splitlines() if ln.strip()]
    tail = kept[-lines:]
    earlier = [ln for ln in kept[-50:-lines] if re.search(r"\b(error|fatal)\b", ln, re.I)]
    quoted = [ln if len(ln) <= 400 else ln[:400] + " ..." for ln in earlier[-causes:] + tail]
    return (": " + " | ".join(quoted)) if quoted else ""


def _last_line(r) -> str:
    lines = [ln for ln in (r.stderr + "\n" + r.stdout).splitlines() if ln.strip()]
    return lines[-1].strip() if lines else f"exit {r.returncode}"


def _http_ok(url: str) -> checks.Result:
    status, body = checks.http_get(url, timeout=3)
    return status == 200, f"HTTP {status}" if status else body


def _usable_state(state: str) -> bool:
    """slurmd is healthy when its node responds: drained or reserved nodes are an operator's
    choice, not a fault; DOWN, FAIL, UNKNOWN or the not-responding `*` suffix are faults."""
    if not state or state.endswith("*"):
        return False
    base = state.rstrip("~#!%$@^-+").lower()
    return base not in ("down", "fail", "failing", "unknown", "future", "inval", "missing")


def _wait(check: Callable[[], checks.Result], timeout: float, interval: float = 0.3,
          gave_up: Callable[[], bool] | None = None) -> checks.Result:
    """check() until it passes or timeout runs out, or until gave_up() (a process that exited)."""
    deadline = time.monotonic() + timeout
    ok, detail = check()
    while not ok and time.monotonic() < deadline and not (gave_up and gave_up()):
        time.sleep(interval)
        ok, detail = check()
    return ok, detail


def _remove_job_cgroups(nodes: list[str]) -> None:
    """rmdir the (empty) cgroup trees the lab's slurmd created: slurm_<node>/ per controller."""
    root = Path("/sys/fs/cgroup")
    if not root.is_dir():
        return
    for ctl in root.iterdir():
        for node in nodes:
            top = ctl / f"slurm_{node}"
            if not top.is_dir():
                continue
            for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                try:
                    d.rmdir()
                except OSError:
                    pass
            try:
                top.rmdir()
            except OSError:
                pass
