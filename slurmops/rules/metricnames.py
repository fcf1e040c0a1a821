"""Which metric names the rules and their tests use, and whether each one is real: documented by our
exporters (docs/metrics.md, docs/metrics-jobs.md, generated from their code) or listed, with its
source, in alerts/external-metrics.yml (node_exporter, DCGM exporter, Prometheus itself)."""
from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import yaml

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
            "unless", "inf", "nan", "atan2", "start", "end"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_MODIFIER = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:]|\s*\()")
_DOC_NAME = re.compile(r"^\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|\s*(\w+)", re.M)


def names_in_expr(expr: str) -> set[str]:
    s = _STRING.sub('""', expr)
    s = _MODIFIER.sub(" ", s)
    s = _MATCHERS.sub(" ", s)
    s = _RANGE.sub(" ", s)
    out = set()
    for m in _IDENT.finditer(s):
        name = m.group(1)
        if name.lower() in KEYWORDS or re.fullmatch(r"\d.*", name):
            continue
        out.add(name)
    return out


def name_of_series(series: str) -> str:
    return re.split(r"[{\s]", series.strip(), maxsplit=1)[0]


def used_names(rule_paths: Iterable[Path], test_paths: Iterable[Path]) -> tuple[dict[str, set[str]], set[str]]:
    """({metric name: {where used}}, recorded names)."""
    used: dict[str, set[str]] = {}
    recorded: set[str] = set()

    def add(name: str, where: str) -> None:
        used.setdefault(name, set()).add(where)

    for path in rule_paths:
        doc = yaml.safe_load(path.read_text()) or {}
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                if "record" in rule:
                    recorded.add(rule["record"])
                for n in names_in_expr(str(rule.get("expr", ""))):
                    add(n, f"{path.name}:{rule.get('alert') or rule.get('record')}")
    for path in test_paths:
        doc = yaml.safe_load(path.read_text()) or {}
        for case in doc.get("tests") or []:
            for s in case.get("input_series") or []:
                add(name_of_series(s["series"]), f"{path.name}:input_series")
            for t in case.get("promql_expr_test") or []:
                for n in names_in_expr(t.get("expr", "")):
                    add(n, f"{path.name}:promql_expr_test")
    return used, recorded


def documented(doc_paths: Iterable[Path]) -> set[str]:
    """Names from our generated metric docs (first table column), histograms with their series."""
    out = set()
    for path in doc_paths:
        if not path.exists():
            continue
        for name, kind in _DOC_NAME.findall(path.read_text()):
            out.add(name)
            if kind == "histogram":
                out |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return out


def external(path: Path) -> dict[str, dict]:
    """{name: {exporter, source}} from alerts/external-metrics.yml."""
    doc = yaml.safe_load(path.read_text()) or {}
    out = {}
    for exporter, spec in (doc.get("exporters") or {}).items():
        for name in spec.get("metrics") or []:
            out[name] = {"exporter": exporter, "source": spec.get("source", "")}
    return out


def unknown(alerts_dir: Path, docs_dir: Path) -> dict[str, set[str]]:
    """{name: where used} for every used name nobody vouches for."""
    from . import promtool_test_files, rule_files
    used, recorded = used_names(rule_files(alerts_dir), promtool_test_files(alerts_dir))
    known = documented([docs_dir / "metrics.md", docs_dir / "metrics-jobs.md"])
    known |= set(external(alerts_dir / "external-metrics.yml"))
    known |= recorded
    return {n: w for n, w in used.items() if n not in known}
