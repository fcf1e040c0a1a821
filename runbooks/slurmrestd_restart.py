"""Restart slurmrestd and prove it answers an authenticated request."""
from dataclasses import replace

from slurmops.runbook import Check, Runbook
from slurmops.runbook.health import postflight, preflight, slurmrestd_answers
from slurmops.runbook.steps import restart_step

step = restart_step("slurmrestd", why="REST clients get connection refused for a few seconds")
step = replace(step, verify=[Check("slurmrestd answers with a fresh token", slurmrestd_answers,
                                   "scontrol token, then GET /slurm/<negotiated data_parser>/diag -> 200", retry_s=60)])

RUNBOOK = Runbook(
    name="slurmrestd-restart",
    title="Restart slurmrestd (with REST health check)",
    purpose="Restart the REST API daemon and prove it serves an authenticated request: a token from "
            "`scontrol token` and GET /slurm/<negotiated data_parser>/diag answering 200.",
    when="After a slurmrestd configuration or plugin change, a JWT key rotation, or when REST clients "
         "get errors while slurmctld answers `scontrol ping`.",
    steps=[preflight(), step, postflight()],
    references=[
        "SchedMD, REST API (rest.shtml): slurmrestd, authentication, `-a rest_auth/jwt`",
        "SchedMD, JSON Web Tokens (jwt.shtml): `scontrol token`, X-SLURM-USER-TOKEN",
    ],
)
