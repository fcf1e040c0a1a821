"""The per-job collector: cgroup stats + labels -> metric families (names in ``metrics.py``).

``JobScanner`` does one pass over the cgroup tree per scrape and keeps it for a moment, so the job
and GPU collectors of the same scrape share it (the GPU collector needs each job's pids). Errors
met on the way are counted, per collector and reason, in an ``ErrorCounter`` that lives as long as
the exporter: a counter, so ``increase()`` shows a node with permission problems or jobs vanishing
mid-scrape without any one scrape failing.
"""
from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from ..exporter.core import register
from ..exporter.metrics import RowsFamily
from . import cgroup
from .cgroup import FileCache, JobCgroup, JobStats
from .jobinfo import JobInfoCache, user_name
from .metrics import JOB_LABELS, JOB_METRICS, PREFIX


class ErrorCounter:
    """``slurm_job_exporter_errors_total{collector,reason}``, kept across scrapes."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def inc(self, collector: str, reason: str, n: int = 1) -> None:
        with self._lock:
            self._counts[(collector, reason)] += n

    def get(self, collector: str, reason: str) -> int:
        with self._lock:
            return self._counts[(collector, reason)]

    def collect(self) -> Iterable[Metric]:
        fam = CounterMetricFamily(f"{PREFIX}_errors_total",
                                  "Problems met while reading jobs, counted across scrapes.",
                                  labels=["collector", "reason"])
        with self._lock:
            items = sorted(self._counts.items())
        for (coll, reason), n in items:
            fam.add_metric([coll, reason], n)
        yield fam


@dataclass
class Job:
    jobid: str
    step: str
    uid: int | None
    stats: JobStats
    cgroups: list[JobCgroup] = field(default_factory=list)
    labels: tuple[str, ...] = ()
    label_text: str = ""        # '{account="...",jobid="...",...}', as the exposition writes it


def _escape(v: str) -> str:
    return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def label_text(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    """The ``{...}`` of a sample line: labels sorted by name and escaped the way
    ``slurmops.exporter.render`` (and client_python) write them."""
    if not names:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(zip(names, values, strict=True))) + "}"


class JobRows(RowsFamily):
    """A RowsFamily (rendered by ``slurmops.exporter.render``, ``samples`` for client_python) that
    also keeps each row's label text, built once per job and shared by every family: the job
    exporter writes ~25 series per job, and building their label text per series was a third of a
    scrape. ``render_text`` gives exactly the bytes ``render_family`` gives for the same rows."""

    def __init__(self, name: str, documentation: str, typ: str, labelnames):
        super().__init__(name, documentation, typ, labelnames)
        self.label_texts: list[str] = []

    def add(self, values: tuple[str, ...], text: str, value: float) -> None:
        self.rows.append((values, value))
        self.label_texts.append(text)

    def render_text(self, fmt: dict | None = None) -> bytes:
        """``fmt``: a float -> text memo shared by the families of one scrape (limits, CPU counts
        and zeros repeat across jobs)."""
        fmt = {} if fmt is None else fmt
        name = self.sample_name
        doc = self.documentation.replace("\\", r"\\").replace("\n", r"\n")
        out = [f"# HELP {name} {doc}\n# TYPE {name} {self.type}\n"]
        for (_, v), lt in zip(self.rows, self.label_texts, strict=True):
            s = fmt.get(v)
            if s is None:
                s = fmt[v] = floatToGoString(v)
            out.append(f"{name}{lt} {s}\n")
        return "".join(out).encode()


def resolve_sluid(pids: list[int], proc_root: str = "/proc", tries: int = 3) -> str | None:
    """SLURM_JOB_ID from the environment of one of the job's processes. slurmstepd itself has no
    SLURM_JOB_ID, so a few pids are tried; unreadable or gone ones are skipped."""
    for pid in pids[:tries * 2]:
        try:
            with open(os.path.join(proc_root, str(pid), "environ"), "rb") as f:
                env = cgroup.parse_environ(f.read())
        except OSError:
            continue
        jid = env.get("SLURM_JOB_ID", "")
        if jid.isdigit():
            return jid
        tries -= 1
        if tries <= 0:
            break
    return None


class JobScanner:
    """Discovery + reading + labels, once per scrape (results reused for ``max_age_s``)."""

    def __init__(self, root: str = "/sys/fs/cgroup", *, steps: bool = False, node: str | None = None,
                 lookup: JobInfoCache | None = None, errors: ErrorCounter | None = None,
                 proc_root: str = "/proc", max_age_s: float = 0.5,
                 clock: Callable[[], float] = time.monotonic):
        self.root = root
        self.steps = steps
        self.node = node
        self.lookup = lookup if lookup is not None else JobInfoCache()
        self.errors = errors if errors is not None else ErrorCounter()
        self.proc_root = proc_root
        self.max_age_s = max_age_s
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Job]] | None = None
        self._sluids: dict[str, str] = {}
        self._trees: dict = {}      # job dir -> its tree (v2: nr_descendants, leaves), see read_job
        self.files = FileCache()    # descriptors kept open between scrapes, per job dir
        self._label_texts: dict[tuple[str, ...], str] = {}

    def invalidate(self) -> None:
        """Start of a scrape: the next scan() reads the files again."""
        with self._lock:
            self._cached = None

    def scan(self) -> list[Job]:
        with self._lock:
            now = self.clock()
            if self._cached and now - self._cached[0] < self.max_age_s:
                return self._cached[1]
            jobs = self._scan()
            self._cached = (self.clock(), jobs)
            return jobs

    def _scan(self) -> list[Job]:
        by_key: dict[tuple[str, str], Job] = {}
        live_sluids = set()
        found = cgroup.discover(self.root, self.steps, self.node)
        live_paths = {cg.main_path for cg in found}
        for p in [p for p in self._trees if p not in live_paths]:
            del self._trees[p]
        self.files.keep_only(live_paths)
        self.files.now = self.clock()
        for cg in found:
            stats = cgroup.read_job(cg, self._trees, self.files)
            for reason in stats.errors:
                self.errors.inc("jobs", reason)
            if stats.vanished:
                continue
            jobid = cg.jobid
            if cg.sluid:
                live_sluids.add(cg.sluid)
                jobid = self._sluids.get(cg.sluid) or ""
                if not jobid:
                    jobid = resolve_sluid(stats.pids, self.proc_root) or ""
                    if jobid:
                        self._sluids[cg.sluid] = jobid
                    else:
                        jobid = cg.sluid
            key = (jobid, cg.step)
            job = by_key.get(key)
            if job is None:
                by_key[key] = Job(jobid, cg.step, cg.uid, stats, [cg])
            else:   # the same job under another slurmd of this host (multiple-slurmd)
                job.stats.merge(stats)
                job.cgroups.append(cg)
        for s in [s for s in self._sluids if s not in live_sluids]:
            del self._sluids[s]
        failures = self.lookup.failures
        infos = self.lookup.get(j.jobid for j in by_key.values())
        if self.lookup.failures > failures:
            self.errors.inc("jobs", "lookup", self.lookup.failures - failures)
        jobs = sorted(by_key.values(), key=lambda j: (len(j.jobid), j.jobid, j.step))
        names = JOB_LABELS + (("step",) if self.steps else ())
        old, texts = self._label_texts, {}
        for job in jobs:
            info = infos.get(job.jobid)
            user = user_name(job.uid) or (info.user if info else "")
            labels: tuple[str, ...] = (job.jobid, user, info.account if info else "",
                                       info.partition if info else "")
            job.labels = labels = labels + ((job.step,) if self.steps else ())
            t = old.get(labels)
            if t is None:
                t = label_text(names, labels)
            texts[labels] = job.label_text = t
        self._label_texts = texts
        return jobs


class JobCollector:
    """Maps each job's JobStats to the families listed in ``metrics.JOB_METRICS``."""

    name = "jobs"

    def __init__(self, scanner: JobScanner):
        self.scanner = scanner

    def collect(self) -> Iterable[Metric]:
        jobs = self.scanner.scan()
        labels = list(JOB_LABELS) + (["step"] if self.scanner.steps else [])
        for d in JOB_METRICS:
            name = d.name[:-len("_total")] if d.kind == "counter" else d.name
            fam = JobRows(name, d.help, d.kind, labels)
            rows, texts = fam.rows, fam.label_texts
            get = d.get
            if get is None:     # a self-metric: not per job
                continue
            for job in jobs:
                v = get(job.stats)
                if v is not None:
                    rows.append((job.labels, float(v)))
                    texts.append(job.label_text)
            if rows:     # a file this kernel/config lacks: no empty family in the page
                yield fam
        count = GaugeMetricFamily(f"{PREFIX}_jobs", "Job cgroups found on this node in this scrape.")
        count.add_metric([], len({j.jobid for j in jobs}))
        yield count


@register("jobs", "jobs", "CPU, memory, IO and pressure of each job, from its cgroups.")
def _jobs(ctx: Any) -> JobCollector:
    return JobCollector(ctx.scanner)
