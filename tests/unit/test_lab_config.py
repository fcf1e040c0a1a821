"""The lab's rendered configuration, checked without starting anything."""
import io
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from slurmops.lab.config import LabConfig
from slurmops.lab.generations import GENERATIONS, NATIVE_ENDPOINTS, NATIVE_JOB
from slurmops.lab.platform import CGROUP_V1_CONTROLLERS, Component, Lab, LabError, missing_cgroup_v1


def render(tmp_path: Path, **kw) -> tuple[LabConfig, dict[str, str]]:
    cfg = LabConfig(dir=tmp_path / "lab", hostname="labhost", **kw)
    Lab(cfg).render()
    return cfg, {p.name: p.read_text() for p in (cfg.dir / "etc").glob("*.conf")}


def conf_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln and not ln.startswith("#")]


def test_ports_derive_from_base_and_do_not_overlap():
    a, b = LabConfig(), LabConfig(port_base=18800, node_prefix="t")
    ports_a = {a.port(k) for k in ("slurmctld", "slurmdbd", "slurmrestd", "mariadb", "prometheus",
                                    "alertmanager", "node_exporter")} | {a.slurmd_port(n) for n in a.node_names}
    ports_b = {b.port(k) for k in ("slurmctld", "slurmdbd", "slurmrestd", "mariadb", "prometheus",
                                    "alertmanager", "node_exporter")} | {b.slurmd_port(n) for n in b.node_names}
    assert len(ports_a) == 7 + len(a.node_names)
    assert not ports_a & ports_b
    assert a.port("slurmctld") == 16817 and b.port("slurmctld") == 18817


def test_slurm_conf_is_self_contained(tmp_path):
    cfg, files = render(tmp_path)
    conf = files["slurm.conf"]
    lines = conf_lines(conf)
    # Private munge: both the auth socket and the one slurmctld uses towards slurmdbd.
    assert f"AuthInfo=socket={cfg.munge_socket}" in lines
    assert f"AccountingStoragePass={cfg.munge_socket}" in lines
    assert f"AuthAltParameters=jwt_key={cfg.etc}/jwt.key" in lines
    # Every path it names lives in the lab dir: nothing points at a real Slurm's or munge's files.
    for line in lines:
        for path in re.findall(r"(?:^|[=,\s])(/[^\s,]*)", line):
            assert path.startswith(str(cfg.dir)) or path == "/bin/true", line
    nodes = [ln for ln in lines if ln.startswith("NodeName=") and "DEFAULT" not in ln]
    assert [ln.split()[0] for ln in nodes] == ["NodeName=n1", "NodeName=n2", "NodeName=n3",
                                                "NodeName=c1", "NodeName=c2"]
    assert all("State=CLOUD" in ln for ln in nodes[3:])
    assert "PartitionName=cpu Nodes=n1,n2,n3 Default=YES MaxTime=INFINITE State=UP" in lines
    assert "PartitionName=cloud Nodes=c1,c2 MaxTime=INFINITE State=UP" in lines
    assert f"ResumeProgram={cfg.bin}/resume" in lines
    assert "PrivateData=cloud" in lines and "SlurmdParameters=config_overrides" in lines


def test_no_cloud_partition_without_cloud_nodes(tmp_path):
    _, files = render(tmp_path, cloud_nodes=0)
    lines = conf_lines(files["slurm.conf"])
    assert not any(ln.startswith(("ResumeProgram", "PartitionName=cloud")) for ln in lines)


def test_gpus_are_gres_with_device_files_in_the_lab_dir(tmp_path):
    import os
    import stat
    if os.geteuid() != 0:
        pytest.skip("device nodes need root (as the lab does)")
    cfg, files = render(tmp_path, cpu_nodes=2, cloud_nodes=0, gpus=2, gpu_type="a100", node_prefix="g")
    lines = conf_lines(files["slurm.conf"])
    assert "GresTypes=gpu" in lines
    assert "AccountingStorageTRES=cpu,mem,node,billing,gres/gpu,gres/gpu:a100" in lines
    assert [ln.split()[-1] for ln in lines if ln.startswith("NodeName=gn")] == ["Gres=gpu:a100:2"] * 2
    assert conf_lines(files["gres.conf"]) == ["AutoDetect=off"] + [
        f"NodeName=gn{i} Name=gpu Type=a100 File={cfg.dir}/dev/gn{i}-gpu[0-1]" for i in (1, 2)]
    for node in ("gn1", "gn2"):
        for dev in cfg.gpu_files(node):
            st = dev.stat()
            assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.stat("/dev/null").st_rdev
    _, plain = render(tmp_path / "plain")
    assert "gres.conf" not in plain and "Gres" not in plain["slurm.conf"]


def test_secrets_are_private_and_stable(tmp_path):
    cfg, files = render(tmp_path)
    etc = cfg.dir / "etc"
    assert (etc / "munge.key").stat().st_mode & 0o777 == 0o400
    assert (etc / "jwt.key").stat().st_mode & 0o777 == 0o600
    assert (etc / "slurmdbd.conf").stat().st_mode & 0o777 == 0o600
    key = (etc / "jwt.key").read_bytes()
    assert len(key) == 32
    Lab(cfg).render()  # a second `up` keeps the keys
    assert (etc / "jwt.key").read_bytes() == key
    pw = (etc / "db.password").read_text().strip()
    assert f"StoragePass={pw}" in files["slurmdbd.conf"]


def test_config_roundtrip_and_differences(tmp_path):
    cfg = LabConfig(dir=tmp_path, node_cpus=512)
    back = LabConfig.from_json(cfg.to_json())
    assert back == cfg
    assert LabConfig(dir=tmp_path).differences(cfg) == ["node_cpus"]


@pytest.mark.parametrize("kw", [{"cpu_nodes": 0}, {"port_base": 80}, {"cluster": "Bad Name"}])
def test_validate_rejects(kw):
    with pytest.raises(ValueError):
        LabConfig(**kw).validate()


@pytest.mark.parametrize("slurm", sorted(GENERATIONS))
def test_native_metrics_only_where_the_generation_has_them(tmp_path, slurm, promtool_bin):
    """26.05: MetricsType in slurm.conf and one Prometheus target per native path, told apart by
    `endpoint` (docs/native-metrics.md); 22.05 and 24.11: neither. promtool checks the config."""
    cfg, files = render(tmp_path, slurm=slurm)
    gen = GENERATIONS[slurm]
    prom = yaml.safe_load((cfg.dir / "prometheus" / "prometheus.yml").read_text())
    native = [j for j in prom["scrape_configs"] if j["job_name"] == NATIVE_JOB]
    r = subprocess.run([promtool_bin, "check", "config", "--syntax-only",
                        str(cfg.dir / "prometheus" / "prometheus.yml")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    if not gen.metrics_type:
        assert "Metrics" not in files["slurm.conf"] and native == []
        return
    assert f"MetricsType={gen.metrics_type}\n" in files["slurm.conf"]
    assert "MetricsParameters=ignore_private_data\n" in files["slurm.conf"]
    targets = native[0]["static_configs"]
    assert [t["labels"]["__metrics_path__"] for t in targets] == [f"/metrics/{ep}" for ep in NATIVE_ENDPOINTS]
    assert {t["labels"]["endpoint"] for t in targets} == set(NATIVE_ENDPOINTS)
    assert all(t["targets"] == [f"127.0.0.1:{cfg.port('slurmctld')}"] for t in targets)
    assert all("cluster" not in t["labels"] for t in targets)   # our dashboards select by cluster


def test_upgrade_24_11_to_26_05_keeps_the_configs(tmp_path):
    """slurm-upgrade on the lab keeps etc/ as 24.11 rendered it: that is only right while a fresh
    26.05 lab renders the same files (comments aside), but for 26.05's optional native /metrics
    (MetricsType/MetricsParameters, which an upgraded site turns on when it wants them:
    docs/native-metrics.md). If a template starts to differ otherwise, the upgrade
    (docs/runbooks.md) must render the new config as a step of its own."""
    _, old = render(tmp_path / "a", slurm="24.11")
    _, new = render(tmp_path / "b", slurm="26.05")
    assert old.keys() == new.keys()
    for name in old:
        a = [ln for ln in conf_lines(old[name]) if not ln.startswith("StoragePass=")]  # per-lab secret
        b = [ln for ln in conf_lines(new[name]) if not ln.startswith(("StoragePass=", "MetricsType=",
                                                                        "MetricsParameters="))]
        assert [ln.replace(str(tmp_path / "a"), "D") for ln in a] == \
               [ln.replace(str(tmp_path / "b"), "D") for ln in b], name


def test_a_switched_daemon_is_recorded_and_survives_json(tmp_path):
    cfg = LabConfig(dir=tmp_path, slurm="24.11", daemons={"slurmdbd": "26.05", "clients": "26.05"})
    again = LabConfig.from_json(cfg.to_json())
    assert again == cfg
    assert again.generation_of("slurmdbd") == "26.05" and again.generation_of("slurmctld") == "24.11"
    assert again.extra_generations == ["26.05"]
    assert "slurmd-n1" in again.switchable() and "slurmd-c1" not in again.switchable()


def _v1_mounts() -> set[str]:
    """The cgroup v1 controllers mounted under /sys/fs/cgroup, from the kernel's mount table."""
    found = set()
    for ln in Path("/proc/self/mounts").read_text().splitlines():
        _, where, fstype, opts = ln.split()[:4]
        if fstype == "cgroup" and where.startswith("/sys/fs/cgroup/"):
            found |= set(opts.split(",")) & set(CGROUP_V1_CONTROLLERS)
    return found


def test_missing_cgroup_v1_agrees_with_the_mount_table():
    assert set(missing_cgroup_v1(Path("/sys/fs/cgroup"))) == set(CGROUP_V1_CONTROLLERS) - _v1_mounts()


def test_a_cgroup2_only_host_is_refused_before_anything_is_installed(tmp_path):
    """What a booted Debian 12 has: one cgroup2 tree (cgroup.controllers, no v1 `tasks`)."""
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    for c in ("cpuset", "memory"):            # a cgroup2 child named like a controller is no v1 hierarchy
        (tmp_path / c).mkdir()
        (tmp_path / c / "cgroup.procs").write_text("")
    lab = Lab(LabConfig(dir=tmp_path / "lab"))
    with pytest.raises(LabError, match=r"no cgroup v1 freezer, cpuset, memory, cpuacct hierarchy .*"
                                       r"systemd.unified_cgroup_hierarchy=0"):
        lab.check_cgroups(tmp_path)


def test_a_daemon_that_does_not_come_up_says_its_logs_last_lines(tmp_path):
    """slurmd's logs are per node: the error quotes the log of the node the health detail names
    (real slurmd wording from the fresh-tree run with a cgroup2-only /sys/fs/cgroup)."""
    lab = Lab(LabConfig(dir=tmp_path / "lab"))
    lab.cfg.log.mkdir(parents=True)
    (lab.cfg.log / "slurmd-n2.log").write_text(
        "[2026-11-27T16:21:04] error: cgroup namespace 'freezer' not mounted. aborting\n"
        "[2026-11-27T16:21:04] error: slurmd initialization failed\n")
    err = lab.not_healthy(lab.component("slurmd"), "n1=idle, n2=unknown*")
    assert str(lab.cfg.log / "slurmd-n2.log") in str(err)
    assert "cgroup namespace 'freezer' not mounted" in str(err)
    assert "slurmd initialization failed" in str(err)
    err = lab.not_healthy(lab.component("slurmctld"), "no answer")       # no log yet: no tail
    assert str(err).endswith(f"(log: {lab.cfg.log / 'slurmctld.log'})")


def test_the_quoted_log_names_the_cause_before_the_generic_fatal(tmp_path):
    """slurmdbd's last three lines say only that the plugin did not load (the wording of the
    24.11 CI failure); the error line that names the cause comes before them and is quoted too,
    while info lines between are not. (Hand-written log in slurmdbd's format.)"""
    lab = Lab(LabConfig(dir=tmp_path / "lab"))
    lab.cfg.log.mkdir(parents=True)
    (lab.cfg.log / "slurmdbd.log").write_text(
        "[2026-11-27T18:33:01.000] debug:  Log file re-opened\n"
        "[2026-11-27T18:33:08.300] error: mysql_query failed: 1205 Lock wait timeout exceeded\n"
        "[2026-11-27T18:33:08.350] accounting_storage/as_mysql: init: "
        "Accounting storage MYSQL plugin failed\n"
        "[2026-11-27T18:33:08.360] error: Couldn't load specified plugin name for "
        "accounting_storage/mysql: Plugin init() callback failed\n"
        "[2026-11-27T18:33:08.360] error: cannot create accounting_storage context for accounting_storage/mysql\n"
        "[2026-11-27T18:33:08.360] fatal: Unable to initialize accounting_storage/mysql accounting storage plugin\n")
    err = str(lab.not_healthy(lab.component("slurmdbd"), "Connection refused"))
    assert "1205 Lock wait timeout exceeded" in err
    assert "fatal: Unable to initialize" in err
    assert "Log file re-opened" not in err and "plugin failed" not in err
    assert err.index("1205") < err.index("fatal: Unable")


def _flaky_daemon(lab: Lab, retries: int) -> Component:
    """A real process that, the first time, writes an error to its log and exits 1, and the
    second time touches `ready` and stays up (a slurmdbd whose first table check failed)."""
    c = lab.cfg
    script = (f"if [ -e {c.dir}/tried ]; then touch {c.dir}/ready; exec sleep 60; fi; "
              f"touch {c.dir}/tried; echo 'error: mysql_query failed: 1205 cause' >> {c.log}/d.log; "
              "exit 1")
    return Component("d", lambda: lab._spawn("d", ["sh", "-c", script]),
                     lambda: ((c.dir / "ready").exists(), "ready" if (c.dir / "ready").exists()
                              else "no ready file"),
                     lambda: [c.pidfile("d")], "", "d.log", wait_s=20, start_retries=retries)


@pytest.mark.parametrize("retries", [0, 1])
def test_a_daemon_that_exits_while_starting_is_started_once_more(tmp_path, retries):
    """With start_retries the exit is noticed at once (not after wait_s), said with the log's
    cause, and the daemon started again; without, lab up fails on it."""
    out = io.StringIO()
    lab = Lab(LabConfig(dir=tmp_path / "lab"), out=out)
    lab.cfg.log.mkdir(parents=True)
    comp = _flaky_daemon(lab, retries)
    if not retries:
        comp.wait_s = 2
    try:
        ok, detail = lab._come_up(comp)
        assert (ok, detail) == ((True, "ready") if retries else (False, "no ready file"))
        said = out.getvalue()
        if retries:
            assert "d exited while starting (no ready file; log: " in said
            assert "error: mysql_query failed: 1205 cause" in said and said.endswith("starting it again\n")
            assert lab.own_pid("d") and lab._started == ["d"]
        else:
            assert said == "" and not lab.own_pid("d")
    finally:
        pid = lab.own_pid("d")
        if pid:
            subprocess.run(["kill", str(pid)], check=False)
