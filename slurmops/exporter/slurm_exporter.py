"""`slurmops exporter slurm`: the cluster-level exporter Prometheus scrapes once per cluster.

Flags follow node_exporter (`--web.listen-address`, `--web.telemetry-path`, `--web.config.file`,
`--collector.<name>` / `--no-collector.<name>`). Several clusters from one process come from
`--config.file` (see exporters/slurm-exporter.example.yml); each gets its own poller and its
`cluster` label.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml

from ..slurm.sources import CallStats, SourceError
from . import metrics as m
from .core import registered
from .poller import ClusterPoller, Snapshot, tune_runtime
from .server import MetricsServer
from .webconfig import WebConfigError, load as load_web_config

log = logging.getLogger("slurmops.exporter.slurm")

COLLECTORS = tuple(registered("slurm"))   # each module of exporter/collectors/ registers its own
DEFAULT_PORT = 9341


@dataclass
class ClusterConfig:
    name: str | None = None
    source: str = "cli"
    env: dict[str, str] = field(default_factory=dict)        # cli: SLURM_CONF, PATH, ...
    bin_dir: str | None = None
    rest_url: str | None = None
    rest_user: str | None = None
    rest_token_file: str | None = None
    rest_version: str | None = None
    timeout: float = 20.0
    rest_jobs_timeout: float = 120.0   # rest.JOBS_TIMEOUT_S: a full /jobs at 50,000 jobs takes 15-18 s + transfer
    interval: float = 30.0
    collectors: tuple[str, ...] = COLLECTORS
    per_node: bool = True
    per_account: bool = True
    per_user: bool = False


def make_source(cc: ClusterConfig, stats: CallStats) -> Any:
    if cc.source == "cli":
        from ..slurm.sources.cli import CliSource
        return CliSource(env=cc.env, timeout=cc.timeout, stats=stats, bin_dir=cc.bin_dir)
    if cc.source == "rest":
        from ..slurm.sources.rest import RestSource
        if not cc.rest_url:
            raise click.UsageError("the rest source needs --rest.url (or rest.url in the config)")
        return RestSource(cc.rest_url, user=cc.rest_user, token_file=cc.rest_token_file,
                          timeout=cc.timeout, stats=stats, version=cc.rest_version,
                          jobs_timeout=cc.rest_jobs_timeout)
    if cc.source == "pyslurm":
        from ..slurm.sources.pyslurm_source import PyslurmSource, PyslurmUnavailable, open_pyslurm
        try:   # only a pyslurm whose major.minor is the running Slurm's, else the reason why not
            module = open_pyslurm(cc.env, cc.bin_dir, cc.timeout, stats)
        except PyslurmUnavailable as exc:
            raise click.UsageError(f"cannot use --source pyslurm: {exc}") from exc
        return PyslurmSource(module, stats=stats)
    raise click.UsageError(f"unknown source {cc.source!r}: cli, rest or pyslurm")


def builders(cc: ClusterConfig) -> dict[str, Any]:
    """The enabled collectors' build functions, as they registered (exporter/collectors/)."""
    table = registered("slurm")
    return {name: table[name].make for name in cc.collectors}


def make_poller(cc: ClusterConfig, clock: Callable[[], float] = time.time) -> ClusterPoller:
    """The poller of one cluster; ``clock`` dates what the collectors compute from "now"
    (pending ages, whether a reservation is active): the golden tests fix it."""
    stats = CallStats()
    source = make_source(cc, stats)
    name = cc.name
    if not name:
        try:
            name = source.info().cluster
        except SourceError as exc:
            log.warning("cannot learn the cluster name (%s); set --cluster", exc)
        name = name or "default"
    # Only `info` (version, cluster name: two commands that change on an upgrade) is polled less
    # often; licenses, reservations and fair share are polled every interval like the rest.
    slow = {"info": max(cc.interval * 4, 120.0)}
    return ClusterPoller(name, source, builders(cc), interval=cc.interval, stats=stats, intervals=slow,
                         options=cc, clock=clock)


def load_clusters(path: Path, defaults: ClusterConfig) -> list[ClusterConfig]:
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise click.UsageError(f"cannot read {path}: {exc}") from exc
    items = doc.get("clusters") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        raise click.UsageError(f"{path}: expected a non-empty `clusters:` list")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise click.UsageError(f"{path}: clusters[{i}] must be a mapping")
        rest = item.get("rest") or {}
        coll = item.get("collectors")
        unknown = set(coll or []) - set(COLLECTORS)
        if unknown:
            raise click.UsageError(f"{path}: clusters[{i}]: unknown collectors {sorted(unknown)}")
        out.append(ClusterConfig(
            name=item.get("name"), source=item.get("source", defaults.source),
            env={str(k): str(v) for k, v in (item.get("env") or {}).items()},
            bin_dir=item.get("bin_dir"), rest_url=rest.get("url"), rest_user=rest.get("user"),
            rest_token_file=rest.get("token_file"), rest_version=rest.get("version"),
            timeout=float(item.get("timeout", defaults.timeout)),
            rest_jobs_timeout=float(rest.get("jobs_timeout", defaults.rest_jobs_timeout)),
            interval=float(item.get("interval", defaults.interval)),
            collectors=tuple(coll) if coll else defaults.collectors,
            per_node=bool(item.get("per_node", defaults.per_node)),
            per_account=bool(item.get("per_account", defaults.per_account)),
            per_user=bool(item.get("per_user", defaults.per_user))))
    return out


def _collector_flags(fn: Callable[..., Any]) -> Callable[..., Any]:
    for name in reversed(COLLECTORS):
        fn = click.option(f"--collector.{name}/--no-collector.{name}", f"collector_{name}", default=True,
                          show_default=True, help=registered("slurm")[name].help)(fn)
    return fn


@click.command("slurm")
@click.option("--web.listen-address", "listen", default=f":{DEFAULT_PORT}", show_default=True)
@click.option("--web.telemetry-path", "telemetry_path", default="/metrics", show_default=True)
@click.option("--web.config.file", "web_config_file", type=click.Path(path_type=Path), default=None,
              help="node_exporter web config: TLS and basic auth.")
@click.option("--config.file", "config_file", type=click.Path(path_type=Path), default=None,
              help="YAML with a `clusters:` list (several clusters from one process).")
@click.option("--source", type=click.Choice(["cli", "rest", "pyslurm"]), default="cli", show_default=True,
              help="cli: Slurm's commands; rest: slurmrestd; pyslurm: Slurm's C API in-process "
                   "(optional extra; only a pyslurm matching the running Slurm's major.minor).")
@click.option("--cluster", default=None, help="The cluster label (default: Slurm's ClusterName).")
@click.option("--slurm.conf", "slurm_conf", default=None, help="SLURM_CONF for the cli and pyslurm sources.")
@click.option("--rest.url", "rest_url", default=None, help="slurmrestd URL for the rest source.")
@click.option("--rest.user", "rest_user", default=None, help="X-SLURM-USER-NAME to send.")
@click.option("--rest.token-file", "rest_token_file", default=None,
              help="File holding the JWT (re-read each call); default $SLURM_JWT.")
@click.option("--poll.interval", "interval", type=float, default=30.0, show_default=True,
              help="Seconds between polls of Slurm (scrapes never call Slurm).")
@click.option("--command.timeout", "timeout", type=float, default=20.0, show_default=True,
              help="Seconds one Slurm command or slurmrestd request may take.")
@click.option("--rest.jobs-timeout", "rest_jobs_timeout", type=float, default=120.0, show_default=True,
              help="Seconds a slurmrestd /jobs request may take (a full list at 50,000 jobs: 15-18 s "
                   "in slurmrestd 22.05 plus the transfer).")
@click.option("--collector.nodes.per-node/--no-collector.nodes.per-node", "per_node", default=True,
              show_default=True, help="Per-node families (9 per node: turn off for very large clusters).")
@click.option("--collector.jobs.per-account/--no-collector.jobs.per-account", "per_account",
              default=True, show_default=True)
@click.option("--collector.jobs.per-user/--no-collector.jobs.per-user", "per_user", default=False,
              show_default=True)
@_collector_flags
@click.option("--print-metrics-doc", is_flag=True, help="Print docs/metrics.md and exit.")
@click.option("--log.level", "log_level", type=click.Choice(["debug", "info", "warn", "error"]),
              default="info", show_default=True)
def slurm_command(listen: str, telemetry_path: str, web_config_file: Path | None, config_file: Path | None,
                  source: str, cluster: str | None, slurm_conf: str | None, rest_url: str | None,
                  rest_user: str | None, rest_token_file: str | None, interval: float, timeout: float,
                  rest_jobs_timeout: float, per_node: bool, per_account: bool, per_user: bool,
                  print_metrics_doc: bool, log_level: str, **collector_flags: bool) -> None:
    """Export the whole scheduler picture of one or more Slurm clusters."""
    if print_metrics_doc:
        click.echo(m.metrics_doc(), nl=False)
        return
    logging.basicConfig(level=log_level.upper().replace("WARN", "WARNING"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    enabled = tuple(n for n in COLLECTORS if collector_flags[f"collector_{n}"])
    defaults = ClusterConfig(name=cluster, source=source,
                             env={"SLURM_CONF": slurm_conf} if slurm_conf else {},
                             rest_url=rest_url, rest_user=rest_user, rest_token_file=rest_token_file,
                             timeout=timeout, rest_jobs_timeout=rest_jobs_timeout,
                             interval=interval, collectors=enabled,
                             per_node=per_node, per_account=per_account, per_user=per_user)
    clusters = load_clusters(config_file, defaults) if config_file else [defaults]
    try:
        web = load_web_config(web_config_file)
        pollers = [make_poller(cc) for cc in clusters]
        snapshot = Snapshot(pollers)
        server = MetricsServer(listen, snapshot.render_parts, render_gzip=snapshot.render_gzip_parts,
                               telemetry_path=telemetry_path, web_config=web,
                               web_config_dir=(web_config_file.parent if web_config_file else Path(".")),
                               title="slurmops Slurm exporter")
    except (WebConfigError, ValueError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    tune_runtime()
    for p in pollers:
        p.start()
    log.info("listening on %s%s (%s), clusters: %s", listen, telemetry_path,
             "https" if server.tls else "http", ", ".join(p.cluster for p in pollers))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    for p in pollers:
        p.stop()
    server.stop()
