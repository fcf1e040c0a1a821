"""Run a command in the lab's network namespace with its own hostname (the backup slurmctld, the
hosts of `lab up --hosts`).

``python -m slurmops.lab.nsexec --netns NAME --hostname HOST -- slurmctld -D ...``: join the named
network namespace (``/run/netns/NAME``, made by `ip netns add`), enter a new UTS namespace, set
the hostname there, then exec the command. No shell anywhere: the command is an argument list and
is exec'd in place, so the pid the lab recorded is the daemon's own pid.

Why: slurmctld binds 0.0.0.0:SlurmctldPort (two on one network namespace: "Address already in
use") and chooses primary or backup by matching its hostname against the SlurmctldHost lines.
Python 3.11 has no os.setns/os.unshare, hence libc through ctypes.

``--bind SRC:DST`` (a lab host's own munge dir at run/munge) makes a private mount namespace for
the command. ``--rootfs-of PID`` (a newer generation, nsroot.py) starts from the mount namespace of
the root filesystem's holder PID instead of this one, binds there (under its root) and chroots
into that root, so the daemon is the generation's, sees the host's own munge dir, and keeps the
host's network and hostname (the rootfs wrappers would enter the holder's UTS namespace and drop
the bind: they are not used on this path).
"""
from __future__ import annotations

import argparse
import ctypes
import os
import re
import socket
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def _libc():
    return ctypes.CDLL(None, use_errno=True)


# PATH inside a root filesystem: its own binaries (the lab's PATH names the rootfs wrappers,
# which would leave this host's namespaces).
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def join_rootfs(holder: int) -> str:
    """Enter the mount namespace of a root filesystem's holder process; its root (a directory
    in that namespace) is returned for bind() and the chroot."""
    root = os.readlink(f"/proc/{holder}/root")
    fd = os.open(f"/proc/{holder}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc().setns(fd, CLONE_NEWNS) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns(mnt of {holder}): {os.strerror(err)}")
    finally:
        os.close(fd)
    return root


def bind(pairs: list[tuple[str, str]], root: str = "") -> None:
    """A private mount namespace where each SRC is bind-mounted on DST (a lab host's own
    run/munge: its munged's socket where slurm.conf's AuthInfo points); DST under ``root`` when
    given. Nothing is mounted on the host; the mounts vanish with the namespace's last process."""
    libc = _libc()
    if libc.unshare(CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNS): {os.strerror(err)}")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount --make-rprivate /: {os.strerror(err)}")
    for src, dst in pairs:
        dst = os.path.join(root, dst.lstrip("/")) if root else dst
        if libc.mount(src.encode(), dst.encode(), None, MS_BIND, None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount --bind {src} {dst}: {os.strerror(err)}")


def enter(netns: str, hostname: str) -> None:
    if not _NAME.fullmatch(netns) or not _NAME.fullmatch(hostname):
        raise ValueError(f"bad namespace or host name: {netns!r} {hostname!r}")
    libc = _libc()
    fd = os.open(os.path.join(NETNS_DIR, netns), os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({netns}): {os.strerror(err)}")
    finally:
        os.close(fd)
    if libc.unshare(CLONE_NEWUTS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWUTS): {os.strerror(err)}")
    socket.sethostname(hostname)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m slurmops.lab.nsexec")
    ap.add_argument("--netns", help="join this network namespace (with --hostname)")
    ap.add_argument("--hostname", help="in a new UTS namespace (with --netns)")
    ap.add_argument("--bind", action="append", default=[], metavar="SRC:DST",
                    help="bind-mount SRC on DST in a private mount namespace (repeatable)")
    ap.add_argument("--rootfs-of", type=int, metavar="PID",
                    help="run in the root filesystem held by process PID (nsroot.py)")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("no command given (after --)")
    if bool(args.netns) != bool(args.hostname):
        ap.error("--netns and --hostname go together (neither: stay in this host's namespaces)")
    pairs = [tuple(b.split(":", 1)) for b in args.bind]
    if any(len(p) != 2 or not p[0].startswith("/") or not p[1].startswith("/") for p in pairs):
        ap.error("--bind takes SRC:DST, two absolute paths")
    try:
        if args.netns:
            enter(args.netns, args.hostname)
        cwd = os.getcwd()
        root = join_rootfs(args.rootfs_of) if args.rootfs_of else ""
        if pairs or root:
            bind(pairs, root)
        if root:
            os.chroot(root)
            try:
                os.chdir(cwd)       # the lab dir is at its own path inside
            except OSError:
                os.chdir("/")
            os.environ["PATH"] = ROOT_PATH
            for name in ("SLURMOPS_LAB_HOST_MUNGE", "SLURMOPS_LAB_PYTHON"):    # (the wrapper's)
                os.environ.pop(name, None)
    except (OSError, ValueError) as exc:
        print(f"nsexec: {exc}", file=sys.stderr)
        return 1
    os.execvp(cmd[0], cmd)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
