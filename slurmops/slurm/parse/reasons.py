"""Pending reasons as stable, low-cardinality labels.

slurmctld keeps an enum (`Resources`, `Priority`, `Dependency`, ...) and, for some cases, a free
text description. squeue prints the description when there is one, slurmrestd gives both. The
metric label is the enum: a description that names nodes would otherwise make a new series per
node list. Descriptions we know map back to their enum; others become `Other`.
"""
from __future__ import annotations

import re

# Description texts slurmctld sets, with the enum it reports beside them (observed on 22.05:
# squeue's text vs slurmrestd's state_reason for the same job).
KNOWN_DESCRIPTIONS = {
    "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions":
        "Resources",
}
_ENUM = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def normalize_reason(reason: str | None) -> str:
    if not reason or reason == "None":
        return "None"
    reason = reason.strip()
    if reason in KNOWN_DESCRIPTIONS:
        return KNOWN_DESCRIPTIONS[reason]
    head = reason.split(",", 1)[0].strip()   # "ReqNodeNotAvail, UnavailableNodes:n[1-3]"
    return head if _ENUM.match(head) else "Other"
