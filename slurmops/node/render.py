"""A faster text exposition for many series that share label sets.

client_python's ``generate_latest`` validates and escapes every label of every sample; a node with
1,000 jobs has ~24,000 samples but only 1,000 distinct label sets, and generate_latest alone took
~120 ms of the 150 ms scrape budget. This renders gauges and counters the same way byte for byte
(a test compares both on the fixtures) while building each label set's text once; any other family
type goes through client_python unchanged.
"""
from __future__ import annotations

from typing import Iterable

from prometheus_client.core import Metric
from prometheus_client.utils import floatToGoString

from ..exporter.core import render as slow_render


def _escape(v: str) -> str:
    return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def render(families: Iterable[Metric]) -> bytes:
    out: list[str] = []
    labelstr: dict[tuple, str] = {}
    for m in families:
        if m.type not in ("gauge", "counter") or any(
                s.timestamp is not None or s.exemplar is not None or s.name.endswith("_created")
                for s in m.samples):
            out.append(slow_render([m]).decode())
            continue
        name = m.name + "_total" if m.type == "counter" else m.name
        doc = m.documentation.replace("\\", r"\\").replace("\n", r"\n")
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {m.type}\n")
        for s in m.samples:
            key = tuple(s.labels.items())
            ls = labelstr.get(key)
            if ls is None:
                ls = labelstr[key] = ("{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(key)) + "}"
                                      if key else "")
            out.append(f"{s.name}{ls} {floatToGoString(s.value)}\n")
    return "".join(out).encode()
