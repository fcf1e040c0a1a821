"""Run a command in the lab's network namespace with its own hostname (the backup slurmctld).

``python -m slurmops.lab.nsexec --netns NAME --hostname HOST -- slurmctld -D ...``: join the named
network namespace (``/run/netns/NAME``, made by `ip netns add`), enter a new UTS namespace, set
the hostname there, then exec the command. No shell anywhere: the command is an argument list and
is exec'd in place, so the pid the lab recorded is the daemon's own pid.

Why: slurmctld binds 0.0.0.0:SlurmctldPort (two on one network namespace: "Address already in
use") and chooses primary or backup by matching its hostname against the SlurmctldHost lines.
Python 3.11 has no os.setns/os.unshare, hence libc through ctypes.
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


def bind(pairs: list[tuple[str, str]]) -> None:
    """A private mount namespace where each SRC is bind-mounted on DST (a lab host's own
    run/munge: its munged's socket where slurm.conf's AuthInfo points). Nothing is mounted
    on the host; the mounts vanish with the namespace's last process."""
    libc = _libc()
    if libc.unshare(CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNS): {os.strerror(err)}")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount --make-rprivate /: {os.strerror(err)}")
    for src, dst in pairs:
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
    ap.add_argument("--netns", required=True)
    ap.add_argument("--hostname", required=True)
    ap.add_argument("--bind", action="append", default=[], metavar="SRC:DST",
                    help="bind-mount SRC on DST in a private mount namespace (repeatable)")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("no command given (after --)")
    pairs = [tuple(b.split(":", 1)) for b in args.bind]
    if any(len(p) != 2 or not p[0].startswith("/") or not p[1].startswith("/") for p in pairs):
        ap.error("--bind takes SRC:DST, two absolute paths")
    try:
        enter(args.netns, args.hostname)
        if pairs:
            bind(pairs)
    except (OSError, ValueError) as exc:
        print(f"nsexec: {exc}", file=sys.stderr)
        return 1
    os.execvp(cmd[0], cmd)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
