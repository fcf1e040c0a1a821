"""Where runbook pages are reached from: one base URL for every alert's `runbook_url` and every
dashboard's runbook link.

The base comes from the environment (``SLURMOPS_RUNBOOK_BASE_URL``), else ``runbook_base_url`` in
alerts/thresholds.yml. By default that is ``http://localhost:9347/``: the rendered pages as
`slurmops runbooks serve` serves them (on the host that runs it; a site sets the name its on-call
reaches). Set to an empty string, the links are the repository paths of the pages
(``runbooks/docs/<name>.md``). There is no placeholder host.
"""
from __future__ import annotations

import os
from pathlib import Path

import yaml

ENV = "SLURMOPS_RUNBOOK_BASE_URL"
FILE_BASE = "runbooks/docs/"
SERVE_PORT = 9347
SERVED_BASE = f"http://localhost:{SERVE_PORT}/"


def configured_base(thresholds: dict | None = None, alerts_dir: Path | None = None) -> str:
    """The one base URL (always ends with '/')."""
    base = os.environ.get(ENV)
    if base is None:
        if thresholds is None:
            from ..content import content_dir  # the clone's alerts/, or the installed copy
            path = (alerts_dir or content_dir("alerts")) / "thresholds.yml"
            thresholds = yaml.safe_load(path.read_text()) if path.is_file() else {}
        base = (thresholds or {}).get("runbook_base_url", SERVED_BASE)
    base = str(base or "").strip() or FILE_BASE
    return base if base.endswith("/") else base + "/"


def runbook_url(name: str, base: str) -> str:
    return f"{base}{name}.md"
