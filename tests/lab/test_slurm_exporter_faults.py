"""Faults: a stopped slurmctld or slurmrestd, a command that hangs, garbage from Slurm. The
endpoint keeps answering within a second, says what is wrong in metrics, never shows a
traceback, and recovers by itself when Slurm is back."""
from __future__ import annotations

import http.server
import json
import os
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from slurmops.exporter.poller import Snapshot
from slurmops.exporter.server import MetricsServer
from slurmops.exporter.slurm_exporter import ClusterConfig, make_poller

pytestmark = [pytest.mark.lab, pytest.mark.slow]
FIX = Path(__file__).resolve().parents[1] / "fixtures" / "slurm-22.05"


class Running:
    """An exporter with its background pollers and HTTP endpoint, in this process."""

    def __init__(self, cc: ClusterConfig):
        self.poller = make_poller(cc)
        self.server = MetricsServer("127.0.0.1:0", Snapshot([self.poller]).render).start()
        self.poller.start()

    def scrape(self) -> tuple[str, float]:
        t0 = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.server.port}/metrics", timeout=5) as r:
            assert r.status == 200
            body = r.read().decode()
        return body, time.monotonic() - t0

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            body, took = self.scrape()
            assert took < 1.0, f"scrape took {took:.2f}s"
            assert "Traceback" not in body
            if text in body or time.monotonic() > deadline:
                assert text in body, body[-3000:]
                return body
            time.sleep(0.5)

    def close(self):
        self.poller.stop()
        self.server.stop()


def cli_config(lab, **kw) -> ClusterConfig:
    return ClusterConfig(name=lab.cfg.cluster, source="cli", env={"SLURM_CONF": str(lab.cfg.slurm_conf)},
                         interval=1.0, timeout=3.0, **kw)


def test_slurmctld_stopped_then_back(scratch_lab):
    lab = scratch_lab
    ex = Running(cli_config(lab))
    try:
        ex.wait_for(f'slurm_up{{cluster="{lab.cfg.cluster}"}} 1.0')
        lab.stop_component("slurmctld")
        body = ex.wait_for(f'slurm_up{{cluster="{lab.cfg.cluster}"}} 0.0')
        assert f'slurm_exporter_collector_success{{cluster="{lab.cfg.cluster}",collector="scheduler"}} 0.0' in body
        assert 'slurm_exporter_command_errors_total{cluster="scratch",command="sdiag"' in body
        lab.start_component("slurmctld")
        ex.wait_for(f'slurm_up{{cluster="{lab.cfg.cluster}"}} 1.0')
    finally:
        ex.close()
        lab.start_component("slurmctld")


def test_slurmrestd_stopped_then_back(scratch_lab):
    lab = scratch_lab
    token_file = lab.cfg.run / "fault-test.jwt"
    token_file.write_text(lab.token(lifespan_s=900))
    os.chmod(token_file, 0o600)
    cc = ClusterConfig(name="scratch", source="rest", rest_url=lab.cfg.url("slurmrestd"), rest_user="root",
                       rest_token_file=str(token_file), interval=1.0, timeout=3.0,
                       collectors=("nodes", "jobs", "scheduler"))
    ex = Running(cc)
    try:
        ex.wait_for('slurm_up{cluster="scratch"} 1.0')
        lab.stop_component("slurmrestd")
        body = ex.wait_for('slurm_up{cluster="scratch"} 0.0')
        assert 'reason="connect"' in body
        lab.start_component("slurmrestd")
        ex.wait_for('slurm_up{cluster="scratch"} 1.0')
    finally:
        ex.close()
        lab.start_component("slurmrestd")


@pytest.fixture
def wrapped_bin(tmp_path):
    """A bin dir where every Slurm command is the real one except those a test replaces."""
    d = tmp_path / "bin"
    d.mkdir()
    for cmd in ("sinfo", "squeue", "sdiag", "sshare", "scontrol"):
        (d / cmd).symlink_to(f"/usr/bin/{cmd}")

    def replace(cmd: str, script: str):
        (d / cmd).unlink()
        (d / cmd).write_text("#!/bin/sh\n" + script + "\n")
        (d / cmd).chmod(0o755)
    return d, replace


def test_a_hanging_command_times_out_alone(lab, wrapped_bin):
    d, replace = wrapped_bin
    c = lab.cfg.cluster      # any lab, not only the default one
    replace("sdiag", "exec sleep 30")
    cc = cli_config(lab, bin_dir=str(d))
    cc.timeout = 2.0
    ex = Running(cc)
    try:
        body = ex.wait_for(f'slurm_exporter_command_errors_total{{cluster="{c}",command="sdiag",reason="timeout"}}', 20)
        assert f'slurm_up{{cluster="{c}"}} 0.0' in body        # sdiag is our slurmctld probe
        assert f'slurm_exporter_collector_success{{cluster="{c}",collector="nodes"}} 1.0' in body
        assert f'slurm_nodes{{cluster="{c}",state=' in body   # the rest still answers
    finally:
        ex.close()


def test_garbage_and_truncated_output(lab, wrapped_bin):
    d, replace = wrapped_bin
    c = lab.cfg.cluster      # any lab, not only the default one
    replace("squeue", "echo '\\x00\\x01 not squeue output'; echo '{{{{'")
    replace("scontrol", 'case "$2" in nodes) head -c 700 /dev/urandom | base64;; '
                        '*) exec /usr/bin/scontrol "$@";; esac')
    ex = Running(cli_config(lab, bin_dir=str(d)))
    try:
        ex.wait_for('command="squeue",reason="parse"', 20)
        body = ex.wait_for(f'slurm_exporter_collector_success{{cluster="{c}",collector="scheduler"}} 1.0', 20)
        assert f'slurm_exporter_collector_success{{cluster="{c}",collector="jobs"}} 0.0' in body
        assert f'slurm_exporter_collector_success{{cluster="{c}",collector="nodes"}} 0.0' in body
        assert f'slurm_exporter_collector_success{{cluster="{c}",collector="scheduler"}} 1.0' in body
        assert f'slurm_up{{cluster="{c}"}} 1.0' in body
    finally:
        ex.close()


class _BadRestd(http.server.BaseHTTPRequestHandler):
    """Serves slurmrestd's real 22.05 documents, cut short or replaced with garbage."""
    def do_GET(self):
        path = self.path.split("?")[0]
        if "openapi" in path:
            body = json.dumps({"paths": {"/slurm/v0.0.38/diag": {}}}).encode()
        elif path.endswith("/nodes"):
            body = (FIX / "rest" / "slurm-v0.0.38-nodes.json").read_bytes()[:1500]   # truncated
        elif path.endswith("/jobs"):
            body = b"<html>502 Bad Gateway</html>"
        else:
            body = (FIX / "rest" / "slurm-v0.0.38-diag.json").read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_truncated_and_garbage_json_from_slurmrestd():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BadRestd)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    cc = ClusterConfig(name="bad", source="rest", rest_url=f"http://127.0.0.1:{srv.server_address[1]}",
                       interval=1.0, timeout=3.0, collectors=("nodes", "jobs", "scheduler"))
    ex = Running(cc)
    try:
        ex.wait_for('command="slurm/nodes",reason="parse"', 20)
        ex.wait_for('command="slurm/jobs",reason="parse"', 20)
        # The good document keeps its collector working beside the two bad ones. Waited for, not
        # read from the scrape that first showed the jobs error: under CI's load the scheduler's
        # round may not have finished by then (one CI run saw it missing there).
        body = ex.wait_for('slurm_exporter_collector_success{cluster="bad",collector="scheduler"} 1.0', 20)
        assert 'command="slurm/nodes",reason="parse"' in body and 'command="slurm/jobs",reason="parse"' in body
        assert 'slurm_scheduler_threads{cluster="bad"}' in body
    finally:
        ex.close()
        srv.shutdown()
