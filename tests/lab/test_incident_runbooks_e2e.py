"""Acceptance of the incident runbooks, one test per alert that links one: on a private lab, inject
the alert's condition -> the alert fires in Prometheus and reaches Alertmanager -> the runbook its
`runbook_url` names runs to success from that broken state -> the alert resolves.

Two private labs (own dirs, ports, clusters, node names; never the shared one), each up once for
the module: one plain, one with a backup controller for SlurmctldBackupInControl. The rules are
the real ones rendered with every `for` at 10 s, MaxDBDMsgs at 40 (so a few dozen queued records
fill the DBD agent queue) and SlurmdbdUnreachable's window at 30 s. The measured times are
printed (`-s`) and kept in docs/runbooks.md.

MungedDown fires from the job exporter's munge collector (munge_up: a credential round trip through
the lab's munged socket); the lab runs no systemd, so its node_exporter branch is proven by promtool
alone (alerts/tests/munge.test.yml).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from labtools import lab_cmd, lab_env, private_lab, wait_until
from slurmops.lab import proc
from slurmops.rules import build

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = [sys.executable, "-m", "slurmops.runbook", "runbook"]
# Dirs, port bases and node prefixes fixed for CI; the environment moves them (a helper running beside CI).
PLAIN = dict(dir=Path(os.environ.get("SLURMOPS_INC_LAB_DIR", "/var/tmp/slurmops-incident-lab")),
             port=int(os.environ.get("SLURMOPS_INC_PORT_BASE", "23800")), cluster="inclab",
             prefix=os.environ.get("SLURMOPS_INC_NODE_PREFIX", "ka"))
HA = dict(dir=Path(os.environ.get("SLURMOPS_INC_HA_LAB_DIR", "/var/tmp/slurmops-incident-ha-lab")),
          port=int(os.environ.get("SLURMOPS_INC_HA_PORT_BASE", "25800")), cluster="inchalab",
          prefix=os.environ.get("SLURMOPS_INC_HA_NODE_PREFIX", "kb"))
# MaxDBDMsgs as the rules assume it (40: a 30-task array fills the queue) and a 30 s window for
# "the queue never went down" (the default 10 minutes would make the test wait that long).
SITE = {"max_dbd_msgs": 40, "alerts": {"SlurmdbdUnreachable": {"window": "30s"}}}
TIMES: list[str] = []


class IncidentLab:
    def __init__(self, spec: dict, tmp: Path):
        self.dir, self.port, self.cluster, self.prefix = spec["dir"], spec["port"], spec["cluster"], spec["prefix"]
        self.prom = f"http://127.0.0.1:{self.port + 190}"
        self.am = f"http://127.0.0.1:{self.port + 193}"
        self.tmp = tmp

    @property
    def env(self) -> dict[str, str]:
        return lab_env(self.dir)     # a newer generation's commands when the matrix runs this

    def get(self, url: str):
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.load(r)

    def prom_alerts(self, name: str) -> list[dict]:
        doc = self.get(f"{self.prom}/api/v1/alerts")
        return [a for a in doc["data"]["alerts"] if a["labels"].get("alertname") == name]

    def am_alerts(self, name: str) -> list[dict]:
        return [a for a in self.get(f"{self.am}/api/v2/alerts?active=true&silenced=false&inhibited=false")
                if a["labels"].get("alertname") == name]

    def slurm(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return proc.run(list(argv), env=self.env, timeout=timeout)

    def lab(self, *args: str):
        r = lab_cmd(*args, "--dir", str(self.dir))
        assert r.returncode == 0, r.stdout + r.stderr

    def kill(self, pidfile: str, sig=signal.SIGKILL):
        os.kill(int((self.dir / "run" / pidfile).read_text().split()[0]), sig)

    def heal(self):
        """Every daemon a test stops or freezes, running again (`lab start` starts what is not)."""
        for pidfile in (self.dir / "run").glob("slurmd-*.pid"):
            try:
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGCONT)
            except (OSError, ValueError):
                pass
        for comp in ("munged", "mariadb", "slurmdbd", "slurmctld", "slurmd", "slurmrestd"):
            lab_cmd("start", comp, "--dir", str(self.dir))

    def load_rules(self):
        alerts_dir = REPO / "alerts"
        site = self.tmp / "site.yml"
        site.write_text(json.dumps(SITE))
        t = build.load_thresholds(alerts_dir, site=site, for_all="10s")
        written = build.write(alerts_dir, self.dir / "prometheus" / "rules", t)
        with urllib.request.urlopen(urllib.request.Request(f"{self.prom}/-/reload", method="POST"),
                                    timeout=10) as r:
            assert r.status == 200
        wait_for("rules loaded", lambda: len(self.get(f"{self.prom}/api/v1/rules")["data"]["groups"])
                 >= len(written), 30)

    def runbook(self, name: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*RUNBOOK, "run", name, "--target", f"lab:{self.dir}", "--state-dir",
                               str(self.tmp / "state"), "--yes", *args], capture_output=True, text=True,
                              timeout=900, stdin=subprocess.DEVNULL, cwd=REPO)


def wait_for(what: str, check, timeout: float = 120, interval: float = 1.0):
    return wait_until(what, check, timeout, interval)


def runbook_name(url: str) -> str:
    """The runbook a runbook_url names, whatever the base (path, file:// or http)."""
    return url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".md").removesuffix(".html")


def incident(lab: IncidentLab, alert: str, inject, expected_runbook: str, *,
             fire_timeout: float = 180, resolve_timeout: float = 240) -> None:
    """inject -> firing in Prometheus -> in Alertmanager -> runbook of runbook_url -> resolved.
    On a failure the lab's daemons are started again, so one failing alert does not fail the next."""
    wait_for(f"{alert} not active before the test", lambda: lab.prom_alerts(alert) == [], 120)
    try:
        _incident(lab, alert, inject, expected_runbook, fire_timeout, resolve_timeout)
    except BaseException:
        lab.heal()
        raise


def _incident(lab, alert, inject, expected_runbook, fire_timeout, resolve_timeout) -> None:
    t0 = time.monotonic()
    inject()
    firing = wait_for(f"{alert} firing", lambda: [a for a in lab.prom_alerts(alert)
                                                 if a["state"] == "firing"], fire_timeout)
    t_fire = time.monotonic()
    url = firing[0]["annotations"]["runbook_url"]
    assert firing[0]["labels"]["cluster"] == lab.cluster
    assert runbook_name(url) == expected_runbook, url
    am = wait_for(f"{alert} in Alertmanager", lambda: lab.am_alerts(alert), 60)
    assert am[0]["annotations"]["runbook_url"] == url
    t_run = time.monotonic()
    r = lab.runbook(runbook_name(url))
    t_done = time.monotonic()
    assert r.returncode == 0, \
        f"{runbook_name(url)} failed from the {alert} state:\n{r.stdout[-6000:]}\n{r.stderr[-2000:]}"
    wait_for(f"{alert} resolved in Prometheus", lambda: lab.prom_alerts(alert) == [], resolve_timeout)
    t_resolved = time.monotonic()
    wait_for(f"{alert} resolved in Alertmanager", lambda: lab.am_alerts(alert) == [], 120)
    line = (f"{alert}: fired {t_fire - t0:.0f} s after the injection; {runbook_name(url)} ran "
            f"{t_done - t_run:.0f} s; resolved {t_resolved - t_run:.0f} s after the runbook started")
    TIMES.append(line)
    print(line)


def _lab(spec: dict, tmp: Path, *extra: str):
    return private_lab(spec["dir"], "--port-base", str(spec["port"]), "--cluster", spec["cluster"],
                       "--node-prefix", spec["prefix"], "--cloud-nodes", "0", *extra)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("incident")
    with _lab(PLAIN, tmp):
        lab = IncidentLab(PLAIN, tmp)
        lab.load_rules()
        yield lab
    print("\n".join(["", "measured:"] + TIMES))


@pytest.fixture(scope="module")
def ha(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("incident-ha")
    with _lab(HA, tmp, "--backup-controller"):
        lab = IncidentLab(HA, tmp)
        lab.load_rules()
        yield lab


def _queue(lab: IncidentLab) -> int:
    out = lab.slurm("sdiag").stdout
    for line in out.splitlines():
        if "DBD Agent queue size" in line:
            return int(line.split(":")[1])
    return -1


# ---- slurmctld ------------------------------------------------------------------------------------
def test_slurmctld_down(plain):
    held = plain.slurm("sbatch", "-p", "cpu", "-o", "/dev/null", "-H", "-J", "held", "--wrap", "sleep 600")
    assert held.returncode == 0, held.stderr
    job = held.stdout.split()[-1]
    incident(plain, "SlurmctldDown", lambda: plain.lab("stop", "slurmctld"), "slurmctld-down")
    assert job in plain.slurm("squeue", "-h", "-o", "%i").stdout.split()   # the job survived
    plain.slurm("scancel", job)


# ---- slurmdbd -------------------------------------------------------------------------------------
def _dbd_down_with_records(lab: IncidentLab, jobs: int):
    def inject():
        lab.lab("stop", "slurmdbd")
        r = lab.slurm("sbatch", "-p", "cpu", "-o", "/dev/null", f"--array=1-{jobs}", "-t", "1", "--wrap", "true")
        assert r.returncode == 0, r.stderr
    return inject


def test_slurmdbd_unreachable(plain):
    incident(plain, "SlurmdbdUnreachable", _dbd_down_with_records(plain, 3), "slurmdbd-down")
    assert _queue(plain) == 0


@pytest.mark.parametrize("alert", ["SlurmdbdAgentQueueFilling", "SlurmdbdAgentQueueNearLimit"])
def test_dbd_agent_queue(plain, alert):
    incident(plain, alert, _dbd_down_with_records(plain, 30), "dbd-agent-queue", fire_timeout=240)
    assert _queue(plain) == 0


# ---- slurmrestd (needs an exporter on the REST source: the lab's own uses the CLI) ---------------
@pytest.fixture
def rest_exporter(plain):
    port = plain.port + 196
    token = plain.tmp / "jwt"
    r = plain.slurm("scontrol", "token", "lifespan=3600")
    token.write_text(r.stdout.strip())
    token.chmod(0o600)
    p = subprocess.Popen([sys.executable, "-m", "slurmops", "exporter", "slurm", "--source", "rest",
                          f"--web.listen-address=127.0.0.1:{port}", f"--cluster={plain.cluster}",
                          f"--rest.url=http://127.0.0.1:{plain.port + 20}", "--rest.user=root",
                          f"--rest.token-file={token}", "--poll.interval=5"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    target = plain.dir / "prometheus" / "targets" / "slurm_rest.json"
    target.write_text(json.dumps([{"targets": [f"127.0.0.1:{port}"],
                                   "labels": {"job": "slurm", "cluster": plain.cluster}}]))
    try:
        yield port
    finally:
        target.unlink(missing_ok=True)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)


def test_slurmrestd_unreachable(plain, rest_exporter):
    q = f"{plain.prom}/api/v1/query?query=slurm_up%7Binstance%3D%22127.0.0.1%3A{rest_exporter}%22%7D"
    wait_for("the REST exporter scraped and up", lambda: [v for v in plain.get(q)["data"]["result"]
                                                          if v["value"][1] == "1"], 90)
    time.sleep(15)   # a few successful polls, so the failure ratio has calls to compare with
    incident(plain, "SlurmrestdUnreachable", lambda: plain.lab("stop", "slurmrestd"), "slurmrestd-down",
             fire_timeout=240, resolve_timeout=420)


# ---- nodes ----------------------------------------------------------------------------------------
def test_slurm_node_not_responding(plain):
    node = f"{plain.prefix}n1"
    incident(plain, "SlurmNodeNotResponding", lambda: plain.kill(f"slurmd-{node}.pid"),
             "node-not-responding", fire_timeout=240)


def test_slurm_nodes_not_responding_many(plain):
    def inject():
        for i in (1, 2, 3):
            plain.kill(f"slurmd-{plain.prefix}n{i}.pid")
    incident(plain, "SlurmNodesNotRespondingMany", inject, "node-not-responding", fire_timeout=240)


def test_slurm_node_stuck_completing(plain):
    """A job is cancelled while its node's slurmd is frozen (SIGSTOP): slurmctld's terminate request
    goes unanswered and the node stays COMPLETING (until SlurmdTimeout marks it not responding)."""
    node = f"{plain.prefix}n2"

    def inject():
        r = plain.slurm("sbatch", "-p", "cpu", "-o", "/dev/null", "-w", node, "--wrap", "sleep 300")
        assert r.returncode == 0, r.stderr
        job = r.stdout.split()[-1]
        wait_for("the job running", lambda: plain.slurm("squeue", "-h", "-j", job, "-o", "%T").stdout.strip()
                 == "RUNNING", 60)
        plain.kill(f"slurmd-{node}.pid", signal.SIGSTOP)
        plain.slurm("scancel", job)
    incident(plain, "SlurmNodeStuckCompleting", inject, "nodes-completing", fire_timeout=120)


# ---- munge ----------------------------------------------------------------------------------------
def test_munged_down(plain):
    """`lab stop munged`: the job exporter's round trip through the socket fails (munge_up 0, reason
    no_socket) and MungedDown fires; munged-down starts it and proves Slurm authenticates again."""
    incident(plain, "MungedDown", lambda: plain.lab("stop", "munged"), "munged-down")
    # the alert came from the job exporter's branch, which said why
    q = 'slurm_job_exporter_errors_total{job="slurm_job",collector="munge",reason="no_socket"}'
    got = plain.get(f"{plain.prom}/api/v1/query?query={urllib.parse.quote(q)}")["data"]["result"]
    assert got and float(got[0]["value"][1]) >= 1, got


# ---- last: the second lab (a backup controller) comes up only now ---------------------------------
def test_slurmctld_backup_in_control(ha):
    incident(ha, "SlurmctldBackupInControl", lambda: ha.kill("slurmctld.pid"), "slurmctld-failback",
             fire_timeout=240)
