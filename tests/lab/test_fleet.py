"""Fleet execution on a lab of separate hosts (`lab up --hosts`): the controller (slurmctld) and
every cpu node are hosts of their own (network + UTS + mount namespace, own munged and key file,
sshd), slurmdbd and MariaDB stay on the lab host, and munge-key-rotation runs across the inventory
the lab writes, over ssh.

Faults (issue 13): a host unreachable mid-rotation, a wrong key on one host, kill -9 inside the
destructive step then `resume` and `resume --rollback`. Each ends with one key on every host.
Truth is independent of the runbook: the key files themselves, and munge/unmunge run here on
each host's own munged socket (a credential made by one munged decodes on another only when
both hold the same key), squeue for the job that must survive.

Own dir, ports (14300), cluster and node names: no other lab is touched (SLURMOPS_FLEET_LAB_DIR,
SLURMOPS_FLEET_PORT_BASE and SLURMOPS_FLEET_NODE_PREFIX move them; SLURMOPS_LAB_SLURM picks the
Slurm generation, labtools.GENERATION).
"""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from labtools import GENERATION, lab_env, private_lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("SLURMOPS_FLEET_LAB_DIR", "/var/tmp/slurmops-fleet-lab"))
PORT_BASE = os.environ.get("SLURMOPS_FLEET_PORT_BASE", "14300")
PREFIX = os.environ.get("SLURMOPS_FLEET_NODE_PREFIX", "f")
LAB_ARGS = ["--port-base", PORT_BASE, "--cluster", "fleetlab", "--node-prefix", PREFIX, "--cloud-nodes", "0",
            "--hosts"]
NODES = [f"{PREFIX}n{i}" for i in (1, 2, 3)]
CTL = "fleetlab-ctl"            # the controller host (slurmctld); the lab host runs slurmdbd
RUNBOOK = [sys.executable, "-m", "slurmops.runbook", "runbook"]


@pytest.fixture(scope="module")
def lab():
    with private_lab(LAB_DIR, *LAB_ARGS) as d:
        yield d


@pytest.fixture
def state_dir(tmp_path) -> Path:
    return tmp_path / "state"


def env(lab: Path) -> dict:
    return lab_env(lab)         # the lab's Slurm commands (a newer generation's wrappers first)


def key_files(lab: Path) -> dict[str, bytes]:
    out = {"lab host": (lab / "etc" / "munge.key").read_bytes()}
    out.update({n: (lab / "hosts" / n / "munge.key").read_bytes() for n in [CTL, *NODES]})
    return out


def sockets(lab: Path) -> dict[str, Path]:
    out = {"lab host": lab / "run" / "munge" / "munge.socket"}
    out.update({n: lab / "hosts" / n / "munge" / "munge.socket" for n in [CTL, *NODES]})
    return out


def decodes(lab: Path) -> dict[tuple[str, str], bool]:
    """(maker, decoder) -> whether a credential of maker's munged decodes on decoder's."""
    socks, out = sockets(lab), {}
    for maker, s in socks.items():
        cred = subprocess.run(["munge", "-n", "-S", str(s)], capture_output=True, text=True, timeout=10)
        for dec, t in socks.items():
            r = subprocess.run(["unmunge", "-S", str(t)], input=cred.stdout, capture_output=True,
                               text=True, timeout=10)
            out[(maker, dec)] = cred.returncode == 0 and r.returncode == 0
    return out


def assert_one_key(lab: Path, key: bytes | None = None) -> bytes:
    files = key_files(lab)
    assert len(set(files.values())) == 1, "split key files"
    one = next(iter(files.values()))
    if key is not None:
        assert one == key
    deadline = time.monotonic() + 30          # a munged restarted at the very end may be starting
    while not all((ok := decodes(lab)).values()) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert all(ok.values()), [k for k, v in ok.items() if not v]
    return one


def assert_nodes_idle(lab: Path, within_s: float = 60) -> None:
    """Every node answers slurmctld again (sinfo's own state: idle, no `*` not-responding flag)."""
    deadline = time.monotonic() + within_s
    while True:
        out = subprocess.run(["sinfo", "-h", "-N", "-p", "cpu", "-o", "%N %t"], env=env(lab),
                             capture_output=True, text=True, timeout=30).stdout.split()
        states = dict(zip(out[0::2], out[1::2], strict=False))
        if states == {n: "idle" for n in NODES} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert states == {n: "idle" for n in NODES}


def records(state_dir: Path) -> list[dict]:
    (path,) = list((state_dir / "runs").glob("*/audit.jsonl"))
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def status(recs: list[dict]) -> str:
    return [r for r in recs if r["event"] == "run_end"][-1]["status"]


def rotate(lab: Path, state_dir: Path, *args: str, when: Callable[[str], bool] | None = None,
           then: Callable[[subprocess.Popen], None] | None = None) -> tuple[int, str]:
    """Run the rotation; once the audit log satisfies ``when``, call ``then`` (a fault). Returns
    the exit code (-9 when ``then`` killed it) and the output."""
    p = subprocess.Popen([*RUNBOOK, "run", "--target", f"lab:{lab}", "--state-dir", str(state_dir),
                          "--yes", "munge-key-rotation", *args], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                         start_new_session=True)
    if when is not None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and p.poll() is None:
            logs = list((state_dir / "runs").glob("*/audit.jsonl")) if (state_dir / "runs").exists() else []
            if logs and when(logs[0].read_text()):
                then(p)
                break
            time.sleep(0.02)
        else:
            pytest.fail("the fault's moment never came")
    out, _ = p.communicate(timeout=600)
    return p.returncode, out


def step_started(n: int) -> Callable[[str], bool]:
    return lambda text: f'"event": "step_start", "step": {n},' in text


def resume(state_dir: Path, *args: str) -> subprocess.CompletedProcess:
    (run_dir,) = list((state_dir / "runs").glob("*"))
    return subprocess.run([*RUNBOOK, "resume", "--state-dir", str(state_dir), "--yes", run_dir.name, *args],
                          capture_output=True, text=True, timeout=600, cwd=REPO)


def kill_group(p: subprocess.Popen) -> None:
    os.killpg(p.pid, signal.SIGKILL)


def assert_no_key_in(keys: list[bytes], out: str, state_dir: Path) -> None:
    texts = [out.encode()] + [p.read_bytes() for p in state_dir.rglob("*") if p.is_file()]
    for k in keys:
        for form in (k, k.hex().encode(), base64.b64encode(k), k[:16].hex().encode()):
            assert not any(form in t for t in texts)


def netns_pids(lab: Path, host: str) -> set[int]:
    """The processes in a lab host's network namespace, as iproute2 lists them."""
    ns = f"slurmops-fleetlab-{PORT_BASE}-{host}"
    r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=15)
    assert r.returncode == 0, r.stderr
    return {int(p) for p in r.stdout.split()}


def test_hosts_are_separate_and_reachable_over_ssh(lab):
    """Each node and the controller: its own network namespace and hostname, its own munged, an
    sshd that answers with the lab's key; credentials cross hosts because every key file is the
    same. slurmctld runs on the controller host (its pid in that namespace), slurmdbd on the lab
    host, and Slurm itself names the controller host as the primary."""
    inv = (lab / "inventory.toml").read_text()
    here = {kind: os.stat(f"/proc/self/ns/{kind}").st_ino for kind in ("net", "uts")}
    daemons = {CTL: "slurmctld", **{n: f"slurmd-{n}" for n in NODES}}
    for host, daemon in daemons.items():
        pid = int((lab / "run" / f"{daemon}.pid").read_text())
        assert pid in netns_pids(lab, host)
        assert all(os.stat(f"/proc/{pid}/ns/{kind}").st_ino != ino for kind, ino in here.items())
        munged = int((lab / "run" / f"munged-{host}.pid").read_text())
        assert munged in netns_pids(lab, host)
        addr = inv.split(f"[hosts.{host}]")[1].split('"')[1]
        r = subprocess.run(["ssh", "-i", str(lab / "etc/ssh/id_ed25519"), "-o", "BatchMode=yes",
                            "-o", f"UserKnownHostsFile={lab}/etc/ssh/known_hosts", "-o", "StrictHostKeyChecking=yes",
                            f"root@{addr}", "hostname"], capture_output=True, text=True, timeout=30)
        assert r.stdout.strip() == host, r.stderr
    ctld = int((lab / "run" / "slurmctld.pid").read_text())
    assert Path(f"/proc/{ctld}/comm").read_text().strip() == "slurmctld"
    assert netns_pids(lab, CTL).isdisjoint(netns_pids(lab, NODES[0]))
    dbd = int((lab / "run" / "slurmdbd.pid").read_text())
    assert os.stat(f"/proc/{dbd}/ns/net").st_ino == here["net"]        # the database host is this one
    ping = subprocess.run(["scontrol", "ping"], env=env(lab), capture_output=True, text=True, timeout=30)
    assert f"at {CTL} is UP" in ping.stdout, ping.stdout + ping.stderr
    # the generation's daemons (SLURMOPS_LAB_SLURM): slurmd's version as slurmctld reports it,
    # slurmctld's binary inside the lab's root filesystem
    versions = subprocess.run(["sinfo", "-h", "-N", "-p", "cpu", "-o", "%N %v"], env=env(lab),
                              capture_output=True, text=True, timeout=30).stdout.split()
    assert {v.rsplit(".", 1)[0] for v in versions[1::2]} == {GENERATION or "22.05"}, versions
    assert os.readlink(f"/proc/{ctld}/exe").startswith(f"{lab}/root/" if GENERATION else "/usr/")
    assert_one_key(lab)


def test_rotation_across_hosts_keeps_jobs_running(lab, state_dir):
    before = assert_one_key(lab)
    job = subprocess.run(["sbatch", "--parsable", "-N3", "-p", "cpu", "-o", "/dev/null", "--wrap", "sleep 600"],
                         env=env(lab), capture_output=True, text=True, timeout=30).stdout.strip()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and subprocess.run(
                ["squeue", "-h", "-j", job, "-o", "%T"], env=env(lab), capture_output=True,
                text=True).stdout.strip() != "RUNNING":
            time.sleep(0.3)
        rc, out = rotate(lab, state_dir)
        assert rc == 0, out
        after = assert_one_key(lab)
        assert after != before and len(after) == 1024
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T %N"], env=env(lab),
                               capture_output=True, text=True).stdout.split()
        assert state == ["RUNNING", f"{PREFIX}n[1-3]"]
        recs = records(state_dir)
        hosts = {r.get("host") for r in recs if r["event"] == "cmd" and r["phase"] == "action"}
        assert {CTL, *NODES} <= hosts                   # every host was acted on
        restarts = [(r.get("host"), r["argv"][-3]) for r in recs if r["event"] == "cmd"
                    and "restart" in r["argv"] and r["step"] in (5, 6)]
        # one host's share at once (--fanout): every node once, in any order, slurmctld on the
        # controller host, munged on every host (the lab host's too), and every munged restarted
        # before the first slurmd is
        assert sorted(h for h, comp in restarts if comp == "slurmd") == NODES
        assert [h for h, comp in restarts if comp == "slurmctld"] == [CTL]
        lab_host = json.loads((lab / "lab.json").read_text())["hostname"]
        assert {h for h, comp in restarts if comp == "munged"} == {lab_host, CTL, *NODES}
        comps = [comp for _, comp in restarts]
        assert max(i for i, c in enumerate(comps) if c == "munged") < comps.index("slurmd")
        assert_no_key_in([before, after], out, state_dir)
    finally:
        subprocess.run(["scancel", job], env=env(lab), timeout=30)


def test_unreachable_host_mid_rotation_leaves_old_key_everywhere(lab, state_dir):
    """The second node's link drops when the distribution starts: the run stops, rolls back, and
    every host (that one included, which was never switched) is on the old key."""
    before = assert_one_key(lab)
    veth = f"soh{PORT_BASE}i2"
    try:
        rc, out = rotate(lab, state_dir, when=step_started(3),
                         then=lambda p: subprocess.run(["ip", "link", "set", "dev", veth, "down"], check=True))
    finally:
        subprocess.run(["ip", "link", "set", "dev", veth, "up"], check=True)
    assert rc == 1, out
    recs = records(state_dir)
    assert status(recs) == "rolled-back"
    failed = [r for r in recs if r["event"] == "step_failed"]
    assert failed[0]["step"] == 3
    assert [r for r in recs if r["event"] == "cmd" and r.get("host") == NODES[1] and r["rc"] == 255]
    assert key_files(lab)[NODES[1]] == before
    assert_one_key(lab, before)
    assert_nodes_idle(lab)


def test_wrong_key_on_one_host_is_caught_before_any_switch(lab, state_dir):
    """The third node's staged copy is replaced by other bytes as the verification starts: the
    cross-host check fails naming that node, and no live munged ever ran on a new key."""
    before = assert_one_key(lab)

    def corrupt(_p):
        staged = lab / "hosts" / NODES[2] / "munge.key.slurmops-new"
        fd = os.open(staged, os.O_WRONLY | os.O_TRUNC)
        os.write(fd, os.urandom(1024))
        os.close(fd)

    rc, out = rotate(lab, state_dir, when=step_started(4), then=corrupt)
    assert rc == 1, out
    recs = records(state_dir)
    failed = [r for r in recs if r["event"] == "step_failed"]
    assert failed[0]["step"] == 4 and failed[0]["phase"] == "verify"
    bad = [r for r in recs if r["event"] == "check" and not r["ok"]]
    assert bad and NODES[2] in bad[0]["detail"] and NODES[0] not in bad[0]["detail"].replace(f"-> {NODES[2]}", "")
    assert not any("lab restart" in " ".join(r["argv"]) for r in recs if r["event"] == "cmd")
    assert not list(lab.glob("hosts/*/munge.key.slurmops-new"))
    assert_one_key(lab, before)


def restarted_in(step: int, component: str) -> Callable[[str], bool]:
    """Inside ``step``, once the first host's ``component`` was restarted: in step 5 (munged) the
    fleet is split between keys; in step 6 (the Slurm daemons) part of them run on the new key."""
    start = f'"step_start", "step": {step},'
    return lambda text: start in text and f'"restart", "{component}"' in text.split(start, 1)[1]


@pytest.mark.parametrize("step, component, how", [
    (5, "munged", "finish"), (5, "munged", "rollback"), (6, "slurmd", "finish"), (6, "slurmd", "rollback")])
def test_kill9_in_a_destructive_step_then_resume(lab, state_dir, step, component, how):
    before = assert_one_key(lab)
    rc, _ = rotate(lab, state_dir, when=restarted_in(step, component), then=kill_group)
    assert rc == -signal.SIGKILL
    time.sleep(2)           # a lab restart the killed run had started may still be finishing
    r = resume(state_dir, *(["--rollback"] if how == "rollback" else []))
    assert r.returncode == (0 if how == "finish" else 1), r.stdout + r.stderr
    recs = records(state_dir)
    assert status(recs) == ("succeeded" if how == "finish" else "rolled-back")
    after = assert_one_key(lab)
    assert (after != before) if how == "finish" else (after == before)
    assert_nodes_idle(lab)
    assert not list(lab.glob("hosts/*/munge.key.slurmops-*"))


def test_partition_selection_is_read_from_slurm(lab):
    """-p hosts=partition:cpu: the partition's nodes as sinfo lists them, each on its own host."""
    r = subprocess.run([*RUNBOOK, "plan", "--target", f"lab:{lab}", "munge-key-rotation",
                        "-p", "hosts=partition:cpu"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    backup = r.stdout.split("[2/")[1].split("[3/")[0]
    assert [f"[{n}] $ test -f {lab}/hosts/{n}/munge.key" in backup for n in NODES] == [True] * 3
    assert f"$ test -f {lab}/etc/munge.key" not in backup           # the lab host is not in cpu
    assert f"[{CTL}]" not in backup                                   # nor the controller host
    bad = subprocess.run([*RUNBOOK, "plan", "--target", f"lab:{lab}", "munge-key-rotation",
                          "-p", "hosts=partition:nosuch"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: host selection partition:nosuch: no nodes (sinfo lists none)"]
