"""`slurmops alerts ...`: build the rule files from thresholds, check and test them with promtool,
lint the conventions, report test coverage. Each command exits non-zero on any problem (CI)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import build as build_mod, default_dir, promtool, promtool_test_files, rule_files
from .coverage import report as coverage_report
from .lint import lint as lint_rules

dir_option = click.option("--alerts-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                          help="Where thresholds.yml, src/, the rule files and tests/ live "
                               "(default: $SLURMOPS_ALERTS_DIR or the repository's alerts/).")


def _dir(d: Path | None) -> Path:
    d = d or default_dir()
    if not (d / "thresholds.yml").is_file():
        click.echo(f"error: {d} has no thresholds.yml (--alerts-dir)", err=True)
        sys.exit(2)
    return d


def _promtool(fn, files):
    try:
        return fn(files)
    except promtool.PromtoolMissing as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@click.group()
def alerts() -> None:
    """Prometheus alert and recording rules in alerts/: build, check, test, lint, coverage."""


@alerts.command()
@dir_option
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 if the committed files drift.")
@click.option("--thresholds", "site", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="A site file merged over alerts/thresholds.yml (only the keys it changes).")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              help="Write the rule files here instead of alerts/ (a site copy, or a test profile).")
@click.option("--for", "for_all", metavar="DURATION",
              help="Give every alert this `for` (a test profile, e.g. 10s for the lab); needs --out.")
def build(alerts_dir: Path | None, check_only: bool, site: Path | None, out: Path | None,
          for_all: str | None) -> None:
    """Render alerts/src/*.rules.yml.j2 with the thresholds into rule files."""
    d = _dir(alerts_dir)
    try:
        if check_only:
            drift = build_mod.check(d)
            for x in drift:
                click.echo(f"{x.name}: {x.problem} (run `slurmops alerts build`)")
            sys.exit(1 if drift else 0)
        if (site or for_all) and out is None:
            click.echo("error: --thresholds and --for write a variant: give --out "
                       "(alerts/*.rules.yml always carry the defaults the tests pin)", err=True)
            sys.exit(2)
        written = build_mod.write(d, out or d, build_mod.load_thresholds(d, site, for_all))
    except build_mod.BuildError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for path in written:
        click.echo(str(path))


@alerts.command()
@dir_option
def check(alerts_dir: Path | None) -> None:
    """promtool check rules on every alerts/*.rules.yml."""
    d = _dir(alerts_dir)
    r = _promtool(promtool.check_rules, rule_files(d))
    click.echo(r.output)
    sys.exit(0 if r.ok else 1)


@alerts.command("test")
@dir_option
def test_cmd(alerts_dir: Path | None) -> None:
    """promtool test rules on every alerts/tests/*.test.yml."""
    d = _dir(alerts_dir)
    files = promtool_test_files(d)
    if not files:
        click.echo(f"error: no test files in {d / 'tests'}", err=True)
        sys.exit(1)
    r = _promtool(promtool.test_rules, files)
    click.echo(r.output)
    sys.exit(0 if r.ok else 1)


@alerts.command()
@dir_option
@click.option("--runbooks-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Runbook definitions and docs/ (default: runbooks/ beside alerts/).")
def lint(alerts_dir: Path | None, runbooks_dir: Path | None) -> None:
    """Conventions: severity, summary, templated description, runbook_url to an existing runbook,
    `for` (2x scrape interval for absent-style), CamelCase names <= 40, <= 20 rules per group,
    level:metric:operations recording names, no drift from alerts/src + thresholds.yml."""
    d = _dir(alerts_dir)
    problems = lint_rules(d, runbooks_dir)
    for p in problems:
        click.echo(str(p))
    n = sum(1 for _ in rule_files(d))
    click.echo(f"{len(problems)} problem(s) in {n} rule file(s)")
    sys.exit(1 if problems else 0)


@alerts.command()
@dir_option
def coverage(alerts_dir: Path | None) -> None:
    """Every alert has a promtool test where it fires (exact labels and annotations) and one where
    it stays silent."""
    d = _dir(alerts_dir)
    lines, failures = coverage_report(d)
    for line in lines:
        click.echo(line)
    for f in failures:
        click.echo(f"error: {f}", err=True)
    sys.exit(1 if failures else 0)
