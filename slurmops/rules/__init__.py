"""Alert and recording rules: build them from templates and thresholds, wrap promtool, enforce the
conventions (lint) and the test coverage. The rules themselves are content in ``alerts/``."""
from __future__ import annotations

import os
from pathlib import Path


def default_dir() -> Path:
    """$SLURMOPS_ALERTS_DIR, else the repository's alerts/ next to the package, else ./alerts."""
    env = os.environ.get("SLURMOPS_ALERTS_DIR")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2] / "alerts"
    return repo if repo.is_dir() else Path("alerts")


def rule_files(alerts_dir: Path) -> list[Path]:
    return sorted(alerts_dir.glob("*.rules.yml"))


def promtool_test_files(alerts_dir: Path) -> list[Path]:
    return sorted((alerts_dir / "tests").glob("*.test.yml"))
