"""`slurmops dashboards preview`: one static HTML page per dashboard, laid out in its grid, with
every panel's title, unit, queries and its real data from a Prometheus over the last hour (an
inline SVG chart, or the value for stat/gauge/bar gauge/table). For where no Grafana runs."""
from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from . import model as m
from .prom import Prometheus, PromError, resolve

RANGE_TYPES = {"timeseries", "state-timeline", "heatmap"}
PALETTE = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9",
           "#705da0", "#508642", "#cca300", "#447ebc", "#c15c17"]
NAMED = {"green": "#73bf69", "blue": "#5794f2", "purple": "#b877d9", "light-blue": "#8ab8ff",
         "red": "#f2495c", "dark-red": "#c4162a", "orange": "#ff9830", "gray": "#8e8e8e",
         "yellow": "#fade2a"}
ROW_PX = 30
SVG_W = 600


def fmt(value: float, unit: str) -> str:
    """Enough of Grafana's unit formatting to read a preview."""
    if value is None or math.isnan(value):
        return "NaN"
    if unit == "percentunit":
        return f"{value * 100:.1f}%"
    if unit == "percent":
        return f"{value:.1f}%"
    if unit == "bool_yes_no":
        return "yes" if value else "no"
    if unit in ("bytes", "decmbytes", "Bps"):
        v = value * (2**20 if unit == "decmbytes" else 1)
        for suffix in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
            if abs(v) < 1024 or suffix == "PiB":
                return f"{v:.3g} {suffix}" + ("/s" if unit == "Bps" else "")
            v /= 1024
    if unit == "s":
        if abs(value) < 1:
            return f"{value * 1000:.3g} ms"
        if abs(value) < 120:
            return f"{value:.3g} s"
        if abs(value) < 7200:
            return f"{value / 60:.3g} min"
        return f"{value / 3600:.3g} h"
    if unit in ("dateTimeAsIso", "dateTimeFromNow"):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value / 1000))
    suffix = {"reqps": " req/s", "ops": " ops/s", "iops": " io/s", "watt": " W",
              "celsius": " °C"}.get(unit, "")
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3g}{suffix}"
    return f"{value:,.3f}".rstrip("0").rstrip(".") + suffix


@dataclass
class Line:
    label: str
    color: str
    value: str
    fraction: float = 0.0


@dataclass
class PanelView:
    id: int
    title: str
    type: str
    unit: str
    grid: dict
    queries: list[tuple[str, str]]        # (refId, expr as sent)
    series_count: int = 0
    svg: str = ""
    lines: list[Line] = field(default_factory=list)
    stat_value: str = ""
    error: str = ""


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _mapping_colors(panel: dict) -> dict[str, tuple[str, str]]:
    out = {}
    for mp in panel.get("fieldConfig", {}).get("defaults", {}).get("mappings", []):
        for key, opt in mp.get("options", {}).items():
            out[key] = (opt.get("text", key), NAMED.get(opt.get("color"), opt.get("color", "#888")))
    return out


def _svg_lines(series, start, end, unit, height) -> str:
    vals = [v for s in series for _, v in s[1] if not math.isnan(v)]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    lo = min(lo, 0.0)
    if hi == lo:
        hi = lo + 1
    pad_l, pad_b = 70, 16
    w, h = SVG_W - pad_l, height - pad_b
    parts = [f'<line x1="{pad_l}" y1="{h}" x2="{SVG_W}" y2="{h}" stroke="#555"/>',
             f'<text x="{pad_l - 4}" y="12" text-anchor="end">{html.escape(fmt(hi, unit))}</text>',
             f'<text x="{pad_l - 4}" y="{h}" text-anchor="end">{html.escape(fmt(lo, unit))}</text>',
             f'<text x="{pad_l}" y="{height - 2}">-1h</text>',
             f'<text x="{SVG_W}" y="{height - 2}" text-anchor="end">now</text>']
    for label, pts, color in series:
        xy = [(pad_l + (t - start) / (end - start) * w, h - (v - lo) / (hi - lo) * (h - 4))
              for t, v in pts if not math.isnan(v)]
        if len(xy) == 1:
            x, y = xy[0]
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{color}"/>')
        elif xy:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" '
                         f'points="{path}"><title>{html.escape(label)}</title></polyline>')
    return _svg(parts, height)


def _svg_lanes(series, start, end, height, color_of) -> str:
    """State timeline and heatmap: one lane per series, each sample a colored cell."""
    n = max(len(series), 1)
    pad_l = 110
    lane = max(min((height - 4) / n, 24), 3)
    parts = []
    for i, (label, pts, _) in enumerate(series):
        y = 2 + i * lane
        parts.append(f'<text x="{pad_l - 4}" y="{y + lane * 0.7:.1f}" text-anchor="end">'
                     f'{html.escape(label[:18])}</text>')
        for j, (t, v) in enumerate(pts):
            t2 = pts[j + 1][0] if j + 1 < len(pts) else end
            x = pad_l + (t - start) / (end - start) * (SVG_W - pad_l)
            x2 = pad_l + (t2 - start) / (end - start) * (SVG_W - pad_l)
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(x2 - x, 0.5):.1f}" '
                         f'height="{lane * 0.9:.1f}" fill="{color_of(v)}"/>')
    return _svg(parts, max(height, 2 + n * lane))


def _svg(parts: list[str], height: float) -> str:
    return (f'<svg class="chart" viewBox="0 0 {SVG_W} {height:.0f}" preserveAspectRatio="none" '
            f'xmlns="http://www.w3.org/2000/svg">' + "".join(parts) + "</svg>")


def render_panel(prom: Prometheus, panel: dict, values: dict[str, str],
                 now: float, window_s: int = 3600) -> PanelView:
    unit = m.unit(panel)
    gp = panel["gridPos"]
    targets = panel.get("targets", [])
    exprs = [(t["refId"], m.substitute(t["expr"], values)) for t in targets]
    view = PanelView(panel["id"], panel["title"], panel["type"], unit, gp, exprs)
    start, end = now - window_s, now
    step = max(window_s / 120, 5)
    collected = []   # (label, points)
    try:
        for t, (ref, expr) in zip(targets, exprs):
            if panel["type"] in RANGE_TYPES:
                got = prom.query_range(expr, start, end, step)
            else:
                got = prom.query(expr, at=now)
            for s in got:
                collected.append((m.legend(t.get("legendFormat", ""), s.labels)
                                  + (f" [{ref}]" if len(targets) > 1 and panel["type"] == "table"
                                     else ""), s.points))
    except PromError as e:
        view.error = str(e)
    view.series_count = len(collected)
    height = gp["h"] * ROW_PX - 60
    if panel["type"] == "timeseries":
        series = [(lbl, pts, _color(i)) for i, (lbl, pts) in enumerate(collected)]
        view.svg = _svg_lines(series, start, end, unit, max(height, 60))
        view.lines = [Line(lbl, c, fmt(pts[-1][1], unit)) for lbl, pts, c in series if pts]
    elif panel["type"] == "state-timeline":
        colors = _mapping_colors(panel)
        series = [(lbl, pts, "") for lbl, pts in collected]
        view.svg = _svg_lanes(series, start, end, max(height, 40),
                              lambda v: colors.get(f"{v:g}", ("", "#555"))[1])
        seen = {f"{p[1]:g}" for _, pts in collected for p in pts}
        view.lines = [Line(text, color, "") for key, (text, color) in colors.items() if key in seen]
    elif panel["type"] == "heatmap":
        # Buckets are cumulative (le): show each bucket's own count, darker = more jobs.
        series = sorted(collected, key=lambda s: float(s[0]) if _num(s[0]) else math.inf)
        peak = max((v for _, pts in series for _, v in pts), default=1) or 1
        view.svg = _svg_lanes([(lbl, pts, "") for lbl, pts in series], start, end,
                              max(height, 40),
                              lambda v: f"rgba(255,152,48,{0.08 + 0.92 * v / peak:.2f})")
    else:
        vals = [(lbl, pts[-1][1]) for lbl, pts in collected if pts]
        if panel["type"] in ("stat", "gauge") and vals:
            view.stat_value = fmt(vals[0][1], unit)
        top = max((abs(v) for _, v in vals), default=1) or 1
        mx = panel.get("fieldConfig", {}).get("defaults", {}).get("max") or top
        view.lines = [Line(lbl, _color(i), fmt(v, unit), min(abs(v) / mx, 1.0))
                      for i, (lbl, v) in enumerate(vals[:40])]
    return view


def _num(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def render_dashboard(prom: Prometheus, model: dict, overrides: dict[str, str] | None = None,
                     now: float | None = None) -> str:
    now = now or time.time()
    values, _ = resolve(prom, model, overrides)
    items = []
    for p in model.get("panels", []):
        if p.get("type") == "row":
            items.append({"row": True, "title": p.get("title", ""), "grid": p["gridPos"]})
        else:
            items.append({"row": False, "view": render_panel(prom, p, values, now)})
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined)
    return env.get_template("preview.html.j2").render(
        d=model, items=items, values=values, prometheus=prom.url,
        generated=time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(now)), row_px=ROW_PX)


def write_previews(prom: Prometheus, models: dict[str, dict], out_dir: Path,
                   overrides: dict[str, str] | None = None) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, d in sorted(models.items()):
        path = out_dir / f"{name}.html"
        path.write_text(render_dashboard(prom, d, overrides))
        paths.append(path)
    index = out_dir / "index.html"
    links = "".join(f'<li><a href="{html.escape(p.name)}">{html.escape(models[p.stem]["title"])}'
                    f"</a></li>" for p in paths)
    index.write_text(f"<!doctype html><meta charset=utf-8><title>slurmops dashboards</title>"
                     f"<h1>slurmops dashboards</h1><ul>{links}</ul>\n")
    return paths
