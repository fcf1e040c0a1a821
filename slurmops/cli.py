"""The `slurmops` command: a click group; each area (lab, exporter, alerts, dashboards, runbook)
adds its own sub-group here."""
from __future__ import annotations

import click

from . import __version__
from .demo import demo
from .lab.cli import lab


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="slurmops")
def cli() -> None:
    """Observability and operations toolkit for Slurm clusters."""


cli.add_command(lab)
cli.add_command(demo)


@cli.group()
def exporter() -> None:
    """Prometheus exporters: `slurm` (one per cluster) and `jobs` (one per compute node)."""


def _add_exporters() -> None:
    from .exporter.slurm_exporter import slurm_command
    from .node.exporter import jobs
    exporter.add_command(slurm_command)
    exporter.add_command(jobs)


_add_exporters()


def _add_content_tools() -> None:
    """Alerts, dashboards and runbooks: each area owns its click group."""
    from .grafana.cli import dashboards
    from .jobstats.cli import jobstats
    from .rules.cli import alerts
    from .runbook.cli import runbook, runbooks
    for group in (alerts, dashboards, jobstats, runbook, runbooks):
        cli.add_command(group)


_add_content_tools()


def main() -> None:
    cli()
