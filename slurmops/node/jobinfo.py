"""Job -> user/account/partition labels for the job exporter.

The user comes from the cgroup path where it can (v1 ``uid_<n>`` through pwd), because that needs
no Slurm call. Account and partition need Slurm: one ``squeue`` for all jobs new in this scrape,
with an argument list and a timeout. A job's answer is kept for as long as the job has a cgroup
(the labels of a running job never change, so one look-up per job); a failed look-up is retried
no more than once a minute, and meanwhile the labels stay empty — the scrape never waits long or
breaks because slurmctld is slow or down. The runner is a parameter so tests use fixture text.
"""
from __future__ import annotations

import logging
import pwd
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..slurm.commands import command

log = logging.getLogger(__name__)

Runner = Callable[[list[str]], str]


@dataclass(frozen=True)
class JobInfo:
    user: str = ""
    account: str = ""
    partition: str = ""


def parse_squeue(text: str) -> dict[str, JobInfo]:
    """``squeue -h -o '%A|%u|%a|%P'`` lines -> job id -> JobInfo; odd lines are skipped."""
    out: dict[str, JobInfo] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 4 or not parts[0].isdigit():
            continue
        out[parts[0]] = JobInfo(*(p if p not in ("(null)", "N/A") else "" for p in parts[1:]))
    return out


def squeue_runner(squeue: str = "squeue", timeout_s: float = 5.0) -> Runner:
    def run(jobids: list[str]) -> str:
        argv = [squeue, *command("jobinfo").render(jobids=",".join(jobids))[1:]]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
        if r.returncode != 0 and not r.stdout:
            if "Invalid job id" in r.stderr:   # all asked-for jobs already gone: a valid answer
                return ""
            raise RuntimeError(f"squeue exit {r.returncode}: {r.stderr.strip()[:200]}")
        return r.stdout
    return run


class JobInfoCache:
    """At most one Slurm look-up per job; failures retried after ``retry_s``."""

    def __init__(self, runner: Runner | None = None, retry_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self.runner = runner if runner is not None else squeue_runner()
        self.retry_s = retry_s
        self.clock = clock
        self._known: dict[str, JobInfo] = {}
        self._failed: dict[str, float] = {}       # job id -> when to retry
        self._lock = threading.Lock()
        self.failures = 0                         # look-ups that raised, for errors_total

    def get(self, jobids: Iterable[str]) -> dict[str, JobInfo]:
        ids = sorted({j for j in jobids if j.isdigit()})
        now = self.clock()
        with self._lock:
            todo = [j for j in ids if j not in self._known and self._failed.get(j, 0) <= now]
        if todo:
            try:
                found = parse_squeue(self.runner(todo))
            except Exception as exc:   # slurmctld down, timeout, no squeue: labels stay empty
                log.warning("job look-up failed for %d jobs: %s", len(todo), exc)
                found = {}
                self.failures += 1
            with self._lock:
                self._known.update(found)
                for j in todo:
                    if j not in found:
                        self._failed[j] = now + self.retry_s
        with self._lock:
            live = set(ids)
            # forget jobs that have no cgroup any more: the cache stays as small as the node
            for d in (self._known, self._failed):
                for j in [j for j in d if j not in live]:
                    del d[j]
            return {j: self._known.get(j, JobInfo()) for j in ids}


_user_names: dict[int, str] = {}


def user_name(uid: int | None) -> str:
    """uid -> login name (cached; the uid as text if it has no passwd entry)."""
    if uid is None:
        return ""
    name = _user_names.get(uid)
    if name is None:
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        _user_names[uid] = name
    return name
