"""How a runbook's commands reach the machine they act on.

Both transports take argument lists. The local one execs them directly (no shell anywhere). ssh
joins its remote arguments into one string that the remote login shell parses, so the ssh
transport quotes every element with ``shlex.quote``: the remote side sees exactly the argv we
built, metacharacters included, and never a shell string assembled from input.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Outcome:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False


class Transport(Protocol):
    @property
    def name(self) -> str: ...

    def run(self, argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 60,
            input: str | None = None) -> Outcome: ...


def _exec(argv: list[str], env: dict[str, str] | None, timeout: float, input: str | None) -> Outcome:
    t0 = time.monotonic()
    try:
        # Its own session: a terminal's Ctrl-C reaches the runbook, which decides (below), and
        # not every command in flight at once; no controlling terminal, so nothing can stop on a
        # prompt either.
        p = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
                             close_fds=True, start_new_session=True)
    except OSError as exc:   # not installed, not executable
        return Outcome(argv, 127, "", str(exc), time.monotonic() - t0)
    end = t0 + max(timeout, 0.1)
    try:
        out, err = p.communicate(input=input, timeout=max(timeout, 0.1))
    except subprocess.TimeoutExpired:
        # Kill the command and its process group (a shell's children too, which would hold the
        # pipes open); daemons it started live in sessions of their own and stay.
        _kill_group(p)
        out, err = p.communicate()
        return Outcome(argv, 124, out or "", (err or "") + f"\ntimed out after {timeout:.0f} s",
                       time.monotonic() - t0, timed_out=True)
    except BaseException as interrupt:
        # Ctrl-C or SIGTERM reached the runbook mid-command: let the command end (within its
        # timeout) so the host is not left half-changed when the rollback begins, then pass the
        # interrupt on. A second interrupt (or the timeout) kills it.
        try:
            out, err = p.communicate(timeout=max(end - time.monotonic(), 0.1))
        except BaseException as again:
            _kill_group(p)
            p.wait()
            out, err = "", (f"timed out after {timeout:.0f} s" if isinstance(again, subprocess.TimeoutExpired)
                            else "killed by a second interrupt")
        # what it did goes with the interrupt, for the audit log (engine.Context.run)
        interrupt.outcome = Outcome(  # type: ignore[attr-defined]
            argv, p.returncode, out or "", err or "", time.monotonic() - t0)
        raise
    return Outcome(argv, p.returncode, out, err, time.monotonic() - t0)


def _kill_group(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)     # its own session: the group's id is its pid
    except ProcessLookupError:
        pass


def clean_env(overrides: dict[str, str] | None) -> dict[str, str]:
    """A small, known environment plus what the runbook sets: a stray SLURM_JOB_ID or SLURM_CONF
    in the operator's shell must not change what a command does."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}
    env.update(overrides or {})
    return env


@dataclass
class LocalTransport:
    """Commands run on this machine (the lab, or an admin host that is the controller)."""
    name: str = "local"

    def run(self, argv, *, env=None, timeout=60, input=None) -> Outcome:
        return _exec(list(argv), clean_env(env), timeout, input)


@dataclass
class SshTransport:
    """Commands run on ``host`` with the system ssh binary, non-interactively (BatchMode: a
    missing key fails at once instead of waiting for a password nobody will type)."""
    host: str
    user: str | None = None
    port: int | None = None
    options: list[str] = field(default_factory=lambda: ["BatchMode=yes", "ConnectTimeout=10"])
    ssh: str = "ssh"

    def __post_init__(self):
        if not self.host or self.host.startswith("-") or any(c.isspace() for c in self.host):
            raise ValueError(f"ssh host {self.host!r} is not a host name")

    @property
    def name(self) -> str:
        return f"ssh:{self.user + '@' if self.user else ''}{self.host}"

    def build_argv(self, argv: Sequence[str], env: dict[str, str] | None = None) -> list[str]:
        cmd = [self.ssh]
        for opt in self.options:
            cmd += ["-o", opt]
        if self.port:
            cmd += ["-p", str(self.port)]
        if self.user:
            cmd += ["-l", self.user]
        remote = list(argv)
        if env:
            # Only the variables a runbook sets (SLURM_CONF), passed through env(1), never the
            # whole local environment.
            remote = ["env", *[f"{k}={v}" for k, v in sorted(env.items())], *remote]
        cmd += ["--", self.host, " ".join(shlex.quote(a) for a in remote)]
        return cmd

    def run(self, argv, *, env=None, timeout=60, input=None) -> Outcome:
        out = _exec(self.build_argv(argv, env), dict(os.environ), timeout, input)
        out.argv = list(argv)
        return out
