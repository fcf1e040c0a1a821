"""Parallel fleet phases (fleet.each(..., parallel=True), `--fanout`): real processes on local
inventory hosts. Concurrency is proven with a barrier, not a clock: every host's command waits
until all hosts have arrived, which only succeeds when they really run at once, and must fail
when the fanout is narrower than the barrier."""
from __future__ import annotations

import io
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from test_runbook_engine import FAKE_EVIDENCE, FakeServices

from slurmops.runbook import Cmd, Runbook, RunbookError, Step, engine
from slurmops.runbook.audit import read_records
from slurmops.runbook.fleet import each
from slurmops.runbook.inventory import parse
from slurmops.runbook.target import Target
from slurmops.runbook.transport import LocalTransport

HOSTS = ["n1", "n2", "n3", "n4"]
INV = "\n".join(f'[hosts.{h}]\nconnection = "local"\ngroups = ["compute"]\n' for h in HOSTS)
# Arrive, then wait (at most 4 s) until every host has arrived; exit 1 if they never do.
BARRIER = (sys.executable, "-c",
           "import glob, sys, time\n"
           "end = time.monotonic() + 4\n"
           "while len(glob.glob(sys.argv[1])) < int(sys.argv[2]):\n"
           "    if time.monotonic() > end: sys.exit(1)\n"
           "    time.sleep(0.02)\n",
           "{dir}/arrived-*", str(len(HOSTS)))


def make(tmp_path: Path, steps: list[Step], fanout: int):
    target = Target(kind="lab", label=f"test:{tmp_path}", values={"dir": str(tmp_path)},
                    env={}, transport=LocalTransport(), services=FakeServices(),
                    spec={"target": "test"}, inventory=parse(INV, "test"))
    rb = Runbook(name="t", title="T", purpose="p", when="w", steps=steps)
    out = io.StringIO()
    ctx = engine.build_context(rb, target, {}, out=out)
    ctx.assume_yes, ctx.evidence, ctx.fanout = True, FAKE_EVIDENCE, fanout
    return engine.Runner(ctx, tmp_path / "state"), ctx, out


def barrier_step() -> Step:
    return Step("everyone at once",
                action=each("all", Cmd(("touch", "{dir}/arrived-{host}")), Cmd(BARRIER, why="barrier"),
                            parallel=True),
                rollback=each("all", Cmd(("rm", "-f", "{dir}/arrived-{host}")), parallel=True))


def test_hosts_of_a_parallel_phase_run_at_once(tmp_path):
    runner, ctx, out = make(tmp_path, [barrier_step()], fanout=4)
    report = runner.run()
    assert report.status == "succeeded", out.getvalue()
    recs = list(read_records(runner.audit_path))
    cmds = [r for r in recs if r["event"] == "cmd" and r.get("step") == 1]
    assert sorted(r["host"] for r in cmds) == sorted(HOSTS * 2)
    # several threads wrote the log: every line whole, every seq once, in file order
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))


def test_fanout_narrower_than_the_fleet_is_respected(tmp_path):
    """Two at a time: the first two wait for four that cannot arrive, the barrier fails, and
    the rollback removes what the started hosts did."""
    runner, ctx, out = make(tmp_path, [barrier_step()], fanout=2)
    report = runner.run()
    assert report.status == "rolled-back", out.getvalue()
    assert "barrier" in report.steps[0].detail
    assert not list(tmp_path.glob("arrived-*"))


def test_fanout_one_is_one_host_after_another(tmp_path):
    runner, ctx, out = make(tmp_path, [barrier_step()], fanout=1)
    assert runner.run().status == "rolled-back"
    started = {r["host"] for r in read_records(runner.audit_path)
               if r["event"] == "cmd" and r.get("phase") == "action"}
    assert started == {"n1"}          # the first host failed: no other host started


def test_the_failure_named_is_the_first_host_in_inventory_order(tmp_path):
    (tmp_path / "bad-n2").touch()
    (tmp_path / "bad-n4").touch()
    step = Step("refuse on bad hosts",
                action=each("all", Cmd(("test", "!", "-e", "{dir}/bad-{host}"), why="host is good"),
                            parallel=True))
    runner, ctx, out = make(tmp_path, [step], fanout=4)
    report = runner.run()
    assert report.status != "succeeded"
    assert report.steps[0].detail.startswith("[n2] host is good"), report.steps[0].detail


def test_plan_says_which_ops_run_in_parallel(tmp_path):
    runner, ctx, out = make(tmp_path, [barrier_step()], fanout=8)
    assert engine.plan(ctx)
    text = out.getvalue()
    assert "(in parallel: 4 hosts, up to 8 at once" in text
    assert text.count("[n3] $ touch") == 1


def test_the_failure_named_is_the_serial_runs_even_when_a_later_host_fails_first(tmp_path):
    """n1 fails after a slow first op, n2 fails at once: n1 is not stopped by n2's failure, so
    the run names n1's failure, as fanout 1 (n1 first, n2 never started) does."""
    (tmp_path / "bad-n1").touch()
    (tmp_path / "bad-n2").touch()
    slow_n1 = Cmd(("sh", "-c", 'if [ "$1" = n1 ]; then sleep 0.6; fi', "sh", "{host}"), why="warm up")
    good = Cmd(("test", "!", "-e", "{dir}/bad-{host}"), why="host is good")
    for fanout in (1, 4):
        step = Step("refuse on bad hosts", action=each("all", slow_n1, good, parallel=True))
        runner, ctx, out = make(tmp_path, [step], fanout=fanout)
        report = runner.run()
        assert report.steps[0].detail.startswith("[n1] host is good"), (fanout, report.steps[0].detail)


def test_a_failure_ends_the_retrying_of_later_hosts(tmp_path):
    """n1 fails at once; n2's command would retry for 60 s: it stops at the failure (the
    audit log shows n2 tried, and the run ended long before the retry window)."""
    bad_n1 = Cmd(("sh", "-c", 'sleep 0.5; test "$1" != n1', "sh", "{host}"), why="not n1")
    retrying = Cmd(("sh", "-c", 'touch "$2/tried-$1"; test "$1" != n2', "sh", "{host}", "{dir}"),
                   why="n2 never passes", retry_s=60)
    step = Step("one fails, one retries", action=each("all", lambda ctx, h: [
        replace(retrying if h.name == "n2" else bad_n1, host=h.name)], parallel=True))
    runner, ctx, out = make(tmp_path, [step], fanout=4)
    report = runner.run()
    assert report.steps[0].detail.startswith("[n1] not n1"), report.steps[0].detail
    assert (tmp_path / "tried-n2").exists()
    tries = [r for r in read_records(runner.audit_path) if r["event"] == "cmd" and r.get("host") == "n2"]
    assert 1 <= len(tries) < 30, len(tries)      # 60 s of retries would be about 60


def test_a_parallel_phase_cannot_capture_into_the_runs_memory(tmp_path):
    step = Step("capture", action=each("all", Cmd(("hostname",), capture="name"), parallel=True))
    runner, ctx, out = make(tmp_path, [step], fanout=4)
    with pytest.raises(RunbookError, match=r"cannot capture output \('name'\)"):
        runner.run()
    assert not [r for r in read_records(runner.audit_path) if r["event"] == "cmd"]
