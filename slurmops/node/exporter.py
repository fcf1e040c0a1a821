"""``slurmops exporter jobs``: the per-node job exporter (default port 9342, next to the cluster
exporter's 9341; node_exporter keeps 9100 and DCGM exporter 9400).

Scrape-time model: every scrape reads the cgroup files now (they are cheap kernel files, and a stale
background snapshot would hide a job that just started or died). Concurrent scrapes (two
Prometheus replicas) share one collection: a lock plus reuse of a body younger than ``max_age_s``.
"""
from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from itertools import chain
from pathlib import Path
from types import SimpleNamespace

import click

from ..exporter.core import CollectorSet, registered
from ..exporter.render import render
from ..exporter.server import MetricsServer, serve_until_interrupted
from ..exporter.webconfig import WebConfigError, load as load_web_config
from .collector import ErrorCounter, JobScanner
from .jobinfo import JobInfoCache, squeue_runner
from .metrics import PREFIX, metrics_doc
from .munge import DEFAULT_SOCKET as DEFAULT_MUNGE_SOCKET, DEFAULT_TIMEOUT_S as DEFAULT_MUNGE_TIMEOUT_S

log = logging.getLogger(__name__)
DEFAULT_LISTEN = ":9342"


class SingleFlight:
    """Concurrent callers share one call of ``fn``; its result is reused while younger than
    ``max_age_s`` so N scrapers cost one collection."""

    def __init__(self, fn: Callable[[], bytes], max_age_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.fn = fn
        self.max_age_s = max_age_s
        self.clock = clock
        self._lock = threading.Lock()
        self._last: tuple[float, bytes] | None = None

    def __call__(self) -> bytes:
        with self._lock:
            if self._last is not None and self.clock() - self._last[0] < self.max_age_s:
                return self._last[1]
            body = self.fn()
            self._last = (self.clock(), body)
            return body


class JobExporter:
    """The collectors of one node, the error counter they share, and the rendered page."""

    def __init__(self, cgroup_root: str = "/sys/fs/cgroup", *, steps: bool = False, gpu: bool = True,
                 node: str | None = None, lookup: JobInfoCache | None = None, nvml=None,
                 proc_root: str = "/proc", cache_s: float = 1.0, munge_socket: str | None = None,
                 munge_timeout_s: float = DEFAULT_MUNGE_TIMEOUT_S, munge_bin_dir: str | None = None):
        self.errors = ErrorCounter()
        self.scanner = JobScanner(cgroup_root, steps=steps, node=node, lookup=lookup,
                                  errors=self.errors, proc_root=proc_root)
        ctx = SimpleNamespace(scanner=self.scanner, errors=self.errors, nvml=nvml, proc_root=proc_root, gpu=gpu,
                              munge_socket=munge_socket, munge_timeout_s=munge_timeout_s,
                              munge_bin_dir=munge_bin_dir)
        made = (r.make(ctx) for r in registered("jobs").values())   # node/collector.py, gpu.py, munge.py
        self.collector_set = CollectorSet(PREFIX, [c for c in made if c is not None])
        self.render = SingleFlight(self._render, cache_s)

    def _render(self) -> bytes:
        # errors_total last: it then includes what this scrape's collectors counted.
        # The cyclic GC is paused for the scrape: ~25,000 short-lived sample tuples otherwise
        # trigger several full collections per scrape (the p90 doubled); nothing here makes cycles.
        was_enabled = gc.isenabled()
        gc.disable()
        self.scanner.invalidate()     # one fresh scan per scrape, shared by the job and GPU collectors
        try:
            return render(chain(self.collector_set.collect(), self.errors.collect()))
        finally:
            if was_enabled:
                gc.enable()


@click.command("jobs")
@click.option("--web.listen-address", "listen", default=DEFAULT_LISTEN, show_default=True,
              help="Address to listen on (host:port or :port).")
@click.option("--web.telemetry-path", "telemetry_path", default="/metrics", show_default=True)
@click.option("--web.config.file", "web_config", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="node_exporter-style web config: TLS and basic auth.")
@click.option("--cgroup.root", "cgroup_root", default="/sys/fs/cgroup", show_default=True,
              help="Where the cgroup filesystem is mounted.")
@click.option("--collector.steps/--no-collector.steps", "steps", default=False, show_default=True,
              help="One series per job step (adds a 'step' label) instead of per job.")
@click.option("--collector.gpu/--no-collector.gpu", "gpu", default=True, show_default=True,
              help="GPU metrics per job through NVML (off by itself when there is no NVML).")
# On by default: every node that runs Slurm with auth/munge (the default AuthType) has munged, and a
# dead munged takes the node out (NOT_RESPONDING) before anything else shows. A node on auth/slurm
# (Slurm 23.11+, no munged) passes --no-collector.munge.
@click.option("--collector.munge/--no-collector.munge", "munge", default=True, show_default=True,
              help="Is munged answering: one credential round trip (munge -n | unmunge) through its "
                   "socket per scrape.")
@click.option("--collector.munge.socket", "munge_socket", default=DEFAULT_MUNGE_SOCKET, show_default=True,
              help="munged's socket (slurm.conf AuthInfo socket=...).")
@click.option("--collector.munge.timeout", "munge_timeout_s", default=DEFAULT_MUNGE_TIMEOUT_S, show_default=True,
              type=click.FloatRange(min=0.1), help="Seconds the round trip may take before munged counts as down.")
@click.option("--collector.munge.bin-dir", "munge_bin_dir", default=None,
              help="Directory of the munge and unmunge programs (default: found on PATH), e.g. "
                   "/opt/munge/bin for a munge built from source.")
@click.option("--slurm.node", "node", default=None,
              help="multiple-slurmd hosts: only these nodes' cgroups, e.g. n[1-3],c1 "
                   "(default: every node on the host).")
@click.option("--slurm.squeue", "squeue", default="squeue", show_default=True,
              help="squeue used once per job for the account and partition labels.")
@click.option("--slurm.timeout", "timeout_s", default=5.0, show_default=True, type=float,
              help="Seconds before a squeue look-up is given up (labels stay empty, retried later).")
@click.option("--print-metrics-doc", is_flag=True, help="Print docs/metrics-jobs.md and exit.")
@click.option("--log.level", "log_level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def jobs(listen: str, telemetry_path: str, web_config: Path | None, cgroup_root: str, steps: bool,
         gpu: bool, munge: bool, munge_socket: str, munge_timeout_s: float, munge_bin_dir: str | None,
         node: str | None, squeue: str,
         timeout_s: float, print_metrics_doc: bool, log_level: str) -> None:
    """Per-node job exporter: CPU, memory, IO, pressure and GPU of each Slurm job on this node."""
    if print_metrics_doc:
        click.echo(metrics_doc(), nl=False)
        return
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        web = load_web_config(web_config)
    except WebConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    exporter = JobExporter(cgroup_root, steps=steps, gpu=gpu, node=node,
                           lookup=JobInfoCache(squeue_runner(squeue, timeout_s)),
                           munge_socket=munge_socket if munge else None, munge_timeout_s=munge_timeout_s,
                           munge_bin_dir=munge_bin_dir)
    try:
        server = MetricsServer(listen, exporter.render, telemetry_path=telemetry_path, web_config=web,
                               web_config_dir=web_config.parent if web_config else Path("."),
                               title="slurmops job exporter")
    except (OSError, ValueError, WebConfigError) as exc:
        raise click.ClickException(f"cannot listen on {listen}: {exc}") from exc
    log.info("job exporter on %s%s (cgroup root %s, munge %s, tls=%s)", listen, telemetry_path, cgroup_root,
             munge_socket if munge else "off", server.tls)
    serve_until_interrupted(server.serve_forever, server.stop)
