"""Panel helpers: every dashboard builds its panels through these, so datasource, units, query
shape and links are the same everywhere.

grafanalib 0.7 emits modern JSON for `timeseries`, `stat` and `table`; its `BarGauge`, `GaugePanel`
and `Heatmap` still write the Grafana 6/7 layout (`options.fieldOptions`, the old heatmap) and its
`StateTimeline` has no unit, so those four go through `ModernPanel`, a small grafanalib `Panel`
that writes the current `fieldConfig`/`options` shape.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import attr
from grafanalib import core as g

from .config import DEFAULT, NODE_STATE_CODES

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# Label selectors shared by all panels, written into expressions as `@name`.
SELECTORS = {
    "c": 'cluster=~"$cluster"',
    "cp": 'cluster=~"$cluster", partition=~"$partition"',
    "cn": 'cluster=~"$cluster", node=~"$node"',
    # The job exporter has no cluster flag: its series carry `cluster` only when the scrape adds
    # it, so series without one are shown under every cluster (`|` matches the empty label).
    "jc": 'cluster=~"$cluster|"',
    "jcp": 'cluster=~"$cluster|", partition=~"$partition"',
    "job": ('cluster=~"$cluster|", partition=~"$partition", user=~"$user", account=~"$account", '
            'jobid=~"$jobid", instance=~"($host)([.:].*)?"'),
}
_SEL = re.compile(r"@([a-z]+)\b")


def promql(expr: str) -> str:
    """Expand `@c`, `@cp`, `@cn`, `@jc`, `@jcp`, `@job` into the shared label selectors."""
    def sub(m: re.Match) -> str:
        if m.group(1) not in SELECTORS:
            raise ValueError(f"unknown selector @{m.group(1)} in {expr!r}")
        return SELECTORS[m.group(1)]
    return _SEL.sub(sub, expr)


# ---- bounded panels -----------------------------------------------------------------------------
# A per-node / per-job / per-user / per-GPU panel shows its TOP biggest (or smallest) series, never
# one per node: at 10,000 nodes that is 10,000 series per panel, a browser that stalls and a legend
# nobody reads. In a range query topk picks per step, so a panel can show a few more than TOP over
# time; the budget (slurmops/grafana/budget.py, MAX_SERIES) leaves room for that.
TOP = 20


def top(expr: str, n: int = TOP) -> str:
    """The n largest series of expr (its biggest users, busiest nodes, ...)."""
    return f"topk({n}, {expr})"


def bottom(expr: str, n: int = TOP) -> str:
    """The n smallest series of expr (least efficient jobs, least free memory, ...)."""
    return f"bottomk({n}, {expr})"


def among(expr: str, rank_expr: str, on: str) -> str:
    """expr for only the series that rank_expr (a top()/bottom()) kept, joined on `on`: the other
    columns of a table keyed by its first query."""
    return f"({expr}) and on ({on}) {rank_expr}"


@dataclass(frozen=True)
class Q:
    """One PromQL query of a panel. `instant` for tables/stats of the current state."""
    expr: str
    legend: str = ""
    instant: bool = False
    fmt: str = "time_series"  # time_series | table | heatmap


@attr.s
class PromTarget(g.Target):
    """grafanalib's Target plus the fields Grafana 10 writes for Prometheus queries."""

    def to_json_data(self):
        d = super().to_json_data()
        d.pop("query", None)
        d.pop("target", None)
        d.pop("metric", None)
        d.pop("step", None)
        d["intervalFactor"] = 1
        d["editorMode"] = "code"
        d["range"] = not self.instant
        return d


def _targets(queries: tuple[Q, ...]) -> list[PromTarget]:
    if not queries:
        raise ValueError("a panel needs at least one query")
    return [PromTarget(expr=promql(q.expr), legendFormat=q.legend, refId=chr(ord("A") + i),
                       instant=q.instant, format=q.fmt, datasource=DATASOURCE)
            for i, q in enumerate(queries)]


def runbook_link(name: str) -> dict:
    return {"title": f"Runbook: {name}", "url": DEFAULT.runbook(name), "targetBlank": True}


def dashboard_url(name: str, **vars: str) -> str:
    """A drill-down URL to another slurmops dashboard, keeping data source and time range."""
    params = ["${datasource:queryparam}", "${__url_time_range}"]
    params += [f"var-{k}={v}" for k, v in vars.items()]
    return f"/d/{DEFAULT.uid(name)}/?" + "&".join(params)


def drill(title: str, name: str, **vars: str) -> dict:
    return {"title": title, "url": dashboard_url(name, **vars), "targetBlank": False}


def _threshold_json(steps) -> dict:
    steps = steps or [("green", None)]
    return {"mode": "absolute",
            "steps": [{"color": c, "value": v} for c, v in steps]}


@dataclass
class Spec:
    """What the layout needs besides the grafanalib panel: its size."""
    panel: g.Panel
    w: int
    h: int


@dataclass
class Row:
    title: str
    panels: list[Spec] = field(default_factory=list)


def _links(runbook: str | None, links) -> list[dict]:
    out = [runbook_link(runbook)] if runbook else []
    return out + list(links or [])


def _field_links(data_links) -> list[dict]:
    return [dict(link) for link in (data_links or [])]


# ---- modern panels grafanalib lacks or writes in an old shape -------------------------------

@attr.s
class ModernPanel(g.Panel):
    panel_type = attr.ib(default="bargauge")
    unit = attr.ib(default="")
    options: dict[str, Any] = attr.ib(factory=dict)
    custom: dict[str, Any] = attr.ib(factory=dict)
    min = attr.ib(default=None)
    max = attr.ib(default=None)
    decimals = attr.ib(default=None)
    mappings: list[Any] = attr.ib(factory=list)
    color = attr.ib(factory=lambda: {"mode": "thresholds"})
    field_links: list[Any] = attr.ib(factory=list)
    steps = attr.ib(default=None)

    def to_json_data(self):
        return self.panel_json({
            "fieldConfig": {
                "defaults": {
                    "unit": self.unit, "min": self.min, "max": self.max,
                    "decimals": self.decimals, "mappings": self.mappings, "color": self.color,
                    "custom": self.custom, "links": self.field_links,
                    "thresholds": _threshold_json(self.steps),
                },
                "overrides": [],
            },
            "options": self.options,
            "type": self.panel_type,
        })


# ---- the helpers dashboards call ------------------------------------------------------------

def timeseries(title: str, unit: str, *queries: Q, w: int = 12, h: int = 8, description: str = "",
               stack: bool = False, fill: int = 10, min: float | None = None,
               max: float | None = None, runbook: str | None = None, links=(),
               data_links=(), draw: str = "line", steps=None) -> Spec:
    p = g.TimeSeries(
        title=title, dataSource=DATASOURCE, targets=_targets(queries), unit=unit,
        description=description, fillOpacity=fill, drawStyle=draw,
        stacking={"mode": "normal", "group": "A"} if stack else {"mode": "none", "group": "A"},
        legendDisplayMode="table", legendPlacement="right", legendCalcs=["lastNotNull", "max"],
        tooltipMode="multi", tooltipSort="desc", links=_links(runbook, links),
        thresholdsStyleMode="line" if steps else "off",
        extraJson={"fieldConfig": {"defaults": {"min": min, "max": max,
                                                "thresholds": _threshold_json(steps),
                                                "links": _field_links(data_links)}}},
    )
    return Spec(p, w, h)


def stat(title: str, unit: str, *queries: Q, w: int = 4, h: int = 4, description: str = "",
         steps=None, runbook: str | None = None, links=(), graph: bool = True,
         decimals: int | None = None, mappings=(), text_mode: str = "auto") -> Spec:
    p = g.Stat(
        title=title, dataSource=DATASOURCE, targets=_targets(queries), format=unit,
        description=description, reduceCalc="lastNotNull", graphMode="area" if graph else "none",
        colorMode="value", decimals=decimals, mappings=list(mappings), noValue="0",
        textMode=text_mode, links=_links(runbook, links),
        extraJson={"fieldConfig": {"defaults": {"thresholds": _threshold_json(steps),
                                                "color": {"mode": "thresholds"}}}},
    )
    return Spec(p, w, h)


def gauge(title: str, unit: str, *queries: Q, w: int = 4, h: int = 6, description: str = "",
          min: float = 0, max: float = 1, steps=None, runbook: str | None = None) -> Spec:
    p = ModernPanel(
        title=title, dataSource=DATASOURCE, targets=_targets(queries), description=description,
        panel_type="gauge", unit=unit, min=min, max=max, links=_links(runbook, ()),
        steps=steps or [("green", None), ("orange", 0.8 * max), ("red", 0.95 * max)],
        options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                 "showThresholdMarkers": True, "showThresholdLabels": False,
                 "orientation": "auto"})
    return Spec(p, w, h)


def bargauge(title: str, unit: str, *queries: Q, w: int = 8, h: int = 8, description: str = "",
             min: float | None = 0, max: float | None = None, steps=None,
             runbook: str | None = None, data_links=()) -> Spec:
    p = ModernPanel(
        title=title, dataSource=DATASOURCE, targets=_targets(queries), description=description,
        panel_type="bargauge", unit=unit, min=min, max=max, links=_links(runbook, ()),
        steps=steps, field_links=_field_links(data_links),
        options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                 "orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
                 "valueMode": "color", "namePlacement": "auto", "sizing": "auto",
                 "minVizHeight": 16, "minVizWidth": 8, "maxVizHeight": 300})
    return Spec(p, w, h)


def heatmap(title: str, unit: str, query: Q, w: int = 12, h: int = 8,
            description: str = "") -> Spec:
    p = ModernPanel(
        title=title, dataSource=DATASOURCE, targets=_targets((query,)), description=description,
        panel_type="heatmap", unit=unit, color={"mode": "thresholds"},
        custom={"hideFrom": {"legend": False, "tooltip": False, "viz": False},
                "scaleDistribution": {"type": "linear"}},
        options={"calculate": False, "cellGap": 1, "yAxis": {"axisPlacement": "left",
                                                            "unit": unit, "reverse": False},
                 "rowsFrame": {"layout": "auto"},
                 "color": {"mode": "scheme", "scheme": "Oranges", "scale": "exponential",
                           "exponent": 0.5, "fill": "dark-orange", "steps": 64,
                           "reverse": False},
                 "cellValues": {"unit": "short"}, "legend": {"show": True},
                 "tooltip": {"mode": "single", "yHistogram": False},
                 "exemplars": {"color": "rgba(255,0,255,0.7)"},
                 "filterValues": {"le": 1e-9}, "showValue": "never"})
    return Spec(p, w, h)


def state_timeline(title: str, unit: str, *queries: Q, w: int = 24, h: int = 8,
                   description: str = "", mappings=(), links=(), runbook: str | None = None,
                   data_links=()) -> Spec:
    p = ModernPanel(
        title=title, dataSource=DATASOURCE, targets=_targets(queries), description=description,
        panel_type="state-timeline", unit=unit, mappings=list(mappings),
        color={"mode": "thresholds"}, links=_links(runbook, links),
        field_links=_field_links(data_links),
        custom={"fillOpacity": 80, "lineWidth": 0, "spanNulls": False,
                "hideFrom": {"legend": False, "tooltip": False, "viz": False}},
        options={"mergeValues": True, "showValue": "auto", "alignValue": "left",
                 "rowHeight": 0.9, "legend": {"displayMode": "list", "placement": "bottom",
                                              "showLegend": True},
                 "tooltip": {"mode": "single", "sort": "none"}})
    return Spec(p, w, h)


def table(title: str, unit: str, *queries: Q, w: int = 12, h: int = 8, description: str = "",
          hide: tuple[str, ...] = ("Time", "__name__", "job", "instance", "cluster"),
          rename: dict[str, str] | None = None, data_links=(), runbook: str | None = None,
          sort_by: str | None = None, overrides=(), mappings=(), steps=None) -> Spec:
    """A table of instant queries: each query's value becomes a column, labels become columns.
    `mappings` (value -> text/colour) and `steps` (thresholds, coloured cells) apply to every value."""
    transformations = []
    if len(queries) > 1:
        transformations.append({"id": "merge", "options": {}})
    transformations.append({"id": "organize", "options": {
        "excludeByName": {name: True for name in hide},
        "renameByName": dict(rename or {}), "indexByName": {}}})
    field_overrides = list(overrides)
    if steps or mappings:    # on the value columns only: label columns stay plain text
        props = [{"id": "custom.cellOptions", "value": {"type": "color-text"}}]
        props += [{"id": "mappings", "value": list(mappings)}] if mappings else []
        props += [{"id": "thresholds", "value": _threshold_json(steps)}] if steps else []
        field_overrides.insert(0, {"matcher": {"id": "byType", "options": "number"}, "properties": props})
    p = g.Table(
        title=title, dataSource=DATASOURCE, targets=_targets(queries), unit=unit,
        description=description, transformations=transformations, filterable=True,
        links=_links(runbook, ()), overrides=field_overrides,
        sortBy=[g.TableSortByField(displayName=sort_by, desc=True)] if sort_by else [],
        extraJson={"fieldConfig": {"defaults": {"links": _field_links(data_links),
                                                "thresholds": _threshold_json(None)}}},
    )
    return Spec(p, w, h)


def iq(expr: str, legend: str = "") -> Q:
    """An instant query formatted as a table (one row per series)."""
    return Q(expr, legend, instant=True, fmt="table")


# ---- node states -----------------------------------------------------------------------------

def node_state_code_expr(node_selector: str = "@cn") -> str:
    """One series per node whose value is its base state's code (NODE_STATE_CODES)."""
    parts = [f'max by (node) (slurm_node_state{{{node_selector}, state="{s}"}}) * {code}'
             for s, (code, _) in NODE_STATE_CODES.items()]
    return "\n or ".join(parts)


def node_state_mappings() -> list[dict]:
    return [{"type": "value", "options": {
        str(code): {"text": state, "color": color, "index": i}
        for i, (state, (code, color)) in enumerate(NODE_STATE_CODES.items())}}]
