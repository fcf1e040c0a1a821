"""Where the operator content is: ``alerts/``, ``runbooks/`` and ``dashboards/``.

The folders at the top of the repository are the editable source. A wheel carries a copy of them
as package data (``slurmops/_content/<name>``, copied by setup.py's build step), so ``pip install
slurmops`` on a machine with no clone still has the rules, runbooks and dashboard sources. From a
clone (or an editable install) the repository's folders are used; otherwise the packaged copy. The
package reads them as data and never imports them as modules.
"""
from __future__ import annotations

from pathlib import Path

NAMES = ("alerts", "runbooks", "dashboards")
_PACKAGE = Path(__file__).resolve().parent
_CLONE = _PACKAGE.parent


def content_dir(name: str) -> Path:
    """The folder ``name`` (one of ``NAMES``): the clone's when the package runs from one, else
    the copy inside the installed package."""
    if name not in NAMES:
        raise ValueError(f"unknown content folder {name!r}")
    clone = _CLONE / name
    if (_CLONE / "pyproject.toml").is_file() and clone.is_dir():
        return clone
    return _PACKAGE / "_content" / name
