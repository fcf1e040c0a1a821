"""The cluster health check every runbook uses before it changes anything and after it is done:
every daemon answers, no node is DOWN or not responding, and a test job completes.

Each part is its own named Check so the audit log and the plan show which part failed. They run
through ``ctx.run`` (audited, on the target's transport); slurmrestd is asked over HTTP from here,
with a token minted by `scontrol token` that is registered as a secret and never logged.
"""
from __future__ import annotations

import json
import re

from slurmops.lab.checks import http_get

from .model import Check, Step

REST_VERSION = "v0.0.38"    # Slurm 22.05's data_parser; 25.05 still serves it as a deprecated plugin
_BAD_NODE = ("down", "fail", "failing", "not_responding", "unknown", "inval")


def _first(out) -> str:
    text = (out.stdout + out.stderr).strip()
    return text.splitlines()[-1].strip() if text else f"exit {out.rc}"


def munge_roundtrip(ctx) -> tuple[bool, str]:
    """munge -n | unmunge on the target's socket: munged is up and its key decodes its own
    credentials (authentication.shtml). The credential itself is not logged."""
    sock = ctx.values["munge_socket"]
    cred = ctx.run(["munge", "-n", "-S", sock], timeout=10, secret_output=True)
    if cred.rc != 0:
        return False, f"munge -n failed: {_first(cred)}"
    dec = ctx.run(["unmunge", "-S", sock], timeout=10, input=cred.stdout, secret_output=True)
    if dec.rc != 0:
        return False, f"unmunge failed: {_first(dec)}"
    return True, "credential encoded and decoded"


def slurmctld_up(ctx) -> tuple[bool, str]:
    out = ctx.run(["scontrol", "ping"], timeout=15)
    text = (out.stdout + out.stderr).strip()
    ok = out.rc == 0 and " is UP" in text and "DOWN" not in text
    return ok, text.splitlines()[0] if text else "no answer"


def slurmdbd_answers(ctx) -> tuple[bool, str]:
    out = ctx.run(["sacctmgr", "-n", "-P", "show", "cluster", "format=cluster"], timeout=20)
    if out.rc != 0:
        return False, _first(out)
    return True, "answers (" + ",".join(out.stdout.split()) + ")"


def nodes_responding(ctx) -> tuple[bool, str]:
    """No node DOWN, FAIL or not responding (`*`); drained nodes are an operator's choice."""
    out = ctx.run(["sinfo", "-N", "-h", "-o", "%N %T"], timeout=15)
    if out.rc != 0:
        return False, f"sinfo: {_first(out)}"
    states = dict(ln.split(None, 1) for ln in out.stdout.splitlines() if len(ln.split()) == 2)
    if not states:
        return False, "sinfo lists no nodes"
    bad = {n: s for n, s in states.items()
           if s.endswith("*") or s.rstrip("~#!%$@^-+*").lower() in _BAD_NODE}
    if bad:
        return False, "bad nodes: " + ", ".join(f"{n}={s}" for n, s in sorted(bad.items()))
    return True, f"{len(states)} nodes responding"


def token(ctx, lifespan_s: int = 300, user: str = "root") -> str | None:
    """A fresh JWT from slurmctld (jwt.shtml), registered as a secret before anything prints."""
    out = ctx.run(["scontrol", "token", f"username={user}", f"lifespan={lifespan_s}"],
                  timeout=15, secret_output=True)
    m = re.search(r"SLURM_JWT=(\S+)", out.stdout)
    if out.rc != 0 or not m:
        return None
    return ctx.secret(m.group(1))


def rest_diag(ctx, tok: str) -> int:
    """HTTP status of GET /slurm/<v>/diag with this token (0: nothing answered); audited without
    the token."""
    url = f"{ctx.values['slurmrestd_url']}/slurm/{REST_VERSION}/diag"
    status, body = http_get(url, headers={"X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": tok},
                            timeout=10)
    if ctx.audit:
        errors = ""
        if status and status != 200:
            try:
                errors = json.dumps(json.loads(body).get("errors", []))[:300]
            except (ValueError, AttributeError):
                errors = body[:200]
        ctx.audit.write("http", step=ctx.step_index, phase=ctx.phase, method="GET", url=url,
                        status=status, errors=ctx.redact(errors))
    return status


def slurmrestd_answers(ctx) -> tuple[bool, str]:
    if not ctx.values.get("slurmrestd_url"):
        return True, "no slurmrestd_url for this target: skipped"
    tok = token(ctx, lifespan_s=120)
    if tok is None:
        return False, "scontrol token failed"
    status = rest_diag(ctx, tok)
    return status == 200, f"GET /slurm/{REST_VERSION}/diag -> {status or 'no answer'}"


def test_job(ctx) -> tuple[bool, str]:
    """`srun -N1 true`: the whole path (auth, scheduling, slurmd, slurmstepd, cgroups) works."""
    argv = ["srun", "-N1", "-t", "1", "-J", "slurmops-health"]
    part = ctx.values.get("test_partition", "")
    if part:
        argv += ["-p", part]
    out = ctx.run([*argv, "true"], timeout=90)
    return out.rc == 0, "test job completed" if out.rc == 0 else f"srun exit {out.rc}: {_first(out)}"


def health_checks(retry_s: float = 0) -> list[Check]:
    return [
        Check("munge round trip", munge_roundtrip, "munge -n | unmunge on the target's socket", retry_s),
        Check("slurmctld answers", slurmctld_up, "scontrol ping says UP", retry_s),
        Check("slurmdbd answers", slurmdbd_answers, "sacctmgr show cluster", retry_s),
        Check("nodes responding", nodes_responding, "sinfo: no DOWN/FAIL/not responding node", retry_s),
        Check("slurmrestd answers", slurmrestd_answers, "scontrol token + GET /slurm/v0.0.38/diag", retry_s),
        Check("test job completes", test_job, "srun -N1 true", retry_s),
    ]


def preflight() -> Step:
    """First step of every runbook: change nothing on a cluster that is already unhealthy."""
    return Step("Pre-flight: cluster healthy", "refuse to change a cluster that is already broken",
                check=health_checks(), timeout_s=180)


def postflight(retry_s: float = 30) -> Step:
    """Last step: the cluster is healthy again; failing here rolls the whole run back."""
    return Step("Post-check: cluster healthy", "prove the change left a working cluster",
                verify=health_checks(retry_s), timeout_s=240)


def wait_up(component: str, retry_s: float = 60) -> list:
    """After a restart through systemd (which returns before the daemon answers): poll."""
    fn = {"slurmctld": slurmctld_up, "slurmdbd": slurmdbd_answers, "munged": munge_roundtrip,
          "slurmd": nodes_responding, "slurmrestd": slurmrestd_answers}.get(component)
    if fn is None:
        return []
    return [Check(f"{component} answers", fn, f"poll until {component} answers", retry_s)]
