"""The incident runbooks' pure helpers against recorded Slurm 22.05.8 output (tests/fixtures)."""
from __future__ import annotations

from pathlib import Path

from slurmops.runbook.incident import conf_value, node_flags, parse_nodes, slurmd_port

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "slurm-22.05" / "cli"


def test_parse_nodes_recorded_oneliner_and_multiline():
    text = (FIX / "scontrol-show-nodes.txt").read_text()
    nodes = {n["NodeName"]: n for n in parse_nodes(text)}
    assert sorted(nodes) == ["c1", "c2", "n1", "n2", "n3"]
    assert node_flags(nodes["n3"]["State"]) == {"IDLE", "DRAIN"}
    assert nodes["n3"]["Reason"] == "maintenance: firmware ✓ über-node"
    assert nodes["n2"]["Reason"] == "" and nodes["n2"]["Port"] == "16902"
    assert "POWERED_DOWN" in node_flags(nodes["c2"]["State"])
    # the multi-line form (`scontrol show node` without -o) of the same record
    multi = "NodeName=n3 Arch=x86_64\n   State=IDLE+DRAIN ThreadsPerCore=1\n" \
            "   Reason=ECC errors DIMM B2 [root@2026-11-25T14:24:02]\n\nNodeName=n4 Arch=x86_64\n   State=DOWN*\n"
    got = parse_nodes(multi)
    assert [(n["NodeName"], n["State"], n["Reason"]) for n in got] == \
        [("n3", "IDLE+DRAIN", "ECC errors DIMM B2"), ("n4", "DOWN*", "")]


def test_conf_value_and_slurmd_port():
    conf = ("# StateSaveLocation=/nope\nstatesavelocation = /var/spool/slurmctld\nClusterName=lab\n"
            "SlurmdPort=7000\nNodeName=n[1-3] CPUs=2  # Port=1\nNodeName=g[01-02] Port=7100 CPUs=4\n")
    assert conf_value(conf, "StateSaveLocation") == "/var/spool/slurmctld"
    assert conf_value(conf, "ClusterName") == "lab" and conf_value(conf, "Missing") is None
    assert slurmd_port(conf, "n2") == 7000
    assert slurmd_port(conf, "g02") == 7100
    assert slurmd_port("NodeName=x CPUs=1", "x") == 6818
