"""What Slurm's accounting says about jobs: one `sacct` call per report (or per bulk report), parsed
by a pure function. Fields and their meaning: sacct(1) of Slurm 22.05.8
(../shared/reference/slurm/22.05.8/man/sacct.1, "Job Accounting Fields"); AllocTRES carries the
allocation (cpu, mem, node, gres/gpu), AdminComment the stored summary (summary.py).
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from functools import cached_property

from ..slurm.hostlist import expand

FIELDS = ("JobID", "JobIDRaw", "Cluster", "User", "Account", "Partition", "QOS", "State",
          "ExitCode", "NNodes", "NCPUS", "AllocTRES", "NodeList", "Submit", "Start", "End",
          "ElapsedRaw", "TimelimitRaw", "TotalCPU", "JobName", "AdminComment")
# A record separator no job name or comment contains (sacct --delimiter, sacct(1)); `-P` keeps
# fields unpadded. Epoch times from SLURM_TIME_FORMAT=%s (sacct(1), ENVIRONMENT VARIABLES).
DELIM = "\x1e"
SACCT_ENV = {"SLURM_TIME_FORMAT": "%s"}
JOBID_RE = re.compile(r"^\d+(_\d+)?$")
_SIZE = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50}


class SlurmError(RuntimeError):
    """sacct/sacctmgr could not be run or failed."""


@dataclass
class JobRecord:
    jobid: str                 # as the user names it: 123, 123_4 for an array task
    jobid_raw: str             # Slurm's unique id (an array task has its own)
    cluster: str
    user: str
    account: str
    partition: str
    qos: str
    state: str                 # COMPLETED, RUNNING, OUT_OF_MEMORY, "CANCELLED by 0" → CANCELLED
    exit_code: str
    nnodes: int
    ncpus: int
    mem_bytes: float | None    # memory allocated (AllocTRES mem=, all nodes)
    gpus: int
    nodelist: str              # Slurm's hostlist (jn[1-2]); .nodes expands it when needed
    submit: int | None
    start: int | None
    end: int | None            # None while running
    elapsed_s: int
    timelimit_s: int | None    # None: UNLIMITED / Partition_Limit
    total_cpu_s: float | None  # Slurm's own CPU accounting (jobacct_gather): a cross-check
    name: str
    admin_comment: str
    extra: dict = field(default_factory=dict)

    @cached_property
    def nodes(self) -> list[str]:
        """Expanded on first use only: bulk mode reads 10,000 records and rarely needs it."""
        return [] if self.nodelist in ("", "None assigned") else expand(self.nodelist)

    @property
    def running(self) -> bool:
        return self.end is None and self.start is not None

    @property
    def started(self) -> bool:
        return self.start is not None


def parse_size(text: str) -> float | None:
    """`400M`, `1.50G`, `512` (MB, Slurm's default unit) → bytes."""
    m = re.fullmatch(r"([\d.]+)([KMGTP]?)", text.strip())
    if not m:
        return None
    return float(m.group(1)) * _SIZE.get(m.group(2) or "M", 2**20)


def parse_tres(text: str) -> dict[str, str]:
    out = {}
    for item in filter(None, text.split(",")):
        k, _, v = item.partition("=")
        out[k] = v
    return out


def parse_cputime(text: str) -> float | None:
    """sacct's TotalCPU: [D-][HH:]MM:SS[.mmm]."""
    m = re.fullmatch(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)", text.strip())
    if not m:
        return None
    d, h, mi, s = m.groups()
    return int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi) * 60 + float(s)


def _epoch(text: str) -> int | None:
    return int(text) if text.isdigit() and int(text) > 0 else None


def _gpus(tres: dict[str, str]) -> int:
    """gres/gpu=N, or the sum of gres/gpu:<type>=N when only typed counts are listed."""
    if "gres/gpu" in tres:
        return int(tres["gres/gpu"] or 0)
    return sum(int(v) for k, v in tres.items() if k.startswith("gres/gpu:") and v.isdigit())


def parse(text: str) -> tuple[list[JobRecord], list[str]]:
    """sacct -X -n -P --delimiter=DELIM -o FIELDS output → records, and lines it could not read."""
    records, bad = [], []
    for line in text.split("\n"):     # not splitlines(): it splits on DELIM (\x1e) too
        if not line.strip():
            continue
        parts = line.split(DELIM)
        if len(parts) != len(FIELDS):
            bad.append(line)
            continue
        f = dict(zip(FIELDS, parts, strict=True))
        try:
            tres = parse_tres(f["AllocTRES"])
            tl = f["TimelimitRaw"]
            records.append(JobRecord(
                jobid=f["JobID"], jobid_raw=f["JobIDRaw"], cluster=f["Cluster"], user=f["User"],
                account=f["Account"], partition=f["Partition"], qos=f["QOS"],
                state=f["State"].split()[0] if f["State"] else "", exit_code=f["ExitCode"],
                nnodes=int(f["NNodes"] or 0), ncpus=int(f["NCPUS"] or 0),
                mem_bytes=parse_size(tres["mem"]) if "mem" in tres else None, gpus=_gpus(tres),
                nodelist=f["NodeList"], submit=_epoch(f["Submit"]), start=_epoch(f["Start"]),
                end=_epoch(f["End"]), elapsed_s=int(f["ElapsedRaw"] or 0),
                timelimit_s=int(tl) * 60 if tl.isdigit() else None,
                total_cpu_s=parse_cputime(f["TotalCPU"]), name=f["JobName"],
                admin_comment=f["AdminComment"]))
        except (ValueError, KeyError):
            bad.append(line)
    return records, bad


def _run(argv: list[str], timeout: float) -> str:
    env = {**os.environ, **SACCT_ENV}
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                           stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise SlurmError(f"{argv[0]} is not installed or not on PATH") from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{argv[0]} did not answer within {timeout:.0f} s") from None
    if r.returncode != 0:
        msg = (r.stderr.strip() or r.stdout.strip() or f"exit {r.returncode}").splitlines()[-1]
        raise SlurmError(f"{argv[0]} failed: {msg}")
    return r.stdout


def sacct_argv(*selection: str, cluster: str | None = None) -> list[str]:
    argv = ["sacct", "-X", "-n", "-P", f"--delimiter={DELIM}", "-o", ",".join(FIELDS)]
    if cluster:
        argv += ["-M", cluster]
    return argv + list(selection)


def query(*selection: str, cluster: str | None = None, timeout: float = 60) -> list[JobRecord]:
    """One sacct call. A line sacct prints that we cannot read is an error, never skipped silently."""
    records, bad = parse(_run(sacct_argv(*selection, cluster=cluster), timeout))
    if bad:
        raise SlurmError(f"sacct printed {len(bad)} line(s) this version cannot read: {bad[0][:120]!r}")
    return records


def job(jobid: str, cluster: str | None = None) -> JobRecord | None:
    recs = [r for r in query("-j", jobid, cluster=cluster)
            if r.jobid == jobid or r.jobid_raw == jobid]
    return recs[0] if recs else None


def clusters(timeout: float = 30) -> list[str]:
    """Clusters slurmdbd knows (sacctmgr show cluster): to tell "no such job" from "no such cluster"."""
    out = _run(["sacctmgr", "-n", "-P", "show", "cluster", "format=cluster"], timeout)
    return [c.strip() for c in out.splitlines() if c.strip()]


def set_admin_comment(jobid_raw: str, text: str, cluster: str | None = None,
                      timeout: float = 30) -> str:
    """Write AdminComment in the accounting database. `scontrol update` refuses a finished job
    ("Job has already finished", tried on 22.05.8, and at EpilogSlurmctld time the job is already
    COMPLETING); sacctmgr(1) "SPECIFICATIONS FOR JOB": AdminComment is one of the fields that "can
    be modified after job completion"."""
    argv = ["sacctmgr", "-i", "modify", "job", "where", f"jobid={jobid_raw}"]
    if cluster:
        argv.append(f"cluster={cluster}")
    argv += ["set", f"AdminComment={text}"]
    return _run(argv, timeout)
