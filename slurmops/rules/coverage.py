"""Every alert must be proven both ways by promtool: at least one test where it fires with its exact
labels and annotations (promtool compares both sets exactly, so naming severity and the three
annotations means the whole alert is pinned), and at least one where it stays silent. Every
recording rule must be evaluated by name in a ``promql_expr_test`` with its exact samples."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import promtool_test_files, rule_files

REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url")


@dataclass
class AlertCoverage:
    name: str
    file: str
    fires: list[str] = field(default_factory=list)     # "<test file>@<eval_time>"
    silent: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.fires) and bool(self.silent) and not self.problems


def alerts_in(files: list[Path]) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in files:
        doc = yaml.safe_load(path.read_text()) or {}
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" in rule:
                    out[rule["alert"]] = path.name
    return out


def records_in(files: list[Path]) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in files:
        doc = yaml.safe_load(path.read_text()) or {}
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                if "record" in rule:
                    out[rule["record"]] = path.name
    return out


def recording_coverage(alerts_dir: Path) -> dict[str, list[str]]:
    """{recorded name: ["<test file>@<eval_time>" where a promql_expr_test evaluates exactly it]}."""
    cov: dict[str, list[str]] = {name: [] for name in records_in(rule_files(alerts_dir))}
    for tf in promtool_test_files(alerts_dir):
        doc = yaml.safe_load(tf.read_text()) or {}
        for case in doc.get("tests") or []:
            for t in case.get("promql_expr_test") or []:
                expr = str(t.get("expr", "")).strip()
                if expr in cov and t.get("exp_samples"):
                    cov[expr].append(f"{tf.name}@{t.get('eval_time')}")
    return cov


def coverage(alerts_dir: Path) -> tuple[dict[str, AlertCoverage], list[str]]:
    """(per alert coverage, problems with the test files themselves)."""
    cov = {name: AlertCoverage(name, f) for name, f in alerts_in(rule_files(alerts_dir)).items()}
    general: list[str] = []
    for tf in promtool_test_files(alerts_dir):
        doc = yaml.safe_load(tf.read_text()) or {}
        for rf in doc.get("rule_files") or []:
            if not (tf.parent / rf).resolve().is_file():
                general.append(f"{tf.name}: rule file {rf} does not exist")
        for case in doc.get("tests") or []:
            for art in case.get("alert_rule_test") or []:
                name = art.get("alertname")
                where = f"{tf.name}@{art.get('eval_time')}"
                if name not in cov:
                    general.append(f"{where}: tests unknown alert {name!r}")
                    continue
                exp = art.get("exp_alerts") or []
                if not exp:
                    cov[name].silent.append(where)
                    continue
                for e in exp:
                    labels = e.get("exp_labels") or {}
                    ann = e.get("exp_annotations") or {}
                    missing = [a for a in REQUIRED_ANNOTATIONS if a not in ann]
                    if "severity" not in labels:
                        cov[name].problems.append(f"{where}: exp_labels lacks severity")
                    if missing:
                        cov[name].problems.append(f"{where}: exp_annotations lacks {', '.join(missing)}")
                cov[name].fires.append(where)
    return cov, general


def report(alerts_dir: Path) -> tuple[list[str], list[str]]:
    """(lines for every alert, failures)."""
    cov, general = coverage(alerts_dir)
    lines, failures = [], list(general)
    for c in sorted(cov.values(), key=lambda c: (c.file, c.name)):
        state = "ok" if c.ok else "MISSING"
        lines.append(f"{state:8} {c.name:40} fires: {len(c.fires)}  silent: {len(c.silent)}  ({c.file})")
        if not c.fires:
            failures.append(f"{c.name}: no test where it fires")
        if not c.silent:
            failures.append(f"{c.name}: no test where it stays silent")
        failures += [f"{c.name}: {p}" for p in c.problems]
    for name, where in sorted(recording_coverage(alerts_dir).items()):
        lines.append(f"{'ok' if where else 'MISSING':8} {name:60} tested: {len(where)}  (recording)")
        if not where:
            failures.append(f"{name}: recording rule with no promql_expr_test that checks its samples")
    return lines, failures
