"""The collector runner both exporters use, their one set of self-metric names, and the registry
collectors join where they are defined.

A collector is a name and a ``collect()`` that returns client_python metric families built fresh
from data each time (so stale label sets vanish on their own). ``run_collector`` runs one, isolated
and timed, as node_exporter's ``execute()`` does: one that raises costs only its own families and
shows as ``<prefix>_collector_success{collector} 0`` beside ``<prefix>_collector_duration_seconds``
(prefix ``slurm_exporter`` or ``slurm_job_exporter``). The Slurm exporter runs its collectors in
poll threads (``poller.py``), the job exporter at scrape time (``CollectorSet``): same runner.

Collectors register themselves with ``@register(exporter, name, help)`` in their own module;
``registered(exporter)`` imports the modules of that exporter and returns them in registration
order.
"""
from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client.core import GaugeMetricFamily, Metric

from ..slurm.sources import SourceError

log = logging.getLogger(__name__)

#: The self-metrics of every collector, after the exporter's prefix (one set for both exporters).
SUCCESS = "_collector_success"
DURATION = "_collector_duration_seconds"
SUCCESS_HELP = "1 when the collector's last run succeeded, 0 when it failed."
DURATION_HELP = "How long the collector's last run took."


class Collector(Protocol):
    name: str

    def collect(self) -> Iterable[Metric]: ...


@dataclass
class CollectorResult:
    name: str
    success: bool
    duration_s: float
    families: list[Metric]
    error: str = ""
    internal: bool = False      # a bug (any exception but SourceError), not Slurm failing
    unsupported: bool = False   # this source/Slurm version cannot serve it: not a failure to alert on


def run_collector(name: str, collect: Callable[[], Iterable[Metric]]) -> CollectorResult:
    """Run one collector, timed and isolated: an exception fails only this collector."""
    t0 = time.perf_counter()
    try:
        families = list(collect())
        return CollectorResult(name, True, time.perf_counter() - t0, families)
    except SourceError as exc:   # Slurm did not answer as it should: expected, said in the metrics
        unsupported = exc.reason == "unsupported"
        if not unsupported:      # the caller says an unsupported collector once, not every poll
            log.warning("collector %s: %s", name, exc)
        return CollectorResult(name, False, time.perf_counter() - t0, [], str(exc),
                               unsupported=unsupported)
    except Exception as exc:  # a broken collector must not break the others or the scrape
        log.exception("collector %s failed", name)
        return CollectorResult(name, False, time.perf_counter() - t0, [], f"{type(exc).__name__}: {exc}",
                               internal=True)


def collector_self_metrics(prefix: str, results: Iterable[CollectorResult]) -> list[Metric]:
    duration = GaugeMetricFamily(prefix + DURATION, DURATION_HELP, labels=["collector"])
    success = GaugeMetricFamily(prefix + SUCCESS, SUCCESS_HELP, labels=["collector"])
    for r in results:
        duration.add_metric([r.name], r.duration_s)
        success.add_metric([r.name], 1.0 if r.success else 0.0)
    return [duration, success]


class CollectorSet:
    """Run every collector now (the scrape-time model the job exporter uses)."""

    def __init__(self, prefix: str, collectors: list[Collector]):
        self.prefix = prefix
        self.collectors = collectors

    def collect(self) -> Iterable[Metric]:
        results = [run_collector(c.name, c.collect) for c in self.collectors]
        for r in results:
            yield from r.families
        yield from collector_self_metrics(self.prefix, results)


# ---- registry -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Registered:
    exporter: str     # "slurm" | "jobs"
    name: str
    help: str
    make: Callable[..., Any]   # slurm: build(poller, data) -> families; jobs: factory(context) -> Collector


_REGISTRY: dict[str, dict[str, Registered]] = {}
_MODULES = {
    "slurm": ("slurmops.exporter.collectors.accounting", "slurmops.exporter.collectors.nodes",
              "slurmops.exporter.collectors.partitions", "slurmops.exporter.collectors.jobs",
              "slurmops.exporter.collectors.scheduler"),
    "jobs": ("slurmops.node.collector", "slurmops.node.gpu", "slurmops.node.munge"),
}


def register(exporter: str, name: str, help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: the function is collector ``name`` of ``exporter``."""
    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        table = _REGISTRY.setdefault(exporter, {})
        if name in table and table[name].make is not fn:
            raise ValueError(f"{exporter} collector {name} registered twice")
        table[name] = Registered(exporter, name, help, fn)
        return fn
    return add


def registered(exporter: str) -> dict[str, Registered]:
    """The collectors of an exporter: by module in ``_MODULES`` order (the Slurm exporter's
    ``poll_all`` polls nodes before partitions before jobs, which read the earlier data), then in
    the order each module defines them, whatever order the modules were imported in."""
    modules = _MODULES[exporter]
    for module in modules:
        importlib.import_module(module)
    table = _REGISTRY.get(exporter, {})
    order = sorted(enumerate(table.values()), key=lambda ir: (modules.index(ir[1].make.__module__), ir[0]))
    return {r.name: r for _, r in order}
