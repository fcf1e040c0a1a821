"""The rules, their promtool tests, the dashboards' expressions, the lab's Prometheus config and the
Alertmanager configs, judged by two generations of Prometheus' own tools: promtool 2.42 and amtool
0.25 from the host's Debian 12, and promtool 3.5 and amtool 0.33 from Debian forky (the root
filesystem the lab's 26.05 generation runs, which carries Prometheus and Alertmanager; built with
mmdebstrap when absent, cached like the lab's). Every check runs with both and fails on either.

forky's programs run on the host with forky's own loader and C library (rootfs.host_argv): no
chroot, so the repository's files are read where they are. Prometheus 3 changes that matter here:
range selectors are left-open (a sample exactly at the window's start is out), `.` in regexes
matches newlines, `le`/`quantile` values are normalized to floats, UTF-8 names are valid."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

import need
from slurmops.grafana import generate, lint
from slurmops.lab import rootfs
from slurmops.lab.config import LabConfig
from slurmops.lab.generations import GENERATIONS
from slurmops.lab.platform import Lab
from slurmops.rules import build, promtool, promtool_test_files, rule_files

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "alerts"
# version: where its tools come from (None: the host's Debian 12 packages)
VERSIONS = {"2.42": None, "3.5": "26.05"}
AMTOOL = {"2.42": "0.25.", "3.5": "0.33."}


@pytest.fixture(scope="module")
def forky_root() -> Path:
    if os.geteuid() != 0:
        need.absent("building a root filesystem with mmdebstrap needs root")
    gen = GENERATIONS["26.05"]
    assert gen.prometheus_in_rootfs, "the 26.05 generation no longer carries Prometheus"
    try:
        return rootfs.ensure(gen.suite, gen.rootfs_packages)
    except rootfs.RootfsError as exc:
        pytest.fail(str(exc))


def _wrapper(tmp: Path, name: str, argv: list[str]) -> str:
    """One executable path for code that takes a program path ($PROMTOOL, lint's promtool=)."""
    path = tmp / name
    path.write_text(f"#!/bin/sh\nexec {shlex.join(argv)} \"$@\"\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture(scope="module", params=list(VERSIONS))
def tools(request, tmp_path_factory) -> dict[str, str]:
    """{"version", "promtool", "amtool"} of one Prometheus generation."""
    version = request.param
    if VERSIONS[version] is None:
        return {"version": version, "promtool": need.binary("promtool", "Debian: apt install prometheus"),
                "amtool": need.binary("amtool", "Debian: apt install prometheus-alertmanager")}
    root = request.getfixturevalue("forky_root")
    tmp = tmp_path_factory.mktemp(f"prom-{version}")
    return {"version": version,
            "promtool": _wrapper(tmp, "promtool", rootfs.host_argv(root, "/usr/bin/promtool")),
            "amtool": _wrapper(tmp, "amtool", rootfs.host_argv(root, "/usr/bin/amtool"))}


@pytest.fixture
def use_promtool(tools, monkeypatch) -> str:
    monkeypatch.setenv("PROMTOOL", tools["promtool"])
    return tools["promtool"]


def _run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_the_tools_are_the_versions_named(tools):
    """Not vacuous: the host's tools are 2.42/0.25 and forky's 3.5/0.33 (the versions the
    issue names), so each check below really ran on that version."""
    r = _run([tools["promtool"], "--version"])
    assert r.returncode == 0, r.stderr
    assert re.search(rf"^promtool, version {re.escape(tools['version'])}\.", r.stdout, re.M), r.stdout
    r = _run([tools["amtool"], "--version"])
    assert r.returncode == 0, r.stderr
    assert f"amtool, version {AMTOOL[tools['version']]}" in r.stdout + r.stderr


def test_check_rules(use_promtool):
    r = promtool.check_rules(rule_files(ALERTS))
    assert r.ok, r.output


def test_promtool_rule_tests_pass(use_promtool):
    files = promtool_test_files(ALERTS)
    r = promtool.test_rules(files)
    assert r.ok, r.output
    assert r.output.count("SUCCESS") == len(files), r.output


def test_a_failing_rule_test_fails(use_promtool, tmp_path):
    """The same path reports a failure on this version (a wrong expected label)."""
    (tmp_path / "x.rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [
        {"alert": "X", "expr": "up == 0", "labels": {"severity": "warning"}}]}]}))
    (tmp_path / "x.test.yml").write_text(yaml.safe_dump({
        "rule_files": ["x.rules.yml"], "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": [{"series": 'up{job="a"}', "values": "0x5"}],
                   "alert_rule_test": [{"eval_time": "3m", "alertname": "X", "exp_alerts": [
                       {"exp_labels": {"severity": "critical", "job": "a"}}]}]}]}))
    r = promtool.test_rules([tmp_path / "x.test.yml"])
    assert not r.ok and "FAILED" in r.output, r.output


def test_dashboard_expressions_parse(tools):
    models = {b.name: b.model for b in generate.build_all(generate.SOURCE_DIR)}
    assert lint.promtool_check(models, promtool=tools["promtool"]) == []


def test_lab_prometheus_config_and_rules_load(tools, tmp_path):
    """`promtool check config` on the config `lab up` writes, with every rule file of alerts/ (and
    the test profile the e2e test loads) in its rules directory: what the lab's Prometheus loads."""
    lab = Lab(LabConfig(dir=tmp_path / "lab", cluster="promcheck", node_prefix="pc"))
    lab.render()
    rules_dir = tmp_path / "lab" / "prometheus" / "rules"
    written = build.write(ALERTS, rules_dir, build.load_thresholds(ALERTS, for_all="10s"))
    assert written
    r = _run([tools["promtool"], "check", "config", str(tmp_path / "lab" / "prometheus" / "prometheus.yml")])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("SUCCESS") >= len(written) + 1, r.stdout


@pytest.mark.parametrize("config", ["alerts/alertmanager.yml", "lab"])
def test_alertmanager_configs(tools, config, tmp_path):
    if config == "lab":
        Lab(LabConfig(dir=tmp_path / "lab", cluster="amcheck", node_prefix="ac")).render()
        path = tmp_path / "lab" / "alertmanager" / "alertmanager.yml"
    else:
        path = REPO / config
    r = _run([tools["amtool"], "check-config", str(path)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout, r.stdout
