#!/usr/bin/env python3
"""The README's first command, `./run.sh demo`, end to end on a fresh Debian 12 (bookworm) tree.

The developers' machines have everything installed already, which hides a missing install step
(it happened: a Slurm plugin package present only there). This builds a minimal Debian 12 with
mmdebstrap (variant `important`: what a bare Debian 12 server has, plus python3, as a cloud image
has, and git, to clone with), clones the repository's committed HEAD into it as /root/slurmops and
runs `./run.sh demo` there as root, with no stdin, in a chroot inside new mount and PID namespaces
(/proc, /sys, /dev with /dev/pts, a tmpfs /run; the host's network, so apt and pip reach the
registries). Then it checks the demo's output exists, stops the tree's lab (`lab down --purge`) and
ends the PID namespace (every process in it dies with its init), and prints the wall time of each
phase of run.sh (boot packages, venv, pip, lab up, demo) and the output's last lines.

Usage (as root, from the repository root; 15-30 min on 2 cores, most of it apt and pip):
    python3 tests/rootfs/fresh_readme.py [--reuse-base] [--unit-tests] [--keep-tree] [--cgroup cgroup2]
The default lab's ports (16800-16999) must be free and no CI run going: the tree's lab is the
default one (its node names' cgroups are the host's default lab's, the cgroup hierarchy is shared).
tests/rootfs/test_fresh_readme.py runs it when SLURMOPS_FRESH_README=1 (never in the normal suite).
"""
from __future__ import annotations

import argparse
import datetime
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from slurmops.lab.rootfs import SUITES  # noqa: E402  (the lab's own mirrors and suite lines)

WORK = Path(os.environ.get("SLURMOPS_FRESH_README_DIR", "/var/tmp/slurmops-fresh-readme"))
# A bare Debian 12 server: Priority required + important (apt, systemd, iproute2, procps, ...).
# python3: a cloud image has it (cloud-init); python3-venv, ca-certificates, curl and the rest
# are run.sh's to install. git: the README starts "from a clone of this repository".
VARIANT = "important"
INCLUDE = ["python3", "git"]
LAB_PORTS = range(16800, 17000)        # the default lab's (--port-base 16800), what the tree's uses
# run.sh's steps, as bash -x shows them (PS4 carries the time): phase name, first command of it.
PHASES = [("boot packages (apt-get)", re.compile(r"apt-get update|apt-get install|/usr/bin/python3 -m venv")),
          ("python venv", re.compile(r"/usr/bin/python3 -m venv")),
          ("pip install -e .[dev]", re.compile(r"\.venv/bin/python -m pip install")),
          ("lab up", re.compile(r"\.venv/bin/slurmops lab up")),
          ("slurmops demo", re.compile(r"\.venv/bin/slurmops demo"))]
XTRACE = re.compile(r"^\++ (.*)$")   # bash -x (root's bash takes no PS4 from the environment)

# Runs as the PID namespace's init, on the host's side of the chroot: $1 the tree, $2 cgroup mode.
NS_INIT = r"""set -eu
T=$1
mount -t proc proc "$T/proc"
mount --rbind /sys "$T/sys"
if [ "$2" = cgroup2 ]; then
  umount -R "$T/sys/fs/cgroup"; mount -t cgroup2 cgroup2 "$T/sys/fs/cgroup"
fi
mount --rbind /dev "$T/dev"
mount -t tmpfs -o mode=755 tmpfs "$T/run"
shift 2
exec chroot "$T" /usr/bin/env -i "$@"
"""

# Runs inside the tree as root: the README's command, then what it left, then the lab stopped.
INSIDE = r"""cd /root/slurmops
bash -x ./run.sh demo </dev/null && rc=0 || rc=$?
echo "@@ run.sh demo exit $rc"
lab=/var/tmp/slurmops-lab
echo "@@ evidence: dashboards preview"
ls "$lab/dashboards" | head -20
echo "@@ evidence: runbook audit"
.venv/bin/slurmops runbook log --state-dir "$lab/runbooks" </dev/null | tail -5 || true
if [ "${UNIT_TESTS:-0}" = 1 ] && [ $rc -eq 0 ]; then
  echo "@@ unit tests start"
  ./run.sh test -k "not slow" tests/unit </dev/null && urc=0 || urc=$?
  echo "@@ run.sh test unit exit $urc"
fi
echo "@@ lab down start"
.venv/bin/slurmops lab down --purge </dev/null && drc=0 || drc=$?
echo "@@ lab down exit $drc"
exit $rc
"""


def say(msg: str) -> None:
    print(f"fresh-readme: {msg}", flush=True)


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, text=True, **kw)


def preflight() -> None:
    if os.geteuid() != 0:
        sys.exit("error: run as root (mmdebstrap --mode=root, chroot, namespaces)")
    for tool in ("mmdebstrap", "unshare", "chroot", "git"):
        if shutil.which(tool) is None:
            sys.exit(f"error: {tool} is not installed")
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    taken = sorted({int(m) for m in re.findall(r":(\d+)\s", out) if int(m) in LAB_PORTS})
    if taken:
        sys.exit(f"error: the default lab's ports are in use ({taken[:5]}): stop that lab first")
    ci = subprocess.run(["pgrep", "-af", "run.sh test"], capture_output=True, text=True).stdout.strip()
    if ci:
        sys.exit(f"error: a `run.sh test` is running ({ci.splitlines()[0]}): wait for it")


def base_tar(reuse: bool) -> Path:
    """mmdebstrap's output as a tar (extracted once per run: every run starts from the same fresh
    tree); --reuse-base keeps the last one (apt-get update inside refreshes the lists anyway)."""
    tar = WORK / f"bookworm-{VARIANT}.tar"
    if reuse and tar.is_file():
        say(f"reusing {tar}")
        return tar
    suite = SUITES["bookworm"]
    argv = ["mmdebstrap", f"--variant={VARIANT}", "--mode=root", "--format=tar", f"--include={','.join(INCLUDE)}",
            suite.name, str(tar) + ".part", *suite.sources]
    say("building: " + " ".join(argv))
    t0 = time.monotonic()
    WORK.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        errors = [ln for ln in (r.stderr + r.stdout).splitlines() if ln.startswith(("E:", "W:"))]
        sys.exit("error: mmdebstrap failed: " + ("; ".join(errors[:3]) or r.stderr[-800:]))
    os.replace(str(tar) + ".part", tar)
    say(f"base tree built in {time.monotonic() - t0:.0f} s ({tar.stat().st_size >> 20} MiB)")
    return tar


def prepare_tree(tar: Path, tree: Path) -> str:
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    os.chmod(tree, 0o755)
    run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", str(tar), "-C", str(tree)])
    # What a booted machine has and a chroot lacks: its name, its resolver, its /etc/hosts.
    name = socket.gethostname()
    (tree / "etc/hostname").write_text(name + "\n")
    (tree / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n"
                                    "::1\tlocalhost ip6-localhost ip6-loopback\n")
    resolv = tree / "etc/resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    shutil.copyfile("/etc/resolv.conf", resolv)
    # This host's own CAs (an egress proxy's): the network's plumbing, as a site's proxy setting
    # would be; ca-certificates (run.sh installs it) puts them in the bundle PIP_CERT names.
    local_cas = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
    for ca in local_cas:
        (tree / "usr/local/share/ca-certificates").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ca, tree / "usr/local/share/ca-certificates" / ca.name)
    if local_cas:
        say(f"copied this host's local CAs into the tree: {', '.join(c.name for c in local_cas)}")
    head = run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True).stdout.strip()
    branch = run(["git", "-C", str(REPO), "rev-parse", "--abbrev-ref", "HEAD"], capture_output=True).stdout.strip()
    if run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
           capture_output=True).stdout.strip():
        say("warning: the worktree has uncommitted changes; the clone has only what is committed")
    run(["git", "clone", "-q", "--branch", branch, str(REPO), str(tree / "root/slurmops")])
    (tree / "root/fresh-readme-inside.sh").write_text(INSIDE)
    return f"{branch} {head[:12]}"


def leftovers(tree: Path) -> list[str]:
    """Processes whose root is the tree (there must be none once the namespace ended)."""
    left = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if os.readlink(p / "root") == str(tree):
                    left.append(f"{p.name} {(p / 'comm').read_text().strip()}")
            except OSError:
                pass
    return left


def phases(lines: list[tuple[float, str]], end: float | None) -> list[tuple[str, float]]:
    """Seconds from each phase's first command to the next phase's (the last one's to `end`),
    from the times the lines arrived."""
    marks: dict[str, float] = {}
    for t, ln in lines:
        m = XTRACE.match(ln)
        if not m:
            continue
        for name, rx in PHASES:
            if name not in marks and rx.search(m.group(1)):
                marks[name] = t
    out, found = [], [(n, marks[n]) for n, _ in PHASES if n in marks]
    for i, (name, t) in enumerate(found):
        nxt = found[i + 1][1] if i + 1 < len(found) else end
        if nxt is not None:
            out.append((name, nxt - t))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reuse-base", action="store_true", help="reuse the last mmdebstrap base tar")
    ap.add_argument("--unit-tests", action="store_true",
                    help='then `./run.sh test -k "not slow" tests/unit` in the tree, before lab down')
    ap.add_argument("--keep-tree", action="store_true", help="leave the tree (default: removed on success)")
    ap.add_argument("--cgroup", choices=["host", "cgroup2"], default="host",
                    help="host: the host's /sys/fs/cgroup as it is (rbind); cgroup2: a cgroup2 mount there")
    ap.add_argument("--timeout", type=int, default=3600)
    a = ap.parse_args()
    preflight()
    t_all = time.monotonic()
    tar = base_tar(a.reuse_base)
    tree = WORK / "tree"
    t0 = time.monotonic()
    what = prepare_tree(tar, tree)
    say(f"tree {tree} ready in {time.monotonic() - t0:.0f} s, clone of {what}")
    log = WORK / f"run-{datetime.datetime.now(datetime.UTC):%Y%m%dT%H%M%SZ}.log"
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
           "LANG=C.UTF-8", "TERM=dumb", "UNIT_TESTS=" + ("1" if a.unit_tests else "0")]
    if any(Path("/usr/local/share/ca-certificates").glob("*.crt")):
        env.append("PIP_CERT=/etc/ssl/certs/ca-certificates.crt")
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as f:
        f.write(NS_INIT)
    argv = ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private",
            "--kill-child=SIGKILL", "bash", f.name, str(tree), a.cgroup,
            *env, "/bin/bash", "/root/fresh-readme-inside.sh"]
    say(f"running ./run.sh demo in the tree (log {log})")
    lines: list[tuple[float, str]] = []      # (seconds since the start, line)
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, errors="replace")
    assert p.stdout is not None
    # --kill-child: unshare killed, its child (the namespace's init) dies, and with it every process there.
    watchdog = threading.Timer(a.timeout, p.kill)
    watchdog.start()
    with open(log, "w") as lf:
        for ln in p.stdout:
            stamped = f"[{time.monotonic() - t0:7.1f}] {ln.rstrip()}"
            lf.write(stamped + "\n")
            lf.flush()
            print(stamped, flush=True)
            lines.append((time.monotonic() - t0, ln.rstrip()))
    rc = p.wait()
    watchdog.cancel()
    if time.monotonic() - t0 >= a.timeout:
        say(f"timeout after {a.timeout} s: killed the namespace")
    os.unlink(f.name)
    end = next((t for t, ln in lines if ln.startswith("@@ run.sh demo exit")), None)
    left = leftovers(tree)
    ports = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    busy = sorted({int(m) for m in re.findall(r":(\d+)\s", ports) if int(m) in LAB_PORTS})
    print()
    say(f"report ({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {what}, "
        f"{os.cpu_count()} cores)")
    for name, secs in phases(lines, end):
        say(f"  {name:26s} {secs:7.1f} s")
    for t, ln in lines:
        if ln.startswith("@@ ") and " exit " in ln:
            say(f"  {ln[3:].split(' at ')[0]} (at {t:.0f} s)")
    say(f"  whole run (tree build included) {time.monotonic() - t_all:.0f} s; exit {rc}")
    say(f"  processes left in the tree: {left or 'none'}; default lab ports listening: {busy or 'none'}")
    cut = next((i for i, (_, ln) in enumerate(lines) if ln.startswith("@@ run.sh demo exit")), len(lines))
    tail = [ln for _, ln in lines[:cut] if not XTRACE.match(ln) and not ln.startswith("@@")][-22:]
    say("  run.sh demo's last lines:")
    for ln in tail:
        print("    " + ln)
    unit = [ln for _, ln in lines if re.search(r"(passed|failed|error).* in [\d.]+s", ln)]
    if unit:
        say(f"  run.sh test -k 'not slow' tests/unit: {unit[-1].strip('= ')}")
    if rc == 0 and not left and not busy and not a.keep_tree:
        shutil.rmtree(tree)
    return 1 if rc or left or busy else 0


if __name__ == "__main__":
    sys.exit(main())
