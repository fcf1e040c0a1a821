"""The ``munge`` collector of the job exporter: is munged on this node answering?

Each scrape makes one credential round trip through munged's socket, the way Slurm's auth/munge
uses it: ``munge -n -S SOCKET`` encodes an empty credential, ``unmunge -S SOCKET`` decodes it (the
credential goes from one to the other on a pipe, never to a log). Argument lists, never a shell,
and one deadline for both commands (``--collector.munge.timeout``, 2 s): a hung munged costs the
scrape at most that, and the children are killed when it passes.

A failed round trip is ``<prefix>_munge_up 0`` plus one ``<prefix>_errors_total{collector="munge"}``
with the reason:

- ``no_client``: the ``munge`` / ``unmunge`` programs are not installed (or not executable);
- ``no_socket``: nothing at the socket path (munged stopped cleanly, or another path configured);
- ``refused``: the socket is there but nothing listens (munged killed or crashed: a stale socket);
- ``timeout``: munged accepted but did not answer within the deadline (hung, stopped, overloaded);
- ``encode`` / ``decode``: munge or unmunge answered with an error (its first line is logged).

The munge client retries a refused connection for ~2.25 s (libmunge's connect retries,
MUNGE_SOCKET_CONNECT_ATTEMPTS in munge 0.5.15), longer than the deadline: so after a timeout a
bare ``connect()`` tells "refused" from "hung", and while the last reason is "refused" that connect
is tried first and the client not run (each scrape of a stale socket stays milliseconds). The bare
connect is never made while munged answers: munged logs "Received incomplete message header" for it.
Measured cost of a round trip: ~5 ms wall, ~2.4 ms CPU (bench/bench_munge_collector.py).
"""
from __future__ import annotations

import errno
import logging
import os
import socket
import stat
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from ..exporter.core import register
from .collector import ErrorCounter
from .metrics import MUNGE_METRICS

log = logging.getLogger(__name__)

DEFAULT_SOCKET = "/run/munge/munge.socket.2"     # munged's default (munged(8) --socket)
DEFAULT_TIMEOUT_S = 2.0
REASONS = ("no_client", "no_socket", "refused", "timeout", "encode", "decode")


@dataclass(frozen=True)
class RoundTrip:
    up: bool
    duration_s: float
    reason: str = ""      # one of REASONS when not up
    detail: str = ""      # for the log: munge's own message, never the credential


def _first_line(b: bytes) -> str:
    text = b.decode(errors="replace").strip()
    return text.splitlines()[0] if text else ""


def socket_state(path: str, timeout_s: float = 0.2) -> str:
    """'' when something accepts connections at ``path``, else 'no_socket' or 'refused'. Opens a
    connection: only for a munged already failing (munged logs a bare connect)."""
    try:
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return "no_socket"
    except OSError:
        return "no_socket"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout_s)
    try:
        s.connect(path)
    except OSError as exc:    # a full backlog times out: something is there, but not answering
        return "refused" if exc.errno in (errno.ECONNREFUSED, errno.ENOENT) else ""
    finally:
        s.close()
    return ""


def roundtrip(sock: str, timeout_s: float = DEFAULT_TIMEOUT_S, *, munge: str = "munge",
              unmunge: str = "unmunge") -> RoundTrip:
    """One credential encoded and decoded through munged's socket ``sock``, both within ``timeout_s``."""
    t0 = time.monotonic()

    def failed(reason: str, detail: str) -> RoundTrip:
        return RoundTrip(False, time.monotonic() - t0, reason, detail)

    try:
        if not stat.S_ISSOCK(os.stat(sock).st_mode):
            return failed("no_socket", f"{sock} is not a socket")
    except OSError as exc:
        return failed("no_socket", f"{sock}: {exc.strerror}")
    try:
        enc = subprocess.run([munge, "-n", "-S", sock], stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=timeout_s, check=False)
        if enc.returncode != 0:
            refused = b"Connection refused" in enc.stderr
            return failed("refused" if refused else "encode", _first_line(enc.stderr) or f"munge exit {enc.returncode}")
        left = timeout_s - (time.monotonic() - t0)
        if left <= 0:
            raise subprocess.TimeoutExpired(unmunge, 0)
        dec = subprocess.run([unmunge, "-S", sock], input=enc.stdout, capture_output=True,
                             timeout=left, check=False)
        if dec.returncode != 0:
            return failed("decode", _first_line(dec.stderr) or f"unmunge exit {dec.returncode}")
    except subprocess.TimeoutExpired:
        # A refused connection is retried by the client for longer than the deadline: ask the socket.
        state = socket_state(sock)
        return failed(state or "timeout", f"connection refused at {sock}" if state
                      else f"no answer from munged at {sock} within {timeout_s:g} s")
    except OSError as exc:      # the program is missing or not executable
        return failed("no_client", f"{exc.filename or munge}: {exc.strerror}")
    return RoundTrip(True, time.monotonic() - t0)


class MungeCollector:
    """``<prefix>_munge_up`` and ``<prefix>_munge_roundtrip_seconds``, one round trip per scrape."""

    name = "munge"

    def __init__(self, sock: str = DEFAULT_SOCKET, timeout_s: float = DEFAULT_TIMEOUT_S, *,
                 errors: ErrorCounter | None = None, munge: str = "munge", unmunge: str = "unmunge"):
        self.sock = sock
        self.timeout_s = timeout_s
        self.errors = errors if errors is not None else ErrorCounter()
        self.munge, self.unmunge = munge, unmunge
        self.last: RoundTrip | None = None

    def check(self) -> RoundTrip:
        if self.last is not None and self.last.reason == "refused":
            t0 = time.monotonic()
            state = socket_state(self.sock)
            if state:       # still nothing listening: no 2 s of client retries
                return RoundTrip(False, time.monotonic() - t0, state, self.last.detail)
        return roundtrip(self.sock, self.timeout_s, munge=self.munge, unmunge=self.unmunge)

    def collect(self) -> Iterable[Metric]:
        r = self.check()
        prev, self.last = self.last, r
        if not r.up:
            self.errors.inc(self.name, r.reason)
        if prev is None or (prev.up, prev.reason) != (r.up, r.reason):     # log changes, not every scrape
            if r.up:
                log.info("munge round trip through %s works (%.3f s)", self.sock, r.duration_s)
            else:
                log.warning("munge round trip through %s failed (%s): %s", self.sock, r.reason, r.detail)
        for spec, value in zip(MUNGE_METRICS, (1.0 if r.up else 0.0, r.duration_s), strict=True):
            fam = GaugeMetricFamily(spec.name, spec.help)
            fam.add_metric([], value)
            yield fam


@register("jobs", "munge", "munged answers: a credential round trip through its socket (--collector.munge).")
def _munge(ctx: Any) -> MungeCollector | None:
    sock = getattr(ctx, "munge_socket", None)
    if not sock:
        return None
    bin_dir = getattr(ctx, "munge_bin_dir", None)
    munge, unmunge = ((os.path.join(bin_dir, "munge"), os.path.join(bin_dir, "unmunge")) if bin_dir
                      else ("munge", "unmunge"))
    return MungeCollector(sock, getattr(ctx, "munge_timeout_s", DEFAULT_TIMEOUT_S), errors=ctx.errors,
                          munge=munge, unmunge=unmunge)
