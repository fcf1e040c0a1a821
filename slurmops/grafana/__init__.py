"""Grafana dashboards from code: panel helpers for `dashboards/*.dashboard.py`, deterministic
build, lint, upload to Grafana's HTTP API and a static HTML preview from a real Prometheus."""
from .config import DEFAULT, Config
from .dashboard import build, cluster_var, node_var, partition_var, query_var
from .panels import (
                     TOP,
                     Q,
                     Row,
                     among,
                     bargauge,
                     bottom,
                     drill,
                     gauge,
                     heatmap,
                     iq,
                     node_state_code_expr,
                     node_state_mappings,
                     runbook_link,
                     stat,
                     state_timeline,
                     table,
                     timeseries,
                     top,
)

__all__ = ["DEFAULT", "TOP", "Config", "Q", "Row", "among", "bargauge", "bottom", "build", "cluster_var", "drill",
           "gauge",
           "heatmap", "iq", "node_state_code_expr", "node_state_mappings", "node_var",
           "partition_var", "query_var", "runbook_link", "stat", "state_timeline", "table",
           "timeseries", "top"]
