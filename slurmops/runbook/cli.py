"""`slurmops runbook list|show|plan|run|resume|log` and `slurmops runbooks render`.

Exit codes: 0 succeeded, 1 failed and rolled back (or declined; for `plan`: a required
pre-check fails now), 2 bad usage/parameters,
3 rollback failed (a person must look), 4 refused (destructive without --yes and no terminal),
5 another run of this runbook on this target holds the lock.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..exporter.server import serve_until_interrupted
from . import engine, loader
from .audit import LockBusy, read_records
from .health import parse_forced
from .model import RunbookError
from .target import make_target, parse_sets

DEFAULT_STATE = Path("/var/lib/slurmops/runbooks")


def _fail(msg: str, code: int = engine.EXIT_USAGE):
    click.echo(f"error: {msg}", err=True)
    sys.exit(code)


runbooks_dir_opt = click.option(
    "--runbooks-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
    help="Where runbook definitions live (default: $SLURMOPS_RUNBOOKS_DIR or the repo's runbooks/).")
state_opt = click.option(
    "--state-dir", type=click.Path(path_type=Path, file_okay=False), envvar="SLURMOPS_RUNBOOK_STATE",
    default=DEFAULT_STATE, show_default=True, help="Audit logs, evidence and locks.")


force_opt = click.option(
    "--force-unhealthy", "forced", multiple=True, metavar="CHECK",
    help="Go past this failed required health check (munge, slurmctld, slurmdbd, nodes, "
         "slurmrestd, test_job; repeatable). Recorded in the audit log.")


fanout_opt = click.option(
    "--fanout", type=click.IntRange(1, 1024), default=engine.DEFAULT_FANOUT, show_default=True,
    help="Hosts a parallel fleet phase acts on at once (1: one after another).")
resume_fanout_opt = click.option(
    "--fanout", type=click.IntRange(1, 1024), default=None,
    help="Hosts a parallel fleet phase acts on at once  [default: the run's own --fanout]")


def target_opts(f):
    f = click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
                     help="Override a target value (munge_key=..., unit_slurmctld=...).")(f)
    f = click.option("--ssh", default=None, metavar="[USER@]HOST",
                     help="Run the commands on HOST with ssh (systemd targets).")(f)
    f = click.option("--target", "target_spec", required=True, envvar="SLURMOPS_RUNBOOK_TARGET",
                     metavar="lab:DIR|systemd", help="What to act on.")(f)
    f = click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
                     help="A runbook parameter (repeatable).")(f)
    return f


def _context(name, runbooks_dir, target_spec, ssh, sets, params, forced=(), out=None):
    try:
        forced = parse_forced(forced)
        rb = loader.get(name, runbooks_dir)
        target = make_target(target_spec, ssh, parse_sets(sets))
        if target.kind not in rb.targets:
            raise RunbookError(f"runbook {rb.name} does not support {target.kind} targets")
        raw = {}
        for item in params:
            key, sep, value = item.partition("=")
            if not sep:
                raise RunbookError(f"-p {item!r}: expected NAME=VALUE")
            raw[key] = value
        ctx = engine.build_context(rb, target, raw, out=out or sys.stdout)
        ctx.force_unhealthy = forced
        return ctx
    except RunbookError as exc:
        _fail(str(exc))


@click.group()
def runbook() -> None:
    """Executable runbooks: plan, check, act, verify, roll back, audit, resume."""


@runbook.command("list")
@runbooks_dir_opt
def list_cmd(runbooks_dir):
    """Every runbook with its title."""
    try:
        books = loader.load_all(runbooks_dir)
    except RunbookError as exc:
        _fail(str(exc))
    for name, rb in sorted(books.items()):
        flag = "!" if rb.destructive_steps else " "
        click.echo(f"{name:28} {flag} {len(rb.steps):2} steps  {rb.title}")


@runbook.command()
@runbooks_dir_opt
@click.argument("name")
def show(runbooks_dir, name):
    """The runbook's page: purpose, parameters, steps with checks and rollbacks."""
    from .render import render_page
    try:
        click.echo(render_page(loader.get(name, runbooks_dir)))
    except RunbookError as exc:
        _fail(str(exc))


@runbook.command()
@runbooks_dir_opt
@target_opts
@force_opt
@fanout_opt
@click.argument("name")
def plan(runbooks_dir, target_spec, ssh, sets, params, forced, fanout, name):
    """Dry run: read the real state and print exactly what would run. Changes nothing, submits
    no job. Exit 1 when a required pre-check fails now."""
    ctx = _context(name, runbooks_dir, target_spec, ssh, sets, params, forced)
    ctx.fanout = fanout
    try:
        ok = engine.plan(ctx)
    except RunbookError as exc:
        _fail(str(exc))
    sys.exit(engine.EXIT_OK if ok else engine.EXIT_ROLLED_BACK)


@runbook.command()
@runbooks_dir_opt
@target_opts
@state_opt
@force_opt
@fanout_opt
@click.option("--yes", is_flag=True, help="Confirm destructive steps (automation).")
@click.argument("name")
def run(runbooks_dir, target_spec, ssh, sets, params, state_dir, forced, fanout, yes, name):
    """Run the runbook; on failure roll back what it did. Every command goes to the audit log."""
    ctx = _context(name, runbooks_dir, target_spec, ssh, sets, params, forced)
    ctx.assume_yes, ctx.fanout = yes, fanout
    _finish(lambda: engine.Runner(ctx, state_dir).run())


def _finish(start_run) -> None:
    """Run or resume, then exit with the run's code; refusals, locks and errors get theirs."""
    try:
        report = start_run()
    except engine.Refused as exc:
        _fail(str(exc), engine.EXIT_REFUSED)
    except LockBusy as exc:
        _fail(str(exc), engine.EXIT_LOCKED)
    except RunbookError as exc:
        _fail(str(exc))
    sys.exit(report.exit_code)


def _find_run(state_dir: Path, run_id: str) -> Path:
    path = engine.Runner.run_dir_for(state_dir, run_id) / "audit.jsonl"
    if not path.is_file():
        _fail(f"no run {run_id!r} in {state_dir} (see `slurmops runbook log`)")
    return path


@runbook.command()
@runbooks_dir_opt
@state_opt
@click.option("--rollback", is_flag=True, help="Roll the run back instead of finishing it.")
@force_opt
@resume_fanout_opt
@click.option("--yes", is_flag=True, help="Confirm destructive steps (automation).")
@click.argument("run_id")
def resume(runbooks_dir, state_dir, rollback, forced, fanout, yes, run_id):
    """Finish (or --rollback) a run that was interrupted (kill -9, lost session), from its log.

    The interrupted step is re-run from its pre-check (steps are idempotent by contract); a run
    that was already rolling back finishes its rollback."""
    path = _find_run(state_dir, run_id)
    try:
        st = engine.run_state(path)
        start = st.start
        rb_path = Path(start.get("runbook_path") or "")
        rb = loader.load_file(rb_path) if rb_path.is_file() else loader.get(start["runbook"], runbooks_dir)
        spec = start["target"]
        target = make_target(spec["target"], spec.get("ssh"), spec.get("set") or {})
        ctx = engine.build_context(rb, target, start["params"], values=start["values"], run_id=run_id)
        # a run started one host at a time for safety resumes one host at a time too
        ctx.assume_yes, ctx.fanout = yes, fanout or int(start.get("fanout") or engine.DEFAULT_FANOUT)
        # what the run was forced past still holds; a resume may add checks (audited with it)
        ctx.force_unhealthy = parse_forced([*start.get("force_unhealthy", []), *forced])
    except RunbookError as exc:   # the log or the runbook it names cannot be used
        _fail(str(exc))
    _finish(lambda: engine.Runner(ctx, state_dir).resume("rollback" if rollback else "finish"))


@runbook.command()
@state_opt
@click.option("--json", "as_json", is_flag=True, help="The raw JSONL records.")
@click.argument("run_id", required=False)
def log(state_dir, as_json, run_id):
    """Without RUN_ID: every run and how it ended. With it: that run's audit trail."""
    if not run_id:
        runs = sorted((state_dir / "runs").glob("*/audit.jsonl"), key=lambda p: p.stat().st_mtime)
        for path in runs:
            try:
                st = engine.run_state(path)
            except RunbookError:
                continue
            s = st.start
            status = st.status if st.finished else "INTERRUPTED (resume it)"
            click.echo(f"{s['run_id']:52} {s['ts']:25} {s.get('who', {}).get('user', '?'):8} "
                       f"{s.get('target_label', '?'):36} {status}")
        return
    path = _find_run(state_dir, run_id)
    for rec in read_records(path):
        if as_json:
            click.echo(json.dumps(rec))
            continue
        ev = rec["event"]
        step = f"[{rec['step']}]" if rec.get("step") else "   "
        if ev == "cmd":
            detail = f"{rec['phase']:9} rc={rec['rc']:<3} {' '.join(rec['argv'])}"
        elif ev == "check":
            detail = f"{rec['phase']:9} {'ok  ' if rec['ok'] else 'FAIL'} {rec['name']}: {rec['detail']}"
        elif ev == "evidence":
            detail = f"{rec['label']:9} {rec['name']} rc={rec['rc']} sha256={rec['sha256'][:12]}"
        elif ev == "run_start":
            detail = f"{rec['runbook']} on {rec['target_label']} by {rec['who']['user']} params={rec['params']}"
        else:
            detail = " ".join(f"{k}={v}" for k, v in rec.items()
                              if k not in ("ts", "run_id", "seq", "event", "step"))
        click.echo(f"{rec['ts']} {rec['seq']:4} {ev:20} {step:4} {detail}"[:300])


@click.group()
def runbooks() -> None:
    """Runbook content: docs generated from the definitions."""


@runbooks.command()
@runbooks_dir_opt
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Output directory (default: <runbooks-dir>/docs).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the docs are out of date.")
def render(runbooks_dir, out, check):
    """Write one Markdown page per runbook (and an index) from the definitions."""
    import tempfile

    from .render import render_all
    directory = runbooks_dir or loader.default_dir()
    try:
        books = loader.load_all(directory)
    except RunbookError as exc:
        _fail(str(exc))
    out = out or directory / "docs"
    repo_root = directory.resolve().parent
    if check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = render_all(books, Path(tmp), repo_root)
            stale = [p.name for p in fresh
                     if not (out / p.name).is_file() or (out / p.name).read_text() != p.read_text()]
        if stale:
            _fail(f"docs out of date in {out}: {', '.join(stale)} (run `slurmops runbooks render`)", 1)
        click.echo(f"{len(fresh)} pages up to date in {out}")
        return
    written = render_all(books, out, repo_root)
    click.echo(f"wrote {len(written)} pages to {out}")


@runbooks.command()
@runbooks_dir_opt
@click.option("--listen", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=None, help="Port (default 9347, the default runbook base URL's).")
def serve(runbooks_dir, listen, port):
    """Serve the rendered runbook pages (runbooks/docs) over HTTP: the target of every alert's
    runbook_url and every dashboard's runbook link (alerts/thresholds.yml runbook_base_url)."""
    from . import links
    from .serve import make_server
    docs = (runbooks_dir or loader.default_dir()) / "docs"
    if not (docs / "README.md").is_file():
        _fail(f"no rendered pages in {docs} (run `slurmops runbooks render`)")
    try:
        server = make_server(docs, listen, port or links.SERVE_PORT)
    except OSError as exc:
        _fail(f"cannot listen on {listen}:{port or links.SERVE_PORT}: {exc.strerror}")
    host, bound = server.server_address[:2]
    click.echo(f"serving {docs} at http://{host}:{bound}/ (runbook base URL now: "
               f"{links.configured_base()})")
    serve_until_interrupted(server.serve_forever, server.server_close)
