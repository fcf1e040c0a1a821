"""`slurmops dashboards build|check|upload|preview`."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from . import generate, lint


def _dirs(f):
    f = click.option("--source-dir", type=click.Path(path_type=Path, file_okay=False),
                     default=generate.SOURCE_DIR, show_default=True,
                     help="Where the *.dashboard.py sources are.")(f)
    f = click.option("--out-dir", type=click.Path(path_type=Path, file_okay=False),
                     default=generate.BUILD_DIR, show_default=True,
                     help="Where the generated JSON goes.")(f)
    return f


@click.group("dashboards")
def dashboards() -> None:
    """Grafana dashboards generated from dashboards/*.dashboard.py (grafanalib)."""


@dashboards.command("build")
@_dirs
def build_cmd(source_dir: Path, out_dir: Path) -> None:
    """Regenerate the JSON (deterministic: same sources, same bytes)."""
    built = generate.build_all(source_dir)
    problems = lint.lint({b.name: b.model for b in built})
    if problems:
        raise click.ClickException("lint failed:\n  " + "\n  ".join(problems))
    for path in generate.write(built, out_dir):
        click.echo(f"wrote {path}")


@dashboards.command("check")
@_dirs
@click.option("--promtool/--no-promtool", default=True, show_default=True,
              help="Also parse every expression with promtool (when installed).")
def check_cmd(source_dir: Path, out_dir: Path, promtool: bool) -> None:
    """Fail when the committed JSON differs from the sources, or a dashboard fails lint."""
    built = generate.build_all(source_dir)
    models = {b.name: b.model for b in built}
    problems = generate.differences(built, out_dir) + lint.lint(models)
    if promtool:
        from ..rules.promtool import PromtoolMissing
        try:
            problems += lint.promtool_check(models)
        except PromtoolMissing as exc:
            click.echo(f"{exc}: expressions not parsed", err=True)
    if problems:
        raise click.ClickException("\n  ".join(["dashboards are not in order:", *problems]))
    click.echo(f"{len(built)} dashboards in sync and clean")


@dashboards.command("upload")
@click.option("--out-dir", type=click.Path(path_type=Path, file_okay=False),
              default=generate.BUILD_DIR, show_default=True, help="Generated JSON to upload.")
@click.option("--grafana-url", envvar="GRAFANA_URL", required=True,
              help="Grafana base URL [env GRAFANA_URL].")
@click.option("--token-file", type=click.Path(path_type=Path, dir_okay=False),
              help="File holding the service-account token (else env GRAFANA_TOKEN).")
@click.option("--folder-uid", envvar="GRAFANA_FOLDER_UID", default=None,
              help="Folder to put the dashboards in [env GRAFANA_FOLDER_UID].")
@click.option("--overwrite/--no-overwrite", default=False, show_default=True,
              help="Replace a dashboard with the same uid changed in Grafana since.")
@click.option("--only", multiple=True, help="Upload only these (file stem, e.g. overview).")
def upload_cmd(out_dir: Path, grafana_url: str, token_file: Path | None, folder_uid: str | None,
               overwrite: bool, only: tuple[str, ...]) -> None:
    """POST each dashboard to Grafana's /api/dashboards/db."""
    from .upload import UploadError, upload
    token = token_file.read_text().strip() if token_file else os.environ.get("GRAFANA_TOKEN", "")
    if not token:
        raise click.ClickException("no token: set GRAFANA_TOKEN or pass --token-file")
    models = generate.load_built(out_dir)
    if only:
        unknown = set(only) - set(models)
        if unknown:
            raise click.ClickException(f"no such dashboards: {', '.join(sorted(unknown))}")
        models = {k: v for k, v in models.items() if k in only}
    failed = 0
    for name, model in models.items():
        try:
            r = upload(grafana_url, token, model, folder_uid=folder_uid, overwrite=overwrite)
            click.echo(f"{name}: {r.status or 'ok'} {r.url} (version {r.version})")
        except UploadError as e:
            click.echo(f"error: {e}", err=True)
            failed += 1
    if failed:
        sys.exit(1)


@dashboards.command("preview")
@click.option("--prometheus", "prom_url", envvar="SLURMOPS_PROMETHEUS_URL", required=True,
              help="Prometheus to read the last hour from [env SLURMOPS_PROMETHEUS_URL].")
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Directory for the HTML pages (one per dashboard, plus index.html).")
@click.option("--out-dir", type=click.Path(path_type=Path, file_okay=False),
              default=generate.BUILD_DIR, show_default=True, help="Generated JSON to preview.")
@click.option("--var", "vars_", multiple=True, metavar="NAME=VALUE",
              help="Set a dashboard variable (default: All, or the first value).")
@click.option("--only", multiple=True, help="Preview only these (file stem).")
def preview_cmd(prom_url: str, out: Path, out_dir: Path, vars_: tuple[str, ...],
                only: tuple[str, ...]) -> None:
    """Render static HTML previews with real data (no Grafana needed)."""
    from .preview import write_previews
    from .prom import PromError, Prometheus
    overrides = {}
    for item in vars_:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--var")
        overrides[name] = value
    models = generate.load_built(out_dir)
    if only:
        models = {k: v for k, v in models.items() if k in only}
    try:
        paths = write_previews(Prometheus(prom_url), models, out, overrides)
    except PromError as e:
        raise click.ClickException(str(e)) from e
    for p in paths:
        click.echo(f"wrote {p}")
    click.echo(f"open {out / 'index.html'}")


@dashboards.command("budget")
@click.option("--prometheus", "prom_url", envvar="SLURMOPS_PROMETHEUS_URL", required=True,
              help="Prometheus to run every query on [env SLURMOPS_PROMETHEUS_URL].")
@click.option("--out-dir", type=click.Path(path_type=Path, file_okay=False),
              default=generate.BUILD_DIR, show_default=True, help="Generated JSON to measure.")
@click.option("--var", "vars_", multiple=True, metavar="NAME=VALUE",
              help="Set a dashboard variable (default: the dashboard's own default, All included).")
@click.option("--max-series", type=int, default=None, help="Series budget per query (default 50).")
@click.option("--max-seconds", type=float, default=None, help="Time budget per query (default 2).")
@click.option("--window", type=float, default=6 * 3600, show_default=True,
              help="Range queries cover this many seconds up to now (Grafana's default 6h).")
@click.option("--worst", type=int, default=15, show_default=True, help="How many of the heaviest to list.")
def budget_cmd(prom_url: str, out_dir: Path, vars_: tuple[str, ...], max_series: int | None,
               max_seconds: float | None, window: float, worst: int) -> None:
    """Run every dashboard query as Grafana opens the dashboard; list the heaviest and fail on any
    over the series or time budget, or one series per node/job/user/GPU without topk/bottomk."""
    from . import budget
    from .prom import PromError, Prometheus
    overrides = dict(item.partition("=")[::2] for item in vars_)
    try:
        costs = budget.measure(Prometheus(prom_url, timeout=60), generate.load_built(out_dir), overrides,
                               window_s=window)
    except PromError as e:
        raise click.ClickException(str(e)) from e
    for line in budget.worst(costs, worst):
        click.echo(line)
    bad = budget.problems(costs, max_series or budget.MAX_SERIES, max_seconds or budget.MAX_SECONDS)
    click.echo(f"{len(costs)} queries, max {max(c.series for c in costs)} series, "
               f"max {max(c.seconds for c in costs):.3f} s")
    if bad:
        raise click.ClickException("over budget:\n  " + "\n  ".join(bad))
