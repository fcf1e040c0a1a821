"""Collectors, rendering and self-metrics.

A collector is any object with a ``name`` and a ``collect()`` that yields client_python metric
families (GaugeMetricFamily, CounterMetricFamily, ...), built fresh from data each time so stale
label sets vanish on their own. ``CollectorSet`` runs a list of them, each isolated: one that raises
costs only its own metrics and shows as ``<prefix>_scrape_collector_success{collector} 0``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Iterable, Protocol

from prometheus_client.core import GaugeMetricFamily, Metric

from .render import render as _fast_render

log = logging.getLogger(__name__)


class Collector(Protocol):
    name: str

    def collect(self) -> Iterable[Metric]: ...


def render(families: Iterable[Metric]) -> bytes:
    """Prometheus text exposition (format 0.0.4) of the given families."""
    return _fast_render(families)


@dataclass
class CollectorResult:
    name: str
    success: bool
    duration_s: float
    families: list[Metric]
    error: str = ""


def run_collector(c: Collector) -> CollectorResult:
    t0 = time.perf_counter()
    try:
        families = list(c.collect())
        return CollectorResult(c.name, True, time.perf_counter() - t0, families)
    except Exception as exc:  # a broken collector must not break the scrape
        log.warning("collector %s failed: %s", c.name, exc, exc_info=log.isEnabledFor(logging.DEBUG))
        return CollectorResult(c.name, False, time.perf_counter() - t0, [], f"{type(exc).__name__}: {exc}")


def collector_self_metrics(prefix: str, results: Iterable[CollectorResult]) -> list[Metric]:
    duration = GaugeMetricFamily(f"{prefix}_scrape_collector_duration_seconds",
                                 "How long each collector took.", labels=["collector"])
    success = GaugeMetricFamily(f"{prefix}_scrape_collector_success",
                                "Whether each collector succeeded (1) or failed (0).", labels=["collector"])
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
        results = [run_collector(c) for c in self.collectors]
        for r in results:
            yield from r.families
        yield from collector_self_metrics(self.prefix, results)

    def render(self) -> bytes:
        return render(self.collect())
