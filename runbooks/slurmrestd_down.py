"""Incident: slurmrestd does not answer (alert SlurmrestdUnreachable). slurmctld issues tokens?
Start slurmrestd; prove an authenticated request works."""
from slurmops.runbook import Check, Runbook, Service, Step
from slurmops.runbook.health import NOT_NEEDED, WARN, check_named, postflight, preflight, token


def tokens_issued(ctx):
    """slurmrestd authenticates with JWTs slurmctld signs (jwt.shtml): if `scontrol token` fails,
    the fault is the JWT key or slurmctld, and restarting slurmrestd will not help."""
    tok = token(ctx, lifespan_s=60)
    return tok is not None, "scontrol token issues a token" if tok else \
        "scontrol token fails: check AuthAltTypes/AuthAltParameters jwt_key (jwt-key-rotation)"


RUNBOOK = Runbook(
    name="slurmrestd-down",
    title="Incident: slurmrestd is down",
    purpose="Bring the REST API back: check that slurmctld issues tokens (else the fault is the JWT "
            "key, not slurmrestd), start slurmrestd, and prove an authenticated GET of /diag, with "
            "the data_parser version the server offers, answers 200.",
    when="Alert SlurmrestdUnreachable (REST calls of the exporter fail with connect/timeout errors), "
         "REST clients get \"connection refused\" while `scontrol ping` answers.",
    steps=[
        preflight(slurmrestd=NOT_NEEDED, nodes=WARN, slurmdbd=WARN, test_job=NOT_NEEDED),
        Step("slurmctld issues tokens", "slurmrestd is only as good as the JWTs it checks",
             check=[Check("scontrol token", tokens_issued, "a 60 s token, never logged")]),
        Step("Start slurmrestd", "starting a running slurmrestd is a no-op",
             action=[Service("start", "slurmrestd")],
             verify=[check_named("slurmrestd", retry_s=90)],
             destructive=True, timeout_s=180),
        postflight(retry_s=60, slurmdbd=WARN),
    ],
    references=[
        "SchedMD, REST API (rest.shtml): slurmrestd, data_parser plugins, `-a rest_auth/jwt`",
        "SchedMD, JSON Web Tokens (jwt.shtml): `scontrol token`, X-SLURM-USER-TOKEN",
        "slurmrestd(8), 22.05.8",
    ],
    notes="No rollback: starting a stopped daemon cannot be undone usefully. When slurmrestd answers "
          "but with errors, see slurmrestd-restart; when it rejects tokens, jwt-key-rotation.",
)
