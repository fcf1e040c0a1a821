"""Private labs for tests that break things on purpose (stop daemons, rotate keys, kill the
primary controller): each gets its own dir, ports, cluster and node names, so the shared lab and
the other private labs are never touched."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import need

REPO = Path(__file__).resolve().parent.parent
SLURMOPS = [sys.executable, "-m", "slurmops"]
# The Slurm generation of the private labs (`lab up --slurm`): the host's 22.05 unless the matrix
# (run.sh) asks for a newer one.
GENERATION = os.environ.get("SLURMOPS_LAB_SLURM", "")


def lab_env(lab_dir: Path) -> dict[str, str]:
    """The environment in which a lab's own Slurm commands run (a newer generation's wrappers first
    on PATH): what a test uses to ask that lab's Slurm for the truth."""
    from slurmops.lab import nsroot
    from slurmops.lab.platform import load_config
    return nsroot.lab_env(load_config(lab_dir))


def wait_for(fn, timeout: float, interval: float = 0.5):
    """fn() until it returns something true or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    value = fn()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = fn()
    return value


def wait_until(what: str, check, timeout: float = 90, interval: float = 1.0):
    """check() until it returns something true (returned); AssertionError naming ``what`` and the
    last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")


def lab_cmd(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`slurmops lab ...` as a subprocess, no stdin (as automation runs it)."""
    return subprocess.run([*SLURMOPS, "lab", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=REPO)


@contextmanager
def private_lab(lab_dir: Path, *up_args: str, timeout: float = 600) -> Iterator[Path]:
    """`lab up --dir lab_dir *up_args`, yield the dir, `lab down --purge` at the end."""
    need.root()
    if GENERATION and "--slurm" not in up_args:
        up_args = (*up_args, "--slurm", GENERATION)
    r = lab_cmd("up", "--dir", str(lab_dir), *up_args, timeout=timeout)
    if r.returncode != 0:
        lab_cmd("down", "--purge", "--dir", str(lab_dir))   # a half-made namespace, a stray daemon
        pytest.fail(f"private lab {lab_dir} did not come up: {r.stdout[-3000:]} {r.stderr[-2000:]}")
    try:
        yield lab_dir
    finally:
        lab_cmd("down", "--purge", "--dir", str(lab_dir))
