"""The rules in alerts/: promtool accepts them and every unit test passes, the conventions hold
(lint), every alert is proven firing and silent (coverage), every metric name is real."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from need import found
from slurmops.rules import build, coverage, lint, metricnames, promtool, promtool_test_files, rule_files

REPO = Path(__file__).resolve().parents[3]
ALERTS = REPO / "alerts"
RUNBOOKS = REPO / "runbooks"



def test_rule_and_test_files_exist():
    assert len(rule_files(ALERTS)) >= 9
    rules = {p.name.removesuffix(".rules.yml") for p in rule_files(ALERTS)}
    tests = {p.name.removesuffix(".test.yml") for p in promtool_test_files(ALERTS)}
    assert rules == tests, "every rule file has its test file beside it"


def test_promtool_check_rules(promtool_bin):
    r = promtool.check_rules(rule_files(ALERTS))
    assert r.ok, r.output


@pytest.mark.parametrize("test_file", found(promtool_test_files(ALERTS), "promtool test files in alerts/"),
                         ids=lambda p: p.name)
def test_promtool_test_rules(test_file, promtool_bin):
    r = promtool.test_rules([test_file])
    assert r.ok, r.output


def test_generated_files_match_templates_and_thresholds():
    assert build.check(ALERTS) == [], "run `slurmops alerts build`"


def test_lint_passes():
    """Every rule follows the conventions and links a runbook that exists (definition and doc)."""
    assert [str(p) for p in lint.lint(ALERTS, RUNBOOKS)] == []


def test_coverage_every_alert_fires_and_stays_silent():
    lines, failures = coverage.report(ALERTS)
    assert failures == [], "\n".join(failures)
    assert len(lines) >= 30


def test_every_metric_name_is_documented_or_listed():
    assert metricnames.unknown(ALERTS, REPO / "docs") == {}


def test_external_metrics_name_their_source():
    for name, spec in metricnames.external(ALERTS / "external-metrics.yml").items():
        assert spec["source"].strip(), name


# ---- the checks themselves catch what they claim to -------------------------------------------

BAD_RULES = """
groups:
  - name: bad
    rules:
      - alert: slurm_down_lowercase
        expr: up == 0
        for: 10s
        labels: {severity: page}
        annotations:
          summary: "Slurm {{ $labels.cluster }} down"
          description: plain text
          runbook_url: https://elsewhere.example/x
      - alert: NoForAtAll
        expr: vector(1)
        labels: {severity: info}
        annotations: {summary: Fine., description: "{{ $value }}", runbook_url: runbooks/docs/nope.md}
      - record: not_a_level_name
        expr: vector(1)
"""


def test_lint_flags_each_broken_convention(tmp_path):
    f = tmp_path / "bad.rules.yml"
    f.write_text(BAD_RULES)
    (tmp_path / "runbooks" / "docs").mkdir(parents=True)
    problems = lint.lint_rules([f], {"scrape_interval": "30s", "runbook_base_url": "runbooks/docs/"},
                               tmp_path / "runbooks")
    codes = {(p.rule, p.code) for p in problems}
    assert ("slurm_down_lowercase", "alert-name") in codes
    assert ("slurm_down_lowercase", "severity") in codes
    assert ("slurm_down_lowercase", "summary") in codes          # templated and no period
    assert ("slurm_down_lowercase", "description") in codes      # not templated
    assert ("slurm_down_lowercase", "runbook") in codes          # not base + name.md
    assert ("slurm_down_lowercase", "for-absent") in codes       # up == 0 for 10s < 2 x 30s
    assert ("NoForAtAll", "for") in codes
    assert ("NoForAtAll", "runbook-missing") in codes
    assert ("NoForAtAll", "runbook-doc-missing") in codes
    assert ("not_a_level_name", "record-name") in codes


def test_lint_limits_group_size_and_name_length(tmp_path):
    rule = {"expr": "vector(1)", "for": "5m", "labels": {"severity": "info"},
            "annotations": {"summary": "S.", "description": "{{ $value }}", "runbook_url": "runbooks/docs/x.md"}}
    rules = [dict(rule, alert=f"Alert{i}") for i in range(21)] + [dict(rule, alert="A" + "b" * 40)]
    f = tmp_path / "big.rules.yml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "big", "rules": rules}]}))
    codes = {p.code for p in lint.lint_rules([f], {}, tmp_path)}
    assert {"group-size", "alert-name-length"} <= codes


def test_metric_names_are_extracted_from_promql():
    expr = ('sum by (cluster, instance) (rate(slurm_x_total{job="slurm", a=~"b|c"}[5m])) / on (cluster) '
            'group_left slurm_y offset 1h > 2 * 1e3 and absent(up{job="x"}) unless level:rec:sum')
    assert metricnames.names_in_expr(expr) == {"slurm_x_total", "slurm_y", "up", "level:rec:sum"}


def test_build_renders_a_test_profile(tmp_path):
    out = tmp_path / "rules"
    build.write(ALERTS, out, build.load_thresholds(ALERTS, for_all="10s"))
    fors = {r["for"] for p in out.glob("*.rules.yml")
            for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"] if "alert" in r}
    assert fors == {"10s"}
    # ... and the committed files are untouched
    assert build.check(ALERTS) == []


def test_cli_group_runs():
    from click.testing import CliRunner

    from slurmops.rules.cli import alerts
    r = CliRunner().invoke(alerts, ["coverage", "--alerts-dir", str(ALERTS)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(alerts, ["build", "--check", "--alerts-dir", str(ALERTS)])
    assert r.exit_code == 0, r.output
