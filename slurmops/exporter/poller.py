"""Background polling and the rendered snapshot: how the exporter stays gentle on slurmctld.

One thread per collector asks Slurm once per interval and renders that collector's families to
bytes right away. A scrape only joins cached bytes (plus a few self-metrics), so N concurrent
scrapes cost zero Slurm calls and render in milliseconds even at 10,000 nodes; a slow or failing
collector delays nobody else. Data older than ``stale_after`` is dropped rather than served as
current; until then the last good data stays, and the failure shows in the self-metrics.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import Metric

from ..slurm.sources import POLL_GATE, CallStats
from . import metrics as m
from .core import run_collector
from .render import has_samples, render_family

log = logging.getLogger(__name__)

Chunk = list[tuple[str, bytes, bytes]]   # (family name, "# HELP/# TYPE" lines, sample lines)


def limit_malloc_arenas(arenas: int = 1) -> bool:
    """glibc gives each thread that allocates its own malloc arena (up to 8 per core) and keeps
    what it freed there: with a poller thread per collector each parse peak lands in another
    arena, and the process kept ~250 MB at 10,000 nodes / 50,000 jobs instead of ~150 MB
    (bench/README.md). One arena costs no measurable speed here (the GIL serialises the
    allocating threads anyway). Same as MALLOC_ARENA_MAX=1; must run before the threads start.
    Returns False where the C library is not glibc."""
    import ctypes
    import platform
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        return bool(ctypes.CDLL(None).mallopt(-8, arenas))    # M_ARENA_MAX
    except (OSError, AttributeError):
        return False


def tune_runtime() -> None:
    """Process-wide settings for an exporter whose threads parse megabytes while scrapes wait:
    a short GIL switch interval (a scrape is a few microseconds of Python around cached bytes,
    so it cuts in quickly), one malloc arena, and rarer full GC passes."""
    import sys
    sys.setswitchinterval(0.0005)
    limit_malloc_arenas()
    tune_gc()


def tune_gc() -> None:
    """Polls allocate hundreds of thousands of short-lived objects (records, rows, strings), which
    trigger full cyclic collections over everything alive: pauses of 100+ ms that a scrape waits
    out on the GIL. The data has no reference cycles, so reference counting frees it; collect
    the young generations far less often and leave what exists at start-up out of every pass."""
    import gc
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def render_chunk(families: Iterable[Metric]) -> Chunk:
    """Render each family once and split its header from its samples, so families of the same
    name from several clusters can be merged at scrape time without re-rendering."""
    labelstr: dict[tuple[tuple[str, str], ...], str] = {}
    return [render_family(fam, labelstr) for fam in families if has_samples(fam)]


def merge_chunks(chunks: Iterable[Chunk]) -> bytes:
    headers: dict[str, bytes] = {}
    bodies: dict[str, list[bytes]] = {}
    for chunk in chunks:
        for name, header, body in chunk:
            if name not in headers:
                headers[name] = header
                bodies[name] = []
            bodies[name].append(body)
    return b"".join(headers[n] + b"".join(bodies[n]) for n in headers)


@dataclass
class CollectorState:
    name: str
    fetch: Callable[[], Any]
    build: Callable[[Any], list[Metric]]
    data: Any = None
    chunk: Chunk = field(default_factory=list)
    success: bool | None = None
    supported: bool = True     # False: this source/Slurm version cannot serve it (not a failure)
    duration_s: float = 0.0
    last_success: float | None = None
    error: str = ""


class ClusterPoller:
    """Polls one cluster through one source."""

    def __init__(self, cluster: str, source: Any, collectors: dict[str, Callable[[ClusterPoller, Any], list[Metric]]],
                 interval: float = 30.0, stale_after: float | None = None, stats: CallStats | None = None,
                 intervals: dict[str, float] | None = None, options: Any = None,
                 clock: Callable[[], float] = time.time):
        self.cluster = cluster
        self.options = options      # what the collectors read of their cluster's configuration
        self.clock = clock          # "now" for the collectors (pending ages, active reservations)
        self.source = source
        self.stats = stats or getattr(source, "stats", None) or CallStats()
        self.interval = interval
        self.intervals = intervals or {}
        self.stale_after = stale_after if stale_after is not None else 3 * interval + 60
        self.states: dict[str, CollectorState] = {}
        for name, build in collectors.items():
            fetch = getattr(source, name)
            self.states[name] = CollectorState(name, fetch, functools.partial(build, self))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.generation = 0     # bumped whenever the data a scrape would serve changes
        self.keep_data = {"info", "nodes", "partitions"}
        self.listeners: list[Callable[[], None]] = []   # called in the poll thread after new data

    def data(self, name: str) -> Any:
        st = self.states.get(name)
        return st.data if st else None

    def poll(self, name: str) -> None:
        st = self.states[name]
        kept: list[Any] = []

        def collect() -> list[Metric]:
            kept.append(st.fetch())
            return st.build(kept[0])

        with POLL_GATE.session():     # CPU work one collector at a time; waits on Slurm are not
            r = run_collector(name, collect)
            chunk = render_chunk(r.families) if r.success else []
        if r.internal:
            self.stats.error(name, "internal")
        ok, err, supported = r.success, r.error, not r.unsupported
        if not supported and st.supported:   # it will not change while the exporter runs: say it once
            log.warning("cluster %s collector %s is unsupported here: %s", self.cluster, name, err)
        with self._lock:
            st.duration_s = r.duration_s
            st.success = ok
            st.supported = supported
            st.error = err
            if ok:
                data = kept[0]
                # Only what another collector reads is kept (partitions joins nodes, jobs lists
                # partitions); 50,000 Job objects would be ~40 MB held for nothing.
                st.data = data if name in self.keep_data else None
                st.chunk, st.last_success = chunk, time.time()
                self.generation += 1
        if ok:
            for listener in self.listeners:   # e.g. the snapshot compressing the new data now
                listener()

    def poll_all(self) -> None:
        for name in self.states:
            self.poll(name)

    def _loop(self, name: str) -> None:
        interval = self.intervals.get(name, self.interval)
        while not self._stop.is_set():
            t0 = time.monotonic()
            self.poll(name)
            self._stop.wait(max(interval - (time.monotonic() - t0), 0.05))

    def start(self) -> ClusterPoller:
        for name in self.states:
            t = threading.Thread(target=self._loop, args=(name,), name=f"poll-{self.cluster}-{name}",
                                 daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()

    # ---- what a scrape reads -------------------------------------------------------------------
    def chunks(self, now: float | None = None) -> tuple[tuple[Any, ...], list[Chunk]]:
        """(a key that changes whenever the served data changes, the fresh chunks)."""
        now = now or time.time()
        with self._lock:
            fresh = [st for st in self.states.values()
                     if st.chunk and st.last_success and now - st.last_success <= self.stale_after]
            return (self.generation, tuple(st.name for st in fresh)), [st.chunk for st in fresh]

    def up(self) -> bool:
        """slurmctld answered the last time we asked it: sdiag when enabled (cheap, always
        slurmctld), else any collector."""
        with self._lock:
            if "scheduler" in self.states:
                return bool(self.states["scheduler"].success)
            return any(st.success for st in self.states.values())

    def self_families(self, now: float | None = None) -> list[Metric]:
        now = now or time.time()
        c = self.cluster
        fams = {s.name: s.family() for s in (m.UP, m.COLLECTOR_SUCCESS, m.COLLECTOR_SUPPORTED,
                                            m.COLLECTOR_DURATION, m.COLLECTOR_LAST_SUCCESS, m.SNAPSHOT_AGE)}
        fams[m.UP.name].add([c], 1 if self.up() else 0)
        with self._lock:
            for st in self.states.values():
                if st.success is None:
                    continue
                fams[m.COLLECTOR_SUPPORTED.name].add([c, st.name], 1 if st.supported else 0)
                if not st.supported:    # neither success nor failure: nothing to alert on
                    continue
                fams[m.COLLECTOR_SUCCESS.name].add([c, st.name], 1 if st.success else 0)
                fams[m.COLLECTOR_DURATION.name].add([c, st.name], st.duration_s)
                fams[m.COLLECTOR_LAST_SUCCESS.name].add([c, st.name], st.last_success)
                if st.last_success:
                    fams[m.SNAPSHOT_AGE.name].add([c, st.name], max(now - st.last_success, 0.0))
        calls, errors, skipped = self.stats.snapshot()
        fc, fe, fs = m.SOURCE_CALLS.family(), m.COMMAND_ERRORS.family(), m.PARSE_SKIPPED.family()
        for cmd, n in sorted(calls.items()):
            fc.add([c, cmd], n)
        for (cmd, reason), n in sorted(errors.items()):
            fe.add([c, cmd, reason], n)
        for coll, n in sorted(skipped.items()):
            fs.add([c, coll], n)
        return [f.metric for f in fams.values()] + [fc.metric, fe.metric, fs.metric]


class Snapshot:
    """What the HTTP server sends: every cluster's data, merged once per poll (not per scrape:
    at 10,000 nodes that is megabytes), then a few self-metrics rendered fresh.

    For scrapers that accept gzip (Prometheus does by default) the merged data is also compressed
    once per poll; each scrape then only compresses its self-metrics onto a copy of the
    compressor, so the answer is one gzip stream: 6.5 MB at 10,000 nodes goes out as ~0.3 MB."""

    def __init__(self, pollers: list[ClusterPoller]):
        self.pollers = pollers
        self._key: tuple[Any, ...] | None = None
        self._data = b""
        self._gz: tuple[Any, bytes] | None = None     # (compressor after the data, its output)
        self._gzip_asked = False
        self._lock = threading.Lock()
        for p in pollers:
            p.listeners.append(self._warm)

    def _warm(self) -> None:
        """After a poll, in the poll thread: once a scraper has asked for gzip, compress the new
        data here (a few tens of ms for 6.5 MB) rather than in the first scrape that needs it."""
        if self._gzip_asked:
            with self._lock:
                self._compressed(time.time())

    def _refresh(self, now: float) -> None:
        """Under the lock: merge the clusters' chunks again when any of them changed."""
        keys, chunks = [], []
        for p in self.pollers:
            key, cs = p.chunks(now)
            keys.append(key)
            chunks.extend(cs)
        if tuple(keys) != self._key:
            self._data, self._key, self._gz = merge_chunks(chunks), tuple(keys), None

    def data(self, now: float) -> bytes:
        with self._lock:
            self._refresh(now)
            return self._data

    def _own(self, now: float) -> bytes:
        return merge_chunks([render_chunk([f for p in self.pollers for f in p.self_families(now)])])

    def render_parts(self) -> list[bytes]:
        now = time.time()
        data = self.data(now)
        return [data, self._own(now)]

    def _compressed(self, now: float) -> tuple[Any, bytes]:
        """Under the lock: (compressor after the current data, its output so far)."""
        self._refresh(now)
        if self._gz is None:
            c = zlib.compressobj(1, zlib.DEFLATED, 31)    # gzip framing, fastest level
            self._gz = (c, c.compress(self._data) + c.flush(zlib.Z_SYNC_FLUSH))
        return self._gz

    def render_gzip_parts(self) -> list[bytes]:
        now = time.time()
        with self._lock:
            self._gzip_asked = True
            c, head = self._compressed(now)
            tail = c.copy()
        return [head, tail.compress(self._own(now)) + tail.flush()]

    def render(self) -> bytes:
        return b"".join(self.render_parts())
