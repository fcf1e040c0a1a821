"""GRES strings as Slurm prints them, in every form seen across releases:

``gpu:4``, ``gpu:a100:4``, ``gpu:a100:4(S:0-1)``, ``gpu:a100:2(IDX:0,2)``, ``gpu:a100:4(IDX:0-3),mps:100``,
``gpu:tesla:2(IDX:N/A)``, ``gres/gpu:a100=2`` (TRES form), ``(null)``, ``""``.
"""
from __future__ import annotations

import re

from ..models import Gres
from .values import MAX_NUMBER, OutOfRange

_PAREN = re.compile(r"\(([^)]*)\)")
#: More GPU (or other device) indexes than any node has; a longer IDX list is not Slurm's.
MAX_INDEXES = 4096


def _split_items(text: str) -> list[str]:
    items: list[str] = []
    cur: list[str] = []
    depth = 0
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
        a, b = int(lo), int(hi or lo)
        if b - a + 1 + len(out) > MAX_INDEXES:
            raise OutOfRange(f"GRES index list {spec[:40]!r} names more than {MAX_INDEXES} devices")
        out.extend(range(a, b + 1))
    return tuple(out)


def parse_gres(text: str | None) -> tuple[Gres, ...]:
    """Parse a node/job GRES string; unknown pieces are skipped. A count above MAX_NUMBER or an
    index list longer than MAX_INDEXES raises :class:`~.values.OutOfRange` (a ValueError), which
    the parsers note and count."""
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
        count: int | None = 1
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
    m = re.match(r"^(\d{1,20})([KMG]?)$", text)
    if not m:
        if re.match(r"^\d{21}", text):
            raise OutOfRange(f"GRES count {text[:24]!r}... is out of range")
        return None
    n = int(m.group(1)) * {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}[m.group(2)]
    if n > MAX_NUMBER:
        raise OutOfRange(f"GRES count {text[:24]!r} is out of range")
    return n


def gres_in_use(used: tuple[Gres, ...], configured: tuple[Gres, ...]) -> tuple[Gres, ...]:
    """GRES in use as a node's allocated TRES name them (``gres/gpu=3,gres/gpu:a100=2``, already
    parsed) -> one entry per type, counted once.

    The untyped ``gres/gpu`` is the total of every type; a typed ``gres/gpu:TYPE`` counts only
    jobs that asked for that type (slurm.conf(5), AccountingStorageTRES). So typed entries are
    kept, and what the total has beyond them is given the node's one configured type when it has
    exactly one (``Gres=gpu:a100:4`` and a ``--gpus=2`` job: ``gres/gpu=2`` alone), else left
    untyped. Without a total, the typed entries are all there is."""
    kinds: dict[str, set[str | None]] = {}
    for g in configured:
        kinds.setdefault(g.name, set()).add(g.type)
    totals = {g.name: g.count for g in used if g.type is None}
    out: dict[tuple[str, str | None], int] = {}
    for g in used:
        if g.type is not None:
            out[(g.name, g.type)] = out.get((g.name, g.type), 0) + g.count
    for name, total in totals.items():
        rest = total - sum(n for (nm, _), n in out.items() if nm == name)
        if rest <= 0:
            continue
        only = kinds.get(name, set())
        gtype = next(iter(only)) if len(only) == 1 else None
        out[(name, gtype)] = out.get((name, gtype), 0) + rest
    return tuple(Gres(name, gtype, n) for (name, gtype), n in out.items())


def used_from_tres(alloc_tres: str | None, cfg_tres: str | None,
                   configured: tuple[Gres, ...]) -> tuple[Gres, ...] | None:
    """A node's GRES in use from ``AllocTRES``/``CfgTRES`` (what ``scontrol show nodes -o``
    prints without ``-d``, which alone prints ``GresUsed``). None when the node has GPUs that
    its TRES do not track (no ``gres/gpu`` in CfgTRES: AccountingStorageTRES lacks it), so
    GPUs in use are unknown rather than a made-up 0."""
    used = gres_in_use(parse_gres(_gres_items(alloc_tres)), configured)
    tracked = {g.name for g in parse_gres(_gres_items(cfg_tres))} | {g.name for g in used}
    if "gpu" not in tracked and any(g.name == "gpu" for g in configured):
        return None
    return used


def _gres_items(tres: str | None) -> str:
    """The ``gres/...`` items of a TRES string (``cpu=4,mem=8G,gres/gpu=2`` -> ``gres/gpu=2``)."""
    if not tres:
        return ""
    return ",".join(i for i in tres.split(",") if i.strip().startswith("gres/"))


def gpu_count(gres: tuple[Gres, ...], gtype: str | None = None) -> int:
    return sum(g.count for g in gres if g.name == "gpu" and (gtype is None or g.type == gtype))
