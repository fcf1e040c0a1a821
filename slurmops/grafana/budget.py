"""The series and time budget of every dashboard query, measured on a real Prometheus.

A dashboard is opened with its variables at their defaults (All where the default is All, as
Grafana does) and every query runs as Grafana would run it: range queries over the dashboard's
time window, instant queries now. Each query is measured by the number of series it returns and
the time Prometheus takes to answer it.

Budget (bench/README.md has the 10,000-node figures):
- MAX_SERIES = 50 per query. A per-node/job/user/GPU panel draws its top 20 (panels.TOP); in a
  range query topk picks per step, so the set may change over the window: 50 leaves room for that
  churn while staying far from "one series per node" (10,000 at scale), and 50 lines is already
  the most a legend or a tooltip can show usefully.
- MAX_SECONDS = 2 per query. Grafana runs a dashboard's queries a few at a time; at 2 s each a
  30-panel dashboard is on screen in seconds, and Grafana's default data source timeout (30 s) is
  far away.
- A query whose series carry a high-cardinality label (node, job, user, GPU, host) must rank them
  (topk/bottomk): a small lab returns few series anyway, so the count alone would not catch it.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

from . import model as m
from .prom import PromError, Prometheus, resolve

MAX_SERIES = 50
MAX_SECONDS = 2.0
# Labels with one value per node, job, user, account, GPU or host: thousands at scale.
HIGH_CARDINALITY = ("node", "jobid", "user", "account", "gpu", "UUID", "uuid", "Hostname", "instance",
                    "host")
_RANKED = re.compile(r"\b(topk|bottomk|limitk)\s*\(")


@dataclass
class Cost:
    dashboard: str
    panel: str
    ref: str
    expr: str
    instant: bool
    series: int
    seconds: float
    high_labels: tuple[str, ...]    # high-cardinality labels whose value varies across the series
    error: str = ""

    @property
    def ranked(self) -> bool:
        return bool(_RANKED.search(self.expr))


def ranked(expr: str) -> bool:
    return bool(_RANKED.search(expr))


def varying_high_labels(series_labels: list[dict[str, str]]) -> tuple[str, ...]:
    """High-cardinality labels whose value differs between the returned series (a per-node query
    on a one-node lab varies nothing: then it is the count at scale that tells)."""
    return tuple(label for label in HIGH_CARDINALITY
                 if len({s[label] for s in series_labels if label in s}) > 1)


_OUTER_BY = re.compile(r"^[\s(]*(?:sum|max|min|avg|count|group|stddev|stdvar)\s+by\s*\(([^()]*)\)")


def per_label_query(expr: str) -> tuple[str, ...]:
    """High-cardinality labels the query's outermost aggregation keeps (`sum by (node) (...)`):
    what it returns one series per at scale, however few the lab has."""
    mo = _OUTER_BY.match(expr)
    kept = {g.strip() for g in mo.group(1).split(",")} if mo else set()
    return tuple(label for label in HIGH_CARDINALITY if label in kept)


def measure(prom: Prometheus, models: dict[str, dict], prefer: dict[str, str] | None = None,
            window_s: float = 6 * 3600, step_s: float = 30.0) -> list[Cost]:
    """Every query of every dashboard, with its variables as the dashboard opens."""
    costs: list[Cost] = []
    end = time.time()
    for name, d in sorted(models.items()):
        values, _ = resolve(prom, d, prefer or {}, all_by_default=True)
        for q in m.queries(d):
            expr = m.substitute(q.expr, values)
            t0 = time.perf_counter()
            try:
                res = prom.query(expr) if q.instant else prom.query_range(expr, end - window_s, end, step_s)
                err = ""
            except PromError as exc:
                res, err = [], str(exc)
            seconds = time.perf_counter() - t0
            costs.append(Cost(name, q.panel_title, q.ref, expr, q.instant, len(res), seconds,
                              varying_high_labels([s.labels for s in res]), err))
    return costs


def problems(costs: list[Cost], max_series: int = MAX_SERIES, max_seconds: float = MAX_SECONDS) -> list[str]:
    out = []
    for c in costs:
        where = f"{c.dashboard} / {c.panel} / {c.ref}"
        if c.error:
            out.append(f"{where}: {c.error}")
        if c.series > max_series:
            out.append(f"{where}: {c.series} series (budget {max_series})")
        if c.seconds > max_seconds:
            out.append(f"{where}: {c.seconds:.2f} s (budget {max_seconds:g} s)")
        unranked = set(c.high_labels) | set(per_label_query(c.expr))
        if unranked and not c.ranked:
            out.append(f"{where}: one series per {', '.join(sorted(unranked))} and no topk/bottomk")
    return out


def worst(costs: list[Cost], n: int = 15) -> list[str]:
    """The n heaviest queries (series, then time), as report lines."""
    ranked_costs = sorted(costs, key=lambda c: (c.series, c.seconds), reverse=True)[:n]
    lines = [f"{'series':>6} {'seconds':>8}  dashboard / panel / query"]
    lines += [f"{c.series:>6} {c.seconds:>8.3f}  {c.dashboard} / {c.panel} / {c.ref}" for c in ranked_costs]
    slowest = sorted(costs, key=lambda c: c.seconds, reverse=True)[:5]
    lines += ["slowest:"] + [f"{c.series:>6} {c.seconds:>8.3f}  {c.dashboard} / {c.panel} / {c.ref}"
                             for c in slowest]
    return lines
