"""Checks every generated dashboard must pass (the unit tests run them; `dashboards check` too)."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from . import model as m

MODERN_TYPES = {"timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "state-timeline"}
DEPRECATED_TYPES = {"graph", "singlestat", "table-old", "grafana-piechart-panel",
                    "natel-discrete-panel", "flant-statusmap-panel", "grafana-worldmap-panel"}
MIN_SCHEMA_VERSION = 36   # Grafana 9+: every panel type above exists without Angular
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}


def lint(models: dict[str, dict]) -> list[str]:
    """Problems across all dashboards (empty list when all is well)."""
    problems: list[str] = []
    uids: dict[object, str] = {}
    for name, d in sorted(models.items()):
        problems += [f"{name}: {p}" for p in lint_one(d)]
        uid = d.get("uid")
        if uid in uids:
            problems.append(f"{name}: uid {uid!r} also used by {uids[uid]}")
        uids[uid] = name
    return problems


def lint_one(d: dict) -> list[str]:
    problems = []
    if not d.get("uid") or len(d["uid"]) > 40:
        problems.append(f"uid {d.get('uid')!r} missing or longer than Grafana's 40 characters")
    if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < MIN_SCHEMA_VERSION:
        problems.append(f"schemaVersion {d.get('schemaVersion')!r} < {MIN_SCHEMA_VERSION}")
    if d.get("rows"):
        problems.append("uses legacy `rows`; use panels with gridPos")
    var_names = [v["name"] for v in m.variables(d)]
    problems += _lint_variables(d)
    ids: set[int] = set()
    for p in d.get("panels", []):
        pid = p.get("id")
        if not isinstance(pid, int) or pid in ids:
            problems.append(f"panel {p.get('title')!r}: id {pid!r} missing or not unique")
        ids.add(pid)
        gp = p.get("gridPos") or {}
        if not all(isinstance(gp.get(k), int) for k in "hwxy") or gp["x"] + gp["w"] > 24:
            problems.append(f"panel {p.get('title')!r}: bad gridPos {gp}")
    for p in m.panels(d):
        problems += [f"panel {p.get('title')!r}: {x}" for x in _lint_panel(p, set(var_names))]
    return problems


def _lint_panel(p: dict, var_names: set[str]) -> list[str]:
    out = []
    t = p.get("type")
    if t in DEPRECATED_TYPES or t not in MODERN_TYPES:
        out.append(f"type {t!r} is not one of {sorted(MODERN_TYPES)}")
    if not p.get("title"):
        out.append("no title")
    if p.get("datasource") != DATASOURCE_REF:
        out.append(f"datasource {p.get('datasource')!r} is not the $datasource variable")
    if not m.unit(p):
        out.append("no unit")
    targets = p.get("targets") or []
    if not targets:
        out.append("no target")
    refs = [x.get("refId") for x in targets]
    if len(set(refs)) != len(refs):
        out.append(f"duplicate refIds {refs}")
    for x in targets:
        if x.get("datasource") != DATASOURCE_REF:
            out.append(f"target {x.get('refId')}: datasource is not the $datasource variable")
        if not (x.get("expr") or "").strip():
            out.append(f"target {x.get('refId')}: empty expr")
        unknown = m.referenced_vars(x.get("expr", "")) - var_names - set(m.BUILTINS)
        if unknown:
            out.append(f"target {x.get('refId')}: unknown variables {sorted(unknown)}")
    for link in p.get("links", []):
        if not link.get("url") or not link.get("title"):
            out.append(f"link {link} needs title and url")
    return out


def _lint_variables(d: dict) -> list[str]:
    out = []
    seen: set[object] = set()
    for v in m.variables(d):
        name = v.get("name")
        if not name or name in seen:
            out.append(f"variable {name!r} missing or duplicated")
        if v.get("type") == "datasource":
            if v.get("query") != "prometheus":
                out.append(f"variable {name}: datasource variable must select prometheus")
        elif v.get("type") == "query":
            if v.get("datasource") != DATASOURCE_REF:
                out.append(f"variable {name}: datasource is not the $datasource variable")
            try:
                sel, _label = m.parse_label_values(v.get("query", ""))
            except ValueError as e:
                out.append(f"variable {name}: {e}")
                sel = None
            # Variables may only use variables defined before them (Grafana resolves in order).
            used = m.referenced_vars(sel or "")
            if used - seen:
                out.append(f"variable {name}: uses {sorted(used - seen)} not defined before it")
        else:
            out.append(f"variable {name}: unexpected type {v.get('type')!r}")
        seen.add(name)
    for need in ("datasource", "cluster"):
        if need not in seen:
            out.append(f"no ${need} variable")
    return out


def sample_values(d: dict) -> dict[str, str]:
    """Concrete values for parse checks (any syntactically fine value works)."""
    return {v["name"]: "x" for v in m.variables(d)}


def promtool_check(models: dict[str, dict], promtool: str | None = None) -> list[str]:
    """Every expression and variable selector, with variables substituted, through
    `promtool check rules` as recording rules. Returns problems; [] when promtool agrees."""
    from ..rules.promtool import binary
    promtool = promtool or binary()       # $PROMTOOL, else PATH; PromtoolMissing if neither
    rules: list[dict[str, Any]] = []
    for _name, d in sorted(models.items()):
        values = sample_values(d)
        for q in m.queries(d):
            rules.append({"record": f"slurmops:check:{len(rules)}",
                          "expr": m.substitute(q.expr, values),
                          "labels": {"where": q.key}})
        for v in m.variables(d):
            if v.get("type") == "query":
                sel, _ = m.parse_label_values(v["query"])
                if sel:
                    rules.append({"record": f"slurmops:check:{len(rules)}",
                                  "expr": m.substitute(sel, values),
                                  "labels": {"where": f"{d['uid']}/$" + v["name"]}})
    doc = {"groups": [{"name": "slurmops-dashboards", "rules": rules}]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dashboards.rules.yml"
        path.write_text(yaml.safe_dump(doc, sort_keys=True))
        r = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                           text=True, timeout=120)
    if r.returncode != 0:
        return [(r.stdout + r.stderr).strip()]
    return []
