"""`slurmops lab ...` — thin click layer over slurmops.lab.platform."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click
from click.core import ParameterSource

from .config import DEFAULT_DIR, DEFAULT_PORT_BASE, LabConfig
from .platform import Lab, LabError, load_config

dir_option = click.option("--dir", "lab_dir", type=click.Path(path_type=Path), default=DEFAULT_DIR,
                          show_default=True, envvar="SLURMOPS_LAB_DIR", help="The lab's directory.")


def _fail(msg: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {msg}", err=True)
    sys.exit(code)


def _existing(lab_dir: Path) -> Lab:
    if lab_dir.exists() and not lab_dir.is_dir():
        _fail(f"--dir {lab_dir} exists and is not a directory", 2)
    cfg = load_config(lab_dir)
    if cfg is None:
        _fail(f"no lab in {lab_dir} (run `slurmops lab up` first)", 3)
    return Lab(cfg)


def print_status(rows) -> None:
    w = max([14] + [len(s.name) for s in rows])
    click.echo(f"{'component':{w}} {'state':10} {'pid':16} {'endpoint':34} detail")
    for s in rows:
        state = "healthy" if s.healthy else ("UNHEALTHY" if s.running else "DOWN")
        pids = ",".join(map(str, s.pids[:3])) + ("…" if len(s.pids) > 3 else "") or "-"
        click.echo(f"{s.name:{w}} {state:10} {pids:16} {s.endpoint:34} {s.detail}")


@click.group()
def lab() -> None:
    """A disposable, real Slurm platform on this machine, on loopback (Debian 12, as root)."""


@lab.command()
@dir_option
@click.option("--port-base", type=int, default=DEFAULT_PORT_BASE, show_default=True,
              help="Every lab port is derived from this (slurmctld = base+17, ...).")
@click.option("--cluster", default="lab", show_default=True, help="ClusterName.")
@click.option("--node-prefix", default="", help="Prefix for node names (n1.., c1..).")
@click.option("--cpu-nodes", type=int, default=3, show_default=True)
@click.option("--cloud-nodes", type=int, default=2, show_default=True)
@click.option("--node-cpus", type=int, default=8, show_default=True,
              help="CPUs each node declares (config_overrides): 512 runs hundreds of real jobs.")
@click.option("--node-memory", "node_memory_mb", type=int, default=4000, show_default=True,
              help="RealMemory (MB) each node declares.")
@click.option("--def-mem-per-cpu", "def_mem_per_cpu_mb", type=int, default=100, show_default=True)
@click.option("--bench-nodes", type=int, default=0, show_default=True,
              help="Extra powered-down CLOUD nodes (cn00001..) in partition `big`, for scale tests.")
@click.option("--gpus", type=int, default=0, show_default=True,
              help="GPU GRES on every cpu node (device files under --dir, gres.conf AutoDetect=off).")
@click.option("--gpu-type", default="", help="Type of those GPUs (Gres=gpu:TYPE:N).")
@click.option("--gpu-tres/--no-gpu-tres", default=True, show_default=True,
              help="Track gres/gpu in AccountingStorageTRES (Slurm does not by default).")
@click.option("--backup-controller", is_flag=True, default=False,
              help="Also run a backup slurmctld in its own network namespace (takeover drills).")
@click.option("--hosts", is_flag=True, default=False,
              help="The controller (slurmctld) and every cpu node a host of its own: network + UTS "
                   "+ mount namespace on a lab bridge, with its own munged and an sshd; slurmdbd "
                   "stays on this host; writes DIR/inventory.toml.")
@click.option("--slurm", default="22.05", show_default=True,
              help="Slurm generation: 22.05 (this Debian 12's), 24.11 (Debian trixie) or 26.05 "
                   "(Debian forky), the newer ones from a cached root filesystem (mmdebstrap).")
@click.option("--extra-package", "extra_packages", multiple=True, hidden=True,
              help="Another Debian package the lab must have (tests use it for apt failures).")
def up(lab_dir: Path, extra_packages, **opts) -> None:
    """Install what is missing, start every component in order, wait for real health."""
    if lab_dir.exists() and not lab_dir.is_dir():
        _fail(f"--dir {lab_dir} exists and is not a directory", 2)
    wanted = LabConfig(dir=lab_dir.absolute(), **opts)
    try:
        wanted.validate()
    except ValueError as exc:
        _fail(str(exc), 2)
    existing = load_config(wanted.dir)
    if existing is not None:
        explicit = {k for k, v in opts.items()
                    if click.get_current_context().get_parameter_source(k) != ParameterSource.DEFAULT}
        changed = [d for d in wanted.differences(existing) if d in explicit]
        if changed:
            _fail(f"the lab in {lab_dir} was set up with other {', '.join(changed)}; "
                  f"run `slurmops lab down --purge` first", 2)
        wanted = existing
    click.echo(f"lab {wanted.cluster} in {wanted.dir} (ports from {wanted.port_base})")
    lab_ = Lab(wanted)
    try:
        rows = lab_.up(list(extra_packages))
    except LabError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted; what this run started was stopped", 130)
    print_status(rows)
    click.echo("")
    for line in lab_.env_lines():
        click.echo(line)
    if not all(s.healthy for s in rows):
        sys.exit(1)


@lab.command()
@dir_option
@click.option("--purge", is_flag=True, help="Also remove the lab directory and its cgroups.")
def down(lab_dir: Path, purge: bool) -> None:
    """Cancel jobs, stop exactly what the lab started, leave no lab process behind."""
    lab_ = _existing(lab_dir)
    survivors = lab_.down(purge=purge)
    if survivors:
        _fail(f"processes still alive after SIGKILL: {survivors}")
    click.echo("lab down")


@lab.command()
@dir_option
def status(lab_dir: Path) -> None:
    """Each component's health. Exit 0 when all are healthy, 1 otherwise, 3 without a lab."""
    rows = _existing(lab_dir).status()
    print_status(rows)
    sys.exit(0 if all(s.healthy for s in rows) else 1)


COMPONENTS = ["munged", "mariadb", "slurmdbd", "slurmctld", "hosts", "slurmd", "slurmctld_backup", "slurmrestd",
              "node_exporter", "slurm_exporter", "job_exporter", "alertmanager", "prometheus"]


@lab.command("stop")
@dir_option
@click.argument("component", type=click.Choice(COMPONENTS))
def stop_cmd(lab_dir: Path, component: str) -> None:
    """Stop one component (the others keep running)."""
    try:
        pids = _existing(lab_dir).stop_component(component)
    except LabError as exc:
        _fail(str(exc))
    click.echo(f"stopped {component} ({' '.join(map(str, pids)) or 'was not running'})")


@lab.command("start")
@dir_option
@click.argument("component", type=click.Choice(COMPONENTS))
def start_cmd(lab_dir: Path, component: str) -> None:
    """Start one component and wait until it is healthy."""
    try:
        _, detail = _existing(lab_dir).start_component(component)
    except LabError as exc:
        _fail(str(exc))
    click.echo(f"{component} healthy: {detail}")


@lab.command("restart")
@dir_option
@click.argument("component", type=click.Choice(COMPONENTS))
def restart_cmd(lab_dir: Path, component: str) -> None:
    """Stop and start one component, waiting for its health."""
    lab_ = _existing(lab_dir)
    try:
        lab_.stop_component(component)
        _, detail = lab_.start_component(component)
    except LabError as exc:
        _fail(str(exc))
    click.echo(f"{component} restarted: {detail}")


@lab.command()
@dir_option
@click.argument("daemon")
@click.option("--slurm", "gen", required=True, help="The generation it runs from now on (24.11, 26.05).")
@click.option("--restart", is_flag=True,
              help="Also restart it now (a slurmd-NODE: only that node, waiting until it reports "
                   "the new version); without it a running daemon keeps its binaries until restarted.")
def switch(lab_dir: Path, daemon: str, gen: str, restart: bool) -> None:
    """Run one daemon from another Slurm generation's root filesystem, keeping the lab's state:
    the lab's form of installing that generation's package (an upgrade rehearsal).
    DAEMON: slurmdbd, slurmctld, slurmrestd, slurmd-NODE or clients (the commands in `lab env`)."""
    lab_ = _existing(lab_dir)
    try:
        before = lab_.switch(daemon, gen)
        detail = "recorded"
        if restart and daemon.startswith("slurmd-"):
            _, detail = lab_.restart_slurmd(daemon[len("slurmd-"):])
        elif restart and daemon != "clients":
            lab_.stop_component(daemon)
            _, detail = lab_.start_component(daemon)
    except (LabError, ValueError) as exc:
        _fail(str(exc), 2 if isinstance(exc, ValueError) else 1)
    click.echo(f"{daemon}: Slurm {before} -> {gen} ({detail})")


@lab.command()
@dir_option
def env(lab_dir: Path) -> None:
    """Lines for a shell: eval "$(slurmops lab env)"."""
    for line in _existing(lab_dir).env_lines():
        click.echo(line)


@lab.command()
@dir_option
@click.option("--slurm", "slurm", default=None,
              help="The generation the lab must run (a check); default: the lab's.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Where fixtures go [default: tests/fixtures/slurm-22.05 for 22.05, "
                   "tests/fixtures/slurm-<X>/recorded for newer generations, beside the "
                   "schema-derived ones].")
@click.option("--with-workload/--as-is", default=True, show_default=True,
              help="Start the sample workload first (and clear it afterwards).")
@click.option("--only", multiple=True, metavar="FILE",
              help="Record only this fixture file (repeatable), merged into the MANIFEST.json there.")
def record(lab_dir: Path, slurm: str | None, out: Path | None, with_workload: bool,
           only: tuple[str, ...]) -> None:
    """Capture the lab's real squeue/sinfo/sacct/sdiag/... and slurmrestd outputs as fixtures,
    with a PROVENANCE.json (Slurm and Debian package versions, command, date, config excerpt)."""
    from . import record as rec, workload
    lab_ = _existing(lab_dir)
    if slurm is not None and slurm != lab_.cfg.slurm:
        _fail(f"the lab in {lab_dir} runs Slurm {lab_.cfg.slurm}, not {slurm} "
              f"(start one with `slurmops lab up --slurm {slurm} --dir ...`)", 2)
    if out is None:
        out = Path(f"tests/fixtures/slurm-{lab_.cfg.slurm}")
        if lab_.gen.in_rootfs:
            out = out / "recorded"
    try:
        if with_workload:
            workload.start(lab_)
            workload.wait_settled(lab_)
        manifest = rec.record(lab_, out, set(only) or None)
    except LabError as exc:
        _fail(str(exc))
    finally:
        if with_workload:
            workload.stop(lab_)
    click.echo(f"recorded Slurm {manifest['slurm_version']}: {len(manifest['cli'])} commands, "
               f"{sum(1 for v in manifest['rest'].values() if v['status'] == 200)} REST endpoints"
               + (f", {len(manifest['native'])} native /metrics endpoints" if manifest.get("native") else "")
               + f" -> {out}")


@lab.command()
@dir_option
@click.option("--clear", is_flag=True, help="Cancel it instead: jobs, drain, reservation.")
def workload(lab_dir: Path, clear: bool) -> None:
    """Start the sample workload (running, pending, held, array, failed jobs, a drain, ...)."""
    from . import workload as wl
    lab_ = _existing(lab_dir)
    try:
        if clear:
            wl.stop(lab_)
            click.echo("workload cleared")
            return
        w = wl.start(lab_)
        wl.wait_settled(lab_)
    except LabError as exc:
        _fail(str(exc))
    for role, jobid in w.jobs.items():
        click.echo(f"  job {jobid:>6}  {role}")
    if w.drained:
        click.echo(f"  node {w.drained} drained: {wl.DRAIN_REASON}")
    click.echo(f"  reservation {w.reservation}")
