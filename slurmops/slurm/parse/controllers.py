"""Controller pings: `scontrol ping` text and slurmrestd's /ping, every data_parser version."""
from __future__ import annotations

import re
from typing import Any

from ..models import Controller

_PING = re.compile(r"^Slurmctld\((\w+)\) at (\S+) is (UP|DOWN)\b")


def parse_scontrol_ping(text: str, errors: list[str] | None = None) -> list[Controller]:
    """``Slurmctld(primary) at ctl1 is UP`` lines; banners and blank lines are ignored."""
    out = []
    for line in text.splitlines():
        m = _PING.match(line.strip())
        if m:
            out.append(Controller(m.group(2), m.group(1).lower(), m.group(3) == "UP"))
    if not out and text.strip() and errors is not None:
        errors.append(f"scontrol ping: no controller line in {text.strip()[:120]!r}")
    return out


def parse_ping_doc(doc: dict[str, Any], errors: list[str] | None = None) -> list[Controller]:
    """slurmrestd /ping: v0.0.38 ``{hostname, ping: "UP", mode}``, v0.0.40+ ``pinged``,
    later ``responding: true`` and ``primary: true``."""
    out = []
    pings = doc.get("pings") if isinstance(doc, dict) else None
    if not isinstance(pings, list):
        if errors is not None:
            errors.append("ping: no pings list")
        return []
    for i, item in enumerate(pings):
        if not isinstance(item, dict) or not isinstance(item.get("hostname"), str):
            if errors is not None:
                errors.append(f"ping[{i}]: not a controller record")
            continue
        state = item.get("pinged", item.get("ping"))
        up = item["responding"] if isinstance(item.get("responding"), bool) else str(state).upper() == "UP"
        role = item.get("mode")
        if not isinstance(role, str) or not role:
            # SlurmctldHost order: primary, backup, backup2, ... (as scontrol ping names them)
            role = "primary" if item.get("primary") is True or i == 0 else (
                "backup" if i == 1 else f"backup{i}")
        out.append(Controller(item["hostname"], role.lower(), up))
    return out
