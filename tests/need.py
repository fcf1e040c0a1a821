"""What a test needs from the machine, and what happens when it is missing.

Under ``SLURMOPS_REQUIRE_LAB=1`` (``./run.sh test``, CI: everything is installed there) a missing
tool or privilege fails the test; elsewhere it skips, saying what to install."""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pytest

from slurmops.rules import promtool as _promtool


def required() -> bool:
    return os.environ.get("SLURMOPS_REQUIRE_LAB") == "1"


def absent(msg: str) -> None:
    """Fail (CI) or skip (a developer's machine) because something the test needs is missing."""
    if required():
        pytest.fail(f"{msg} (SLURMOPS_REQUIRE_LAB=1: everything must be there)")
    pytest.skip(msg)


def promtool() -> str:
    """The promtool the code would run ($PROMTOOL, else PATH), checked to be executable."""
    try:
        path = _promtool.binary()
    except _promtool.PromtoolMissing as exc:
        absent(str(exc))
    if not os.access(path, os.X_OK):
        absent(f"promtool {path} ($PROMTOOL) is not an executable file")
    return path


def binary(name: str, install: str) -> str:
    """The path of command ``name`` on PATH, else absent() saying how to install it."""
    import shutil
    path = shutil.which(name)
    if path is None:
        absent(f"{name} not installed ({install})")
    return str(path)


def root() -> None:
    if os.geteuid() != 0:
        absent("the lab needs root")


def found(paths: Iterable[Path], what: str) -> list[Path]:
    """A glob used to parametrise tests: an empty one is an error at collection, never zero tests."""
    got = sorted(paths)
    if not got:
        raise RuntimeError(f"no {what} found: the tests over them would silently not run")
    return got
