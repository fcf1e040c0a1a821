"""Slurm hostlist expressions (``n[1-3,7],gpu[001-004]``) as plain lists: pure, no Slurm needed."""
from __future__ import annotations

import re

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _split_top(expr: str) -> list[str]:
    """Split on commas that are not inside brackets."""
    parts, depth, cur = [], 0, []
    for ch in expr:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ']' in hostlist {expr!r}")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise ValueError(f"unbalanced '[' in hostlist {expr!r}")
    parts.append("".join(cur))
    return [p for p in (s.strip() for s in parts) if p]


def _expand_one(item: str) -> list[str]:
    m = re.search(r"\[([^\[\]]*)\]", item)
    if not m:
        return [item]
    head, tail = item[: m.start()], item[m.end():]
    out = []
    for rng in m.group(1).split(","):
        r = _RANGE.match(rng.strip())
        if not r:
            raise ValueError(f"bad range {rng!r} in hostlist {item!r}")
        lo, hi = r.group(1), r.group(2) or r.group(1)
        width = len(lo) if lo.startswith("0") or (hi.startswith("0") and len(lo) == len(hi)) else 0
        a, b = int(lo), int(hi)
        if b < a:
            raise ValueError(f"descending range {rng!r} in hostlist {item!r}")
        for i in range(a, b + 1):
            for rest in _expand_one(tail):
                out.append(f"{head}{i:0{width}d}{rest}")
    return out


def expand(expr: str) -> list[str]:
    """``expand("n[1-3],c1")`` -> ``["n1", "n2", "n3", "c1"]``. Raises ValueError on bad syntax."""
    if expr in ("", "(null)"):
        return []
    out: list[str] = []
    for item in _split_top(expr):
        out.extend(_expand_one(item))
    return out
