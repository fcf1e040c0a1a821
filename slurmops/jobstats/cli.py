"""`slurmops jobstats`: JOBID → one job's report; --user/--account → many jobs; `store JOBID` (run
by EpilogSlurmctld); `weekly --account A` → HTML. Errors: one `error:` line and the exit code of
service.py, never a traceback."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from . import prom as promq
from .config import ConfigError, load


class _Jobstats(click.Group):
    """`jobstats JOBID` and `jobstats --user U` go to the default `report` command; `store` and
    `weekly` are sub-commands."""

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["report", *args]
        return super().parse_args(ctx, args)


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _setup(config: str | None, prometheus: str | None):
    try:
        cfg = load(config)
    except ConfigError as exc:
        _fail(str(exc), 2)
    url = prometheus or cfg.prometheus_url
    return cfg, (promq.PromClient(url) if url else None)


_common = [
    click.option("--cluster", "-M", default=None, help="The cluster the job ran on (sacct -M)."),
    click.option("--config", type=click.Path(dir_okay=False), default=None,
                 help="Settings and note thresholds (default /etc/slurmops/jobstats.yml, else the "
                      "packaged jobstats.yml)."),
    click.option("--prometheus", default=None, metavar="URL",
                 help="Prometheus base URL (default: config prometheus_url, else $PROMETHEUS_URL)."),
]


def common(f):
    for opt in reversed(_common):
        f = opt(f)
    return f


@click.group(cls=_Jobstats, context_settings={"help_option_names": ["-h", "--help"]})
def jobstats() -> None:
    """Job efficiency reports (after Princeton's jobstats).

    \b
    slurmops jobstats JOBID [--json] [--no-color]        one job (123, or 123_4 for an array task)
    slurmops jobstats --user U|--account A --since 7d    many jobs, worst first, with totals
    slurmops jobstats store JOBID                        save the summary in AdminComment (job end)
    slurmops jobstats weekly --account A -o report.html  the weekly HTML report of an account
    """


@jobstats.command("report")
@click.argument("jobid", required=False)
@common
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@click.option("--no-color", is_flag=True, help="No ANSI colours (default: colours on a terminal).")
@click.option("--user", "-u", default=None, help="Bulk mode: this user's jobs.")
@click.option("--account", "-A", default=None, help="Bulk mode: this account's jobs.")
@click.option("--since", default="7d", show_default=True, help="Bulk mode: jobs since (7d, 12h, 2026-11-01).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="Bulk mode output.")
@click.option("--no-stored", is_flag=True, help="Ignore the stored summary; ask Prometheus.")
def report_cmd(jobid, cluster, config, prometheus, as_json, no_color, user, account, since, fmt,
               no_stored):
    """One job's report, or (with --user/--account) many jobs'."""
    from . import report as rp
    from .service import JobstatsError, find_job, summary_for
    cfg, client = _setup(config, prometheus)
    if user or account:
        if jobid:
            _fail("give a JOBID or --user/--account, not both", 2)
        from .bulk import run_bulk
        try:
            run_bulk(user, account, since, cluster, cfg, client, fmt, sys.stdout)
        except JobstatsError as exc:
            _fail(str(exc), exc.code)
        return
    if not jobid:
        _fail("give a JOBID (or --user/--account for many jobs); see --help", 2)
    try:
        rec = find_job(jobid, cluster)
        summary, source, warnings = summary_for(rec, cfg, client, use_stored=not no_stored)
    except JobstatsError as exc:
        _fail(str(exc), exc.code)
    r = rp.build(rec, summary, source, cfg.thresholds, cfg.grafana_url, warnings)
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    if as_json:
        click.echo(json.dumps(rp.to_json(r), indent=2, sort_keys=True))
    else:
        color = not no_color and sys.stdout.isatty()
        click.echo(rp.render_text(r, color=color), nl=False)


@jobstats.command("store")
@click.argument("jobid", required=False)
@common
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help="Where the counter file goes (default: config state_dir).")
@click.option("--wait", "wait_s", type=float, default=10, show_default=True,
              help="Seconds to wait for the job's end record to reach sacct.")
def store_cmd(jobid, cluster, config, prometheus, state_dir, wait_s):
    """Store JOBID's usage summary in its AdminComment (run by EpilogSlurmctld; JOBID defaults to
    $SLURM_JOB_ID). Never fails the job: a log line and a counter say when it could not."""
    import os

    from .store import store
    jobid = jobid or os.environ.get("SLURM_JOB_ID")
    if not jobid:
        _fail("give a JOBID (EpilogSlurmctld sets SLURM_JOB_ID)", 2)
    cfg, client = _setup(config, prometheus)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s slurmops-jobstats-store %(message)s",
                        stream=sys.stderr)
    sys.exit(store(jobid, cluster, cfg, client, Path(state_dir or cfg.state_dir), wait_s))


@jobstats.command("weekly")
@common
@click.option("--account", "-A", required=True, help="The account to report on.")
@click.option("--since", default="7d", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="HTML file to write.")
def weekly_cmd(cluster, config, prometheus, account, since, output):
    """The weekly HTML report of one account (its users, its worst jobs, small SVG charts)."""
    from .bulk import collect_bulk
    from .service import JobstatsError
    from .weekly import render_weekly
    cfg, client = _setup(config, prometheus)
    try:
        rows, stats = collect_bulk(None, account, since, cluster, cfg, client)
    except JobstatsError as exc:
        _fail(str(exc), exc.code)
    Path(output).write_text(render_weekly(account, since, rows, stats))
    click.echo(f"wrote {output}: {len(rows)} jobs")
