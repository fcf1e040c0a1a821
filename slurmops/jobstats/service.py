"""Where a report's data comes from, and the errors a user sees (each with its exit code)."""
from __future__ import annotations

from . import prom as promq, sacct
from .config import Config
from .sacct import JobRecord, SlurmError
from .summary import Summary, SummaryError, decode, is_ours

# Exit codes of `slurmops jobstats` (docs/jobstats.md). 2 is click's usage error.
EXIT_NOT_FOUND = 3
EXIT_SLURM = 4
EXIT_PROMETHEUS = 5
EXIT_SUMMARY = 6


class JobstatsError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def find_job(jobid: str, cluster: str | None) -> JobRecord:
    if not sacct.JOBID_RE.match(jobid):
        raise JobstatsError(f"{jobid!r} is not a job id (expected 123 or 123_4 for an array task)", 2)
    try:
        rec = sacct.job(jobid, cluster)
        if rec is not None:
            return rec
        known = sacct.clusters() if cluster else []
    except SlurmError as exc:
        raise JobstatsError(f"cannot ask Slurm about job {jobid}: {exc}", EXIT_SLURM) from None
    if cluster and cluster not in known:
        raise JobstatsError(f"cluster {cluster!r} is not in Slurm's accounting (known: "
                            f"{', '.join(known) or 'none'})", EXIT_NOT_FOUND)
    where = f"cluster {cluster}" if cluster else "this cluster"
    raise JobstatsError(f"job {jobid} is not in the accounting of {where} (sacct shows no such "
                        f"job; a job of another cluster needs --cluster)", EXIT_NOT_FOUND)


def stored_summary(rec: JobRecord) -> tuple[Summary | None, str | None]:
    """(summary, None), (None, why it is unreadable), or (None, None) when nothing is stored."""
    if not is_ours(rec.admin_comment):
        return None, None
    try:
        return decode(rec.admin_comment), None
    except SummaryError as exc:
        return None, str(exc)


def from_prometheus(rec: JobRecord, cfg: Config, client: promq.PromClient | None) -> Summary:
    if client is None:
        raise JobstatsError("no Prometheus to ask: give --prometheus URL, set PROMETHEUS_URL or "
                            "prometheus_url in the config file", EXIT_PROMETHEUS)
    try:
        return promq.collect(client, rec, cfg.cluster_label or None)
    except promq.PrometheusError as exc:
        raise JobstatsError(str(exc), EXIT_PROMETHEUS) from None


def summary_for(rec: JobRecord, cfg: Config, client: promq.PromClient | None,
                use_stored: bool = True) -> tuple[Summary | None, str, list[str]]:
    """The job's usage: the stored summary first, then Prometheus. → (summary, source, warnings)."""
    warnings: list[str] = []
    if use_stored:
        s, bad = stored_summary(rec)
        if s is not None:
            return s, "stored", warnings
        if bad:
            warnings.append(f"the summary stored with job {rec.jobid} cannot be read ({bad}); "
                            f"asking Prometheus instead")
    if not rec.started:
        return None, "none", warnings + [f"job {rec.jobid} has not started yet"]
    try:
        s = from_prometheus(rec, cfg, client)
    except JobstatsError as exc:
        if warnings:      # a broken summary and no Prometheus: say both
            raise JobstatsError(f"{warnings[0].split(';')[0]}, and {exc}", EXIT_SUMMARY) from None
        raise
    if not s.nodes:
        warnings.append(f"Prometheus has no series for job {rec.jobid_raw} (past retention, or "
                        f"no job exporter on its nodes)")
        return None, "none", warnings
    return s, "prometheus", warnings
