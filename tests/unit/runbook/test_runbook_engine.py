"""The runbook engine without a lab: parameters, literal argv, rollback order, gate, lock,
timeouts, redaction, audit durability, resume, ssh argv, docs."""
from __future__ import annotations

import io
import shlex
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from slurmops.runbook import Check, Cmd, Param, Runbook, RunbookError, Service, Step, engine, loader
from slurmops.runbook.audit import LockBusy, RunLock, read_records
from slurmops.runbook.cli import runbook as runbook_cli, runbooks as runbooks_cli
from slurmops.runbook.render import render_page
from slurmops.runbook.target import LabServices, SystemdServices, Target, make_target
from slurmops.runbook.transport import LocalTransport, SshTransport

REPO = Path(__file__).resolve().parents[3]


# No Slurm here: evidence commands stand in with echo (a Slurm client without a config would try
# configless DNS lookups and hang).
FAKE_EVIDENCE = {"ping": ["echo", "Slurmctld(primary) is UP"], "sdiag": ["echo", "sdiag"],
                 "config": ["echo", "ClusterName = t"], "sinfo": ["echo", "PARTITION"]}


class FakeServices:
    kind = "fake"

    def argv(self, action, component):
        return ["true", action, component]


def target(tmp_path: Path) -> Target:
    return Target(kind="lab", label=f"test:{tmp_path}", values={"dir": str(tmp_path)},
                  env={"SLURM_CONF": str(tmp_path / "no-slurm.conf")},
                  transport=LocalTransport(), services=FakeServices(), spec={"target": "test"})


def touch_step(n: int, **kw) -> Step:
    return Step(f"step {n}", action=[Cmd(("touch", f"{{dir}}/done-{n}"))],
                verify=[Cmd(("test", "-f", f"{{dir}}/done-{n}"))],
                rollback=[Cmd(("rm", "-f", f"{{dir}}/done-{n}"))], **kw)


def make(tmp_path, steps, params=(), raw=None, yes=True):
    rb = Runbook(name="t", title="T", purpose="p", when="w", steps=steps, params=params)
    out = io.StringIO()
    ctx = engine.build_context(rb, target(tmp_path), raw or {}, out=out)
    ctx.assume_yes = yes
    ctx.evidence = FAKE_EVIDENCE
    return engine.Runner(ctx, tmp_path / "state"), ctx, out


def events(runner) -> list[dict]:
    return list(read_records(runner.audit_path))


# ---- parameters ------------------------------------------------------------------------------
def test_parameter_errors_are_clear():
    rb = Runbook(name="t", title="T", purpose="p", when="w", steps=[touch_step(1)], params=[
        Param("n", "a number", type="int", default=3), Param("mode", "m", type="choice", choices=("a", "b")),
        Param("nodes", "n", type="list", pattern=r"[a-z0-9]+"), Param("path", "p", type="path"),
        Param("must", "required one", required=True)])
    with pytest.raises(RunbookError, match="no parameter 'bogus'"):
        rb.parse_params({"must": "x", "bogus": "1"})
    with pytest.raises(RunbookError, match="must is required"):
        rb.parse_params({})
    with pytest.raises(RunbookError, match="not an integer"):
        rb.parse_params({"must": "x", "n": "three"})
    with pytest.raises(RunbookError, match="not one of a, b"):
        rb.parse_params({"must": "x", "mode": "c"})
    with pytest.raises(RunbookError, match="does not match"):
        rb.parse_params({"must": "x", "nodes": "n1,n;2"})
    with pytest.raises(RunbookError, match="absolute path"):
        rb.parse_params({"must": "x", "path": "rel/x"})
    with pytest.raises(RunbookError, match="newlines"):
        rb.parse_params({"must": "x\ny"})
    got = rb.parse_params({"must": "x", "nodes": "n1, n2"})
    assert got == {"n": 3, "mode": None, "nodes": ["n1", "n2"], "path": None, "must": "x"}


def test_argv_must_be_a_list():
    with pytest.raises(RunbookError, match="list of arguments"):
        Cmd("rm -rf /tmp/x")


def test_shell_metacharacters_stay_literal(tmp_path):
    name = "a; touch PWNED $(touch PWNED2) `id` | & > 'q' \"d\" {x}"
    step = Step("s", action=[Cmd(("touch", "{dir}/{name}"))], verify=[Cmd(("test", "-f", "{dir}/{name}"))])
    runner, ctx, _ = make(tmp_path, [step], params=[Param("name", "n")], raw={"name": name})
    assert runner.run().status == "succeeded"
    assert (tmp_path / name).is_file()
    assert not list(tmp_path.glob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))
    cmd = [e for e in events(runner) if e["event"] == "cmd" and e["phase"] == "action"][0]
    assert cmd["argv"] == ["touch", f"{tmp_path}/{name}"]


# ---- run, rollback, audit --------------------------------------------------------------------
def test_success_audits_every_command(tmp_path):
    runner, ctx, out = make(tmp_path, [touch_step(1), touch_step(2)])
    report = runner.run()
    assert report.status == "succeeded" and report.exit_code == 0
    evs = events(runner)
    kinds = [e["event"] for e in evs]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end"
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
    start = evs[0]
    assert start["who"]["user"] and start["steps"] == ["step 1", "step 2"]
    cmds = [e for e in evs if e["event"] == "cmd" and e["phase"] in ("action", "verify")]
    assert len(cmds) == 4 and all(len(c["output_sha256"]) == 64 and c["rc"] == 0 for c in cmds)
    assert {e["name"] for e in evs if e["event"] == "evidence"} == {"ping", "sdiag", "config", "sinfo"}
    text = out.getvalue()
    assert "[1/2] step 1" in text and "[2/2] step 2" in text and "SUCCEEDED" in text


def test_failure_rolls_back_completed_steps_in_reverse(tmp_path):
    bad = Step("step 3", action=[Cmd(("touch", "{dir}/done-3"))], verify=[Cmd(("false",))],
               rollback=[Cmd(("rm", "-f", "{dir}/done-3"))])
    runner, ctx, out = make(tmp_path, [touch_step(1), touch_step(2), bad, touch_step(4)])
    report = runner.run()
    assert report.status == "rolled-back" and report.exit_code == 1
    evs = events(runner)
    assert [e["step"] for e in evs if e["event"] == "rollback_step_start"] == [3, 2, 1]
    assert not list(tmp_path.glob("done-*"))
    assert not any(e["event"] == "step_start" and e["step"] == 4 for e in evs)
    assert "ROLLED-BACK" in out.getvalue()


def test_precheck_failure_changes_nothing(tmp_path):
    step = Step("s", check=[Check("never", lambda ctx: (False, "nope"))],
                action=[Cmd(("touch", "{dir}/x"))], rollback=[Cmd(("touch", "{dir}/rolled"))])
    runner, _, _ = make(tmp_path, [touch_step(1), step])
    report = runner.run()
    assert report.status == "rolled-back"          # step 1 was undone
    assert not (tmp_path / "x").exists() and not (tmp_path / "rolled").exists()


def test_failing_rollback_is_reported(tmp_path):
    s1 = Step("s1", action=[Cmd(("true",))], rollback=[Cmd(("false",))])
    s2 = Step("s2", action=[Cmd(("false",))])
    report = make(tmp_path, [s1, s2])[0].run()
    assert report.status == "rollback-failed" and report.exit_code == 3


def test_check_exception_fails_the_step(tmp_path):
    def boom(ctx):
        raise ValueError("bug in a check")
    s = Step("s", action=[Cmd(("touch", "{dir}/x"))], verify=[Check("boom", boom)],
             rollback=[Cmd(("rm", "-f", "{dir}/x"))])
    runner, _, _ = make(tmp_path, [s])
    assert runner.run().status == "rolled-back"
    assert not (tmp_path / "x").exists()


def test_step_timeout_kills_the_command_and_rolls_back(tmp_path):
    slow = Step("slow", action=[Cmd(("sleep", "30"), timeout_s=60)],
                rollback=[Cmd(("touch", "{dir}/rolled"))], timeout_s=1)
    runner, _, _ = make(tmp_path, [slow])
    t = time.monotonic()
    report = runner.run()
    assert time.monotonic() - t < 15
    assert report.status == "rolled-back" and (tmp_path / "rolled").exists()
    cmd = [e for e in events(runner) if e["event"] == "cmd" and e["phase"] == "action"][0]
    assert cmd["rc"] == 124 and cmd["timed_out"]


def test_retry_until_expect(tmp_path):
    marker = tmp_path / "late"
    step = Step("s", action=[Cmd(("sh", "-c", f"(sleep 1; touch {marker}) >/dev/null 2>&1 &"))],
                verify=[Cmd(("ls", str(tmp_path)), expect="late", retry_s=10)])
    assert make(tmp_path, [step])[0].run().status == "succeeded"


def test_secrets_are_redacted(tmp_path):
    def mint(ctx):
        ctx.secret("S3CRET-TOKEN-VALUE")
        out = ctx.run(["echo", "token=S3CRET-TOKEN-VALUE"])
        return out.rc == 0, out.stdout
    step = Step("s", check=[Check("mint", mint)],
                action=[Cmd(("echo", "S3CRET-TOKEN-VALUE"))])
    runner, _, out = make(tmp_path, [step])
    runner.run()
    assert "S3CRET" not in runner.audit_path.read_text()
    assert "S3CRET" not in out.getvalue()
    assert "<redacted>" in runner.audit_path.read_text()


def test_secret_output_keeps_no_tail(tmp_path):
    (tmp_path / "cred").write_text("credential-xyz")
    step = Step("s", action=[Cmd(("cat", "{dir}/cred"), secret_output=True)])
    runner, _, out = make(tmp_path, [step])
    runner.run()
    assert "credential-xyz" not in runner.audit_path.read_text() + out.getvalue()


def test_torn_last_line_is_skipped(tmp_path):
    runner, _, _ = make(tmp_path, [touch_step(1)])
    runner.run()
    with open(runner.audit_path, "a") as f:
        f.write('{"ts": "2026-01-01", "event": "cm')
    assert list(read_records(runner.audit_path))[-1]["event"] == "run_end"


# ---- gate, lock --------------------------------------------------------------------------------
def test_destructive_without_yes_and_without_tty_refuses(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    runner, _, _ = make(tmp_path, [touch_step(1, destructive=True)], yes=False)
    with pytest.raises(engine.Refused, match="--yes"):
        runner.run()
    assert not (tmp_path / "done-1").exists() and not (tmp_path / "state" / "runs").exists()


def test_declined_confirmation_aborts_and_rolls_back(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "gate", lambda rb, yes: None)   # pretend a terminal
    runner, ctx, _ = make(tmp_path, [touch_step(1), touch_step(2, destructive=True)], yes=False)
    ctx.confirm = lambda question: False
    report = runner.run()
    assert report.status == "aborted" and not (tmp_path / "done-1").exists()


def test_one_run_per_runbook_and_target(tmp_path):
    runner, ctx, _ = make(tmp_path, [touch_step(1)])
    held = runner.lock().acquire("other-run")
    try:
        with pytest.raises(LockBusy, match="other-run"):
            runner.run()
    finally:
        held.release()
    assert runner.run().status == "succeeded"


def test_lock_is_released_when_holder_dies(tmp_path):
    import subprocess
    path = tmp_path / "x.lock"
    code = f"from slurmops.runbook.audit import RunLock; from pathlib import Path; import os; " \
           f"RunLock(Path({str(path)!r})).acquire('r'); os._exit(0)"
    subprocess.run([sys.executable, "-c", code], check=True)
    RunLock(path).acquire("mine").release()


# ---- resume ------------------------------------------------------------------------------------
def _interrupted(tmp_path, cut_at_step: int):
    """A finished run whose log is cut right after step N started: what kill -9 leaves."""
    runner, ctx, _ = make(tmp_path, [touch_step(1), touch_step(2), touch_step(3)])
    runner.run()
    lines = runner.audit_path.read_text().splitlines(keepends=True)
    idx = next(i for i, ln in enumerate(lines)
               if '"event": "step_start"' in ln and f'"step": {cut_at_step},' in ln)
    runner.audit_path.write_text("".join(lines[:idx + 1]) + '{"torn": ')
    for n in range(cut_at_step, 4):
        (tmp_path / f"done-{n}").unlink(missing_ok=True)
    return ctx


def _resume(tmp_path, ctx, mode):
    ctx2 = engine.build_context(ctx.runbook, ctx.target, {}, values=ctx.values, run_id=ctx.run_id,
                                out=io.StringIO())
    ctx2.assume_yes = True
    ctx2.evidence = FAKE_EVIDENCE
    return engine.Runner(ctx2, tmp_path / "state").resume(mode)


def test_resume_finishes_from_the_interrupted_step(tmp_path):
    ctx = _interrupted(tmp_path, 2)
    st = engine.run_state(engine.Runner(ctx, tmp_path / "state").audit_path)
    assert st.done == [1] and st.in_progress == 2 and not st.finished
    report = _resume(tmp_path, ctx, "finish")
    assert report.status == "succeeded"
    assert all((tmp_path / f"done-{n}").exists() for n in (1, 2, 3))
    with pytest.raises(RunbookError, match="already ended"):
        _resume(tmp_path, ctx, "finish")


def test_resume_rollback_undoes_in_reverse(tmp_path):
    ctx = _interrupted(tmp_path, 3)
    report = _resume(tmp_path, ctx, "rollback")
    assert report.status == "rolled-back"
    evs = list(read_records(engine.Runner(ctx, tmp_path / "state").audit_path))
    assert [e["step"] for e in evs if e["event"] == "rollback_step_start"] == [3, 2, 1]
    assert not list(tmp_path.glob("done-*"))


def test_resume_continues_a_cut_rollback(tmp_path):
    bad = Step("bad", action=[Cmd(("false",))])
    runner, ctx, _ = make(tmp_path, [touch_step(1), touch_step(2), bad])
    runner.run()
    lines = runner.audit_path.read_text().splitlines(keepends=True)
    idx = next(i for i, ln in enumerate(lines) if '"event": "rollback_step_done"' in ln and '"step": 2,' in ln)
    runner.audit_path.write_text("".join(lines[:idx + 1]))
    (tmp_path / "done-1").touch()
    st = engine.run_state(runner.audit_path)
    assert st.pending_rollback == [1]
    report = _resume(tmp_path, ctx, "finish")        # a rollback under way always finishes
    assert report.status == "rolled-back" and not (tmp_path / "done-1").exists()


# ---- transports, targets -----------------------------------------------------------------------
def test_ssh_argv_quotes_every_argument():
    t = SshTransport(host="ctl1", user="admin", port=2222)
    argv = ["scontrol", "update", "NodeName=n1", "Reason=a; rm -rf / $(x) 'q'"]
    built = t.build_argv(argv, env={"SLURM_CONF": "/etc/slurm/slurm.conf"})
    port = built.index("-p")
    assert built[:1] == ["ssh"] and "BatchMode=yes" in built and built[port:port + 2] == ["-p", "2222"]
    assert built[-3:-1] == ["--", "ctl1"]
    assert shlex.split(built[-1]) == ["env", "SLURM_CONF=/etc/slurm/slurm.conf", *argv]
    with pytest.raises(ValueError):
        SshTransport(host="-oProxyCommand=x")


def test_service_managers():
    assert SystemdServices().argv("restart", "munged") == ["systemctl", "restart", "munge"]
    lab = LabServices(Path("/var/tmp/l"), python="/py")
    assert lab.argv("stop", "slurmdbd") == ["/py", "-m", "slurmops", "lab", "stop", "slurmdbd", "--dir", "/var/tmp/l"]
    with pytest.raises(RunbookError, match="unknown service"):
        lab.argv("restart", "sshd")


def test_systemd_target_defaults_and_overrides():
    t = make_target("systemd", ssh="root@ctl1", sets={"munge_key": "/etc/munge/k", "unit_slurmctld": "slurmctld-x"})
    assert t.values["munge_key"] == "/etc/munge/k" and t.env == {"SLURM_CONF": "/etc/slurm/slurm.conf"}
    assert t.services.argv("restart", "slurmctld") == ["systemctl", "restart", "slurmctld-x"]
    assert t.transport.name == "ssh:root@ctl1" and t.label == "systemd@root@ctl1"
    with pytest.raises(RunbookError, match="expected lab:DIR or systemd"):
        make_target("k8s")
    with pytest.raises(RunbookError, match="no lab"):
        make_target("lab:/nonexistent/dir")


# ---- shipped runbooks, docs ------------------------------------------------------------------------
def test_shipped_runbooks_load_and_cite_schedmd():
    books = loader.load_all(REPO / "runbooks")
    assert {"cluster-health", "slurmctld-restart", "slurmctld-reconfigure", "slurmdbd-restart",
            "slurmrestd-restart", "munge-key-rotation", "jwt-key-rotation", "statesave-backup",
            "database-backup", "node-drain", "node-resume"} <= set(books)
    for rb in books.values():
        assert any(".shtml" in r or "man page" in r or "(1)" in r for r in rb.references), rb.name
        page = render_page(rb, REPO)
        assert page.startswith("<!-- Generated") and rb.title in page


def test_rendered_docs_are_up_to_date():
    r = CliRunner().invoke(runbooks_cli, ["render", "--runbooks-dir", str(REPO / "runbooks"), "--check"])
    assert r.exit_code == 0, r.output


def test_plan_runs_nothing_destructive(tmp_path):
    step = Step("s", check=[Cmd(("test", "-d", "{dir}"))], action=[Cmd(("touch", "{dir}/made"))],
                rollback=[Service("start", "slurmctld")])
    runner, ctx, out = make(tmp_path, [step])
    engine.plan(ctx)
    text = out.getvalue()
    assert f"$ touch {tmp_path}/made" in text and "now: ok" in text and "$ true start slurmctld" in text
    assert not (tmp_path / "made").exists()


def test_cli_usage_errors(tmp_path):
    r = CliRunner().invoke(runbook_cli, ["run", "nope", "--target", "systemd", "--state-dir", str(tmp_path)])
    assert r.exit_code == 2 and "no runbook 'nope'" in r.output
    r = CliRunner().invoke(runbook_cli, ["plan", "node-drain", "--target", "systemd", "-p", "nodes=n1"])
    assert r.exit_code == 2 and "reason is required" in r.output
    r = CliRunner().invoke(runbook_cli, ["list"])
    assert r.exit_code == 0 and "munge-key-rotation" in r.output


# ---- graded health, --force-unhealthy, a read-only plan ---------------------------------------
def _failing(name):
    return lambda ctx: (False, f"{name} is broken")


def test_warn_grade_goes_on_and_is_audited(tmp_path):
    step = Step("s", check=[Check("flaky", _failing("flaky"), grade="warn")],
                action=[Cmd(("touch", "{dir}/made"))])
    runner, ctx, out = make(tmp_path, [step])
    assert runner.run().status == "succeeded" and (tmp_path / "made").exists()
    rec = [e for e in events(runner) if e["event"] == "health_override"]
    assert rec and rec[0]["override"] == "warn" and "flaky is broken" in rec[0]["detail"]
    assert "WARN (not required here)" in out.getvalue()


def test_required_check_fails_unless_forced_and_the_force_is_audited(tmp_path):
    def build(forced):
        step = Step("s", check=[Check("slurmdbd answers", _failing("slurmdbd"), health="slurmdbd")],
                    action=[Cmd(("touch", "{dir}/made"))])
        runner, ctx, out = make(tmp_path, [step])
        ctx.force_unhealthy = forced
        return runner
    r = build(())
    assert r.run().status == "failed" and not (tmp_path / "made").exists()
    r = build(("slurmdbd",))
    assert r.run().status == "succeeded" and (tmp_path / "made").exists()
    evs = events(r)
    assert evs[0]["event"] == "run_start" and evs[0]["force_unhealthy"] == ["slurmdbd"]
    assert [e["override"] for e in evs if e["event"] == "health_override"] == ["forced"]


def test_force_unhealthy_unknown_check_is_a_clear_error(tmp_path):
    r = CliRunner().invoke(runbook_cli, ["plan", "cluster-health", "--target", "systemd",
                                         "--force-unhealthy", "slurmctl"])
    assert r.exit_code == 2
    assert "error: --force-unhealthy 'slurmctl': no such check; one of munge, slurmctld" in r.output


def test_health_grades(tmp_path):
    from slurmops.runbook import health
    checks = health.health_checks(slurmctld=health.NOT_NEEDED, nodes=health.WARN)
    assert [c.health for c in checks] == ["munge", "slurmdbd", "nodes", "slurmrestd", "test_job"]
    assert {c.health: c.grade for c in checks}["nodes"] == "warn"
    assert [c.plan_safe for c in checks if c.health == "test_job"] == [False]
    with pytest.raises(RunbookError, match="no such check"):
        health.preflight(slurmctl=health.WARN)
    with pytest.raises(RunbookError, match="required, warn or not needed"):
        health.preflight(munge="maybe")


def test_plan_submits_nothing_and_fails_on_a_required_precheck(tmp_path):
    acted = tmp_path / "acted"

    def acts(ctx):
        acted.touch()
        return True, "acted"
    step = Step("s", check=[Check("submits a job", acts, plan_safe=False),
                            Cmd(("test", "-e", "{dir}/missing"), retry_s=30)])
    runner, ctx, out = make(tmp_path, [step])
    t = time.monotonic()
    assert engine.plan(ctx) is False
    assert time.monotonic() - t < 10            # plan does not wait out retries
    assert not acted.exists() and "not run by plan" in out.getvalue()
    assert "a required pre-check fails now" in out.getvalue()
    assert not (tmp_path / "state").exists()    # plan writes nothing, not even its state dir


# ---- the one runbook base URL and `runbooks serve` ----------------------------------------------
def test_runbook_base_url_one_setting(monkeypatch):
    from slurmops.grafana.config import Config
    from slurmops.rules import build
    from slurmops.runbook import links
    monkeypatch.delenv(links.ENV, raising=False)
    assert links.configured_base({}) == "http://localhost:9347/"
    assert links.configured_base({"runbook_base_url": ""}) == "runbooks/docs/"
    assert links.configured_base({"runbook_base_url": "https://wiki.example.org/rb"}) == "https://wiki.example.org/rb/"
    monkeypatch.setenv(links.ENV, "https://ops.example.org/runbooks/")
    assert build.runbook_url({"runbook_base_url": "x/"}, "slurmctld-down") == \
        "https://ops.example.org/runbooks/slurmctld-down.md"
    assert Config().runbook("node-drain") == "https://ops.example.org/runbooks/node-drain.md"


def test_runbooks_serve_serves_pages_and_nothing_else(tmp_path):
    import threading
    import urllib.error
    import urllib.request

    from slurmops.runbook.serve import make_server
    docs = REPO / "runbooks" / "docs"
    server = make_server(docs, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with urllib.request.urlopen(f"{base}/slurmctld-down.md", timeout=5) as r:
            assert r.read() == (docs / "slurmctld-down.md").read_bytes()
        with urllib.request.urlopen(f"{base}/", timeout=5) as r:
            assert r.read() == (docs / "README.md").read_bytes()
        for bad in ("/../../etc/passwd", "/%2e%2e/cli.py", "/nope.md", "/README.md/.."):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(base + bad, timeout=5)
            assert e.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_production_code_does_not_import_the_lab():
    """Runbooks and the engine act on production; only the `lab:DIR` target may load the lab."""
    import ast
    files = sorted((REPO / "runbooks").glob("*.py")) + sorted((REPO / "slurmops" / "runbook").glob("*.py"))
    offenders = []
    for path in files:
        if path.name == "target.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("slurmops.lab")]
    assert not offenders
