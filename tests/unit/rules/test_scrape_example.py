"""exporters/prometheus-scrape.example.yml, loaded by a real Prometheus (Debian's): every
node-level target gets the `node` label the "exporter down" alerts join on (alerts/exporters.rules.yml),
from the target file when it sets one, else from the host part of the address."""
from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

import need

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "exporters" / "prometheus-scrape.example.yml"
PORT = 29801     # this test's own port (helpers' private range), loopback only

@pytest.fixture(autouse=True)
def _prometheus() -> None:
    need.binary("prometheus", "Debian: apt install prometheus")


def test_node_level_targets_carry_the_node_label(tmp_path):
    doc = yaml.safe_load(EXAMPLE.read_text())
    for sc in doc["scrape_configs"]:
        for sd in sc.get("file_sd_configs", []):
            job_dir = tmp_path / "targets" / sc["job_name"]
            job_dir.mkdir(parents=True)
            sd["files"] = [str(job_dir / "*.json")]
            sd["refresh_interval"] = "1s"
        sc["scrape_interval"] = "1h"        # nothing is scraped during the test
    assert {"slurm_job", "node", "dcgm"} <= {sc["job_name"] for sc in doc["scrape_configs"]}
    (tmp_path / "targets" / "node" / "cn0001.json").write_text(json.dumps(
        [{"targets": ["cn0001.example.org:9100"], "labels": {"cluster": "hpc1"}}]))
    (tmp_path / "targets" / "dcgm" / "gpu7.json").write_text(json.dumps(
        [{"targets": ["10.1.2.3:9400"], "labels": {"cluster": "hpc1", "node": "gpu7"}}]))
    (tmp_path / "targets" / "slurm_job" / "cn0002.json").write_text(json.dumps(
        [{"targets": ["cn0002:9342"], "labels": {"cluster": "hpc1"}}]))
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(doc))
    check = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    proc = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{PORT}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        labels = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(labels) < 3:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/api/v1/targets", timeout=2) as r:
                    active = json.load(r)["data"]["activeTargets"]
                labels = {t["labels"]["job"]: t["labels"] for t in active}
            except OSError:
                pass
            time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert labels["node"]["node"] == "cn0001"          # from the address
    assert labels["dcgm"]["node"] == "gpu7"            # the target file's own label wins
    assert labels["slurm_job"]["node"] == "cn0002"
    assert labels["node"]["cluster"] == "hpc1"
