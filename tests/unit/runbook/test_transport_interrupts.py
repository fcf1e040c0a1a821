"""What a runbook command does when the runbook is interrupted (Ctrl-C, SIGTERM) or times out:
real processes, and the files they write as the truth of whether they ran to the end."""
from __future__ import annotations

import io
import os
import signal
import threading
import time

import pytest

from slurmops.runbook import Cmd, Runbook, Step, engine
from slurmops.runbook.audit import AuditLog, read_records
from slurmops.runbook.target import Target
from slurmops.runbook.transport import LocalTransport, _exec


class Stop(BaseException):
    """What the engine's signal handler raises (engine.Interrupted)."""


@pytest.fixture
def interrupts():
    """send(after_s): SIGUSR1 to this process after that long; its handler raises Stop, as the
    engine's SIGINT/SIGTERM handler raises Interrupted."""
    def handler(signum, frame):
        raise Stop()
    old = signal.signal(signal.SIGUSR1, handler)
    timers = []

    def send(after_s: float) -> None:
        t = threading.Timer(after_s, os.kill, (os.getpid(), signal.SIGUSR1))
        timers.append(t)
        t.start()
    yield send
    for t in timers:
        t.cancel()
    signal.signal(signal.SIGUSR1, old)


def test_an_interrupt_lets_the_command_in_flight_end_then_passes_on(tmp_path, interrupts):
    done = tmp_path / "done"
    interrupts(0.3)
    with pytest.raises(Stop):
        _exec(["sh", "-c", f"sleep 1; echo finished > {done}"], None, 10, None)
    assert done.read_text() == "finished\n"      # not cut half way


def test_a_second_interrupt_kills_the_command(tmp_path, interrupts):
    done = tmp_path / "done"
    interrupts(0.3)
    interrupts(0.6)
    t = time.monotonic()
    with pytest.raises(Stop):
        _exec(["sh", "-c", f"sleep 3; echo finished > {done}"], None, 10, None)
    assert time.monotonic() - t < 2.5
    time.sleep(3)
    assert not done.exists()                     # the shell and its sleep are gone


def test_the_command_is_in_a_session_of_its_own(tmp_path):
    """A terminal's Ctrl-C goes to the foreground process group: the command is not in it."""
    out = _exec(["sh", "-c", "ps -o sid= -p $$"], None, 10, None)
    assert out.rc == 0 and int(out.stdout) != os.getsid(0)


def test_a_timeout_kills_the_commands_children_too(tmp_path):
    """Killing only `sh` would leave its `sleep` holding the pipes: the call would last 5 s."""
    done = tmp_path / "done"
    t = time.monotonic()
    out = _exec(["sh", "-c", f"sleep 5; echo finished > {done}"], None, 0.5, None)
    assert out.rc == 124 and out.timed_out and time.monotonic() - t < 3
    time.sleep(5)
    assert not done.exists()


def test_the_command_that_ended_under_an_interrupt_reaches_the_audit_log(tmp_path, interrupts):
    """engine.Context.run audits the command the interrupt let finish (exit code, output digest)."""
    target = Target(kind="lab", label="t", values={}, env={}, transport=LocalTransport(), services=None,
                    spec={"target": "test"})
    rb = Runbook(name="t", title="T", purpose="p", when="w", steps=[Step("s", action=[Cmd(("true",))])])
    ctx = engine.build_context(rb, target, {}, out=io.StringIO())
    ctx.audit = AuditLog(tmp_path / "audit.jsonl", "run-1")
    interrupts(0.3)
    with pytest.raises(Stop):
        ctx.run(["sh", "-c", "sleep 1; echo finished"], why="slow one")
    recs = [r for r in read_records(tmp_path / "audit.jsonl") if r["event"] == "cmd"]
    assert len(recs) == 1 and recs[0]["rc"] == 0 and recs[0]["why"] == "slow one"
