"""The `slurmops` command: a click group; each area (lab, exporter, alerts, dashboards, jobstats,
runbook) adds its own sub-group here. Sub-groups are imported when they are called, not at start:
`slurmops jobstats` (run by EpilogSlurmctld at every job end) should not pay for grafanalib and the
runbook engine (~0.4 CPU-s of imports on the lab machine)."""
from __future__ import annotations

import importlib

import click

from . import __version__


class LazyGroup(click.Group):
    """A click group whose sub-commands ("name" -> "module:attribute") are imported on first use."""

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx, name):
        cmd = super().get_command(ctx, name)
        if cmd is None and name in self.lazy:
            module, attr = self.lazy[name].split(":")
            cmd = getattr(importlib.import_module(module), attr)
        return cmd


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}, lazy={
    "lab": "slurmops.lab.cli:lab",
    "demo": "slurmops.demo:demo",
    "alerts": "slurmops.rules.cli:alerts",
    "dashboards": "slurmops.grafana.cli:dashboards",
    "jobstats": "slurmops.jobstats.cli:jobstats",
    "runbook": "slurmops.runbook.cli:runbook",
    "runbooks": "slurmops.runbook.cli:runbooks",
})
@click.version_option(__version__, prog_name="slurmops")
def cli() -> None:
    """Observability and operations toolkit for Slurm clusters."""


@cli.group(cls=LazyGroup, lazy={"slurm": "slurmops.exporter.slurm_exporter:slurm_command",
                                "jobs": "slurmops.node.exporter:jobs"})
def exporter() -> None:
    """Prometheus exporters: `slurm` (one per cluster) and `jobs` (one per compute node)."""


def main() -> None:
    cli()
