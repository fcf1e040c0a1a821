"""Alert and recording rules: build them from templates and thresholds, wrap promtool, enforce the
conventions (lint) and the test coverage. The rules themselves are content in ``alerts/``."""
from __future__ import annotations

import os
from pathlib import Path


def default_dir() -> Path:
    """$SLURMOPS_ALERTS_DIR, else alerts/ of the clone or of the installed package (content.py)."""
    env = os.environ.get("SLURMOPS_ALERTS_DIR")
    if env:
        return Path(env)
    from ..content import content_dir
    return content_dir("alerts")


def rule_files(alerts_dir: Path) -> list[Path]:
    return sorted(alerts_dir.glob("*.rules.yml"))


def promtool_test_files(alerts_dir: Path) -> list[Path]:
    return sorted((alerts_dir / "tests").glob("*.test.yml"))
