"""Rotate the JWT (HS256) key shared by slurmctld and slurmdbd; old tokens stop working."""
from slurmops.runbook import Check, Cmd, Runbook, Service, Step
from slurmops.runbook.health import postflight, preflight, rest_diag, slurmrestd_answers, token
from slurmops.runbook.steps import (
    backup_file,
    differs_check,
    file_mode_check,
    install_secret,
    restart_step,
    restore_file,
)

BACKUP = "{backup_dir}/jwt.key.{run_id}"
SERVICES = ("slurmctld", "slurmdbd", "slurmrestd")


def mint_old_token(ctx):
    """A token signed with the current key, kept in memory only: after the rotation it must be
    rejected. (After a resume it is gone; that part of the check is then skipped, and says so.)"""
    tok = token(ctx, lifespan_s=900)
    if tok is None:
        return False, "scontrol token failed"
    ctx.memory["old_token"] = tok
    status = rest_diag(ctx, tok)
    return status == 200, f"token with the current key -> {status}"


def new_works_old_rejected(ctx):
    ok, detail = slurmrestd_answers(ctx)
    if not ok:
        return False, f"new token: {detail}"
    old = ctx.memory.get("old_token")
    if old is None:
        return True, f"new token ok ({detail}); old token not available after resume: not checked"
    status = rest_diag(ctx, old)
    # Rejected means slurmrestd answered and refused it: HTTP 500 on 22.05, 511 from 24.11 on
    # (observed in the lab, docs/runbooks.md). No answer at all (0) proves nothing.
    return status >= 400, f"new token ok; old token -> {status} (must be refused: 4xx/5xx)"


RUNBOOK = Runbook(
    name="jwt-key-rotation",
    title="Rotate the JWT key",
    purpose="Replace the HS256 key that slurmctld and slurmdbd use to sign and check JWTs "
            "(AuthAltParameters=jwt_key=...), restart slurmctld, slurmdbd and slurmrestd, and prove "
            "that a new token works and a token signed with the old key is rejected.",
    when="Scheduled rotation, or a key or long-lived token that may have leaked: rotation is the only "
         "way to revoke every token at once.",
    steps=[
        preflight(),
        Step("Mint a token with the current key", "to prove later that old tokens are rejected",
             check=[Check("token with the current key works", mint_old_token, "kept in memory only")]),
        Step("Back up the current key", "the way back if the new key fails",
             check=[Cmd(("test", "-f", "{jwt_key}"), why="key exists")],
             action=backup_file("{jwt_key}", BACKUP),
             verify=[Cmd(("cmp", "-s", "--", "{jwt_key}", BACKUP), why="backup is identical")]),
        Step("Install the new key", "every existing token becomes invalid once daemons restart",
             action=install_secret("{jwt_key}", "0600", "{jwt_owner}", generate=("bs=32", "count=1")),
             verify=[file_mode_check("jwt_key", "0600", "jwt_owner"),
                     differs_check("{jwt_key}", BACKUP, "new key")],
             rollback=[*restore_file(BACKUP, "{jwt_key}"), *[Service("restart", s) for s in SERVICES]],
             destructive=True, timeout_s=400),
        *[restart_step(s, rollback=False) for s in SERVICES],
        Step("New token works, old token rejected", "the rotation really happened",
             verify=[Check("new token accepted, old rejected", new_works_old_rejected,
                           "GET /slurm/<negotiated>/diag with each", retry_s=30)]),
        postflight(),
    ],
    references=[
        "SchedMD, JSON Web Tokens (jwt.shtml): key creation (32 random bytes), owner SlurmUser, mode "
        "0600, same key for slurmctld and slurmdbd, restart slurmctld",
        "SchedMD, REST API (rest.shtml): slurmrestd with rest_auth/jwt",
    ],
    notes="slurmrestd does not check tokens itself: it passes them to slurmctld, which refuses a token "
          "signed with the old key (observed: HTTP 500 with errors[] on 22.05, HTTP 511 on 24.11 and "
          "26.05). The key bytes never pass through slurmops; tokens are registered as secrets and "
          "redacted everywhere.",
)
