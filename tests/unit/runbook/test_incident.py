"""The incident runbooks' pure helpers against recorded Slurm 22.05.8 output (tests/fixtures)."""
from __future__ import annotations

from pathlib import Path

from slurmops.runbook.incident import (
    conf_value,
    node_flags,
    nodes_respond,
    parse_nodes,
    resume_not_responding,
    slurmd_port,
)

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


def test_only_nodes_slurmctld_set_down_for_not_responding_are_resumed():
    """Hand-written `scontrol show node -o` records in 22.05.8's wording (State flags joined by
    '+', Reason with who/when in brackets); the lab's munged-down and node-not-responding tests
    prove the same on real daemons."""
    text = "\n".join([
        "NodeName=n1 State=DOWN+NOT_RESPONDING Reason=Not responding [slurm@2026-11-27T21:15:02]",
        "NodeName=n2 State=DOWN+DRAIN+NOT_RESPONDING Reason=Not responding [slurm@2026-11-27T21:15:02]",
        "NodeName=n3 State=DOWN Reason=ECC errors DIMM B2 [root@2026-11-25T14:24:02]",
        "NodeName=n4 State=IDLE+NOT_RESPONDING Reason=(null)",
        "NodeName=n5 State=IDLE Reason=(null)",
    ])
    nodes = parse_nodes(text)
    assert [c.argv for c in resume_not_responding(nodes)] == \
        [("scontrol", "update", "NodeName=n1", "State=RESUME")]
    ok, detail = nodes_respond(nodes)
    assert not ok and detail == ("still: n1=DOWN+NOT_RESPONDING, n2=DOWN+DRAIN+NOT_RESPONDING, "
                                 "n4=IDLE+NOT_RESPONDING")
    assert nodes_respond([n for n in nodes if n["NodeName"] in ("n3", "n5")]) == (True, "2 nodes respond")
