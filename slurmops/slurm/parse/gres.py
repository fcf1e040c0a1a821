"""GRES strings as Slurm prints them, in every form seen across releases:

``gpu:4``, ``gpu:a100:4``, ``gpu:a100:4(S:0-1)``, ``gpu:a100:2(IDX:0,2)``, ``gpu:a100:4(IDX:0-3),mps:100``,
``gpu:tesla:2(IDX:N/A)``, ``gres/gpu:a100=2`` (TRES form), ``(null)``, ``""``.
"""
from __future__ import annotations

import re

from ..models import Gres

_PAREN = re.compile(r"\(([^)]*)\)")


def _split_items(text: str) -> list[str]:
    items, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    items.append("".join(cur))
    return [i.strip() for i in items if i.strip()]


def _indexes(spec: str) -> tuple[int, ...]:
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part or part.upper() == "N/A":
            continue
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            return ()
        out.extend(range(int(lo), int(hi or lo) + 1))
    return tuple(out)


def parse_gres(text: str | None) -> tuple[Gres, ...]:
    """Parse a node/job GRES string; unknown pieces are skipped, never raised on."""
    if not text or text.strip() in ("(null)", "N/A", "none"):
        return ()
    out = []
    for item in _split_items(text.strip()):
        indexes: tuple[int, ...] = ()
        for inner in _PAREN.findall(item):
            if inner.upper().startswith("IDX:"):
                indexes = _indexes(inner[4:])
        base = _PAREN.sub("", item).strip()
        if base.startswith("gres/"):              # TRES form: gres/gpu:a100=2
            base = base[5:].replace("=", ":")
        parts = base.split(":")
        name = parts[0]
        if not name:
            continue
        gtype: str | None = None
        count = 1
        if len(parts) == 2:
            n = _count(parts[1])
            if n is not None:
                count = n
            else:
                gtype = parts[1]
        elif len(parts) >= 3:
            gtype = parts[1] or None
            count = _count(parts[2])
        if count is None:
            continue
        out.append(Gres(name=name, type=gtype, count=count, indexes=indexes))
    return tuple(out)


def _count(text: str) -> int | None:
    m = re.match(r"^(\d+)([KMG]?)$", text)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}[m.group(2)]


def gpu_count(gres: tuple[Gres, ...], gtype: str | None = None) -> int:
    return sum(g.count for g in gres if g.name == "gpu" and (gtype is None or g.type == gtype))
