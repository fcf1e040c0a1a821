"""The poll gate: one poller thread at a time does CPU work; waits on Slurm do not hold it."""
from __future__ import annotations

import threading
import time

import pytest

from slurmops.exporter.poller import ClusterPoller
from slurmops.slurm.sources import PollGate


def test_sessions_exclude_each_other_but_io_waits_let_the_gate_go():
    gate = PollGate()
    inside = []
    in_io = threading.Event()
    leave_io = threading.Event()

    def waiter():
        with gate.session():
            inside.append("waiter")
            with gate.io():          # e.g. squeue running: another collector may parse now
                in_io.set()
                leave_io.wait(5)
            inside.append("waiter-after-io")

    t = threading.Thread(target=waiter)
    t.start()
    assert in_io.wait(5)
    with gate.session():            # does not wait for the other thread's I/O
        inside.append("parser")
    leave_io.set()
    t.join(5)
    assert inside == ["waiter", "parser", "waiter-after-io"]


def test_a_session_blocks_another_session_until_it_ends():
    gate = PollGate()
    order = []
    entered = threading.Event()
    release = threading.Event()

    def first():
        with gate.session():
            entered.set()
            release.wait(5)
            order.append("first")

    def second():
        with gate.session():
            order.append("second")

    a = threading.Thread(target=first)
    a.start()
    assert entered.wait(5)
    b = threading.Thread(target=second)
    b.start()
    time.sleep(0.1)
    assert order == []              # second is waiting for the gate
    release.set()
    a.join(5)
    b.join(5)
    assert order == ["first", "second"]


def test_io_outside_a_session_is_a_no_op_and_exceptions_restore_the_gate():
    gate = PollGate()
    with gate.io():
        assert not gate._held()
    with pytest.raises(RuntimeError):
        with gate.session():
            with gate.io():
                raise RuntimeError("command failed")
    # Released on the way out: another thread can take it at once.
    got = []
    t = threading.Thread(target=lambda: (gate.session().__enter__(), got.append(1)))
    t.start()
    t.join(2)
    assert got == [1]


class _SlowSource:
    """One collector's command hangs (inside gate.io, as the cli and rest sources wait); the
    other collector must still be polled meanwhile."""

    def __init__(self, gate_io):
        self.gate_io = gate_io
        self.release = threading.Event()

    def nodes(self):
        with self.gate_io():
            self.release.wait(5)
        return []

    def scheduler(self):
        return []


def test_a_hung_command_does_not_stop_other_collectors_from_polling():
    from slurmops.slurm.sources import POLL_GATE
    src = _SlowSource(POLL_GATE.io)
    p = ClusterPoller("c", src, {"nodes": lambda p, d: [], "scheduler": lambda p, d: []}, interval=60)
    t = threading.Thread(target=p.poll, args=("nodes",))
    t.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    p.poll("scheduler")
    assert time.monotonic() - t0 < 1.0
    assert p.states["scheduler"].success is True
    assert p.states["nodes"].success is None    # still waiting on its command
    src.release.set()
    t.join(5)
    assert p.states["nodes"].success is True


def test_one_malloc_arena_is_set_on_glibc():
    import platform

    from slurmops.exporter.poller import limit_malloc_arenas
    assert limit_malloc_arenas() is (platform.libc_ver()[0] == "glibc")
