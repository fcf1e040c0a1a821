"""Load `dashboards/*.dashboard.py`, render each to JSON deterministically, write or compare.

Deterministic: keys sorted, ids assigned in layout order, no timestamps, a trailing newline; the
same sources always give byte-identical files.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from grafanalib import core as g
from grafanalib._gen import DashboardEncoder

from ..content import content_dir

SOURCE_DIR = content_dir("dashboards")      # the clone's dashboards/, or the installed copy
BUILD_DIR = SOURCE_DIR / "build"
SUFFIX = ".dashboard.py"


@dataclass(frozen=True)
class Built:
    name: str        # file stem: overview, scheduler, ...
    source: Path
    text: str        # the JSON as written

    @property
    def model(self) -> dict:
        return json.loads(self.text)


def sources(source_dir: Path = SOURCE_DIR) -> list[Path]:
    return sorted(p for p in source_dir.glob(f"*{SUFFIX}") if p.is_file())


def load(path: Path) -> g.Dashboard:
    name = path.name[: -len(SUFFIX)]
    spec = importlib.util.spec_from_file_location(f"slurmops_dashboard_{name}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dash = getattr(module, "dashboard", None)
    if not isinstance(dash, g.Dashboard):
        raise RuntimeError(f"{path} must define `dashboard`, a grafanalib Dashboard")
    return dash


def render(dash: g.Dashboard) -> str:
    data = json.loads(json.dumps(dash.to_json_data(), cls=DashboardEncoder))
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def build_all(source_dir: Path = SOURCE_DIR) -> list[Built]:
    return [Built(p.name[: -len(SUFFIX)], p, render(load(p))) for p in sources(source_dir)]


def write(built: list[Built], out_dir: Path = BUILD_DIR) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for b in built:
        path = out_dir / f"{b.name}.json"
        if not path.exists() or path.read_text() != b.text:
            path.write_text(b.text)
        written.append(path)
    wanted = {p.name for p in written}
    for stale in out_dir.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
    return written


def differences(built: list[Built], out_dir: Path = BUILD_DIR) -> list[str]:
    """What differs between fresh output and the committed files (empty when in sync)."""
    problems = []
    wanted = {f"{b.name}.json": b for b in built}
    for fname, b in sorted(wanted.items()):
        path = out_dir / fname
        if not path.exists():
            problems.append(f"{path}: missing (run `slurmops dashboards build`)")
        elif path.read_text() != b.text:
            problems.append(f"{path}: differs from {b.source.name} (run `slurmops dashboards build`)")
    for path in sorted(out_dir.glob("*.json")):
        if path.name not in wanted:
            problems.append(f"{path}: no source {path.stem}{SUFFIX}")
    return problems


def load_built(out_dir: Path = BUILD_DIR) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(out_dir.glob("*.json"))}
