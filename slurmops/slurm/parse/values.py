"""Numbers and sizes from Slurm's output, read one way on every path (text, JSON, pyslurm).

Slurm prints "no value" as C sentinels: NO_VAL (0xfffffffe = 4294967294), INFINITE (0xffffffff),
their 64-bit forms NO_VAL64/INFINITE64 (18446744073709551614/5), and, where a field is printed
signed, -1/-2 (slurm.h, ``NO_VAL``/``INFINITE``; the 22.05 recordings in tests/fixtures show
them). Every count, size and time the exporter reads is >= 0, so a negative value or a sentinel
means "not set": None, on the text path exactly as on the JSON path.

A number no Slurm field can hold (above 2**63 - 1, Slurm's largest signed 64-bit value, or a
400-digit string) is *rejected* with :class:`OutOfRange` (a ValueError): the parser notes it and
the field or record is skipped and counted, so an absurd value can never reach metric building
(where 1e400 would be an OverflowError and 10**400 an int no float holds).
"""
from __future__ import annotations

import math
from typing import Any

#: NO_VAL, INFINITE, NO_VAL64, INFINITE64 (slurm.h).
SENTINELS = frozenset({0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFE, 0xFFFFFFFFFFFFFFFF})
#: The largest value any Slurm count, size or time can hold (int64_t); anything above is rejected.
MAX_NUMBER = 2 ** 63 - 1
#: Digits in the longest number accepted as text (18446744073709551615 has 20).
MAX_DIGITS = 20


class OutOfRange(ValueError):
    """A number no Slurm field can hold."""


def number(value: Any, field: str = "value") -> int | float | None:
    """A parsed number (int or float) -> itself, or None for "not set" (sentinel, negative,
    NaN/inf); :class:`OutOfRange` above MAX_NUMBER; TypeError for a bool or a non-number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{field}: expected a number, got {value!r:.40}")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value < 0 or value in SENTINELS:
        return None
    if value > MAX_NUMBER:
        raise OutOfRange(f"{field}: {str(value)[:24]}... is out of range")
    return value


def text_int(text: str) -> int | None:
    """``"42"`` -> 42; ``"-5"``, ``"4294967294"`` -> None (not set); anything that is not a
    plain decimal integer -> ValueError; more than MAX_DIGITS digits -> OutOfRange."""
    s = text.strip()
    digits = s[1:] if s[:1] in "+-" else s
    if not digits.isascii() or not digits.isdigit():
        raise ValueError(f"not an integer: {text[:40]!r}")
    if len(digits.lstrip("0")) > MAX_DIGITS:
        raise OutOfRange(f"{text[:24]!r}... is out of range")
    n = number(int(s))
    return None if n is None else int(n)


def text_float(text: str) -> float | None:
    """``"12.37"`` -> 12.37; negative, NaN or infinite -> None; above MAX_NUMBER -> OutOfRange."""
    s = text.strip()
    if len(s) > 64:     # float() of a 400-digit string is inf, never a Slurm value
        raise OutOfRange(f"{text[:24]!r}... is out of range")
    v = number(float(s))
    return None if v is None else float(v)
