"""`slurmops demo`: the README's main job once the lab is up — a sample workload on the real
cluster (both exporters already scrape it), the alert rules loaded into the lab's Prometheus, a
runbook rehearsal (slurmctld restart, with its audit log), the dashboards previewed from real
data, then where to look (URLs, curl lines, status)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click

from .content import content_dir
from .lab.cli import _existing, dir_option, print_status
from .lab.platform import LabError


@click.command()
@dir_option
def demo(lab_dir: Path) -> None:
    """Run the sample workload on the lab and print where to look."""
    from .lab import workload
    lab = _existing(lab_dir)
    c = lab.cfg
    try:
        workload.stop(lab)          # a re-run starts from a clean queue
        w = workload.start(lab)
        workload.wait_settled(lab)
    except LabError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"\nsample workload: {len(w.jobs)} jobs, node {w.drained or '-'} drained, "
               f"reservation {w.reservation}")
    rules = _load_alert_rules(content_dir("alerts"), c)
    state_dir = c.dir / "runbooks"
    click.echo("\nrunbook rehearsal: slurmctld-restart on the lab (jobs keep running)")
    rc = _slurmops("runbook", "run", "slurmctld-restart", "--target", f"lab:{c.dir}", "--yes",
                   "--state-dir", str(state_dir))
    time.sleep(10)   # let Prometheus scrape the workload before drawing it
    previews = c.dir / "dashboards"
    preview_rc = _slurmops("dashboards", "preview", "--prometheus", c.url("prometheus"), "--out",
                           str(previews), quiet=True)
    rows = lab.status()
    print_status(rows)
    try:
        rest_version = lab.rest_version()   # negotiated with this slurmrestd, never hard-coded
    except LabError:
        rest_version = "<version>"
    click.echo(f"""
Where to look
  shell:          eval "$(.venv/bin/slurmops lab env)"; squeue; sinfo; sacct
  Prometheus:     {c.url('prometheus')}/targets   (query: up)
  Alertmanager:   {c.url('alertmanager')}/#/alerts
  node_exporter:  curl -s {c.url('node_exporter')}/metrics | head
  Slurm exporter: curl -s {c.url('slurm_exporter')}/metrics | grep -E '^slurm_(up|nodes|jobs) '
  job exporter:   curl -s {c.url('job_exporter')}/metrics | grep '^slurm_job_cpu_user'
  alert rules:    {rules} rule files loaded; {c.url('prometheus')}/alerts
  dashboards:     {previews}/index.html   (Grafana JSON in dashboards/build/; preview exit {preview_rc})
  runbook audit:  .venv/bin/slurmops runbook log --state-dir {state_dir}   (rehearsal exit {rc})
  slurmrestd:     curl -s -H "X-SLURM-USER-NAME: root" -H "X-SLURM-USER-TOKEN: $(SLURM_CONF={c.slurm_conf} scontrol token | cut -d= -f2)" {c.url('slurmrestd')}/slurm/{rest_version}/nodes
  logs:           {c.log}/
  stop it:        .venv/bin/slurmops lab down   (--purge also removes {c.dir})""")  # noqa: E501 (printed lines)
    sys.exit(0 if all(s.healthy for s in rows) and rc == 0 and preview_rc == 0 else 1)


def _slurmops(*args: str, quiet: bool = False) -> int:
    r = subprocess.run([sys.executable, "-m", "slurmops", *args], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL if quiet else None)
    return r.returncode


def _load_alert_rules(alerts_dir: Path, c) -> int:
    """Copy the shipped rule files into the lab's Prometheus and reload it."""
    src = sorted(alerts_dir.glob("*.rules.yml"))
    dest = c.dir / "prometheus" / "rules"
    for f in src:
        shutil.copyfile(f, dest / f.name)
    try:
        urllib.request.urlopen(urllib.request.Request(c.url("prometheus") + "/-/reload", method="POST"),
                               timeout=10).read()
    except OSError as exc:
        click.echo(f"warning: Prometheus reload failed: {exc}", err=True)
    return len(src)
