"""Reading generated dashboard JSON: panels, queries, variables, and substituting Grafana
variables with concrete values (for the lab proof, promtool and the preview)."""
from __future__ import annotations

import re
from dataclasses import dataclass

# Grafana's built-in interval variables, with values that suit a 5 s..1 m scrape interval.
BUILTINS = {"__rate_interval": "1m", "__interval": "30s", "__range": "1h",
            "__range_s": "3600", "__interval_ms": "30000"}
# `$1` in label_replace is a regex group, not a variable: names start with a letter or `_`.
_VAR = re.compile(r"\$\{([A-Za-z_]\w*)(?::\w+)?\}|\[\[([A-Za-z_]\w*)\]\]|\$([A-Za-z_]\w*)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<sel>.*),\s*)?(?P<label>\w+)\s*\)\s*$", re.S)


@dataclass(frozen=True)
class Query:
    dashboard: str   # uid
    panel_id: int
    panel_title: str
    panel_type: str
    ref: str
    expr: str
    instant: bool
    legend: str

    @property
    def key(self) -> str:
        return f"{self.dashboard}/{self.panel_title}/{self.ref}"


def panels(model: dict) -> list[dict]:
    """Every panel, rows' nested panels included, rows themselves excluded."""
    out = []
    for p in model.get("panels", []):
        if p.get("type") == "row":
            out.extend(p.get("panels", []))
        else:
            out.append(p)
    return out


def rows(model: dict) -> list[dict]:
    return [p for p in model.get("panels", []) if p.get("type") == "row"]


def queries(model: dict) -> list[Query]:
    out = []
    for p in panels(model):
        for t in p.get("targets", []):
            out.append(Query(model["uid"], p["id"], p.get("title", ""), p.get("type", ""),
                             t.get("refId", ""), t.get("expr", ""), bool(t.get("instant")),
                             t.get("legendFormat", "")))
    return out


def variables(model: dict) -> list[dict]:
    return list(model.get("templating", {}).get("list", []))


def unit(panel: dict) -> str:
    return panel.get("fieldConfig", {}).get("defaults", {}).get("unit") or ""


def referenced_vars(expr: str) -> set[str]:
    return {a or b or c for a, b, c in _VAR.findall(expr)}


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace `$var`, `${var}`, `${var:fmt}` and `[[var]]`; unknown names raise KeyError."""
    merged = {**BUILTINS, **values}

    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in merged:
            raise KeyError(f"no value for ${name} in {expr!r}")
        return merged[name]
    return _VAR.sub(sub, expr)


def parse_label_values(query: str) -> tuple[str | None, str]:
    """`label_values(sel, label)` -> (sel, label); ValueError for any other variable query."""
    m = _LABEL_VALUES.match(query)
    if not m:
        raise ValueError(f"variable query {query!r} is not label_values(<selector>, <label>)")
    return m.group("sel"), m.group("label")


def legend(fmt: str, labels: dict[str, str]) -> str:
    if not fmt:
        return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())
                               if k != "__name__") + "}"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)
