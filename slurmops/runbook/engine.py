"""Plan, run, roll back and resume a runbook; audit every command; show progress.

Flow of `run`: parameters are checked -> real state is read (the runbook's `derive`) -> the run
takes its lock -> evidence *before* (scontrol ping, sdiag, scontrol show config, sinfo) -> each step:
pre-check, confirmation if destructive, action, verification -> on any failure the failed step
(if it changed anything) and every completed step are rolled back in reverse order -> evidence
*after* with a diff of `scontrol show config` -> summary. Every command, check and decision is an
fsync'd line in the run's audit log, which is all `resume` needs after a kill -9.
"""
from __future__ import annotations

import difflib
import os
import re
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait as wait_all
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO

from .audit import AuditLog, LockBusy, RunLock, digest, new_run_id, read_records, who
from .model import Check, Cmd, Op, Runbook, RunbookError, Service, Step
from .target import Target
from .transport import Outcome

EVIDENCE = {
    "ping": ["scontrol", "ping"],
    "sdiag": ["sdiag"],
    "config": ["scontrol", "show", "config"],
    "sinfo": ["sinfo"],
}
# Lines of `scontrol show config` that change on every call and would drown the real diff.
_CONFIG_NOISE = re.compile(r"^(Configuration data as of|BOOT_TIME\s*=|NEXT_JOB_ID\s*=)")
TAIL = 400

# Hosts a parallel fleet phase (fleet.each(..., parallel=True)) acts on at once, `--fanout`:
# pdsh's default width (32). 1 acts on one host after another.
DEFAULT_FANOUT = 32

# Exit codes of `run` and `resume`, documented in docs/runbooks.md.
EXIT_OK, EXIT_ROLLED_BACK, EXIT_USAGE, EXIT_ROLLBACK_FAILED, EXIT_REFUSED, EXIT_LOCKED = 0, 1, 2, 3, 4, 5


class Refused(Exception):
    """The run did not start: a destructive runbook without --yes and without a terminal."""


class Interrupted(BaseException):
    """SIGTERM/SIGINT during a run: roll back, then stop."""


@dataclass
class Context:
    runbook: Runbook
    target: Target
    params: dict[str, Any]
    values: dict[str, str]
    run_id: str = ""
    run_dir: Path | None = None
    audit: AuditLog | None = None
    out: TextIO = sys.stdout
    assume_yes: bool = False
    confirm: Callable[[str], bool] | None = None
    memory: dict[str, Any] = field(default_factory=dict)   # in-process only (old JWT), never logged
    secrets: list[str] = field(default_factory=list)
    deadline: float | None = None
    phase: str = ""
    step_index: int | None = None
    resumed: bool = False
    force_unhealthy: tuple[str, ...] = ()   # health checks the operator chose to go past
    fanout: int = DEFAULT_FANOUT            # hosts a parallel fleet phase acts on at once
    evidence: dict[str, list[str]] = field(default_factory=lambda: dict(EVIDENCE))

    @property
    def p(self) -> SimpleNamespace:
        return SimpleNamespace(**self.params)

    @property
    def services(self):
        return self.target.services

    def secret(self, value: str) -> str:
        """Register a value (a token) that must never reach the audit log or the terminal."""
        if value and value not in self.secrets:
            self.secrets.append(value)
        return value

    def redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "<redacted>")
        return text

    def say(self, msg: str) -> None:
        print(self.redact(msg), file=self.out, flush=True)

    def host_values(self, host: str) -> dict[str, str]:
        """Placeholder values on an inventory host: the target's, overridden by the host's vars."""
        from .fleet import host_values
        return host_values(self, host)

    def run(self, argv: list[str], *, timeout: float = 60, input: str | None = None,
            secret_output: bool = False, why: str = "", host: str = "") -> Outcome:
        """Run one command through the target's transport (or, with ``host``, that inventory
        host's: fleet.py) and audit it: argv (redacted), exit code, duration, sha256 of the
        output and, unless the output is secret, its tail."""
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                out = Outcome(list(argv), 124, "", "step timeout reached before this command", 0, True)
                self._audit_cmd(out, secret_output, why, host)
                return out
            timeout = min(timeout, left)
        transport = self.target.transport
        if host:
            from .fleet import transport_of
            transport = transport_of(self, host)
        try:
            out = transport.run(argv, env=self.target.env, timeout=timeout, input=input)
        except BaseException as exc:    # an interrupt: the command ended first, and is audited
            if isinstance(getattr(exc, "outcome", None), Outcome):
                self._audit_cmd(exc.outcome, secret_output, why, host)  # type: ignore[attr-defined]
            raise
        self._audit_cmd(out, secret_output, why, host)
        return out

    def _audit_cmd(self, out: Outcome, secret_output: bool, why: str, host: str = "") -> None:
        if not self.audit:
            return
        rec: dict[str, Any] = {
            "step": self.step_index, "phase": self.phase,
            "argv": [self.redact(a) for a in out.argv], "rc": out.rc,
            "duration_s": round(out.duration_s, 3),
            "output_sha256": digest(out.stdout, out.stderr),
        }
        if why:
            rec["why"] = why
        if host:
            rec["host"] = host
        if out.timed_out:
            rec["timed_out"] = True
        if not secret_output:
            rec["tail"] = self.redact((out.stdout + out.stderr)[-TAIL:])
        self.audit.write("cmd", **rec)


# ---- building a context ------------------------------------------------------------------------
def build_context(runbook: Runbook, target: Target, raw_params: dict[str, Any], *,
                  out: TextIO = sys.stdout, values: dict[str, str] | None = None,
                  run_id: str | None = None) -> Context:
    """Typed params, then the values every placeholder can use: target paths, parameters, run id,
    and what the runbook derives from real state (skipped when ``values`` come from a log)."""
    params = runbook.parse_params(raw_params)
    run_id = run_id or new_run_id(runbook.name)
    ctx = Context(runbook, target, params, {}, run_id=run_id, out=out)
    if values is not None:
        ctx.values = dict(values)
        return ctx
    vals = dict(target.values)
    for p in runbook.params:
        vals[p.name] = p.text(params[p.name])
    vals["run_id"] = run_id
    vals["ts"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    ctx.values = vals
    if runbook.derive:
        derived = runbook.derive(ctx)
        ctx.values.update({k: str(v) for k, v in derived.items()})
    return ctx


# ---- running one operation -----------------------------------------------------------------------
def _matches(op: Cmd, out: Outcome) -> tuple[bool, str]:
    text = out.stdout + out.stderr
    if out.rc not in op.ok_rc:
        last = [ln for ln in text.strip().splitlines() if ln.strip()]
        return False, f"exit {out.rc}" + (f": {last[-1].strip()}" if last and not op.secret_output else "")
    if op.expect and not re.search(op.expect, text, re.M):
        return False, f"output does not match /{op.expect}/"
    if op.reject and re.search(op.reject, text, re.M):
        return False, f"output matches /{op.reject}/"
    first = text.strip().splitlines()[0].strip() if text.strip() and not op.secret_output else ""
    return True, first[:160] or f"exit {out.rc}"


def run_op(ctx: Context, op: Op, halted: Callable[[], bool] | None = None) -> tuple[bool, str]:
    """Run one op, retrying it for its retry_s; ``halted`` (a parallel phase told to stop: another
    host failed, or an interrupt) ends the retrying at once with the last failure."""
    retry = getattr(op, "retry_s", 0)
    until = time.monotonic() + retry
    while True:
        try:
            if isinstance(op, Check):
                ok, detail = op.fn(ctx)
                if ctx.audit:
                    ctx.audit.write("check", step=ctx.step_index, phase=ctx.phase, name=op.name,
                                    ok=bool(ok), detail=ctx.redact(str(detail))[:500])
            else:
                argv = op.render(ctx)
                timeout = op.timeout_s
                out = ctx.run(argv, timeout=timeout, secret_output=getattr(op, "secret_output", False),
                              why=op.why, host=op.host)
                if isinstance(op, Service):
                    ok, detail = out.rc == 0, _last(out) if out.rc == 0 else f"exit {out.rc}: {_last(out)}"
                else:
                    ok, detail = _matches(op, out)
                    if ok and op.capture:
                        ctx.memory[op.capture] = out.stdout
        except RunbookError as exc:
            ok, detail = False, str(exc)
        except Exception as exc:   # a check's own bug must fail the step, not skip the rollback
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        timed_out = ctx.deadline is not None and time.monotonic() >= ctx.deadline
        if ok or time.monotonic() >= until or timed_out or (halted and halted()):
            if not ok and isinstance(op, Check):
                return _graded(ctx, op, ctx.redact(str(detail)))
            return bool(ok), ctx.redact(str(detail))
        _pause(1, halted)


def _pause(seconds: float, halted: Callable[[], bool] | None) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (halted and halted()):
        time.sleep(min(0.1, max(end - time.monotonic(), 0)))


def _graded(ctx: Context, op: Check, detail: str) -> tuple[bool, str]:
    """A failed check that is only a warning, or that the operator forced past
    (--force-unhealthy), lets the step go on; either way the audit log says so."""
    forced = bool(op.health) and op.health in ctx.force_unhealthy
    if op.grade == "required" and not forced:
        return False, detail
    kind = "warn" if op.grade == "warn" else "forced"
    if ctx.audit:
        ctx.audit.write("health_override", step=ctx.step_index, phase=ctx.phase, name=op.name,
                        check=op.health, override=kind, detail=detail[:500])
    if kind == "warn":
        return True, f"WARN (not required here): {detail}"
    return True, f"FORCED (--force-unhealthy {op.health}): {detail}"


def _last(out: Outcome) -> str:
    lines = [ln.strip() for ln in (out.stdout + "\n" + out.stderr).splitlines() if ln.strip()]
    return lines[-1][:160] if lines else f"exit {out.rc}"


Done = Callable[[Op, bool, str, float], None]     # (op, ok, detail, seconds) after each op


def run_ops(ctx: Context, ops: list[Op], done: Done, *, stop_on_fail: bool = True) -> tuple[Op, str] | None:
    """Run ``ops`` in order and call ``done`` after each; return the first failure ``(op, detail)``
    or None. The ops of one parallel fleet phase (consecutive, one ``Fan.group``) run host by host
    at once, up to ``ctx.fanout`` hosts, each host's ops in order. With ``stop_on_fail`` (a step)
    a failure starts nothing more on that host and on the hosts after it, while hosts before it
    run on, so the failure returned is the one a serial run (fanout 1) returns: the earliest
    host's. Without it (a rollback) every op runs."""
    failure = None
    for batch in _batches(ops):
        lanes: dict[str, list[Op]] = {}
        for op in batch:
            lanes.setdefault(op.fan.lane if op.fan else "", []).append(op)
        if len(lanes) > 1 and ctx.fanout > 1:
            failed = _fan_out(ctx, list(lanes.values()), done, stop_on_fail)
        else:
            failed = _lane(ctx, batch, done, stop_on_fail)
        failure = failure or failed
        if failure and stop_on_fail:
            break
    return failure


def _batches(ops: list[Op]) -> list[list[Op]]:
    out: list[list[Op]] = []
    for op in ops:
        prev = out[-1][0].fan if out else None
        if op.fan is not None and prev is not None and prev.group == op.fan.group:
            out[-1].append(op)
        else:
            out.append([op])
    return out


class _Cutoff:
    """The lanes of a parallel phase that must start nothing more: those after the earliest
    failed lane (the ones before it run on), or every lane after an interrupt."""
    ALL = -1

    def __init__(self) -> None:
        self._first: int | None = None
        self._lock = threading.Lock()

    def fail(self, lane: int) -> None:
        with self._lock:
            if self._first is None or lane < self._first:
                self._first = lane

    def stops(self, lane: int) -> bool:
        first = self._first
        return first is not None and first < lane


def _lane(ctx: Context, ops: list[Op], done: Done, stop_on_fail: bool,
          cut: _Cutoff | None = None, index: int = 0) -> tuple[Op, str] | None:
    halted = (lambda: cut.stops(index)) if cut is not None else None
    failure = None
    try:
        for op in ops:
            if halted and halted():
                break                   # an earlier host failed (or an interrupt): start nothing more
            t = time.monotonic()
            ok, detail = run_op(ctx, op, halted)
            done(op, ok, detail, time.monotonic() - t)
            if not ok:
                failure = failure or (op, detail)
                if stop_on_fail:
                    if cut is not None:
                        cut.fail(index)
                    break
    except BaseException:
        if cut is not None:             # not a step failure (a bug, a broken pipe): stop every host
            cut.fail(_Cutoff.ALL)
        raise
    return failure


def _fan_out(ctx: Context, lanes: list[list[Op]], done: Done, stop_on_fail: bool) -> tuple[Op, str] | None:
    cut, lock = _Cutoff(), threading.Lock()

    def locked_done(op: Op, ok: bool, detail: str, took: float) -> None:
        with lock:
            done(op, ok, detail, took)

    futures = []
    pool = ThreadPoolExecutor(max_workers=min(ctx.fanout, len(lanes)), thread_name_prefix="fanout")
    try:
        for i, ops in enumerate(lanes):
            futures.append(pool.submit(_lane, ctx, ops, locked_done, stop_on_fail, cut, i))
        wait_all(futures)
    except BaseException:
        # Ctrl-C or SIGTERM: start nothing more and let the commands in flight end (each within
        # its timeout), so no host is left mid-command when the rollback begins.
        cut.fail(_Cutoff.ALL)
        with _signals_ignored():
            wait_all(futures)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    failures = [f.result() for f in futures if f.result()]
    return failures[0] if failures else None


PLAN_WORDS = {"expect": "expect /{}/", "reject": "reject /{}/", "ok_rc": "ok exit {}", "retry": "retry {} s"}


def op_text(ctx: Context | None, op: Op) -> str:
    """How an op appears in a plan: the exact argv (shell-quoted for reading, never executed as
    a string) or a check's name."""
    if isinstance(op, Check):
        return f"check: {op.name}" + (f" (retry {op.retry_s:.0f} s)" if op.retry_s else "")
    argv = op.render(ctx) if ctx is not None else list(getattr(op, "argv", [])) or [op.describe()]
    text = (f"[{op.host}] " if op.host else "") + "$ " + shlex.join(argv)
    extra = op.conditions(PLAN_WORDS) if isinstance(op, Cmd) else []
    return text + (f"   [{'; '.join(extra)}]" if extra else "")


# ---- evidence ------------------------------------------------------------------------------------
def collect_evidence(ctx: Context, label: str) -> None:
    """scontrol ping, sdiag, scontrol show config, sinfo into <run>/evidence/<label>-*.txt; after a
    run the config diff goes to the audit log too. A failing evidence command is recorded, never
    fatal: evidence of a broken cluster is the most useful kind."""
    assert ctx.run_dir is not None
    edir = ctx.run_dir / "evidence"
    edir.mkdir(parents=True, exist_ok=True, mode=0o700)
    saved_phase, saved_step, saved_deadline = ctx.phase, ctx.step_index, ctx.deadline
    ctx.phase, ctx.step_index, ctx.deadline = f"evidence-{label}", None, None
    try:
        for name, argv in ctx.evidence.items():
            out = ctx.target.transport.run(argv, env=ctx.target.env, timeout=30)
            text = ctx.redact(out.stdout + (f"\n[stderr]\n{out.stderr}" if out.stderr.strip() else ""))
            path = edir / f"{label}-{name}.txt"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            if ctx.audit:
                ctx.audit.write("evidence", label=label, name=name, argv=argv, rc=out.rc,
                                sha256=digest(text), path=str(path))
        if label == "after" and (edir / "before-config.txt").exists():
            diff = config_diff((edir / "before-config.txt").read_text(),
                               (edir / "after-config.txt").read_text())
            (edir / "config.diff").write_text(diff)
            if ctx.audit:
                ctx.audit.write("config_diff", changed=bool(diff), diff=diff[:4000],
                                path=str(edir / "config.diff"))
    finally:
        ctx.phase, ctx.step_index, ctx.deadline = saved_phase, saved_step, saved_deadline


def config_diff(before: str, after: str) -> str:
    def keep(text: str) -> list[str]:
        return [ln for ln in text.splitlines(keepends=True) if not _CONFIG_NOISE.match(ln)]
    return "".join(difflib.unified_diff(keep(before), keep(after), "before", "after", n=0))


# ---- plan ----------------------------------------------------------------------------------------
def plan(ctx: Context) -> bool:
    """Dry run: read real state (derive, the read-only pre-checks) and print exactly what would
    run. Writes nothing and submits no job (a check that would, like the test job, is listed, not
    run). False when a required pre-check fails: the run would stop there."""
    rb, say = ctx.runbook, ctx.say
    say(f"plan: {rb.name} on {ctx.target.label} via {ctx.target.transport.name} "
        f"({ctx.target.services.kind} services)")
    if rb.params:
        say("parameters:")
        for p in rb.params:
            say(f"  {p.name} = {p.text(ctx.params[p.name])!r}")
    if ctx.force_unhealthy:
        say("forced past (--force-unhealthy): " + ", ".join(ctx.force_unhealthy))
    say("evidence before and after: " + "; ".join(shlex.join(a) for a in EVIDENCE.values()))
    n = len(rb.steps)
    failed: list[str] = []
    for i, step in enumerate(rb.steps, 1):
        ctx.step_index = i
        say(f"[{i}/{n}] {step.title}" + ("   (destructive: needs confirmation or --yes)"
                                          if step.destructive else "") + f"   {timeout_text(step)}")
        ctx.deadline = time.monotonic() + step.timeout_s
        ctx.phase = "check"
        for op in step.ops("check", ctx):
            say(f"    pre-check  {op_text(ctx, op)}")
            if isinstance(op, Check) and not op.plan_safe:
                say("               now: not run by plan (it acts: " + (op.why or op.name) + ")")
                continue
            # Pre-checks are read-only by contract, so the plan runs them for real, once.
            ok, detail = run_op(ctx, replace(op, retry_s=0) if isinstance(op, (Check, Cmd)) else op)
            say(f"               now: {'ok' if ok else 'FAIL'} - {detail}")
            if not ok:
                failed.append(f"[{i}] {_short(op)}")
        for phase in ("action", "verify", "rollback"):
            for batch in _batches(step.ops(phase, ctx)):
                hosts = {op.fan.lane for op in batch if op.fan}
                if len(hosts) > 1:
                    say(f"    {phase:10} (in parallel: {len(hosts)} hosts, up to {ctx.fanout} at once, "
                        "each host's commands in order)")
                for op in batch:
                    say(f"    {phase:10} {op_text(ctx, op)}")
    ctx.deadline = None
    if failed:
        say("plan: a required pre-check fails now, a run would stop there: " + "; ".join(failed))
    return not failed


def timeout_text(step: Step) -> str:
    return "no time limit" if step.timeout_s == float("inf") else f"timeout {step.timeout_s:.0f} s"


# ---- run -----------------------------------------------------------------------------------------
@dataclass
class StepResult:
    index: int
    title: str
    result: str = "pending"
    duration_s: float = 0
    detail: str = ""
    rollback: str = ""


@dataclass
class RunReport:
    run_id: str
    status: str
    exit_code: int
    audit_path: Path
    steps: list[StepResult]
    elapsed_s: float


class Runner:
    """Owns one run (or one resume) of one runbook on one target."""

    def __init__(self, ctx: Context, state_dir: Path):
        self.ctx = ctx
        self.state_dir = state_dir
        self.t0 = time.monotonic()
        self.results = [StepResult(i, s.title) for i, s in enumerate(ctx.runbook.steps, 1)]

    # -- paths
    @staticmethod
    def run_dir_for(state_dir: Path, run_id: str) -> Path:
        return state_dir / "runs" / run_id

    def lock(self) -> RunLock:
        rb, t = self.ctx.runbook, self.ctx.target
        return RunLock(self.state_dir / "locks" / f"{rb.name}@{t.slug}.lock")

    def _acquire(self) -> RunLock:
        """One run at a time per runbook and target; a busy lock names both."""
        lock = self.lock()
        try:
            lock.acquire(self.ctx.run_id)
        except LockBusy as exc:
            raise LockBusy(f"{self.ctx.runbook.name} on {self.ctx.target.label}: {exc}") from None
        return lock

    # -- entry points
    def run(self) -> RunReport:
        ctx, rb = self.ctx, self.ctx.runbook
        gate(rb, ctx.assume_yes)
        lock = self._acquire()
        try:
            self._open_audit()
            self.log.write("run_start", runbook=rb.name, runbook_path=rb.path, who=who(),
                            target=ctx.target.spec, target_label=ctx.target.label,
                            transport=ctx.target.transport.name, services=ctx.target.services.kind,
                            params={k: (None if v is None else ctx.runbook.param(k).text(v))
                                    for k, v in ctx.params.items()},
                            values=ctx.values, steps=[s.title for s in rb.steps],
                            assume_yes=ctx.assume_yes, force_unhealthy=list(ctx.force_unhealthy),
                            fanout=ctx.fanout)
            ctx.say(f"run {ctx.run_id}: {rb.name} on {ctx.target.label}  (audit: {self.log.path})")
            collect_evidence(ctx, "before")
            return self._forward(start=0, done=[])
        finally:
            lock.release()

    def resume(self, mode: str) -> RunReport:
        """Finish (default) or roll back an interrupted run, from what its audit log says."""
        ctx, rb = self.ctx, self.ctx.runbook
        state = run_state(self.audit_path)
        if state.finished:
            raise RunbookError(f"run {ctx.run_id} already ended ({state.status}); nothing to resume")
        if mode not in ("finish", "rollback"):
            raise RunbookError(f"resume mode {mode!r}: finish or rollback")
        if mode == "finish":
            gate(rb, ctx.assume_yes)
        lock = self._acquire()
        try:
            self._open_audit()
            ctx.resumed = True
            for i in state.done:
                self.results[i - 1].result = "ok (before resume)"
            pending = state.pending_rollback
            effective = "rollback" if pending is not None else mode
            self.log.write("resume", who=who(), mode=mode, effective=effective,
                            force_unhealthy=list(ctx.force_unhealthy), fanout=ctx.fanout,
                            done=state.done, in_progress=state.in_progress,
                            pending_rollback=pending)
            ctx.say(f"resume {ctx.run_id}: {effective}; done before: {state.done or 'none'}; "
                    f"interrupted in: {state.in_progress or '-'}")
            if not (self.run_dir / "evidence" / "before-config.txt").exists():
                collect_evidence(ctx, "before")
            if pending is not None:
                return self._finish_rollback(pending, "failed", state.rolled_back)
            if mode == "rollback":
                todo = ([state.in_progress] if state.in_progress else []) + list(reversed(state.done))
                return self._finish_rollback(todo, "rolled-back-on-resume", [])
            start = state.in_progress or (max(state.done) + 1 if state.done else 1)
            return self._forward(start=start - 1, done=list(state.done))
        finally:
            lock.release()

    # -- internals
    @property
    def run_dir(self) -> Path:
        return self.run_dir_for(self.state_dir, self.ctx.run_id)

    @property
    def audit_path(self) -> Path:
        return self.run_dir / "audit.jsonl"

    @property
    def log(self) -> AuditLog:
        """The run's audit log (open from the start of run or resume on)."""
        if self.ctx.audit is None:
            raise RuntimeError("the run's audit log is not open yet")
        return self.ctx.audit

    def _open_audit(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.ctx.run_dir = self.run_dir
        self.ctx.audit = AuditLog(self.audit_path, self.ctx.run_id)

    def _forward(self, start: int, done: list[int]) -> RunReport:
        ctx, rb = self.ctx, self.ctx.runbook
        n = len(rb.steps)
        failed: int | None = None
        touched = False
        status = "succeeded"
        with _signals_interrupt():
            try:
                for idx in range(start, n):
                    i = idx + 1
                    ok, touched, why_failed = self._step(i, rb.steps[idx])
                    if not ok:
                        failed = i
                        status = "aborted" if why_failed == "declined" else "failed"
                        break
                    done.append(i)
            except Interrupted:
                failed = ctx.step_index if ctx.step_index is not None else start   # before any step began
                touched = True
                status = "interrupted"
                self.log.write("interrupted", step=failed)
                if 0 < failed <= len(self.results):
                    self.results[failed - 1].result = "INTERRUPTED"
                ctx.say("  interrupted: rolling back")
        if failed is None:
            return self._end(status)
        todo = ([failed] if touched else []) + list(reversed(done))
        return self._finish_rollback(todo, status, [])

    def _step(self, i: int, step: Step) -> tuple[bool, bool, str]:
        """(ok, changed_something, reason). Pre-check failure changes nothing; an action or
        verification failure may have, so that step is rolled back too."""
        ctx, n = self.ctx, len(self.ctx.runbook.steps)
        res = self.results[i - 1]
        t = time.monotonic()
        ctx.step_index = i
        ctx.deadline = t + step.timeout_s
        self.log.write("step_start", step=i, title=step.title, destructive=step.destructive,
                        timeout_s=step.timeout_s if step.timeout_s != float("inf") else None)
        ctx.say(f"[{i}/{n}] {step.title}   (elapsed {time.monotonic() - self.t0:.1f} s)")
        try:
            for phase in ("check", "action", "verify"):
                ctx.phase = phase
                if phase == "action" and step.destructive and not ctx.assume_yes:
                    if not (ctx.confirm or _tty_confirm)(f"step {i}/{n} {step.title}: {step.why}"):
                        self.log.write("step_failed", step=i, phase="confirm", detail="declined")
                        res.result, res.detail = "DECLINED", "operator said no"
                        ctx.say("    declined by the operator")
                        return False, False, "declined"
                    self.log.write("confirmed", step=i)
                def done(op: Op, ok: bool, detail: str, took: float, phase: str = phase) -> None:
                    ctx.say(f"    {'ok  ' if ok else 'FAIL'} {phase:7} {_short(op)}  {took:.1f} s  {detail}")

                failed = run_ops(ctx, step.ops(phase, ctx), done)
                if failed:
                    op, detail = failed
                    if ctx.deadline and time.monotonic() >= ctx.deadline:
                        detail = f"step timeout {step.timeout_s:.0f} s: {detail}"
                    self.log.write("step_failed", step=i, phase=phase, detail=detail)
                    res.result = f"FAILED {phase}"
                    res.detail = f"{_short(op)}: {detail}"
                    res.duration_s = time.monotonic() - t
                    return False, phase != "check", phase
        finally:
            ctx.deadline = None
        res.duration_s = time.monotonic() - t
        res.result = "ok"
        self.log.write("step_done", step=i, duration_s=round(res.duration_s, 3))
        return True, True, ""

    def _finish_rollback(self, todo: list[int], status: str, already: list[int]) -> RunReport:
        ctx, rb = self.ctx, self.ctx.runbook
        todo = [i for i in todo if i not in already]
        self.log.write("rollback_start", steps=todo, cause=status)
        ctx.say(f"rolling back steps {', '.join(map(str, todo)) or '(none)'} in reverse order")
        all_ok = True
        changed = False
        # A second Ctrl-C must not leave a half rollback: finish it (kill -9 is what resume is for).
        with _signals_ignored():
            for i in todo:
                step = rb.steps[i - 1]
                ctx.step_index, ctx.phase = i, "rollback"
                ctx.deadline = time.monotonic() + step.timeout_s
                self.log.write("rollback_step_start", step=i, title=step.title)
                ok_step = True
                t = time.monotonic()
                try:
                    ops = step.ops("rollback", ctx)
                except RunbookError as exc:
                    ops, ok_step = [], False
                    ctx.say(f"    FAIL rollback of {step.title}: {exc}")
                changed = changed or bool(ops)

                def done(op: Op, ok: bool, detail: str, took: float, i: int = i) -> None:
                    ctx.say(f"    {'ok  ' if ok else 'FAIL'} rollback [{i}] {_short(op)}  {detail}")

                ok_step = run_ops(ctx, ops, done, stop_on_fail=False) is None and ok_step
                self.log.write("rollback_step_done", step=i, ok=ok_step,
                                duration_s=round(time.monotonic() - t, 3))
                self.results[i - 1].rollback = ("ok" if ok_step else "FAILED") if ops else "-"
                all_ok = all_ok and ok_step
            ctx.deadline = None
        final = "rollback-failed" if not all_ok else (
            "aborted" if status == "aborted" else "rolled-back" if changed else "failed")
        return self._end(final)

    def _end(self, status: str) -> RunReport:
        ctx = self.ctx
        ctx.step_index, ctx.phase = None, ""
        collect_evidence(ctx, "after")
        code = {"succeeded": EXIT_OK, "rolled-back": EXIT_ROLLED_BACK, "aborted": EXIT_ROLLED_BACK,
                "failed": EXIT_ROLLED_BACK,
                "rollback-failed": EXIT_ROLLBACK_FAILED}.get(status, EXIT_ROLLED_BACK)
        elapsed = time.monotonic() - self.t0
        self.log.write("run_end", status=status, exit_code=code, elapsed_s=round(elapsed, 3))
        self.log.close()
        report = RunReport(ctx.run_id, status, code, self.audit_path, self.results, elapsed)
        print_summary(ctx, report)
        return report


def _short(op: Op) -> str:
    where = op.fan.lane if op.fan else getattr(op, "host", "")
    where = f"[{where}] " if where else ""
    if isinstance(op, Check):
        return where + op.name
    if isinstance(op, Service):
        return f"{where}{op.action} {op.component}"
    return where + (op.why or " ".join(op.argv[:3]))


def _tty_confirm(question: str) -> bool:
    import click
    if not sys.stdin or not sys.stdin.isatty():
        return False
    return click.confirm(question + "\nproceed?", default=False)


def gate(rb: Runbook, assume_yes: bool) -> None:
    """Refuse up front, before anything runs, when a destructive step could never be confirmed:
    automation without --yes must fail fast, not hang on a prompt nobody sees."""
    if assume_yes or not rb.destructive_steps:
        return
    if not sys.stdin or not sys.stdin.isatty():
        titles = ", ".join(s.title for s in rb.destructive_steps)
        raise Refused(f"{rb.name} has destructive steps ({titles}) and stdin is not a terminal: "
                      f"refusing; pass --yes to confirm them non-interactively")


class _signals_interrupt:
    """SIGTERM behaves like Ctrl-C: the run rolls back instead of dying half way."""

    def __enter__(self):
        def handler(signum, frame):
            raise Interrupted()
        self._old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        for s in self._old:
            signal.signal(s, handler)

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


class _signals_ignored(_signals_interrupt):
    def __enter__(self):
        self._old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        for s in self._old:
            signal.signal(s, signal.SIG_IGN)


def print_summary(ctx: Context, report: RunReport) -> None:
    say = ctx.say
    say("")
    say(f"{'#':>2}  {'step':40} {'result':18} {'time':>7}  {'rollback':9} detail")
    for r in report.steps:
        say(f"{r.index:>2}  {r.title[:40]:40} {r.result:18} {r.duration_s:6.1f}s  "
            f"{r.rollback or '-':9} {r.detail[:100]}")
    say(f"run {report.run_id}: {report.status.upper()} in {report.elapsed_s:.1f} s; "
        f"audit {report.audit_path}")


# ---- reading a run back --------------------------------------------------------------------------
@dataclass
class RunState:
    start: dict | None = None
    done: list[int] = field(default_factory=list)
    in_progress: int | None = None
    failed: int | None = None
    failed_touched: bool = False
    rolled_back: list[int] = field(default_factory=list)
    pending_rollback: list[int] | None = None
    finished: bool = False
    status: str = "interrupted"
    records: list[dict] = field(default_factory=list)


def run_state(path: Path) -> RunState:
    """What an audit log says about a run: which steps completed, which one was cut off, whether
    a rollback was under way. Later records win (a run may have been resumed before)."""
    st = RunState()
    for rec in read_records(path):
        st.records.append(rec)
        ev = rec.get("event")
        if ev == "run_start":
            st.start = rec
        elif ev == "resume":
            # a resume in finish mode clears "failed"; keep what finished
            st.failed, st.failed_touched = None, False
        elif ev == "step_start":
            st.in_progress = rec["step"]
        elif ev == "step_done":
            if rec["step"] not in st.done:
                st.done.append(rec["step"])
            st.in_progress = None
        elif ev == "step_failed":
            st.failed, st.failed_touched = rec["step"], rec.get("phase") not in ("check", "confirm")
            st.in_progress = None
        elif ev == "interrupted":
            st.failed, st.failed_touched, st.in_progress = rec.get("step"), True, None
        elif ev == "rollback_start":
            st.pending_rollback = list(rec.get("steps", []))
            st.rolled_back = []
        elif ev == "rollback_step_done":
            st.rolled_back.append(rec["step"])
        elif ev == "run_end":
            st.finished, st.status = True, rec.get("status", "?")
    if st.start is None:
        raise RunbookError(f"{path}: no run_start record; not a runbook audit log")
    if st.pending_rollback is None and st.failed is not None and not st.finished:
        # failed, killed before the rollback began: the rollback is still owed
        st.pending_rollback = ([st.failed] if st.failed_touched else []) + list(reversed(st.done))
    elif st.pending_rollback is not None:
        st.pending_rollback = [i for i in st.pending_rollback if i not in st.rolled_back]
    return st
