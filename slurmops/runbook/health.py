"""The cluster health checks runbooks declare before they change anything and after they are
done: munge, slurmctld, slurmdbd and slurmrestd answer, no node is DOWN or not responding, and a
test job completes.

Each part is a named check (``CHECKS``) so the audit log and the plan show which part failed, and
each runbook *grades* what it needs (``preflight(slurmctld=NOT_NEEDED, nodes=WARN)``): an incident
runbook that starts a dead slurmctld cannot require slurmctld to answer first. An operator may go
past a failed required check with ``--force-unhealthy NAME`` (recorded in the audit log).

They run through ``ctx.run`` (audited, on the target's transport); slurmrestd is asked over HTTP
from here, with a token minted by `scontrol token` that is registered as a secret and never logged,
and with the data_parser version the server offers (rest.shtml: each release serves its own set;
v0.0.38 is gone from 24.05 on).
"""
from __future__ import annotations

import re

from slurmops.slurm.sources import SourceError
from slurmops.slurm.sources.rest import RestSource, negotiate_version

from .model import Check, RunbookError, Step

REQUIRED, WARN, NOT_NEEDED = "required", "warn", "not needed"
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


def rest_version(ctx, tok: str) -> str:
    """The newest data_parser version both slurmrestd and slurmops speak (rest.negotiate_version:
    the server's OpenAPI paths, else a probe), kept for the rest of the run."""
    if "rest_version" not in ctx.memory:
        ctx.memory["rest_version"] = negotiate_version(ctx.values["slurmrestd_url"], tok, timeout=10)
    return ctx.memory["rest_version"]


def rest_diag(ctx, tok: str) -> int:
    """HTTP status of GET /slurm/<negotiated version>/diag with this token (0: nothing answered);
    audited without the token."""
    url = ctx.values["slurmrestd_url"]
    status, errors, path = 0, "", "/slurm/?/diag"
    try:
        path = f"/slurm/{rest_version(ctx, tok)}/diag"
        RestSource(url, user="root", token=tok, timeout=10).get(path)
        status = 200
    except SourceError as exc:
        m = re.match(r"HTTP (\d+)", exc.detail)
        status = int(m.group(1)) if m else 0
        errors = f"{exc.reason}: {exc.detail}"[:300]
    if ctx.audit:
        ctx.audit.write("http", step=ctx.step_index, phase=ctx.phase, method="GET", url=url + path,
                        status=status, errors=ctx.redact(errors))
    return status


def slurmrestd_answers(ctx) -> tuple[bool, str]:
    if not ctx.values.get("slurmrestd_url"):
        return True, "no slurmrestd_url for this target: skipped"
    tok = token(ctx, lifespan_s=120)
    if tok is None:
        return False, "scontrol token failed"
    status = rest_diag(ctx, tok)
    version = ctx.memory.get("rest_version", "?")
    return status == 200, f"GET /slurm/{version}/diag -> {status or 'no answer'}"


def test_job(ctx) -> tuple[bool, str]:
    """`srun -N1 true`: the whole path (auth, scheduling, slurmd, slurmstepd, cgroups) works."""
    argv = ["srun", "-N1", "-t", "1", "-J", "slurmops-health"]
    part = ctx.values.get("test_partition", "")
    if part:
        argv += ["-p", part]
    out = ctx.run([*argv, "true"], timeout=90)
    return out.rc == 0, "test job completed" if out.rc == 0 else f"srun exit {out.rc}: {_first(out)}"


# name -> (function, what it does, safe for `plan`); the names are what --force-unhealthy takes.
CHECKS = {
    "munge": ("munge round trip", munge_roundtrip, "munge -n | unmunge on the target's socket", True),
    "slurmctld": ("slurmctld answers", slurmctld_up, "scontrol ping says UP", True),
    "slurmdbd": ("slurmdbd answers", slurmdbd_answers, "sacctmgr show cluster", True),
    "nodes": ("nodes responding", nodes_responding, "sinfo: no DOWN/FAIL/not responding node", True),
    "slurmrestd": ("slurmrestd answers", slurmrestd_answers,
                   "scontrol token + GET /slurm/<negotiated data_parser>/diag", True),
    "test_job": ("test job completes", test_job, "srun -N1 true (plan does not submit it)", False),
}


def check_named(name: str, retry_s: float = 0, grade: str = REQUIRED) -> Check:
    title, fn, why, plan_safe = CHECKS[name]
    return Check(title, fn, why, retry_s, grade=grade, health=name, plan_safe=plan_safe)


def parse_forced(names) -> tuple[str, ...]:
    """--force-unhealthy values: each must name a check of CHECKS."""
    out = []
    for name in names:
        if name not in CHECKS:
            raise RunbookError(f"--force-unhealthy {name!r}: no such check; one of {', '.join(CHECKS)}")
        out.append(name)
    return tuple(dict.fromkeys(out))


def _grades(grades: dict[str, str]) -> dict[str, str]:
    for name, grade in grades.items():
        if name not in CHECKS:
            raise RunbookError(f"health grade for {name!r}: no such check; one of {', '.join(CHECKS)}")
        if grade not in (REQUIRED, WARN, NOT_NEEDED):
            raise RunbookError(f"health grade {name}={grade!r}: required, warn or not needed")
    return {name: grades.get(name, REQUIRED) for name in CHECKS}


def health_checks(retry_s: float = 0, **grades: str) -> list[Check]:
    """The checks of CHECKS that are not graded NOT_NEEDED, in order; every one required unless
    graded otherwise."""
    return [check_named(name, retry_s, grade) for name, grade in _grades(grades).items()
            if grade != NOT_NEEDED]


def describe_grades(**grades: str) -> str:
    g = _grades(grades)
    parts = [f"{grade}: " + ", ".join(n for n in g if g[n] == grade)
             for grade in (REQUIRED, WARN, NOT_NEEDED) if grade in g.values()]
    return "; ".join(parts)


def preflight(**grades: str) -> Step:
    """First step of a runbook: change nothing on a cluster that lacks what the runbook needs.
    Grades: check name = REQUIRED (default), WARN or NOT_NEEDED."""
    return Step("Pre-flight: what this runbook needs", "refuse to act without it (" +
                describe_grades(**grades) + ")", check=health_checks(0, **grades), timeout_s=180)


def postflight(retry_s: float = 30, **grades: str) -> Step:
    """Last step: the cluster is healthy again; failing here rolls the whole run back."""
    return Step("Post-check: cluster healthy", "prove the change left a working cluster (" +
                describe_grades(**grades) + ")", verify=health_checks(retry_s, **grades), timeout_s=240)


def wait_up(component: str, retry_s: float = 60) -> list:
    """After a restart through systemd (which returns before the daemon answers): poll."""
    name = {"slurmctld": "slurmctld", "slurmdbd": "slurmdbd", "munged": "munge",
            "slurmd": "nodes", "slurmrestd": "slurmrestd"}.get(component)
    if name is None:
        return []
    return [Check(f"{component} answers", CHECKS[name][1], f"poll until {component} answers", retry_s)]
