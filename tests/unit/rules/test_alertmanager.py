"""alerts/alertmanager.yml, judged by Alertmanager's own tool: `amtool check-config` accepts it and
`amtool config routes test` sends every alert of alerts/*.rules.yml, with its real severity, to the
receiver the routing policy in that file promises. Inhibition is proven on a running Alertmanager in
tests/lab/test_alertmanager_lab.py (amtool cannot evaluate inhibit rules)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

import need
from slurmops.rules import rule_files

REPO = Path(__file__).resolve().parents[3]
ALERTS = REPO / "alerts"
CONFIG = ALERTS / "alertmanager.yml"

@pytest.fixture(autouse=True)
def _amtool() -> None:
    need.binary("amtool", "Debian: apt install prometheus-alertmanager")

USER_SUPPORT = {"SlurmJobOOMKilled", "SlurmJobMemoryNearLimit", "SlurmJobCPUInefficient", "SlurmJobGPUIdle"}
BY_SEVERITY = {"critical": "slurm-pager", "warning": "slurm-chat", "info": "slurm-tickets"}


def amtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["amtool", *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def route(**labels: str) -> str:
    r = amtool("config", "routes", "test", f"--config.file={CONFIG}", *(f"{k}={v}" for k, v in labels.items()))
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def alerts() -> dict[str, dict]:
    out = {}
    for path in rule_files(ALERTS):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" in rule:
                    out[rule["alert"]] = rule
    return out


def test_amtool_check_config_accepts_it():
    r = amtool("check-config", str(CONFIG))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


@pytest.mark.parametrize("name", sorted(alerts()))
def test_every_alert_routes_by_its_severity(name):
    severity = alerts()[name]["labels"]["severity"]
    want = "slurm-user-support" if name in USER_SUPPORT else BY_SEVERITY[severity]
    assert route(alertname=name, severity=severity, cluster="hpc1") == want


def test_test_and_dev_clusters_never_page():
    assert route(alertname="SlurmctldDown", severity="critical", cluster="test-a") == "slurm-tickets"
    assert route(alertname="SlurmctldDown", severity="critical", cluster="dev-gpu") == "slurm-tickets"
    assert route(alertname="SlurmctldDown", severity="critical", cluster="testbed") == "slurm-pager"


def test_alerts_outside_the_policy_go_to_tickets():
    assert route(alertname="SomethingElse") == "slurm-tickets"


def _inhibit_targets(source: str) -> re.Pattern:
    rules = yaml.safe_load(CONFIG.read_text())["inhibit_rules"]
    for rule in rules:
        if rule["source_matchers"] == [f'alertname="{source}"']:
            (m,) = rule["target_matchers"]
            return re.compile(re.fullmatch(r'alertname=~"(.*)"', m).group(1))
    raise AssertionError(f"no inhibit rule with source {source}")


def test_slurmctld_down_inhibits_every_alert_that_reads_slurmctld():
    """Every alert of the files fed by slurmctld (nodes, queue, scheduler, slurmdbd through sdiag),
    and the Slurm exporter's collector alerts, is silenced by SlurmctldDown; a new alert there must
    take a side. Alertmanager anchors matcher regexes, like fullmatch."""
    targets = _inhibit_targets("SlurmctldDown")
    fed = set().union(*(_names(stem) for stem in ("nodes", "queue", "slurmctld", "slurmdbd"))) - {"SlurmctldDown"}
    fed |= {"SlurmExporterCollectorFailing", "SlurmExporterSnapshotStale"}
    assert fed and all(targets.fullmatch(n) for n in fed), [n for n in fed if not targets.fullmatch(n)]
    for stays in ("SlurmctldDown", "SlurmExporterDown", "MungedDown", "SlurmrestdUnreachable", "GPUXidError",
                  "SlurmJobOOMKilled"):
        assert not targets.fullmatch(stays), stays


def test_node_down_inhibits_its_not_responding_and_exporter_alerts():
    targets = _inhibit_targets("SlurmNodeDown")
    for name in ("SlurmNodeNotResponding", "SlurmJobExporterDown", "NodeExporterDown", "DCGMExporterDown"):
        assert name in alerts() and targets.fullmatch(name)
    assert not targets.fullmatch("SlurmNodeDown")


def _names(stem: str) -> set[str]:
    doc = yaml.safe_load((ALERTS / f"{stem}.rules.yml").read_text())
    return {r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r}
