"""The conventions every rule file in alerts/ follows, checked (promtool checks syntax; this checks
what an on-call person relies on). Each problem names the file, the rule and a code, so a test can
tolerate exactly the problems it expects and nothing else."""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from slurmops.runbook import links

from . import rule_files
from .build import BuildError, check as drift_check, load_thresholds

SEVERITIES = {"critical", "warning", "info"}
MAX_NAME = 40
MAX_RULES_PER_GROUP = 20
ALERT_NAME = re.compile(r"^[A-Z][a-z0-9]*(?:[A-Z][a-z0-9]*|[A-Z]+(?=[A-Z]|$))*$")
RECORD_NAME = re.compile(r"^[a-z][a-z0-9_]*:[A-Za-z_][A-Za-z0-9_]*:[a-z0-9_]+$")
# "Is it there?" alerts: one missed scrape must not fire them.
ABSENT_STYLE = re.compile(r"\babsent(?:_over_time)?\s*\(|\bup\s*(?:\{|==|<)|\bslurm_up\b")
DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
RUNBOOK_DEF = re.compile(r"""\bname\s*=\s*["']([A-Za-z0-9_.-]+)["']""")


@dataclass(frozen=True)
class Problem:
    file: str
    rule: str
    code: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.rule}" if self.rule else self.file
        return f"{where}: [{self.code}] {self.message}"


def seconds(duration: str) -> float | None:
    m = DURATION.match(str(duration).strip())
    if not m or not any(m.groups()):
        return None
    return sum(int(v) * u for v, u in zip(m.groups(), UNITS, strict=True) if v)


def defined_runbooks(runbooks_dir: Path) -> set[str]:
    """Names of runbook definitions (``runbooks/*.py`` with ``RUNBOOK = Runbook(name=...)``), read
    as text: linting rules must not execute runbook code."""
    names = set()
    for path in sorted(runbooks_dir.glob("*.py")):
        if path.name.startswith("_"):
            continue
        text = path.read_text()
        if "RUNBOOK" in text:
            m = RUNBOOK_DEF.search(text)
            if m:
                names.add(m.group(1))
    return names


def runbook_name(url: str, base: str) -> str | None:
    if not url.startswith(base) or not url.endswith(".md"):
        return None
    name = url[len(base): -len(".md")]
    return name if re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) else None


def lint_rules(files: Iterable[Path], thresholds: dict[str, Any], runbooks_dir: Path) -> list[Problem]:
    problems: list[Problem] = []
    scrape = seconds(thresholds.get("scrape_interval", "30s")) or 30
    base = links.configured_base(thresholds)
    books = defined_runbooks(runbooks_dir) if runbooks_dir.is_dir() else set()
    docs = runbooks_dir / "docs"
    seen_alerts: dict[str, str] = {}
    seen_groups: dict[str, str] = {}
    for path in files:
        f = path.name
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            problems.append(Problem(f, "", "yaml", str(exc)))
            continue
        for group in doc.get("groups") or []:
            gname = group.get("name", "")
            if gname in seen_groups:
                problems.append(Problem(f, gname, "group-duplicate", f"group name also used in {seen_groups[gname]}"))
            seen_groups[gname] = f
            rules = group.get("rules") or []
            if len(rules) > MAX_RULES_PER_GROUP:
                problems.append(Problem(f, gname, "group-size",
                                        f"{len(rules)} rules in one group (at most {MAX_RULES_PER_GROUP})"))
            for rule in rules:
                if "record" in rule:
                    if not RECORD_NAME.match(rule["record"]):
                        problems.append(Problem(f, rule["record"], "record-name",
                                                "recording rules are named level:metric:operations"))
                    continue
                problems += _lint_alert(f, rule, scrape, base, books, docs, seen_alerts)
    return problems


def _lint_alert(f: str, rule: dict, scrape: float, base: str, books: set[str], docs: Path,
                seen: dict[str, str]) -> list[Problem]:
    out: list[Problem] = []
    name = str(rule.get("alert", ""))

    def p(code: str, msg: str) -> None:
        out.append(Problem(f, name, code, msg))

    if name in seen:
        p("alert-duplicate", f"alert name also used in {seen[name]}")
    seen[name] = f
    if not ALERT_NAME.match(name):
        p("alert-name", "alert names are CamelCase")
    if len(name) > MAX_NAME:
        p("alert-name-length", f"{len(name)} characters (at most {MAX_NAME})")
    labels = rule.get("labels") or {}
    if labels.get("severity") not in SEVERITIES:
        p("severity", f"labels.severity must be one of {', '.join(sorted(SEVERITIES))}")
    ann = rule.get("annotations") or {}
    summary = str(ann.get("summary", "")).strip()
    if not summary:
        p("summary", "annotations.summary is missing")
    else:
        if "{{" in summary:
            p("summary", "summary is plain text (put labels and values in the description)")
        if not summary.endswith("."):
            p("summary", "summary ends with a period")
    desc = str(ann.get("description", ""))
    if not desc.strip():
        p("description", "annotations.description is missing")
    elif "{{" not in desc:
        p("description", "description is templated (name the cluster, node, job, value ...)")
    url = str(ann.get("runbook_url", ""))
    if not url:
        p("runbook", "annotations.runbook_url is missing")
    else:
        rb = runbook_name(url, base)
        if rb is None:
            p("runbook", f"runbook_url {url!r} is not {base}<runbook name>.md")
        else:
            if rb not in books:
                p("runbook-missing", f"no runbook definition named {rb!r} in {docs.parent}/")
            if not (docs / f"{rb}.md").is_file():
                p("runbook-doc-missing", f"{docs}/{rb}.md does not exist")
    if "for" not in rule:
        p("for", "every alert has a `for`")
    else:
        s = seconds(rule["for"])
        if s is None or s <= 0:
            p("for", f"`for: {rule['for']}` is not a positive duration")
        elif ABSENT_STYLE.search(str(rule.get("expr", ""))) and s < 2 * scrape:
            p("for-absent", f"`for: {rule['for']}` is shorter than 2x the scrape interval ({scrape:g}s)")
    return out


def lint(alerts_dir: Path, runbooks_dir: Path | None = None, thresholds: dict | None = None,
         files: list[Path] | None = None, drift: bool = True) -> list[Problem]:
    runbooks_dir = runbooks_dir or alerts_dir.parent / "runbooks"
    thresholds = thresholds if thresholds is not None else load_thresholds(alerts_dir)
    problems = lint_rules(files if files is not None else rule_files(alerts_dir), thresholds, runbooks_dir)
    if drift:
        try:
            for d in drift_check(alerts_dir):
                problems.append(Problem(d.name, "", "drift",
                                        f"{d.problem} compared with alerts/src + thresholds.yml "
                                        "(run `slurmops alerts build`)"))
        except BuildError as exc:
            problems.append(Problem("alerts/src", "", "build", str(exc)))
    return problems
