"""Parallel fleet phases (fleet.each(..., parallel=True), `--fanout`): real processes on local
inventory hosts. Concurrency is proven with a barrier, not a clock: every host's command waits
until all hosts have arrived, which only succeeds when they really run at once, and must fail
when the fanout is narrower than the barrier."""
from __future__ import annotations

import io
import sys
from pathlib import Path

from test_runbook_engine import FAKE_EVIDENCE, FakeServices

from slurmops.runbook import Cmd, Runbook, Step, engine
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
