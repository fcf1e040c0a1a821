"""Dashboard assembly: variables, layout (rows of panels flowed into the 24-column grid), stable
panel ids, the explicit schemaVersion, and links between the slurmops dashboards."""
from __future__ import annotations

import attr
from grafanalib import core as g

from .config import DEFAULT, Config
from .panels import DATASOURCE, Row, Spec, promql

GRID_WIDTH = 24


# ---- template variables ----------------------------------------------------------------------

def datasource_var() -> g.Template:
    return g.Template(name="datasource", label="Data source", query="prometheus",
                      type="datasource", default="Prometheus", refresh=1, hide=0)


def query_var(name: str, query: str, label: str, *, multi: bool = False,
              include_all: bool = False, regex: str = "") -> g.Template:
    """A query variable over `label_values(<selector>, <label>)`; `@c` etc. expand as in panels."""
    t = g.Template(name=name, label=label, query=promql(query), dataSource=DATASOURCE,
                   multi=multi, includeAll=include_all, allValue=".*" if include_all else None,
                   refresh=2, sort=1, regex=regex or None,
                   default="All" if include_all else None)
    if include_all:
        t._current = {"selected": True, "text": ["All"], "value": ["$__all"]}
    return t


def cluster_var() -> g.Template:
    return query_var("cluster", "label_values(slurm_up, cluster)", "Cluster")


def partition_var() -> g.Template:
    return query_var("partition", "label_values(slurm_partition_info{@c}, partition)",
                     "Partition", multi=True, include_all=True)


def node_var() -> g.Template:
    return query_var("node", "label_values(slurm_node_partition_info{@cp}, node)", "Node",
                     multi=True, include_all=True)


# ---- assembly --------------------------------------------------------------------------------

def _layout(rows: list[Row]) -> list[g.Panel]:
    """Flow panels left to right, wrapping at 24 columns; each row starts on a new line."""
    out: list[g.Panel] = []
    y = 0
    for row in rows:
        out.append(g.RowPanel(title=row.title, collapsed=False,
                              gridPos=g.GridPos(h=1, w=GRID_WIDTH, x=0, y=y)))
        y += 1
        x, line_h = 0, 0
        for spec in row.panels:
            if x + spec.w > GRID_WIDTH:
                x, y, line_h = 0, y + line_h, 0
            out.append(attr.evolve(spec.panel, gridPos=g.GridPos(h=spec.h, w=spec.w, x=x, y=y)))
            x += spec.w
            line_h = max(line_h, spec.h)
        y += line_h
    return out


def build(name: str, title: str, rows: list[Row], *, description: str,
          variables: list[g.Template], cfg: Config = DEFAULT, links=()) -> g.Dashboard:
    panels = _layout(rows)
    # Ids in layout order, from 1: the same source always gives the same ids.
    panels = [attr.evolve(p, id=i) for i, p in enumerate(panels, start=1)]
    dash_links = [g.DashboardLink(title="slurmops", tags=["slurmops"], asDropdown=True,
                                  includeVars=True, keepTime=True, type="dashboards")]
    dash_links += [g.DashboardLink(title=t, type="link", uri=u, icon="doc", targetBlank=True)
                   for t, u in links]
    return g.Dashboard(
        title=title, uid=cfg.uid(name), description=description, tags=list(cfg.tags),
        schemaVersion=cfg.schema_version, refresh=cfg.refresh, editable=True,
        time=g.Time(cfg.time_from, "now"), timezone="browser", graphTooltip=1,
        templating=g.Templating([datasource_var(), *variables]),
        links=dash_links, panels=panels,
    )


def rows(*items: Row) -> list[Row]:
    return list(items)


__all__ = ["Row", "Spec", "build", "cluster_var", "datasource_var", "node_var", "partition_var",
           "query_var", "rows"]
