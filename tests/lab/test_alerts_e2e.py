"""The rules end to end on a private lab (own dir, ports, cluster, node names; never the shared one):
a test profile of the rules (every `for` 10 s) goes into the lab's Prometheus, slurmctld is stopped,
SlurmctldDown goes pending -> firing in Prometheus and reaches Alertmanager; slurmctld is started
again and the alert resolves.

The private lab's Slurm generation is SLURMOPS_ALERT_LAB_SLURM (default the host's 22.05; run.sh's
matrix sets 24.11 and 26.05), its port base SLURMOPS_ALERT_LAB_PORT_BASE (default 22800; the matrix
uses 30300 and 31300, a session beside CI its own). 22.05 and 24.11 run the host's Prometheus
2.42 and Alertmanager; 26.05 runs forky's Prometheus 3.5 and Alertmanager from its root filesystem.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from labtools import private_lab, wait_until
from slurmops.rules import build

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SLURMOPS = str(REPO / ".venv" / "bin" / "slurmops")
SLURM = os.environ.get("SLURMOPS_ALERT_LAB_SLURM", "22.05")
PORT_BASE = int(os.environ.get("SLURMOPS_ALERT_LAB_PORT_BASE", "22800"))
LAB_DIR = Path(f"/var/tmp/slurmops-alert-lab-{PORT_BASE}")
PROMETHEUS = f"http://127.0.0.1:{PORT_BASE + 190}"
ALERTMANAGER = f"http://127.0.0.1:{PORT_BASE + 193}"
CLUSTER = "alertlab"


def slurmops(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([SLURMOPS, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def prom_alerts(name: str) -> list[dict]:
    doc = get_json(f"{PROMETHEUS}/api/v1/alerts")
    return [a for a in doc["data"]["alerts"] if a["labels"].get("alertname") == name]


def am_alerts(name: str) -> list[dict]:
    return [a for a in get_json(f"{ALERTMANAGER}/api/v2/alerts?active=true&silenced=false&inhibited=false")
            if a["labels"].get("alertname") == name]


def wait_for(what: str, check, timeout: float = 90, interval: float = 1.0):
    return wait_until(what, check, timeout, interval)


@pytest.fixture(scope="module")
def alert_lab():
    # Node names are unique per lab on the host (slurmd's cgroup dirs): the port base is in them.
    with private_lab(LAB_DIR, "--slurm", SLURM, "--port-base", str(PORT_BASE), "--cluster", CLUSTER,
                     "--node-prefix", f"a{PORT_BASE}", "--cloud-nodes", "0") as d:
        yield d


@pytest.fixture(scope="module")
def lab_rules(alert_lab):
    """The rules with every `for` at 10 s (2x the lab's 5 s scrape), loaded by Prometheus."""
    alerts_dir = REPO / "alerts"
    rules_dir = alert_lab / "prometheus" / "rules"
    thresholds = build.load_thresholds(alerts_dir, for_all="10s")
    written = build.write(alerts_dir, rules_dir, thresholds)
    req = urllib.request.Request(f"{PROMETHEUS}/-/reload", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200

    def loaded():
        groups = get_json(f"{PROMETHEUS}/api/v1/rules")["data"]["groups"]
        names = {r["name"] for g in groups for r in g["rules"]}
        return "SlurmctldDown" in names and len(groups) >= len(written)
    wait_for("Prometheus to load the rules", loaded, timeout=30)
    return written


def test_slurmctld_down_fires_reaches_alertmanager_and_resolves(alert_lab, lab_rules):
    d = str(alert_lab)
    # Healthy first: the exporter reaches slurmctld and nothing is pending.
    wait_for("slurm_up == 1", lambda: get_json(
        f"{PROMETHEUS}/api/v1/query?query=slurm_up%7Bjob%3D%22slurm%22%7D")["data"]["result"] and get_json(
        f"{PROMETHEUS}/api/v1/query?query=slurm_up%7Bjob%3D%22slurm%22%7D")["data"]["result"][0]["value"][1] == "1",
        timeout=60)
    assert prom_alerts("SlurmctldDown") == []

    r = slurmops("lab", "stop", "slurmctld", "--dir", d)
    assert r.returncode == 0, r.stdout + r.stderr
    t0 = time.monotonic()
    try:
        pending = wait_for("SlurmctldDown pending", lambda: [a for a in prom_alerts("SlurmctldDown")
                                                              if a["state"] in ("pending", "firing")])
        firing = wait_for("SlurmctldDown firing", lambda: [a for a in prom_alerts("SlurmctldDown")
                                                            if a["state"] == "firing"])
        took = time.monotonic() - t0
        a = firing[0]
        assert pending[0]["labels"]["cluster"] == CLUSTER
        assert a["labels"]["severity"] == "critical"
        assert a["labels"]["cluster"] == CLUSTER
        assert a["annotations"]["summary"] == "slurmctld does not answer."
        assert a["annotations"]["runbook_url"] == "http://localhost:9347/slurmctld-down.md"
        assert CLUSTER in a["annotations"]["description"]

        am = wait_for("SlurmctldDown in Alertmanager", lambda: am_alerts("SlurmctldDown"), timeout=60)
        assert am[0]["labels"]["cluster"] == CLUSTER
        assert am[0]["labels"]["severity"] == "critical"
        assert am[0]["annotations"]["runbook_url"] == "http://localhost:9347/slurmctld-down.md"
        print(f"SlurmctldDown firing {took:.1f}s after slurmctld stopped")
    finally:
        r = slurmops("lab", "start", "slurmctld", "--dir", d)
        assert r.returncode == 0, r.stdout + r.stderr

    wait_for("SlurmctldDown resolved in Prometheus", lambda: prom_alerts("SlurmctldDown") == [], timeout=90)
    # Prometheus sends the resolution; Alertmanager then drops it from the active alerts.
    wait_for("SlurmctldDown resolved in Alertmanager", lambda: am_alerts("SlurmctldDown") == [], timeout=120)
    # Starting slurmctld again was a restart: sdiag's "Data since" moved to its start time, which
    # SlurmctldRestarted reads (unless that start is within 5 minutes after UTC midnight, when the
    # alert cannot tell it from the daily statistics reset).
    if time.gmtime().tm_hour * 3600 + time.gmtime().tm_min * 60 > 360:
        restarted = wait_for("SlurmctldRestarted firing", lambda: [a for a in prom_alerts("SlurmctldRestarted")
                                                                   if a["state"] == "firing"], timeout=120)
        assert restarted[0]["labels"]["cluster"] == CLUSTER
        assert restarted[0]["labels"]["severity"] == "warning"
