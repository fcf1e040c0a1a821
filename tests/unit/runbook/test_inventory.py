"""The fleet inventory (TOML) and host selection, and the fleet layer's expansion of a runbook
into per-host commands: checked without running anything."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from slurmops.lab.config import LabConfig
from slurmops.lab.platform import Lab
from slurmops.runbook import RunbookError, engine, loader
from slurmops.runbook.fleet import copy_argv
from slurmops.runbook.inventory import load, parse
from slurmops.runbook.target import make_target

REPO = Path(__file__).resolve().parents[3]

INV = """
[defaults]
user = "root"
identity_file = "/etc/slurmops/id_ed25519"
ssh_options = ["StrictHostKeyChecking=yes"]

[hosts.ctl1]
connection = "local"
groups = ["controllers"]

[hosts.db1]
address = "10.0.0.5"
groups = ["database"]

[hosts.node01]
address = "10.0.1.1"
groups = ["compute"]
vars = { munge_key = "/etc/munge/node.key" }

[hosts.node02]
address = "10.0.1.2"
groups = ["compute", "gpu"]

[hosts.node03]
address = "node03.example.org"
port = 2222
groups = ["compute"]
"""


def names(hosts) -> list[str]:
    return [h.name for h in hosts]


def test_groups_hostlists_and_all_in_inventory_order():
    inv = parse(INV, "t.toml")
    assert inv.groups == {"controllers": ["ctl1"], "database": ["db1"],
                          "compute": ["node01", "node02", "node03"], "gpu": ["node02"]}
    assert names(inv.select("compute")) == ["node01", "node02", "node03"]
    assert names(inv.select("node[03,01]")) == ["node01", "node03"]        # inventory order
    assert names(inv.select("gpu,node[01-02],controllers")) == ["ctl1", "node01", "node02"]
    assert names(inv.select("all")) == ["ctl1", "db1", "node01", "node02", "node03"]
    assert inv.host("node01").vars == {"munge_key": "/etc/munge/node.key"}


def test_defaults_reach_every_ssh_host_and_local_has_no_ssh():
    inv = parse(INV, "t.toml")
    t = inv.host("node03").transport()
    argv = t.build_argv(["munge", "-n"])
    assert argv[:1] == ["ssh"] and "-p" in argv and argv[argv.index("-p") + 1] == "2222"
    assert "IdentityFile=/etc/slurmops/id_ed25519" in argv and "StrictHostKeyChecking=yes" in argv
    assert argv[-2:] == ["node03.example.org", "munge -n"] and argv[argv.index("-l") + 1] == "root"
    assert inv.host("ctl1").transport().name == "local:ctl1"


@pytest.mark.parametrize("expr, msg", [
    ("computes", "neither a group"),
    ("node[01-09]", "node04"),
    ("node[1-", "host selection"),
    ("compute,,db1", "empty item"),
    ("", "empty host selection"),
])
def test_bad_selection_is_one_clear_error(expr, msg):
    with pytest.raises(RunbookError, match=msg.replace("[", r"\[")):
        parse(INV, "t.toml").select(expr)


@pytest.mark.parametrize("text, msg", [
    ("[hosts.a\n", "not valid TOML"),
    ("[hosts]\n", "no \\[hosts.NAME\\] tables"),
    ("[hosts.a]\ngroups = ['compute']\n", "ssh host needs an address"),
    ("[hosts.a]\naddress = '10.0.0.1'\nrole = 'x'\n", "unknown key 'role'"),
    ("[hosts.a]\naddress = '10.0.0.1'\n[hosts.b]\naddress = '10.0.0.1'\n", "given to two hosts"),
    ("[hosts.a]\nconnection = 'telnet'\n", "not ssh or local"),
    ("[hosts.a]\naddress = 'a b'\n", "not an IP address or host name"),
    ("[hosts.a]\naddress = '10.0.0.1'\ngroups = 'compute'\n", "list of strings"),
    ("[hosts.a]\naddress = '10.0.0.1'\ngroups = ['all']\n", "not usable"),
    ("[hosts.a]\naddress = '10.0.0.1'\nport = 70000\n", "not a TCP port"),
    ("[hosts.a]\naddress = '10.0.0.1'\nidentity_file = 'key'\n", "absolute path"),
    ("[defaults]\naddress = '10.0.0.1'\n[hosts.a]\nconnection = 'local'\n", "\\[defaults\\] takes"),
    ("[groups]\n", "unknown table 'groups'"),
])
def test_bad_inventory_is_one_clear_error(text, msg):
    with pytest.raises(RunbookError, match=msg):
        parse(text, "bad.toml")


def test_missing_inventory_file(tmp_path):
    with pytest.raises(RunbookError, match="No such file"):
        load(tmp_path / "nope.toml")


def test_scp_copy_uses_the_hosts_ssh_options(tmp_path):
    path = tmp_path / "inv.toml"
    path.write_text(INV)
    target = make_target("systemd", sets={"inventory": str(path)})
    ctx = engine.build_context(loader.get("munge-key-rotation", REPO / "runbooks"), target, {})
    argv = copy_argv(ctx, "node03", "/tmp/new key", "/etc/munge/munge.key.new")
    assert argv[0] == "scp" and argv[argv.index("-P") + 1] == "2222"
    assert argv[-2:] == ["/tmp/new key", "root@node03.example.org:/etc/munge/munge.key.new"]
    assert copy_argv(ctx, "ctl1", "/a", "/b") == ["cp", "-p", "--", "/a", "/b"]


def test_rotation_expands_per_host_with_host_values(tmp_path):
    """Every host gets its own ops, with its own munge_key; each daemon runs on its group."""
    path = tmp_path / "inv.toml"
    path.write_text(INV)
    target = make_target("systemd", sets={"inventory": str(path)})
    rb = loader.get("munge-key-rotation", REPO / "runbooks")
    ctx = engine.build_context(rb, target, {"hosts": "all"})
    backup = rb.steps[1].ops("action", ctx)
    assert [op.host for op in backup if op.argv[0] == "cp"] == ["ctl1", "db1", "node01", "node02", "node03"]
    cp = {op.host: op.render(ctx) for op in backup if op.argv[0] == "cp"}
    assert cp["node01"][3] == "/etc/munge/node.key" and cp["node02"][3] == "/etc/munge/munge.key"
    restarts = [(op.component, op.host) for op in rb.steps[5].ops("action", ctx)]
    assert restarts == [("slurmdbd", "db1"), ("slurmctld", "ctl1")]   # systemd: slurm_daemons default
    ctx = engine.build_context(rb, target, {"hosts": "compute", "daemons": "slurmd"})
    assert {op.host for op in rb.steps[4].ops("action", ctx)} == {"node01", "node02", "node03"}
    assert [op.host for op in rb.steps[5].ops("action", ctx)] == ["node01", "node02", "node03"]
    with pytest.raises(RunbookError, match="neither a group"):
        rb.steps[1].ops("action", engine.build_context(rb, target, {"hosts": "nodes"}))


def test_without_inventory_the_target_is_a_fleet_of_one():
    rb = loader.get("munge-key-rotation", REPO / "runbooks")
    ctx = engine.build_context(rb, make_target("systemd"), {})
    assert {op.host for op in rb.steps[1].ops("action", ctx)} == {"localhost"}
    assert [op.component for op in rb.steps[5].ops("action", ctx)] == ["slurmdbd", "slurmctld"]


def test_lab_hosts_network_inventory_and_names(tmp_path):
    cfg = LabConfig(dir=tmp_path / "lab", hostname="labhost", hosts=True, node_prefix="q",
                    port_base=14300, cpu_nodes=3)
    Lab(cfg).render()
    inv = load(cfg.inventory)
    assert inv.groups == {"database": ["labhost"], "rest": ["labhost"], "controllers": ["lab-ctl"],
                          "compute": ["qn1", "qn2", "qn3"]}
    assert inv.host("labhost").connection == "local" and inv.host("lab-ctl").connection == "ssh"
    net = ipaddress.ip_network(cfg.hosts_network)
    addrs = [ipaddress.ip_address(inv.host(n).address) for n in ("lab-ctl", "qn1", "qn2", "qn3")]
    assert all(a in net for a in addrs) and len(set(addrs)) == 4
    assert ipaddress.ip_address(cfg.hosts_gateway) not in addrs
    assert ipaddress.ip_address(cfg.hosts_gateway) in net and net.subnet_of(ipaddress.ip_network("172.16.0.0/12"))
    # not the backup controller's /30 (10/8), and a neighbouring lab gets another network
    assert not net.overlaps(ipaddress.ip_network(f"{cfg.veth_host_addr}/30", strict=False))
    assert LabConfig(port_base=14800, hosts=True).hosts_network != cfg.hosts_network
    veths = [cfg.host_veth(n) for n in cfg.lab_hosts()]
    assert all(len(v) <= 15 for v in veths) and len(set(veths)) == 4 and len(cfg.hosts_bridge) <= 15
    conf = (cfg.etc / "slurm.conf").read_text()
    assert f"NodeName=qn2 NodeHostname=qn2 NodeAddr={inv.host('qn2').address} " in conf
    # slurmctld on the controller host; slurmdbd (AccountingStorageHost) on the lab host
    assert f"SlurmctldHost=lab-ctl({inv.host('lab-ctl').address})\n" in conf
    assert f"AccountingStorageHost={cfg.hosts_gateway}\n" in conf
    for host in ("lab-ctl", "qn1"):
        assert (cfg.host_dir(host) / "munge.key").read_bytes() == (cfg.etc / "munge.key").read_bytes()
        assert (cfg.host_dir(host) / "munge.key").stat().st_mode & 0o777 == 0o400
    # the Resume/Suspend programs and EpilogSlurmctld, run on the controller host, hop back
    assert "--net --uts --mount --root" in (cfg.bin / "resume").read_text()
    target = make_target(f"lab:{cfg.dir}")
    rb = loader.get("munge-key-rotation", REPO / "runbooks")
    ctx = engine.build_context(rb, target, {})
    restarts = [(op.component, op.host) for op in rb.steps[5].ops("action", ctx)]
    assert restarts == [("slurmdbd", "labhost"), ("slurmctld", "lab-ctl"), ("slurmd", "qn1"),
                        ("slurmd", "qn2"), ("slurmd", "qn3"), ("slurmrestd", "labhost")]
    known = (cfg.ssh_dir / "known_hosts").read_text().splitlines()
    assert [ln.split()[0] for ln in known] == [str(a) for a in addrs]


def test_lab_hosts_with_a_backup_controller_host(tmp_path):
    """--hosts --backup-controller: the backup is a second controller host on the bridge (no /30
    veth of its own), second in SlurmctldHost and in the inventory's controllers."""
    cfg = LabConfig(dir=tmp_path / "lab", hostname="labhost", hosts=True, backup_controller=True,
                    node_prefix="q", port_base=14300, cpu_nodes=2, slurm="26.05")
    cfg.validate()
    assert not cfg.backup_veth and LabConfig(backup_controller=True).backup_veth
    Lab(cfg).render()
    inv = load(cfg.inventory)
    assert inv.groups["controllers"] == ["lab-ctl", "lab-backup"]
    net = ipaddress.ip_network(cfg.hosts_network)
    addrs = {ipaddress.ip_address(h.address) for h in inv.hosts if h.address}
    assert len(addrs) == 4 and all(a in net for a in addrs)
    conf = (cfg.etc / "slurm.conf").read_text()
    assert (f"SlurmctldHost=lab-ctl({inv.host('lab-ctl').address})\n" in conf
            and f"SlurmctldHost=lab-backup({inv.host('lab-backup').address})\n" in conf)
    # the root filesystem resolves every lab host to its bridge address (slurmd binds it)
    hosts = (cfg.etc / "hosts").read_text().splitlines()
    assert f"{inv.host('lab-backup').address} lab-backup" in hosts and f"{cfg.hosts_gateway} labhost" in hosts
    with pytest.raises(ValueError, match="--hosts"):
        LabConfig(hosts=True, cpu_nodes=201).validate()
