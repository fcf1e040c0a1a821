"""One job's report: assembled from the accounting record and the usage summary (stored in
AdminComment, else asked from Prometheus), rendered as text (after Princeton's jobstats layout:
header, overall bars, per-node detail, notes) or as JSON. Rendering is pure."""
from __future__ import annotations

import time
import urllib.parse
from dataclasses import asdict, dataclass, field

from .figures import Figures, compute, node_cpus
from .format import gb, hms, pct
from .rules import Note, evaluate
from .sacct import JobRecord
from .summary import Summary

DASHBOARD_UID = "slurmops-job"
WIDTH = 80


@dataclass
class Report:
    rec: JobRecord
    summary: Summary | None
    source: str                    # stored | prometheus | none
    fig: Figures
    notes: list[Note]
    dashboard: str = ""
    warnings: list[str] = field(default_factory=list)


def dashboard_url(grafana_url: str, rec: JobRecord, now: float | None = None) -> str:
    if not grafana_url:
        return ""
    now = time.time() if now is None else now
    start = (rec.start or now) - 60
    end = (rec.end or now) + 60
    q = urllib.parse.urlencode({"var-cluster": rec.cluster, "var-jobid": rec.jobid_raw,
                                "from": int(start * 1000), "to": int(end * 1000)})
    return f"{grafana_url.rstrip('/')}/d/{DASHBOARD_UID}/?{q}"


def build(rec: JobRecord, summary: Summary | None, source: str, thresholds: dict,
          grafana_url: str = "", warnings: list[str] | None = None) -> Report:
    fig = compute(rec, summary, thresholds["gpu_idle_fraction"])
    return Report(rec, summary, source, fig, evaluate(rec, fig, summary, thresholds),
                  dashboard_url(grafana_url, rec), list(warnings or []))


# ---- text ------------------------------------------------------------------------------------

class Style:
    def __init__(self, color: bool):
        self.color = color

    def __call__(self, text: str, kind: str) -> str:
        if not self.color:
            return text
        code = {"red": "1;31", "warn": "33", "info": "36", "bold": "1", "green": "32"}[kind]
        return f"\033[{code}m{text}\033[0m"


def _bar(label: str, frac: float | None, style: Style, red_below: float | None = None,
         red_above: float | None = None) -> str:
    width = 45
    if frac is None:
        return f"  {label:<17}[{'no data':^{width + 5}}]"
    n = max(0, min(width, round(frac * width)))
    text = f"[{'|' * n}{' ' * (width - n)} {pct(frac):>4}]"
    bad = (red_below is not None and frac < red_below) or (red_above is not None and frac > red_above)
    return f"  {label:<17}" + (style(text, "red") if bad else text)


def _title(text: str, style: Style) -> list[str]:
    return ["", style(text.center(WIDTH).rstrip(), "bold"), "=" * WIDTH]


def _wrap(text: str, indent: str, width: int = WIDTH) -> list[str]:
    import textwrap
    return textwrap.wrap(text, width=width, initial_indent=indent + "* ",
                         subsequent_indent=indent + "  ")


def render_text(r: Report, color: bool = False, now: float | None = None) -> str:
    st = Style(color)
    rec, f, s = r.rec, r.fig, r.summary
    now = time.time() if now is None else now
    out = ["=" * WIDTH, st("Slurm Job Statistics".center(WIDTH).rstrip(), "bold"), "=" * WIDTH]
    per_cpu = f" ({gb(rec.mem_bytes / rec.ncpus)} per CPU)" if rec.mem_bytes and rec.ncpus else ""
    head = [
        ("Job ID", rec.jobid + (f" (raw {rec.jobid_raw})" if rec.jobid != rec.jobid_raw else "")),
        ("User/Account", f"{rec.user}/{rec.account}"),
        ("Job Name", rec.name[:64]),
        ("State", rec.state + (f" (exit code {rec.exit_code})" if rec.exit_code else "")),
        ("Nodes", f"{rec.nnodes}: {','.join(rec.nodes)}" if rec.nodes else str(rec.nnodes)),
        ("CPU Cores", str(rec.ncpus)),
        ("CPU Memory", gb(rec.mem_bytes) + per_cpu),
        ("GPUs", str(rec.gpus)),
        ("QOS/Partition", f"{rec.qos}/{rec.partition}"),
        ("Cluster", rec.cluster),
        ("Start Time", time.strftime("%a %b %d, %Y at %H:%M", time.localtime(rec.start))
         if rec.start else "not started"),
        ("Run Time", hms(f.run_s) + (" (running)" if rec.running else "")),
        ("Time Limit", hms(rec.timelimit_s) if rec.timelimit_s else "UNLIMITED"),
        ("Data", {"stored": "summary stored at job end (AdminComment)",
                  "prometheus": "Prometheus (live series)",
                  "none": "no usage data"}[r.source]),
    ]
    out += [f"{k:>15}: {v}" for k, v in head]
    out += _title("Overall Utilization", st)
    out.append(_bar("CPU utilization", f.cpu_eff, st, red_below=0.5))
    out.append(_bar("CPU memory usage", f.mem_eff, st, red_above=0.95))
    if rec.gpus:
        out.append(_bar("GPU utilization", f.gpu_util, st, red_below=0.15))
        out.append(_bar("GPU memory usage", f.gpu_mem_eff, st))
    if s is not None and s.nodes:
        out += _title("Detailed Utilization", st)
        out.append("  CPU utilization per node (CPU time used/run time)")
        for name, n in sorted(s.nodes.items()):
            cpus = node_cpus(rec, n.slurm_nodes)
            eff = n.cpu_s / (cpus * n.span_s) if n.cpu_s is not None and n.span_s else None
            out.append(f"      {_node_label(name, n.slurm_nodes)}: {hms(n.cpu_s)}/"
                       f"{hms(cpus * n.span_s if n.span_s else None)} (efficiency={pct(eff, 1)})")
        out.append(f"  Total used/runtime: {hms(f.cpu_s)}/{hms(rec.ncpus * f.run_s)}, "
                   f"efficiency={pct(f.cpu_eff, 1)}")
        out.append("")
        out.append("  CPU memory usage per node - peak used/limit")
        for name, n in sorted(s.nodes.items()):
            rss = f", RSS peak {gb(n.mem_rss_max)}" if n.mem_rss_max is not None else ""
            oom = st(f", {int(n.oom_kills)} OOM kill(s)", "red") if n.oom_kills else ""
            out.append(f"      {_node_label(name, n.slurm_nodes)}: {gb(n.mem_peak)}/"
                       f"{gb(n.mem_limit)}{rss}{oom}")
        out.append(f"  Total used/allocated: {gb(f.mem_used)}/{gb(f.mem_alloc)} ({pct(f.mem_eff, 1)})")
        if s.gpu_list:
            out.append("")
            out.append("  GPU utilization per node (mean) and GPU memory (peak used/total)")
            for name, gid, g in s.gpu_list:
                idle = st(" no process of the job most of the time", "red") if (
                    g.idle is not None and g.idle >= 0.5) else ""
                out.append(f"      {name} (GPU {gid}): {pct(g.util, 1)}, {gb(g.mem_used)}/"
                           f"{gb(g.mem_total)}" + (f", {g.power_w:.0f} W" if g.power_w else "")
                           + f" [{g.source}]{idle}")
    if r.notes:
        out += _title("Notes", st)
        for note in r.notes:
            lines = _wrap(note.text, "  ")
            out += [st(x, note.severity) for x in lines]
            out.append("    evidence: " + ", ".join(f"{k}={_ev(v)}" for k, v in note.evidence.items()))
            out.append("")
    if r.dashboard:
        out += ["", f"  Per-job dashboard: {r.dashboard}"]
    return "\n".join(out).rstrip() + "\n"


def _node_label(name: str, covers: list[str]) -> str:
    if covers and covers != [name]:
        return f"{name} (host of {','.join(covers)})"
    return name


def _ev(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return ",".join(map(str, v))
    return str(v)


# ---- JSON ------------------------------------------------------------------------------------

def to_json(r: Report) -> dict:
    rec = asdict(r.rec)
    rec.pop("admin_comment", None)
    rec.pop("extra", None)
    rec["nodes"] = r.rec.nodes
    return {
        "job": rec,
        "source": r.source,
        "figures": asdict(r.fig),
        "nodes": {k: asdict(v) for k, v in (r.summary.nodes.items() if r.summary else [])},
        "notes": [asdict(n) for n in r.notes],
        "dashboard": r.dashboard,
        "warnings": r.warnings,
    }
