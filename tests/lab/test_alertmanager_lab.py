"""alerts/alertmanager.yml loaded into the lab's real Alertmanager: alerts posted through its API are
inhibited and routed as the file promises (what `amtool config routes test` cannot show). The lab's
own configuration is put back afterwards."""
from __future__ import annotations

import datetime as dt
import json
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "alerts" / "alertmanager.yml"

pytestmark = pytest.mark.lab


def _req(url: str, data: bytes | None = None, method: str | None = None) -> bytes:
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


@pytest.fixture
def alertmanager(lab):
    url = lab.cfg.url("alertmanager")
    path = lab.cfg.dir / "alertmanager" / "alertmanager.yml"
    original = path.read_text()
    path.write_text(CONFIG.read_text())
    try:
        _req(url + "/-/reload", b"", "POST")
        status = json.loads(_req(url + "/api/v2/status"))
        assert "slurm-pager" in status["config"]["original"], "the lab's Alertmanager did not load it"
        yield url
    finally:
        path.write_text(original)
        _req(url + "/-/reload", b"", "POST")


def _post(url: str, alerts: list[dict], minutes: float = 10) -> None:
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(minutes=20)
    body = [{"labels": a, "annotations": {"summary": "test"}, "startsAt": start.isoformat(),
             "endsAt": (now + dt.timedelta(minutes=minutes)).isoformat()} for a in alerts]
    _req(url + "/api/v2/alerts", json.dumps(body).encode(), "POST")


def _alerts(url: str, cluster: str) -> dict[tuple, dict]:
    q = urllib.parse.urlencode({"filter": f'cluster="{cluster}"'})
    out = json.loads(_req(f"{url}/api/v2/alerts?{q}"))
    return {(a["labels"]["alertname"], a["labels"].get("node", "")): a for a in out}


def _wait(pred, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.3)


def test_inhibition_and_routing_on_the_labs_alertmanager(alertmanager):
    url = alertmanager
    run = uuid.uuid4().hex[:8]
    nodes_c, ctld_c = f"amtest-nodes-{run}", f"amtest-ctld-{run}"
    posted = [
        # Cluster 1: n9 is DOWN; its not-responding and exporter-down alerts are the same fault.
        {"alertname": "SlurmNodeDown", "severity": "warning", "cluster": nodes_c, "node": "n9", "state": "down"},
        {"alertname": "SlurmNodeNotResponding", "severity": "warning", "cluster": nodes_c, "node": "n9"},
        {"alertname": "NodeExporterDown", "severity": "warning", "cluster": nodes_c, "node": "n9",
         "instance": "n9:9100", "job": "node"},
        {"alertname": "SlurmJobExporterDown", "severity": "warning", "cluster": nodes_c, "node": "n9",
         "instance": "n9:9342", "job": "slurm_job"},
        # n10 does not respond but is not DOWN (yet): nothing inhibits it.
        {"alertname": "SlurmNodeNotResponding", "severity": "warning", "cluster": nodes_c, "node": "n10"},
        # Cluster 2: slurmctld is down; what reads slurmctld is silenced, munge is not.
        {"alertname": "SlurmctldDown", "severity": "critical", "cluster": ctld_c, "instance": "slurm:9341"},
        {"alertname": "SlurmdbdUnreachable", "severity": "critical", "cluster": ctld_c, "instance": "slurm:9341"},
        {"alertname": "SlurmExporterCollectorFailing", "severity": "warning", "cluster": ctld_c,
         "instance": "slurm:9341", "collector": "nodes"},
        {"alertname": "SlurmNodeNotResponding", "severity": "warning", "cluster": ctld_c, "node": "n1"},
        {"alertname": "MungedDown", "severity": "critical", "cluster": ctld_c, "node": "n1"},
        # Job-level alert: user support.
        {"alertname": "SlurmJobOOMKilled", "severity": "info", "cluster": nodes_c, "user": "alice", "jobid": "7"},
    ]
    _post(url, posted)
    try:
        def inhibited(cluster):
            return {k: a["status"]["inhibitedBy"] for k, a in _alerts(url, cluster).items()}
        # Inhibition needs the source alert to be known: wait until every expected inhibition shows.
        got1 = _wait(lambda: (i := inhibited(nodes_c)) and all(i.get(k) for k in [
            ("SlurmNodeNotResponding", "n9"), ("NodeExporterDown", "n9"), ("SlurmJobExporterDown", "n9")]) and i)
        assert got1, inhibited(nodes_c)
        assert got1[("SlurmNodeDown", "n9")] == []
        assert got1[("SlurmNodeNotResponding", "n10")] == []
        assert got1[("SlurmJobOOMKilled", "")] == []
        got2 = _wait(lambda: (i := inhibited(ctld_c)) and i.get(("SlurmdbdUnreachable", "")) and i)
        assert got2, inhibited(ctld_c)
        assert got2[("SlurmExporterCollectorFailing", "")] and got2[("SlurmNodeNotResponding", "n1")]
        assert got2[("SlurmctldDown", "")] == [] and got2[("MungedDown", "n1")] == []

        # Routing: the groups Alertmanager formed and the receiver of each. Inhibited alerts sit in
        # their group as "suppressed": never notified.
        groups = json.loads(_req(url + "/api/v2/alerts/groups"))
        receiver, state = {}, {}
        for g in groups:
            for a in g["alerts"]:
                if a["labels"].get("cluster") in (nodes_c, ctld_c):
                    key = (a["labels"]["alertname"], a["labels"]["cluster"], a["labels"].get("node", ""))
                    receiver[key], state[key] = g["receiver"]["name"], a["status"]["state"]
        assert receiver == {
            ("SlurmNodeDown", nodes_c, "n9"): "slurm-chat",
            ("SlurmNodeNotResponding", nodes_c, "n9"): "slurm-chat",
            ("NodeExporterDown", nodes_c, "n9"): "slurm-chat",
            ("SlurmJobExporterDown", nodes_c, "n9"): "slurm-chat",
            ("SlurmNodeNotResponding", nodes_c, "n10"): "slurm-chat",
            ("SlurmJobOOMKilled", nodes_c, ""): "slurm-user-support",
            ("SlurmctldDown", ctld_c, ""): "slurm-pager",
            ("SlurmdbdUnreachable", ctld_c, ""): "slurm-pager",
            ("SlurmExporterCollectorFailing", ctld_c, ""): "slurm-chat",
            ("SlurmNodeNotResponding", ctld_c, "n1"): "slurm-chat",
            ("MungedDown", ctld_c, "n1"): "slurm-pager",
        }
        notified = {k for k, v in state.items() if v == "active"}
        assert notified == {("SlurmNodeDown", nodes_c, "n9"), ("SlurmNodeNotResponding", nodes_c, "n10"),
                            ("SlurmJobOOMKilled", nodes_c, ""), ("SlurmctldDown", ctld_c, ""),
                            ("MungedDown", ctld_c, "n1")}, state
    finally:
        _post(url, posted, minutes=-1)      # resolve them
