"""Slurm hostlist expressions (``n[1-3,7],gpu[001-004]``) as plain lists: pure, no Slurm needed.

Bounded: the number of names an expression stands for is computed before anything is expanded,
and an expression naming more than ``limit`` hosts (default :data:`MAX_HOSTS`) raises
:class:`HostlistTooLarge` (a ValueError the parsers note and count) instead of spending minutes and
gigabytes on ``n[1-18446744073709551615]``. No recursion, so ``n[1][2]...`` thousands of bracket
groups deep is just a long expression.
"""
from __future__ import annotations

import itertools
import re

#: Far above any real Slurm cluster (the largest run tens of thousands of nodes); expanding this
#: many names takes about a quarter of a second (measured on the 2-core dev machine).
MAX_HOSTS = 131_072
#: Digits in one range bound (a hostname suffix); Slurm's own hostlist.c keeps them in an
#: unsigned long (at most 20 digits), so anything longer is not a Slurm hostlist.
MAX_SUFFIX_DIGITS = 20

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
_GROUP = re.compile(r"\[([^\[\]]*)\]")


class HostlistTooLarge(ValueError):
    """The expression names more hosts than the limit."""


def _split_top(expr: str) -> list[str]:
    """Split on commas that are not inside brackets."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in expr:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ']' in hostlist {expr[:80]!r}")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise ValueError(f"unbalanced '[' in hostlist {expr[:80]!r}")
    parts.append("".join(cur))
    return [p for p in (s.strip() for s in parts) if p]


def _ranges(body: str, item: str) -> list[tuple[int, int, int]]:
    """``1-3,07`` -> [(1, 3, 0), (7, 7, 2)]: (low, high, zero-padded width)."""
    out = []
    for rng in body.split(","):
        r = _RANGE.match(rng.strip())
        if not r:
            raise ValueError(f"bad range {rng[:40]!r} in hostlist {item[:80]!r}")
        lo, hi = r.group(1), r.group(2) or r.group(1)
        if len(lo) > MAX_SUFFIX_DIGITS or len(hi) > MAX_SUFFIX_DIGITS:
            raise ValueError(f"range {rng[:40]!r} in hostlist {item[:80]!r}: number too long")
        width = len(lo) if lo.startswith("0") or (hi.startswith("0") and len(lo) == len(hi)) else 0
        a, b = int(lo), int(hi)
        if b < a:
            raise ValueError(f"descending range {rng[:40]!r} in hostlist {item[:80]!r}")
        out.append((a, b, width))
    return out


def _parse_item(item: str) -> tuple[list[str], list[list[tuple[int, int, int]]]]:
    """``a[1-2]b[3]c`` -> (["a", "b", "c"], [ranges of group 1, ranges of group 2])."""
    texts, groups, pos = [], [], 0
    for m in _GROUP.finditer(item):
        texts.append(item[pos:m.start()])
        groups.append(_ranges(m.group(1), item))
        pos = m.end()
    texts.append(item[pos:])
    return texts, groups


def _size(groups: list[list[tuple[int, int, int]]]) -> int:
    n = 1
    for group in groups:
        n *= sum(b - a + 1 for a, b, _ in group)
    return n


def expand(expr: str, limit: int = MAX_HOSTS) -> list[str]:
    """``expand("n[1-3],c1")`` -> ``["n1", "n2", "n3", "c1"]``. Raises ValueError on bad syntax
    and :class:`HostlistTooLarge` when the expression names more than ``limit`` hosts."""
    if expr in ("", "(null)"):
        return []
    items = [_parse_item(item) for item in _split_top(expr)]
    total = 0
    for _, groups in items:
        total += _size(groups)
        if total > limit:
            raise HostlistTooLarge(f"hostlist {expr[:80]!r} names more than {limit:,} hosts")
    out: list[str] = []
    for texts, groups in items:
        choices = [[f"{i:0{w}d}" for a, b, w in group for i in range(a, b + 1)] for group in groups]
        for combo in itertools.product(*choices):
            out.append("".join(itertools.chain.from_iterable(
                itertools.zip_longest(texts, combo, fillvalue=""))))
    return out
