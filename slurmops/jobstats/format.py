"""Number formatting shared by the text, CSV and HTML outputs."""
from __future__ import annotations


def pct(x: float | None, digits: int = 0) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def gb(b: float | None) -> str:
    if b is None:
        return "n/a"
    if b >= 2**30:
        return f"{b / 2**30:.1f} GB"
    return f"{b / 2**20:.0f} MB"


def hms(s: float | None) -> str:
    if s is None:
        return "n/a"
    s = int(s)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}-" if d else "") + f"{h:02d}:{m:02d}:{s:02d}"
