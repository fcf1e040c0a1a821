"""promtool, run with argument lists: `check rules` (syntax, PromQL, duplicate rules) and
`test rules` (the unit tests in alerts/tests/)."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


class PromtoolMissing(Exception):
    pass


@dataclass
class Result:
    ok: bool
    output: str


def binary() -> str:
    path = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not path:
        raise PromtoolMissing("promtool not found (Debian: apt install prometheus; or set PROMTOOL)")
    return path


def _run(args: list[str], cwd: Path | None = None, timeout: float = 300) -> Result:
    r = subprocess.run([binary(), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                       stdin=subprocess.DEVNULL)
    return Result(r.returncode == 0, (r.stdout + r.stderr).strip())


def check_rules(files: list[Path]) -> Result:
    return _run(["check", "rules", "--lint=all", "--lint-fatal", *map(str, files)])


def test_rules(files: list[Path]) -> Result:
    """Rule paths in a test file are relative to it: run from its directory."""
    if not files:
        return Result(True, "")
    cwd = files[0].parent
    return _run(["test", "rules", *[str(f.resolve()) for f in files]], cwd=cwd)
