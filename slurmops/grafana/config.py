"""One config object that every dashboard reads (the monitoring-mixin habit): job selectors, the
node_exporter join, the runbook location and the shape of the generated JSON.

A site changes a selector here (or in its own copy passed to the dashboards) instead of editing
panels one by one.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    # Grafana JSON model: dashboards are written for Grafana 10.4+ (schemaVersion 39).
    schema_version: int = 39
    uid_prefix: str = "slurmops"
    tags: tuple[str, ...] = ("slurmops", "slurm")
    refresh: str = "30s"
    time_from: str = "now-6h"
    # Scrape jobs. Every series is expected to carry `cluster` (the Slurm exporter adds it; the
    # scrape config adds it for node_exporter, the job exporter and DCGM).
    slurm_job: str = "slurm"
    job_exporter_job: str = "slurm_job"
    node_exporter_job: str = "node"
    # node_exporter -> Slurm node name: the host part of `instance` (`n1:9100` -> `n1`,
    # `n1.example.org:9100` -> `n1`). Sites that relabel differently change this regex.
    node_exporter_node_regex: str = "([^:.]+).*"
    # DCGM exporter (dcgm-exporter): GPU series carry `UUID`, which the job exporter's `uuid` joins.
    dcgm_util_metric: str = "DCGM_FI_DEV_GPU_UTIL"
    # Runbook links: the one base URL alerts use too (slurmops/runbook/links.py); a site copy may
    # pin its own base here. None: SLURMOPS_RUNBOOK_BASE_URL, else alerts/thresholds.yml, else the
    # repository path of the rendered pages.
    runbook_base_url: str | None = None

    def uid(self, name: str) -> str:
        return f"{self.uid_prefix}-{name}"

    def runbook(self, name: str) -> str:
        from slurmops.runbook import links
        return links.runbook_url(name, self.runbook_base_url or links.configured_base())


DEFAULT = Config()

# Slurm base node states as the exporter names them, with a stable code for state timelines.
NODE_STATE_CODES: dict[str, tuple[int, str]] = {
    "idle": (1, "green"),
    "mixed": (2, "blue"),
    "allocated": (3, "purple"),
    "completing": (4, "light-blue"),
    "down": (5, "red"),
    "error": (6, "dark-red"),
    "fail": (7, "orange"),
    "future": (8, "gray"),
    "unknown": (9, "yellow"),
}
