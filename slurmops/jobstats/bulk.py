"""Many jobs at once (`--user U` / `--account A` `--since 7d`), after Kempner's jobscope: ONE sacct
call, the stored summaries, Prometheus only for jobs without one (at most `bulk_prometheus_max`),
worst first, with the totals of wasted core-hours and GPU-hours."""
from __future__ import annotations

import csv
import json
import re
import time
from dataclasses import dataclass
from typing import TextIO

from . import prom as promq, sacct
from .config import Config
from .figures import Figures, compute
from .format import gb, hms, pct
from .rules import evaluate
from .sacct import JobRecord
from .service import EXIT_SLURM, JobstatsError, stored_summary

GPU_HOUR_WEIGHT = 16     # worst-first: one wasted GPU-hour counts as much as this many core-hours


@dataclass
class Row:
    rec: JobRecord
    fig: Figures
    source: str              # stored | prometheus | none | unreadable
    notes: list[str]

    @property
    def waste(self) -> float:
        return self.fig.wasted_core_h + GPU_HOUR_WEIGHT * self.fig.wasted_gpu_h


def since_to_epoch(since: str, now: float) -> int:
    m = re.fullmatch(r"(\d+)([mhdw])", since.strip())
    if m:
        return int(now - int(m.group(1)) * {"m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)])
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"):
        try:
            return int(time.mktime(time.strptime(since, fmt)))
        except ValueError:
            pass
    raise JobstatsError(f"--since {since!r}: use 7d, 12h, 2w or a date (2026-11-01)", 2)


def selection(user: str | None, account: str | None, since: str, now: float) -> list[str]:
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(since_to_epoch(since, now)))
    args = ["-S", start, "-E", "now"]
    if user:
        args += ["-u", user]
    else:
        args += ["--allusers"]
    if account:
        args += ["-A", account]
    return args


def rows_from(records: list[JobRecord], cfg: Config, client: promq.PromClient | None
              ) -> tuple[list[Row], dict]:
    rows, asked, unreadable, skipped = [], 0, 0, 0
    prom_error = ""
    t = cfg.thresholds
    for rec in records:
        if not rec.started:
            continue
        s, bad = stored_summary(rec)
        source = "stored" if s is not None else ("unreadable" if bad else "none")
        unreadable += bool(bad)
        if s is None and client is not None:
            if asked < cfg.bulk_prometheus_max:
                asked += 1
                try:
                    s = promq.collect(client, rec, cfg.cluster_label or None)
                    source = "prometheus" if s.nodes else source
                    s = s if s.nodes else None
                except promq.PrometheusError as exc:
                    s, client, prom_error = None, None, str(exc)    # not asked again for the rest
            else:
                skipped += 1
        fig = compute(rec, s, t["gpu_idle_fraction"])
        rows.append(Row(rec, fig, source, [n.rule for n in evaluate(rec, fig, s, t)]))
    rows.sort(key=lambda r: (-r.waste, r.rec.jobid))
    stats = {"jobs": len(rows), "prometheus_jobs": asked, "prometheus_error": prom_error,
             "unreadable_summaries": unreadable,
             "without_data_not_asked": skipped,
             "stored": sum(r.source == "stored" for r in rows),
             "core_hours": sum(r.rec.ncpus * r.fig.run_s / 3600 for r in rows),
             "gpu_hours": sum(r.rec.gpus * r.fig.run_s / 3600 for r in rows),
             "wasted_core_hours": sum(r.fig.wasted_core_h for r in rows),
             "wasted_gpu_hours": sum(r.fig.wasted_gpu_h for r in rows)}
    return rows, stats


def collect_bulk(user, account, since, cluster, cfg: Config, client, now: float | None = None):
    now = time.time() if now is None else now
    try:
        records = sacct.query(*selection(user, account, since, now), cluster=cluster, timeout=120)
    except sacct.SlurmError as exc:
        raise JobstatsError(f"cannot ask Slurm for the jobs: {exc}", EXIT_SLURM) from None
    return rows_from(records, cfg, client)


COLUMNS = ("jobid", "user", "account", "state", "elapsed", "cpus", "cpu_eff", "mem_used",
           "mem_alloc", "mem_eff", "gpus", "gpu_util", "wasted_core_h", "wasted_gpu_h", "data", "notes")


def row_dict(r: Row) -> dict:
    f = r.fig
    return {"jobid": r.rec.jobid, "user": r.rec.user, "account": r.rec.account, "state": r.rec.state,
            "elapsed": f.run_s, "cpus": r.rec.ncpus, "cpu_eff": f.cpu_eff, "mem_used": f.mem_used,
            "mem_alloc": f.mem_alloc, "mem_eff": f.mem_eff, "gpus": r.rec.gpus,
            "gpu_util": f.gpu_util, "wasted_core_h": round(f.wasted_core_h, 3),
            "wasted_gpu_h": round(f.wasted_gpu_h, 3), "data": r.source, "notes": " ".join(r.notes)}


def write(rows: list[Row], stats: dict, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        # one string, one write: json.dump(indent=...) writes each token separately (2 s at 10,000)
        out.write(json.dumps({"jobs": [row_dict(r) for r in rows], "totals": stats}) + "\n")
        return
    if fmt == "csv":
        w = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(row_dict(r) for r in rows)
        return
    head = (f"{'JobID':<14} {'User':<10} {'Account':<10} {'State':<13} {'Elapsed':>11} {'CPUs':>4} "
            f"{'CPU%':>5} {'Mem used/alloc':>17} {'GPUs':>4} {'GPU%':>5} {'Waste c-h':>9} "
            f"{'Waste g-h':>9} {'Data':<10} Notes")
    lines = [head, "-" * len(head)]
    for r in rows:
        f = r.fig
        lines.append(
            f"{r.rec.jobid:<14} {r.rec.user[:10]:<10} {r.rec.account[:10]:<10} {r.rec.state[:13]:<13} "
            f"{hms(f.run_s):>11} {r.rec.ncpus:>4} {pct(f.cpu_eff):>5} "
            f"{gb(f.mem_used) + '/' + gb(f.mem_alloc):>17} {r.rec.gpus:>4} {pct(f.gpu_util):>5} "
            f"{f.wasted_core_h:>9.2f} {f.wasted_gpu_h:>9.2f} {r.source:<10} {','.join(r.notes)}")
    lines.append("-" * len(head))
    if stats["prometheus_error"]:
        lines.append(f"(Prometheus not asked for the other jobs without a summary: {stats['prometheus_error']})")
    lines.append(f"{stats['jobs']} jobs ({stats['stored']} with a stored summary, "
                 f"{stats['prometheus_jobs']} asked from Prometheus): "
                 f"{stats['core_hours']:.1f} core-hours, {stats['wasted_core_hours']:.1f} wasted; "
                 f"{stats['gpu_hours']:.1f} GPU-hours, {stats['wasted_gpu_hours']:.1f} wasted")
    out.write("\n".join(lines) + "\n")


def run_bulk(user, account, since, cluster, cfg, client, fmt, out) -> dict:
    rows, stats = collect_bulk(user, account, since, cluster, cfg, client)
    write(rows, stats, fmt, out)
    return stats
