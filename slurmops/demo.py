"""`slurmops demo`: the README's main job once the lab is up — a sample workload on the real
cluster, then where to look (URLs, curl lines, status). Later parts (exporters, dashboards, a
runbook rehearsal) add their step here."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .lab.cli import _existing, dir_option, print_status
from .lab.platform import LabError, REST_VERSION


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
               f"reservation {w.reservation}\n")
    rows = lab.status()
    print_status(rows)
    click.echo(f"""
Where to look
  shell:          eval "$(.venv/bin/slurmops lab env)"; squeue; sinfo; sacct
  Prometheus:     {c.url('prometheus')}/targets   (query: up)
  Alertmanager:   {c.url('alertmanager')}/#/alerts
  node_exporter:  curl -s {c.url('node_exporter')}/metrics | head
  slurmrestd:     curl -s -H "X-SLURM-USER-NAME: root" -H "X-SLURM-USER-TOKEN: $(SLURM_CONF={c.slurm_conf} scontrol token | cut -d= -f2)" {c.url('slurmrestd')}/slurm/{REST_VERSION}/nodes
  logs:           {c.log}/
  stop it:        .venv/bin/slurmops lab down   (--purge also removes {c.dir})""")
    sys.exit(0 if all(s.healthy for s in rows) else 1)
