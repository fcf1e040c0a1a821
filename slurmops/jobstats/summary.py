"""The per-job usage summary: what Prometheus knew about a job, per node, small enough for
AdminComment (compact JSON, zlib, base64, behind a versioned prefix).

Stored as ``so1:<hex(zlib(json))>``. ``so`` marks it as ours (AdminComment is a free-text field
other tools write too); the digit is the format version: a reader refuses a version it does not know
instead of guessing. Hex, not base64 (Princeton's choice): on Slurm 22.05.8
`sacctmgr modify job ... set AdminComment=` stores the value lower-cased (observed in the lab,
quoted or not), which corrupts base64; hex reads the same in either case, and decodes in C
(base32 would be 20% shorter but Python decodes it 40x slower: bulk mode reads 10,000 at once).
Pure functions: no I/O here.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass, field

PREFIX = "so"
VERSION = 1
MAX_STORED = 100_000      # a stored summary longer than this is refused (never seen: ~200 B a node)


class SummaryError(ValueError):
    """A stored summary that cannot be read (not ours, unknown version, corrupt)."""


@dataclass
class GpuUsage:
    util: float | None = None        # mean utilisation 0-1 over the job
    mem_used: float | None = None    # peak memory used on the GPU, bytes
    mem_total: float | None = None   # the GPU's memory size, bytes
    idle: float | None = None        # fraction of samples with no process of the job on it
    power_w: float | None = None     # mean power draw, W
    source: str = "nvml"             # nvml (our job exporter) or dcgm


@dataclass
class NodeUsage:
    """One node's figures (or one exporter host, when several Slurm nodes share a host)."""
    cpus: float | None = None        # CPUs in the job's cpuset
    cpu_s: float | None = None       # CPU seconds used (user + system) by the last sample
    span_s: float | None = None      # seconds from job start to that last sample
    mem_peak: float | None = None    # kernel high-water mark of the job's memory (page cache incl.)
    mem_rss_max: float | None = None # largest sampled anonymous memory (RSS)
    mem_limit: float | None = None
    swap_max: float | None = None
    oom_kills: float | None = None
    io_read: float | None = None     # bytes
    io_write: float | None = None
    mem_pressure_s: float | None = None   # PSI "some" seconds (cgroup v2 only)
    io_pressure_s: float | None = None
    slurm_nodes: list[str] = field(default_factory=list)   # Slurm nodes this host's figures cover
    gpus: dict[str, GpuUsage] = field(default_factory=dict)


@dataclass
class Summary:
    nodes: dict[str, NodeUsage] = field(default_factory=dict)
    stored_at: int | None = None     # unix time the summary was made
    source: str = "prometheus"

    # ---- totals -----------------------------------------------------------------------------
    def total(self, attr: str) -> float | None:
        vals = [getattr(n, attr) for n in self.nodes.values() if getattr(n, attr) is not None]
        return sum(vals) if vals else None

    @property
    def gpu_list(self) -> list[tuple[str, str, GpuUsage]]:
        return [(host, gid, g) for host, n in sorted(self.nodes.items())
                for gid, g in sorted(n.gpus.items())]


# Short keys keep AdminComment small (the database column is TEXT, but sacct prints it whole).
_NODE_KEYS = {"cpus": "c", "cpu_s": "u", "span_s": "w", "mem_peak": "m", "mem_rss_max": "r",
              "mem_limit": "l", "swap_max": "s", "oom_kills": "o", "io_read": "ir",
              "io_write": "iw", "mem_pressure_s": "pm", "io_pressure_s": "pi", "slurm_nodes": "n"}
_GPU_KEYS = {"util": "u", "mem_used": "m", "mem_total": "t", "idle": "i", "power_w": "p",
             "source": "s"}


def _compact(obj, keys: dict[str, str]) -> dict:
    out = {}
    for k, v in asdict(obj).items():
        if k in keys and v not in (None, [], ""):
            out[keys[k]] = round(v, 3) if isinstance(v, float) else v
    return out


def _expand(cls, d: dict, keys: dict[str, str]):
    if not isinstance(d, dict):
        raise SummaryError(f"expected an object, got {type(d).__name__}")
    inv = {v: k for k, v in keys.items()}
    kw = {}
    for k, v in d.items():
        if k not in inv:
            continue            # a field a newer writer of the same version added: ignored
        name = inv[k]
        if name == "slurm_nodes":
            if not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
                raise SummaryError(f"bad node list {v!r}")
        elif name == "source":
            if not isinstance(v, str):
                raise SummaryError(f"bad source {v!r}")
        elif not isinstance(v, (int, float)) or isinstance(v, bool):
            raise SummaryError(f"{name} is not a number: {v!r}")
        kw[name] = v
    return cls(**kw)


def to_dict(s: Summary) -> dict:
    nodes = {}
    for host, n in s.nodes.items():
        d = _compact(n, _NODE_KEYS)
        if n.gpus:
            d["g"] = {gid: _compact(g, _GPU_KEYS) for gid, g in n.gpus.items()}
        nodes[host] = d
    out = {"v": VERSION, "n": nodes}
    if s.stored_at is not None:
        out["t"] = s.stored_at
    return out


def from_dict(d: dict) -> Summary:
    if not isinstance(d, dict) or d.get("v") != VERSION:
        raise SummaryError(f"unknown summary version {d.get('v') if isinstance(d, dict) else d!r}")
    nodes_in = d.get("n")
    if not isinstance(nodes_in, dict):
        raise SummaryError("no node table")
    nodes = {}
    for host, nd in nodes_in.items():
        node = _expand(NodeUsage, nd, _NODE_KEYS)
        gpus = nd.get("g", {})
        if not isinstance(gpus, dict):
            raise SummaryError("bad GPU table")
        node.gpus = {str(gid): _expand(GpuUsage, g, _GPU_KEYS) for gid, g in gpus.items()}
        nodes[str(host)] = node
    t = d.get("t")
    return Summary(nodes=nodes, stored_at=t if isinstance(t, int) else None, source="stored")


def encode(s: Summary) -> str:
    raw = json.dumps(to_dict(s), separators=(",", ":"), sort_keys=True).encode()
    body = zlib.compress(raw, 9).hex()
    return f"{PREFIX}{VERSION}:{body}"


def is_ours(text: str) -> bool:
    return bool(text) and text[:2].lower() == PREFIX and ":" in text[:6]


def decode(text: str) -> Summary:
    """AdminComment → Summary; SummaryError with the reason when it is not a summary we can read."""
    text = (text or "").strip()
    if not is_ours(text):
        raise SummaryError("not a slurmops summary (no so<version>: prefix)")
    head, _, body = text.partition(":")
    if head.lower() != f"{PREFIX}{VERSION}":
        raise SummaryError(f"summary format {head} is not {PREFIX}{VERSION} (newer slurmops?)")
    if len(body) > MAX_STORED:
        raise SummaryError(f"summary is {len(body)} characters, more than {MAX_STORED}")
    try:
        raw = zlib.decompressobj().decompress(bytes.fromhex(body), MAX_STORED * 10)
        d = json.loads(raw)
    except (zlib.error, ValueError) as exc:
        raise SummaryError(f"corrupt summary ({type(exc).__name__}: {exc})") from None
    return from_dict(d)
