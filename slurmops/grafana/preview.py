"""`slurmops dashboards preview`: one static HTML page per dashboard, laid out in its grid, with
every panel's title, unit, queries and its real data from a Prometheus over the last hour (an
inline SVG chart, or the value for stat/gauge/bar gauge/table). For where no Grafana runs.

What Grafana would show, as far as the dashboards use it: thresholds colour stat and gauge values,
bar gauges, table cells (custom.cellOptions color-text / color-background) and draw threshold lines
on time series; value mappings replace a value's text and colour; tables apply the `merge` and
`organize` transformations (rows joined on their labels, columns hidden, renamed, ordered) and the
field overrides by name and by type."""
from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from . import model as m
from .prom import PromError, Prometheus, resolve

RANGE_TYPES = {"timeseries", "state-timeline", "heatmap"}
PALETTE = ["#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9",
           "#705da0", "#508642", "#cca300", "#447ebc", "#c15c17"]
NAMED = {"green": "#73bf69", "blue": "#5794f2", "purple": "#b877d9", "light-blue": "#8ab8ff",
         "red": "#f2495c", "dark-red": "#c4162a", "orange": "#ff9830", "gray": "#8e8e8e",
         "yellow": "#fade2a"}
ROW_PX = 30
SVG_W = 600


def fmt(value: float | None, unit: str) -> str:
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
    value_color: str = ""


@dataclass
class Cell:
    text: str
    color: str = ""        # text colour ("" = plain)
    background: str = ""


# ---- field config: thresholds, value mappings, overrides (what Grafana applies to each value) ------

def _named(color: str | None) -> str:
    return NAMED.get(color or "", color or "#888")


def threshold_color(value: float | None, thresholds: dict | None) -> str:
    """Grafana's absolute thresholds: the colour of the highest step whose value is <= value (the
    first step, value null, is the base)."""
    steps = (thresholds or {}).get("steps") or [{"color": "green", "value": None}]
    color = steps[0].get("color")
    if value is None or math.isnan(value):
        return _named(color)
    for step in steps[1:]:
        if step.get("value") is not None and value >= step["value"]:
            color = step.get("color")
    return _named(color)


def map_value(value: float | None, mappings: list | None) -> tuple[str, str] | None:
    """(text, colour) from the first value mapping that matches, as Grafana picks them: `value`
    maps the value's text, `range` a from..to interval, `special` null/NaN."""
    for mp in mappings or []:
        opts = mp.get("options", {})
        if mp.get("type") == "value" and value is not None and not math.isnan(value):
            hit = opts.get(f"{value:g}")
            if hit:
                return hit.get("text", f"{value:g}"), _named(hit.get("color")) if hit.get("color") else ""
        elif mp.get("type") == "range" and value is not None and not math.isnan(value):
            lo, hi = opts.get("from"), opts.get("to")
            if (lo is None or value >= lo) and (hi is None or value <= hi):
                res = opts.get("result", {})
                return res.get("text", fmt(value, "")), _named(res.get("color")) if res.get("color") else ""
        elif mp.get("type") == "special" and (value is None or math.isnan(value)) \
                and opts.get("match") in ("null", "nan", "null+nan"):
            res = opts.get("result", {})
            return res.get("text", ""), _named(res.get("color")) if res.get("color") else ""
    return None


def field_config(panel: dict, name: str, numeric: bool) -> dict:
    """The panel's field defaults with the overrides that match this field (by name, by type)."""
    fc = panel.get("fieldConfig", {})
    conf = {k: v for k, v in fc.get("defaults", {}).items()}
    conf["custom"] = dict(conf.get("custom") or {})
    for ov in fc.get("overrides", []):
        matcher = ov.get("matcher", {})
        hit = ((matcher.get("id") == "byName" and matcher.get("options") == name)
               or (matcher.get("id") == "byType" and matcher.get("options") == ("number" if numeric else "string")))
        if not hit:
            continue
        for prop in ov.get("properties", []):
            key, value = prop.get("id", ""), prop.get("value")
            if key.startswith("custom."):
                conf["custom"][key[len("custom."):]] = value
            else:
                conf[key] = value
    return conf


def display(value: float | None, conf: dict) -> tuple[str, str]:
    """(text, colour) of one value: a mapping wins, else the unit's format and the threshold colour."""
    mapped = map_value(value, conf.get("mappings"))
    color = threshold_color(value, conf.get("thresholds"))
    if mapped:
        return mapped[0], mapped[1] or color
    unit = conf.get("unit") or ""
    if conf.get("decimals") is not None and value is not None and unit in ("", "short", "none"):
        return f"{value:.{conf['decimals']}f}", color
    return fmt(value, unit), color


# ---- tables: Grafana's frames for instant queries, then merge / organize ------------------------

def table_frame(results: list[tuple[str, list]], multi: bool) -> tuple[list[str], list[dict]]:
    """Grafana's table response for instant queries: per query, one row per series with a column
    per label and its value as "Value" ("Value #<refId>" when the panel has several queries)."""
    columns: list[str] = ["Time"]
    rows: list[dict] = []
    for ref, series in results:
        vcol = f"Value #{ref}" if multi else "Value"
        for s in series:
            row = {"Time": s.points[-1][0] * 1000 if s.points else None, "__ref": ref}
            row.update({k: v for k, v in s.labels.items()})
            row[vcol] = s.points[-1][1] if s.points else None
            rows.append(row)
            for k in sorted(s.labels):
                if k not in columns:
                    columns.append(k)
        if vcol not in columns:
            columns.append(vcol)
    labels = sorted(c for c in columns if c != "Time" and not c.startswith("Value"))
    values = [c for c in columns if c.startswith("Value")]
    return ["Time", *labels, *values], rows


def merge_rows(columns: list[str], rows: list[dict]) -> list[dict]:
    """The `merge` transformation: one frame per query; a row of a later frame joins the row of
    the earlier ones whose values are equal in the label fields both frames have (instant queries
    share Time), else it becomes a row of its own."""
    frames: dict[str, list[dict]] = {}
    for row in rows:
        frames.setdefault(row["__ref"], []).append(row)
    out: list[dict] = []
    out_fields: set[str] = set()
    for ref_rows in frames.values():
        fields = {k for r in ref_rows for k in r if k not in ("Time", "__ref") and not k.startswith("Value")}
        common = sorted(fields & out_fields)
        index = {tuple(r.get(k) for k in common): r for r in out} if common else {}
        for row in ref_rows:
            target = index.get(tuple(row.get(k) for k in common)) if common else None
            if target is None:
                out.append(dict(row))
            else:
                target.update({k: v for k, v in row.items() if v is not None and k != "__ref"})
        out_fields |= fields
    return out


def transform(panel: dict, columns: list[str], rows: list[dict]) -> tuple[list[tuple[str, str]], list[dict]]:
    """Apply the panel's transformations: ([(field name, display name)], rows)."""
    order = [(c, c) for c in columns]
    for t in panel.get("transformations", []):
        if t.get("id") == "merge":
            rows = merge_rows(columns, rows)
        elif t.get("id") == "organize":
            opts = t.get("options", {})
            exclude = {k for k, v in (opts.get("excludeByName") or {}).items() if v}
            rename = opts.get("renameByName") or {}
            index = opts.get("indexByName") or {}
            order = [(c, rename.get(c, c)) for c, _ in order if c not in exclude]
            if index:
                order.sort(key=lambda cd: index.get(cd[0], len(index)))
    return order, rows


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
    stat_color: str = ""
    table_head: list[str] = field(default_factory=list)
    table_rows: list[list[Cell]] = field(default_factory=list)
    error: str = ""


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _mapping_colors(panel: dict) -> dict[str, tuple[str, str]]:
    out = {}
    for mp in panel.get("fieldConfig", {}).get("defaults", {}).get("mappings", []):
        for key, opt in mp.get("options", {}).items():
            out[key] = (opt.get("text", key), NAMED.get(opt.get("color"), opt.get("color", "#888")))
    return out


def _svg_lines(series, start, end, unit, height, threshold_lines=(), width: int = SVG_W) -> str:
    vals = [v for s in series for _, v in s[1] if not math.isnan(v)]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    lo = min(lo, 0.0)
    if hi == lo:
        hi = lo + 1
    pad_l, pad_b = 70, 16
    w, h = width - pad_l, height - pad_b
    parts = [f'<line x1="{pad_l}" y1="{h}" x2="{width}" y2="{h}" stroke="#555"/>',
             f'<text x="{pad_l - 4}" y="12" text-anchor="end">{html.escape(fmt(hi, unit))}</text>',
             f'<text x="{pad_l - 4}" y="{h}" text-anchor="end">{html.escape(fmt(lo, unit))}</text>',
             f'<text x="{pad_l}" y="{height - 2}">-1h</text>',
             f'<text x="{width}" y="{height - 2}" text-anchor="end">now</text>']
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
    for value, color in threshold_lines:      # thresholdsStyle "line": dashed at each step
        if lo <= value <= hi:
            y = h - (value - lo) / (hi - lo) * (h - 4)
            parts.append(f'<line class="threshold" x1="{pad_l}" y1="{y:.1f}" x2="{width}" y2="{y:.1f}" '
                         f'stroke="{color}" stroke-dasharray="4 3"/>')
    return _svg(parts, height, width)


def _svg_lanes(series, start, end, height, color_of, width: int = SVG_W) -> str:
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
            x = pad_l + (t - start) / (end - start) * (width - pad_l)
            x2 = pad_l + (t2 - start) / (end - start) * (width - pad_l)
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(x2 - x, 0.5):.1f}" '
                         f'height="{lane * 0.9:.1f}" fill="{color_of(v)}"/>')
    return _svg(parts, max(height, 2 + n * lane), width)


def _svg(parts: list[str], height: float, width: int = SVG_W) -> str:
    return (f'<svg class="chart" viewBox="0 0 {width} {height:.0f}" preserveAspectRatio="none" '
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
    raw = []         # (refId, series) for tables
    try:
        for t, (ref, expr) in zip(targets, exprs, strict=True):
            if panel["type"] in RANGE_TYPES:
                got = prom.query_range(expr, start, end, step)
            else:
                got = prom.query(expr, at=now)
            raw.append((ref, got))
            for s in got:
                collected.append((m.legend(t.get("legendFormat", ""), s.labels), s.points))
    except PromError as e:
        view.error = str(e)
    view.series_count = len(collected)
    height = gp["h"] * ROW_PX - 60
    width = SVG_W * gp["w"] // 12      # about the panel's pixels: text is not stretched
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    if panel["type"] == "timeseries":
        series = [(lbl, pts, _color(i)) for i, (lbl, pts) in enumerate(collected)]
        lines = []
        if (defaults.get("custom", {}).get("thresholdsStyle") or {}).get("mode", "off") != "off":
            lines = [(st["value"], _named(st.get("color"))) for st in
                     (defaults.get("thresholds") or {}).get("steps", []) if st.get("value") is not None]
        view.svg = _svg_lines(series, start, end, unit, max(height, 60), lines, width)
        view.lines = [Line(lbl, c, fmt(pts[-1][1], unit)) for lbl, pts, c in series if pts]
    elif panel["type"] == "state-timeline":
        colors = _mapping_colors(panel)
        series = [(lbl, pts, "") for lbl, pts in collected]
        view.svg = _svg_lanes(series, start, end, max(height, 40),
                              lambda v: colors.get(f"{v:g}", ("", "#555"))[1], width)
        seen = {f"{p[1]:g}" for _, pts in collected for p in pts}
        view.lines = [Line(text, color, "") for key, (text, color) in colors.items() if key in seen]
    elif panel["type"] == "heatmap":
        # Buckets are cumulative (le): Grafana's "heatmap" format shows each bucket's own count
        # (this bucket minus the one below it), darker = more jobs.
        buckets = decumulate(sorted(collected, key=lambda s: float(s[0]) if _num(s[0]) else math.inf))
        peak = max((v for _, pts in buckets for _, v in pts), default=1) or 1
        view.svg = _svg_lanes([(lbl, pts, "") for lbl, pts in buckets], start, end,
                              max(height, 40),
                              lambda v: f"rgba(255,152,48,{0.08 + 0.92 * v / peak:.2f})", width)
    elif panel["type"] == "table":
        _render_table(view, panel, raw)
    else:
        vals = [(lbl, pts[-1][1]) for lbl, pts in collected if pts]
        conf = field_config(panel, "Value", True)
        if panel["type"] in ("stat", "gauge"):
            if vals:
                view.stat_value, view.stat_color = display(vals[0][1], conf)
            elif defaults.get("noValue") is not None:     # Grafana's "No value" text
                view.stat_value = str(defaults["noValue"])
                view.stat_color = threshold_color(None, conf.get("thresholds"))
        top = max((abs(v) for _, v in vals), default=1) or 1
        mx = defaults.get("max") or top
        view.lines = []
        for i, (lbl, v) in enumerate(vals[:40]):
            text, color = display(v, conf)
            view.lines.append(Line(lbl, color if panel["type"] == "bargauge" else _color(i), text,
                                   min(abs(v) / mx, 1.0), value_color=color))
    return view


def _render_table(view: PanelView, panel: dict, raw: list[tuple[str, list]]) -> None:
    columns, rows = table_frame(raw, multi=len(panel.get("targets", [])) > 1)
    order, rows = transform(panel, columns, rows)
    sort_by = (panel.get("options", {}).get("sortBy") or [{}])[0]
    names = [disp for _, disp in order]
    if sort_by.get("displayName") in names:
        col = order[names.index(sort_by["displayName"])][0]
        rows.sort(key=lambda r: (r.get(col) is None, r.get(col) or 0), reverse=bool(sort_by.get("desc")))
    view.table_head = names
    for row in rows[:60]:
        cells = []
        for col, disp in order:
            v = row.get(col)
            if isinstance(v, float):
                conf = field_config(panel, disp, True)
                text, color = display(v, conf)
                mode = (conf["custom"].get("cellOptions") or {}).get("type") or conf["custom"].get("displayMode")
                if mode in ("color-text",):
                    cells.append(Cell(text, color=color))
                elif mode in ("color-background", "color-background-solid"):
                    cells.append(Cell(text, background=color))
                else:
                    cells.append(Cell(text))
            else:
                cells.append(Cell("" if v is None else str(v)))
        view.table_rows.append(cells)


def decumulate(buckets: list[tuple[str, list]]) -> list[tuple[str, list]]:
    """Cumulative `le` buckets (sorted by bound) -> each bucket's own count, per timestamp."""
    out: list[tuple[str, list]] = []
    below: dict[float, float] = {}
    for label, pts in buckets:
        out.append((label, [(t, v - below.get(t, 0.0)) for t, v in pts]))
        below = dict(pts)
    return out


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
