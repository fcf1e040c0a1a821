"""Find runbook definitions: every ``runbooks/*.py`` (not starting with ``_``) that defines
``RUNBOOK``. They are loaded by path, not as a package, because ``runbooks/`` is operator content
(a clone's folder, or the copy an installed package carries: slurmops/content.py)."""
from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import replace
from pathlib import Path

from .model import Runbook, RunbookError


def default_dir() -> Path:
    """$SLURMOPS_RUNBOOKS_DIR, else runbooks/ of the clone or of the installed package (content.py)."""
    env = os.environ.get("SLURMOPS_RUNBOOKS_DIR")
    if env:
        return Path(env)
    from ..content import content_dir
    return content_dir("runbooks")


def load_file(path: Path) -> Runbook:
    mod_name = f"slurmops_runbook_{path.stem}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise RunbookError(f"{path}: cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except RunbookError as exc:
        raise RunbookError(f"{path}: {exc}") from None
    rb = getattr(module, "RUNBOOK", None)
    if not isinstance(rb, Runbook):
        raise RunbookError(f"{path}: defines no RUNBOOK = Runbook(...)")
    return replace(rb, path=str(path))


def load_all(directory: Path | None = None) -> dict[str, Runbook]:
    directory = directory or default_dir()
    if not directory.is_dir():
        raise RunbookError(f"runbooks directory {directory} does not exist (--runbooks-dir)")
    out: dict[str, Runbook] = {}
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith("_"):
            continue
        rb = load_file(path)
        if rb.name in out:
            raise RunbookError(f"runbook {rb.name} defined twice ({out[rb.name].path}, {path})")
        out[rb.name] = rb
    return out


def get(name: str, directory: Path | None = None) -> Runbook:
    books = load_all(directory)
    if name not in books:
        raise RunbookError(f"no runbook {name!r}; available: {', '.join(sorted(books)) or 'none'}")
    return books[name]
