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

CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def _libc():
    return ctypes.CDLL(None, use_errno=True)


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
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("no command given (after --)")
    try:
        enter(args.netns, args.hostname)
    except (OSError, ValueError) as exc:
        print(f"nsexec: {exc}", file=sys.stderr)
        return 1
    os.execvp(cmd[0], cmd)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
