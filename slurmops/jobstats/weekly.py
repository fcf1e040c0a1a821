"""The weekly HTML report of one account: totals, per-user efficiency, the worst jobs, and two small
inline SVG charts (no scripts, no external files: it opens from a mail attachment)."""
from __future__ import annotations

import time
from collections import defaultdict

from jinja2 import Environment, PackageLoader, select_autoescape

from .bulk import Row
from .format import gb, hms, pct


def _bars(items: list[tuple[str, float, float]], width: int = 560, bar_h: int = 18) -> str:
    """Horizontal bars: (label, used, allocated) → used part dark, the rest light (the waste)."""
    if not items:
        return ""
    top = max(a for _, _, a in items) or 1.0
    label_w, h = 120, bar_h + 6
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h * len(items) + 4}" '
             f'role="img" class="chart">']
    for i, (label, used, alloc) in enumerate(items):
        y = i * h + 2
        wa = (width - label_w - 90) * alloc / top
        wu = (width - label_w - 90) * min(used, alloc) / top
        eff = used / alloc if alloc else 0
        parts.append(f'<text x="0" y="{y + bar_h - 4}" font-size="12">{_esc(label[:16])}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{wa:.1f}" height="{bar_h}" fill="#f4c7c3"/>'
                     f'<rect x="{label_w}" y="{y}" width="{wu:.1f}" height="{bar_h}" fill="#3b78e7"/>'
                     f'<text x="{label_w + wa + 6:.1f}" y="{y + bar_h - 4}" font-size="12">'
                     f'{alloc:.1f} h, {pct(eff)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def render_weekly(account: str, since: str, rows: list[Row], stats: dict,
                  now: float | None = None) -> str:
    now = time.time() if now is None else now
    users: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    days: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        core_h = r.rec.ncpus * r.fig.run_s / 3600
        u = users[r.rec.user]
        u["jobs"] += 1
        u["core_h"] += core_h
        u["used_core_h"] += core_h - r.fig.wasted_core_h
        u["gpu_h"] += r.rec.gpus * r.fig.run_s / 3600
        u["wasted_gpu_h"] += r.fig.wasted_gpu_h
        u["notes"] += len(r.notes)
        day = time.strftime("%a %m-%d", time.localtime(r.rec.end or r.rec.start or now))
        days[day]["core_h"] += core_h
        days[day]["used_core_h"] += core_h - r.fig.wasted_core_h
    user_rows = sorted(users.items(), key=lambda kv: -(kv[1]["core_h"] - kv[1]["used_core_h"]))
    env = Environment(loader=PackageLoader("slurmops.jobstats", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("weekly.html.j2").render(
        account=account, since=since, stats=stats, users=user_rows, worst=rows[:20],
        generated=time.strftime("%Y-%m-%d %H:%M", time.localtime(now)),
        user_chart=_bars([(name, u["used_core_h"], u["core_h"]) for name, u in user_rows[:12]]),
        day_chart=_bars([(d, v["used_core_h"], v["core_h"]) for d, v in sorted(days.items())]),
        pct=pct, gb=gb, hms=hms)
