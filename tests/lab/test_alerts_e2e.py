"""The rules end to end on a lab: a test profile of the rules (every `for` 10 s) goes into the lab's
Prometheus, slurmctld is stopped, SlurmctldDown goes pending -> firing in Prometheus and reaches
Alertmanager; slurmctld is started again and the alert resolves.

Which lab:
* by default a private one (own dir, ports, cluster, node names; never the shared one) of Slurm
  SLURMOPS_ALERT_LAB_SLURM (default the host's 22.05) on port base SLURMOPS_ALERT_LAB_PORT_BASE
  (default 22800; a session beside a CI run picks its own);
* SLURMOPS_ALERT_LAB=shared: the lab of SLURMOPS_LAB_DIR, as run.sh's generation matrix runs it
  last on each newer generation's lab (no second lab to start: the matrix's CI time). The rule
  files it writes there are put back as they were afterwards.
22.05 and 24.11 labs run the host's Prometheus 2.42 and Alertmanager 0.25; 26.05 runs forky's
Prometheus 3.5 and Alertmanager 0.33 from its root filesystem.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from labtools import private_lab, wait_until
from slurmops.lab.platform import load_config
from slurmops.rules import build

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SLURMOPS = str(REPO / ".venv" / "bin" / "slurmops")
SHARED = os.environ.get("SLURMOPS_ALERT_LAB") == "shared"
SLURM = os.environ.get("SLURMOPS_ALERT_LAB_SLURM", "22.05")
PORT_BASE = int(os.environ.get("SLURMOPS_ALERT_LAB_PORT_BASE", "22800"))


@dataclass(frozen=True)
class AlertLab:
    dir: Path
    cluster: str
    prometheus: str
    alertmanager: str


def slurmops(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([SLURMOPS, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def prom_alerts(lab: AlertLab, name: str) -> list[dict]:
    doc = get_json(f"{lab.prometheus}/api/v1/alerts")
    return [a for a in doc["data"]["alerts"] if a["labels"].get("alertname") == name]


def am_alerts(lab: AlertLab, name: str) -> list[dict]:
    return [a for a in get_json(f"{lab.alertmanager}/api/v2/alerts?active=true&silenced=false&inhibited=false")
            if a["labels"].get("alertname") == name]


def wait_for(what: str, check, timeout: float = 90, interval: float = 1.0):
    return wait_until(what, check, timeout, interval)


def _alert_lab(d: Path) -> AlertLab:
    cfg = load_config(d)
    assert cfg is not None, f"no lab in {d}"
    return AlertLab(d, cfg.cluster, cfg.url("prometheus"), cfg.url("alertmanager"))


@pytest.fixture(scope="module")
def alert_lab(request):
    if SHARED:
        yield _alert_lab(request.getfixturevalue("lab").cfg.dir)
        return
    lab_dir = Path(f"/var/tmp/slurmops-alert-lab-{PORT_BASE}")
    # Node names are unique per lab on the host (slurmd's cgroup dirs): the port base is in them.
    with private_lab(lab_dir, "--slurm", SLURM, "--port-base", str(PORT_BASE), "--cluster", "alertlab",
                     "--node-prefix", f"a{PORT_BASE}", "--cloud-nodes", "0") as d:
        yield _alert_lab(d)


def _reload(lab: AlertLab) -> None:
    req = urllib.request.Request(f"{lab.prometheus}/-/reload", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


@pytest.fixture(scope="module")
def lab_rules(alert_lab):
    """The rules with every `for` at 10 s (2x the lab's 5 s scrape), loaded by Prometheus."""
    alerts_dir = REPO / "alerts"
    rules_dir = alert_lab.dir / "prometheus" / "rules"
    before = {p.name: p.read_text() for p in rules_dir.glob("*.yml")}
    thresholds = build.load_thresholds(alerts_dir, for_all="10s")
    written = build.write(alerts_dir, rules_dir, thresholds)
    _reload(alert_lab)

    def loaded():
        groups = get_json(f"{alert_lab.prometheus}/api/v1/rules")["data"]["groups"]
        names = {r["name"] for g in groups for r in g["rules"]}
        return "SlurmctldDown" in names and len(groups) >= len(written)
    wait_for("Prometheus to load the rules", loaded, timeout=30)
    yield written
    if SHARED:                      # the shared lab's rule files as they were
        for path in written:
            if path.name in before:
                path.write_text(before[path.name])
            else:
                path.unlink()
        _reload(alert_lab)


def test_slurmctld_down_fires_reaches_alertmanager_and_resolves(alert_lab, lab_rules):
    lab, d = alert_lab, str(alert_lab.dir)
    up_query = f"{lab.prometheus}/api/v1/query?query=slurm_up%7Bjob%3D%22slurm%22%7D"

    def slurm_up() -> bool:
        result = get_json(up_query)["data"]["result"]
        return bool(result) and result[0]["value"][1] == "1"
    # Healthy first: the exporter reaches slurmctld and nothing is pending.
    wait_for("slurm_up == 1", slurm_up, timeout=60)
    assert prom_alerts(lab, "SlurmctldDown") == []

    r = slurmops("lab", "stop", "slurmctld", "--dir", d)
    assert r.returncode == 0, r.stdout + r.stderr
    t0 = time.monotonic()
    phases = []
    try:
        pending = wait_for("SlurmctldDown pending", lambda: [a for a in prom_alerts(lab, "SlurmctldDown")
                                                              if a["state"] in ("pending", "firing")])
        firing = wait_for("SlurmctldDown firing", lambda: [a for a in prom_alerts(lab, "SlurmctldDown")
                                                            if a["state"] == "firing"])
        phases.append(f"firing {time.monotonic() - t0:.1f}s")
        a = firing[0]
        assert pending[0]["labels"]["cluster"] == lab.cluster
        assert a["labels"]["severity"] == "critical"
        assert a["labels"]["cluster"] == lab.cluster
        assert a["annotations"]["summary"] == "slurmctld does not answer."
        assert a["annotations"]["runbook_url"] == "http://localhost:9347/slurmctld-down.md"
        assert lab.cluster in a["annotations"]["description"]

        am = wait_for("SlurmctldDown in Alertmanager", lambda: am_alerts(lab, "SlurmctldDown"), timeout=60)
        phases.append(f"in Alertmanager {time.monotonic() - t0:.1f}s")
        assert am[0]["labels"]["cluster"] == lab.cluster
        assert am[0]["labels"]["severity"] == "critical"
        assert am[0]["annotations"]["runbook_url"] == "http://localhost:9347/slurmctld-down.md"
    finally:
        r = slurmops("lab", "start", "slurmctld", "--dir", d)
        assert r.returncode == 0, r.stdout + r.stderr
        t1 = time.monotonic()

    wait_for("SlurmctldDown resolved in Prometheus", lambda: prom_alerts(lab, "SlurmctldDown") == [], timeout=90)
    phases.append(f"resolved {time.monotonic() - t1:.1f}s after the start")
    # Prometheus sends the resolution; Alertmanager then drops it from the active alerts.
    wait_for("SlurmctldDown resolved in Alertmanager", lambda: am_alerts(lab, "SlurmctldDown") == [], timeout=120)
    phases.append(f"resolved in Alertmanager {time.monotonic() - t1:.1f}s")
    # Starting slurmctld again was a restart: sdiag's "Data since" moved to its start time, which
    # SlurmctldRestarted reads (unless that start is within 5 minutes after UTC midnight, when the
    # alert cannot tell it from the daily statistics reset). Not in the matrix (shared): 15-20 s
    # more per generation of CI for an alert beyond the stopped -> firing -> resolved path.
    if not SHARED and time.gmtime().tm_hour * 3600 + time.gmtime().tm_min * 60 > 360:
        restarted = wait_for("SlurmctldRestarted firing", lambda: [
            a for a in prom_alerts(lab, "SlurmctldRestarted") if a["state"] == "firing"], timeout=120)
        phases.append(f"SlurmctldRestarted firing {time.monotonic() - t1:.1f}s")
        assert restarted[0]["labels"]["cluster"] == lab.cluster
        assert restarted[0]["labels"]["severity"] == "warning"
    print(f"SlurmctldDown on {lab.cluster}: stopped -> " + ", ".join(phases))
