"""Sources: how we ask Slurm. Each returns models; collectors never see raw output.

Every source offers the same fetchers (``FETCHERS``, one per collector); one it cannot serve on
the Slurm version it talks to raises ``SourceError(reason="unsupported")``, which the collector
reports as unsupported, not as a failure.
"""
from __future__ import annotations

import dataclasses
import functools
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
S = TypeVar("S")

FETCHERS = ("info", "nodes", "partitions", "jobs", "scheduler", "fairshare", "licenses", "reservations",
            "controllers")


class SourceError(Exception):
    """A failed call to Slurm, classified for `slurm_exporter_command_errors_total`."""

    def __init__(self, command: str, reason: str, detail: str = ""):
        super().__init__(f"{command}: {reason}" + (f": {detail}" if detail else ""))
        self.command = command
        # timeout | exit | not_found | parse | connect | http | auth | slurm | unsupported | internal
        self.reason = reason
        self.detail = detail


def guard_fetchers(cls: type[S]) -> type[S]:
    """Class decorator for a source: whatever a fetcher raises reaches the poller as a
    SourceError. One that is not already (a bug met by odd input: TypeError, RecursionError,
    MemoryError, ...) becomes ``SourceError(<fetcher>, "internal", "<type>: <message>")``, counted
    in ``slurm_exporter_command_errors_total{reason="internal"}`` like any failed call."""
    for name in FETCHERS:
        fn = cls.__dict__.get(name)
        if fn is not None:
            setattr(cls, name, _guarded(fn, name))
    return cls


def _guarded(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except SourceError:
            raise
        except Exception as exc:
            self.stats.error(name, "internal")
            raise SourceError(name, "internal", f"{type(exc).__name__}: {str(exc)[:300]}") from exc
    return call


class PollGate:
    """Lets one poller thread at a time do CPU work (parse, build, render) while any number wait
    on Slurm. Pollers run a thread per collector so a hung command delays nobody else; but the
    GIL serialises their Python anyway, and when the nodes and jobs parses interleave both peaks
    are alive at once (+27 MB at 10,000 nodes / 50,000 jobs) and scrapes wait longer for the GIL.

    A poll runs inside :meth:`session` (holding the gate); a source wraps each blocking call to
    Slurm in :meth:`io`, which lets the gate go for the wait. Outside a session both are no-ops,
    so sources used on their own (tests, the CLI) are unaffected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()

    def _held(self) -> bool:
        return getattr(self._local, "held", False)

    def session(self) -> _Held:
        return _Held(self, hold=True)

    def io(self) -> _Held:
        return _Held(self, hold=False)


class _Held:
    """Context manager that sets whether the calling thread holds the gate, restoring on exit."""

    def __init__(self, gate: PollGate, hold: bool):
        self.gate, self.hold, self.was = gate, hold, False

    def _set(self, hold: bool) -> None:
        if hold and not self.gate._held():
            self.gate._lock.acquire()
            self.gate._local.held = True
        elif not hold and self.gate._held():
            self.gate._local.held = False
            self.gate._lock.release()

    def __enter__(self) -> None:
        self.was = self.gate._held()
        if self.hold or self.was:     # io() outside a session stays a no-op
            self._set(self.hold)

    def __exit__(self, *exc: object) -> None:
        self._set(self.was)


#: The gate every poller and source of this process shares.
POLL_GATE = PollGate()


class CallStats:
    """Thread-safe counters of calls and errors, by command: the exporter's own evidence of how
    hard it leans on slurmctld."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.errors: Counter[tuple[str, str]] = Counter()     # (command, reason)
        self.skipped: Counter[str] = Counter()    # collector -> malformed records skipped

    def call(self, command: str) -> None:
        with self._lock:
            self.calls[command] += 1

    def error(self, command: str, reason: str) -> None:
        with self._lock:
            self.errors[(command, reason)] += 1

    def skip(self, collector: str, n: int) -> None:
        if n:
            with self._lock:
                self.skipped[collector] += n

    def snapshot(self) -> tuple[dict[str, int], dict[tuple[str, str], int], dict[str, int]]:
        with self._lock:
            return dict(self.calls), dict(self.errors), dict(self.skipped)


def checked_parse(stats: CallStats, collector: str, command: str, parse: Callable[..., T], payload: Any,
                  had_input: bool) -> T:
    """Run a parser that collects per-record problems in ``errors``. Skipped records are counted;
    input that yields nothing but errors (garbage, truncation) is a parse failure of the call."""
    errors: list[str] = []
    try:
        result = parse(payload, errors=errors)
    except ValueError as exc:   # the input is not what the parser reads (jsonread.JsonError, ...)
        stats.error(command, "parse")
        raise SourceError(command, "parse", str(exc)[:300]) from None
    except Exception as exc:  # a parser bug must read as a parse failure, not a crash
        stats.error(command, "parse")
        raise SourceError(command, "parse", f"{type(exc).__name__}: {str(exc)[:300]}") from None
    if isinstance(result, list):
        empty = not result
    elif dataclasses.is_dataclass(result):   # one object (sdiag): empty when it learnt nothing at all
        empty = all(getattr(result, f.name) in (None, [], ()) for f in dataclasses.fields(result))
    else:
        empty = result is None
    if empty and had_input and errors:
        stats.error(command, "parse")
        raise SourceError(command, "parse", errors[0][:300])
    stats.skip(collector, len(errors))
    return result
