"""The `rest` source: slurmrestd with a JWT, data_parser version negotiated from what the server
offers (v0.0.38 on Slurm 22.05 … v0.0.45 on 26.05).

At scale slurmrestd is the expensive path (22.05's grew to 9–11 GB after a few full /jobs calls on
50,000 jobs), so the job list is asked with ``update_time``: an unchanged queue costs one small
answer, and a full refresh happens only every ``full_refresh_s``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..models import ClusterInfo, Controller, Job, License, Node, Partition, Reservation, SchedulerStats, Share
from ..parse import jsondoc as jp, jsonread
from ..parse.controllers import parse_ping_doc
from . import POLL_GATE, CallStats, SourceError, T, checked_parse, guard_fetchers


@dataclass
class _JobsCache:
    update_time: float
    jobs: list[Any]
    full_at: float


SUPPORTED = tuple(f"v0.0.{n}" for n in range(45, 37, -1))   # newest first
# /jobs gets its own, larger timeout: at 50,000 jobs slurmrestd 22.05 spends 15-18 s building the
# answer (155 MB) before the transfer, and any answer after a change of the queue is a full list
# (update_time only saves the unchanged case). 120 s is what bench/ passes and measured to hold.
JOBS_TIMEOUT_S = 120.0


@guard_fetchers
class RestSource:
    name = "rest"

    def __init__(self, url: str, user: str | None = None, token: str | None = None,
                 token_file: str | Path | None = None, timeout: float = 20.0,
                 stats: CallStats | None = None, version: str | None = None,
                 full_refresh_s: float = 300.0, jobs_timeout: float = JOBS_TIMEOUT_S):
        self.url = url.rstrip("/")
        self.user = user
        self._token = token
        self.token_file = Path(token_file) if token_file else None
        self.timeout = timeout
        self.jobs_timeout = max(timeout, jobs_timeout)
        self.stats = stats or CallStats()
        self.version = version
        self.full_refresh_s = full_refresh_s
        self._jobs_cache: _JobsCache | None = None
        self._cluster: str | None = None

    # ---- transport ---------------------------------------------------------------------------
    def token(self) -> str | None:
        """Re-read the token file each call so a rotated token is picked up without a restart."""
        if self.token_file:
            try:
                return self.token_file.read_text().strip().removeprefix("SLURM_JWT=")
            except OSError as exc:
                raise SourceError("slurmrestd", "auth", f"cannot read token file: {exc.strerror}") from exc
        return self._token or os.environ.get("SLURM_JWT")

    def _fetch(self, path: str, params: dict[str, Any] | None = None,
               timeout: float | None = None) -> tuple[str, IO[bytes] | None]:
        """GET ``path`` into an unlinked temporary file: (command label, file), or (label, None)
        for HTTP 304. Waiting on slurmrestd happens outside the poll gate."""
        timeout = timeout or self.timeout
        command = re.sub(r"/v0\.0\.\d+", "", path).strip("/") or "/"
        url = self.url + path + (("?" + urllib.parse.urlencode(params)) if params else "")
        headers = {"Accept": "application/json"}
        tok = self.token()
        if tok:
            headers["X-SLURM-USER-TOKEN"] = tok
        if self.user:
            headers["X-SLURM-USER-NAME"] = self.user
        self.stats.call(command)
        f = tempfile.TemporaryFile()
        try:
            with POLL_GATE.io(), urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                                        timeout=timeout) as resp:
                shutil.copyfileobj(resp, f, 1 << 20)
            return command, f
        except urllib.error.HTTPError as exc:
            f.close()
            if exc.code == 304:   # update_time given and nothing changed since
                return command, None
            body = exc.read()
            reason = "auth" if exc.code in (401, 403) else "http"
            doc = _loads_or_none(body)
            if isinstance(doc, dict) and exc.code == 500 and doc.get("errors"):
                reason = "slurm"   # slurmrestd answered; slurmctld refused or failed
            self.stats.error(command, reason)
            raise SourceError(command, reason, f"HTTP {exc.code}: {_first_error(doc) or exc.reason}") from exc
        except TimeoutError:
            f.close()
            self.stats.error(command, "timeout")
            raise SourceError(command, "timeout", f"no answer in {timeout:g}s") from None
        except (urllib.error.URLError, OSError) as exc:
            f.close()
            self.stats.error(command, "connect")
            raise SourceError(command, "connect", str(getattr(exc, "reason", exc))) from exc

    def _check(self, command: str, doc: Any, strict: bool) -> dict[str, Any]:
        """A decoded answer must be an object; with ``strict`` one carrying Slurm errors fails."""
        if not isinstance(doc, dict):
            self.stats.error(command, "parse")
            raise SourceError(command, "parse", "not a JSON object")
        if not isinstance(doc.get("errors") or [], list):
            self.stats.error(command, "parse")
            raise SourceError(command, "parse", f"errors: expected a list, got {doc['errors']!r:.40}")
        errs = [e for e in doc.get("errors") or [] if isinstance(e, dict)
                and e.get("error_number", e.get("error_code", 0)) not in (0, None)]
        if errs and strict:
            self.stats.error(command, "slurm")
            raise SourceError(command, "slurm", _first_error(doc) or "error")
        return doc

    def get(self, path: str, params: dict[str, Any] | None = None, strict: bool = True) -> dict[str, Any]:
        """GET and decode; with ``strict`` an answer carrying Slurm errors is a failure."""
        command, f = self._fetch(path, params)
        if f is None:
            return {"_not_modified": True}
        with f:
            return self.decode(command, f, strict)

    def decode(self, command: str, f: IO[bytes], strict: bool = True) -> dict[str, Any]:
        """A whole (small) answer from ``f``, bounded (jsonread.load) and checked."""
        f.seek(0, 2)
        if f.tell() > jsonread.MAX_DOCUMENT_BYTES:
            self.stats.error(command, "parse")
            raise SourceError(command, "parse", f"answer larger than {jsonread.MAX_DOCUMENT_BYTES:,} bytes")
        f.seek(0)
        try:
            doc, repaired = jsonread.load(f.read())
        except ValueError as exc:
            self.stats.error(command, "parse")
            raise SourceError(command, "parse", str(exc)) from None
        doc = self._check(command, doc, strict)
        if repaired:
            self.stats.skip(command, 1)     # the answer held invalid UTF-8 (replaced): counted
        return doc

    def _stream(self, what: str, stream: Callable[..., list[Any]], params: dict[str, Any] | None = None,
                ) -> tuple[list[Any] | None, dict[str, Any]]:
        """A record list parsed as it is read from the file (jsondoc.stream_jobs/stream_nodes):
        (records, the document's other members), or (None, {}) for HTTP 304."""
        command, f = self._fetch(f"/slurm/{self.negotiate()}/{what}", params,
                                 self.jobs_timeout if what == "jobs" else None)
        if f is None:
            return None, {}
        with f:
            return self.decode_stream(what, command, f, stream)

    def decode_stream(self, what: str, command: str, f: IO[bytes],
                      stream: Callable[..., list[Any]]) -> tuple[list[Any], dict[str, Any]]:
        """Records of an answer in ``f`` parsed as they are read (jsondoc.stream_*, bounded by
        jsonread): (records, the document's other members). A document that is not an object
        with a ``what`` list is a parse failure, never an empty list."""
        outer: dict[str, Any] = {}
        records = checked_parse(self.stats, what, command,
                                lambda ff, errors: stream(ff, errors, outer), f, True)
        self._check(command, outer, strict=True)
        return records, outer

    def offered(self) -> list[str]:
        """The data_parser versions the server's OpenAPI spec lists that we speak, newest first
        (empty when no spec is served)."""
        for path in ("/openapi/v3",):   # served from 22.05 (v0.0.38, the oldest supported) on
            try:
                doc = self.get(path)
            except SourceError:
                continue
            offered = set(re.findall(r"/slurm/(v0\.0\.\d+)/", json.dumps(doc.get("paths", {}))))
            if offered:
                return [v for v in SUPPORTED if v in offered]
        return []

    def negotiate(self) -> str:
        """Pick the newest data_parser version both we and the server speak."""
        if self.version:
            return self.version
        offered = self.offered()
        if offered:
            self.version = offered[0]
            return self.version
        for v in SUPPORTED:   # no spec served: probe
            try:
                self.get(f"/slurm/{v}/ping")
            except SourceError as exc:
                if exc.reason in ("connect", "timeout"):
                    raise
                continue
            self.version = v
            return v
        raise SourceError("slurmrestd", "unsupported", f"none of {', '.join(SUPPORTED)} offered")

    def _doc(self, what: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.get(f"/slurm/{self.negotiate()}/{what}", params)

    def _parse(self, collector: str, what: str, parse: Callable[..., T], doc: dict[str, Any]) -> T:
        # Same command label as the request that fetched it (get(): "slurm/nodes").
        return checked_parse(self.stats, collector, f"slurm/{what}", parse, doc, True)

    # ---- fetchers ----------------------------------------------------------------------------
    def info(self) -> ClusterInfo:
        doc = self._doc("ping")
        ci = jp.parse_meta(doc)
        if ci.cluster is None:
            ci.cluster = self._cluster_name()
        return ci

    def _cluster_name(self) -> str | None:
        """Before v0.0.40 no /slurm answer names the cluster; slurmdbd's config does, but it is
        a slow call (over a second on 22.05), so ask it once."""
        if self._cluster is None:
            try:
                # 22.05 adds "Nothing found" errors for empty sections (wckeys): not fatal here.
                conf = self.get(f"/slurmdb/{self.negotiate()}/config", strict=False)
                clusters = conf.get("clusters") or []
                name = clusters[0].get("name") if isinstance(clusters, list) and len(clusters) == 1 \
                    and isinstance(clusters[0], dict) else None
                self._cluster = name if isinstance(name, str) else ""
            except SourceError:
                return None
        return self._cluster or None

    def nodes(self) -> list[Node]:
        return self._stream("nodes", jp.stream_nodes)[0] or []

    def partitions(self) -> list[Partition]:
        return self._stream("partitions", jp.stream_partitions)[0] or []

    def jobs(self) -> list[Job]:
        """Full list every full_refresh_s; in between ask with update_time, and an empty answer
        means "no change" (slurmctld returns every job as soon as anything changed)."""
        asked_at = time.time()
        c = self._jobs_cache
        if c is not None and asked_at - c.full_at < self.full_refresh_s:
            jobs, outer = self._stream("jobs", jp.stream_jobs, {"update_time": int(c.update_time)})
            if not jobs:     # 304, or an empty list: nothing changed
                return c.jobs
            full_at = c.full_at
        else:
            jobs, outer = self._stream("jobs", jp.stream_jobs)
            jobs = jobs or []
            full_at = asked_at
        # v0.0.38 has no last_update: the time we asked is a safe lower bound.
        self._jobs_cache = _JobsCache(_last_update(outer) or asked_at - 1, jobs, full_at)
        return jobs

    def scheduler(self) -> SchedulerStats:
        return self._parse("scheduler", "diag", jp.parse_diag, self._doc("diag"))

    def fairshare(self) -> list[Share]:
        if self.negotiate() in ("v0.0.38", "v0.0.39"):   # /shares arrived with 23.11
            raise SourceError("shares", "unsupported", f"slurmrestd {self.version} has no /shares")
        return self._parse("fairshare", "shares", jp.parse_shares, self._doc("shares"))

    def licenses(self) -> list[License]:
        return self._stream("licenses", jp.stream_licenses)[0] or []

    def controllers(self) -> list[Controller]:
        return self._parse("controllers", "ping", parse_ping_doc, self._doc("ping"))

    def reservations(self) -> list[Reservation]:
        return self._stream("reservations", jp.stream_reservations)[0] or []


def _loads_or_none(body: bytes) -> Any:
    try:
        return jsonread.load(body)[0]
    except ValueError:
        return None


def _first_error(doc: Any) -> str:
    if not isinstance(doc, dict):
        return ""
    errs = doc.get("errors")
    for e in errs if isinstance(errs, list) else []:
        if isinstance(e, dict):
            return str(e.get("description") or e.get("error") or "")[:300]
    return ""


def _last_update(doc: dict[str, Any]) -> float | None:
    v = doc.get("last_update")
    if isinstance(v, dict):
        v = v.get("number") if v.get("set", True) else None
    return float(v) if isinstance(v, (int, float)) else None


def negotiate_version(url: str, token: str | None, user: str | None = "root",
                      timeout: float = 10.0) -> str:
    """The data_parser version slurmops speaks with the slurmrestd at ``url``: the newest both
    offer (for health checks and printed examples; SourceError when none)."""
    return RestSource(url, user=user, token=token, timeout=timeout).negotiate()


def offered_versions(url: str, token: str | None, user: str | None = "root",
                     timeout: float = 10.0) -> list[str]:
    """Every data_parser version the slurmrestd at ``url`` offers that slurmops speaks."""
    return RestSource(url, user=user, token=token, timeout=timeout).offered()
