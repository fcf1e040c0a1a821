import json
from pathlib import Path

from slurmops.lab.record import CLI_CAPTURES, normaliser

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "slurm-22.05"


def test_normaliser_replaces_host_as_a_word_and_lab_dir():
    norm = normaliser("vm", Path("/var/tmp/slurmops-lab"))
    assert norm("NodeHostName=vm Spool=/var/tmp/slurmops-lab/spool vmem=0") == \
        "NodeHostName=labhost Spool=/lab/spool vmem=0"


def test_recorded_fixtures_match_manifest():
    manifest = json.loads((FIX / "MANIFEST.json").read_text())
    assert manifest["slurm_version"].startswith("22.05")
    assert set(manifest["cli"]) == {name for name, _, _ in CLI_CAPTURES}
    for name in manifest["cli"]:
        text = (FIX / "cli" / name).read_text()
        if name.endswith(".json"):
            json.loads(text)
        assert "slurmops-lab" not in text
    for name, meta in manifest["rest"].items():
        if meta["status"] == 200:
            doc = json.loads((FIX / "rest" / name).read_text())
            if meta["path"].startswith("/openapi"):
                assert doc["info"]["version"] and doc["paths"], name
            else:
                assert doc["meta"]["Slurm"]["release"].startswith("22.05"), name
