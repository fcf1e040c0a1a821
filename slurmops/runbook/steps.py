"""Building blocks runbooks share: back up a file, install a secret file safely, restart a daemon.
Kept here (not in runbooks/) so the content stays short and declarative."""
from __future__ import annotations

from .health import wait_up
from .model import Check, Cmd, Service, Step


def restart_step(component: str, *, title: str | None = None, why: str = "",
                 rollback: bool = True, timeout_s: float = 180) -> Step:
    """Restart through the service manager, then poll until it answers (systemctl returns
    before the daemon is ready). Rollback makes sure it runs: a restart cannot be undone."""
    return Step(title or f"Restart {component}", why or f"{component} is unavailable for a few seconds",
                action=[Service("restart", component)], verify=wait_up(component),
                rollback=[Service("start", component, why="make sure it runs again")] if rollback else [],
                destructive=True, timeout_s=timeout_s)


def backup_file(src: str, dest: str) -> list[Cmd]:
    """cp -p keeps owner and mode (a 0400 key stays 0400); the backup dir is 0700."""
    return [Cmd(("mkdir", "-p", "-m", "0700", "{backup_dir}"), why="backup dir"),
            Cmd(("cp", "-p", "--", src, dest), why="back up")]


def install_secret(dest: str, mode: str, owner: str, *, generate: tuple[str, ...] | None = None,
                   source: str | None = None) -> list[Cmd]:
    """Write a new secret without it ever being readable by others: create the temp file with
    its final mode first (install -m), fill it, chown, then rename over the old one (atomic).
    The bytes go file to file; they never pass through this process, a log or a terminal."""
    new = dest + ".slurmops-new"
    ops = [Cmd(("install", "-m", mode, "/dev/null", new), why="empty file, final mode")]
    if source is not None:
        ops.append(Cmd(("cp", "--", source, new), why="copy the provided key"))
    else:
        ops.append(Cmd(("dd", "if=/dev/urandom", f"of={new}", *(generate or ()), "status=none"),
                       why="random key"))
    ops += [Cmd(("chown", owner, new), why="owner"),
            Cmd(("chmod", mode, new), why="mode"),
            Cmd(("mv", "-f", "--", new, dest), why="atomic replace")]
    return ops


def restore_file(backup: str, dest: str) -> list[Cmd]:
    tmp = dest + ".slurmops-restore"
    return [Cmd(("cp", "-p", "--", backup, tmp), why="restore from backup"),
            Cmd(("mv", "-f", "--", tmp, dest), why="atomic replace")]


def free_bytes(ctx, path: str) -> tuple[int | None, str, str]:
    """(free bytes, where, error) of the file system that will hold `path`: df of the nearest
    directory that exists yet (a backup dir is often made by the step that fills it)."""
    where = path
    while where not in ("", "/") and ctx.run(["test", "-d", where], timeout=10).rc != 0:
        where = where.rsplit("/", 1)[0] or "/"
    where = where or "/"
    df = ctx.run(["df", "-P", "-B1", "--", where], timeout=15)
    try:
        return int(df.stdout.strip().splitlines()[-1].split()[3]), where, ""
    except (IndexError, ValueError):
        return None, where, f"df {where}: {df.stderr.strip()[:200]}"


def file_mode_check(path_key: str, mode: str, owner_key: str) -> Check:
    """The file has the owner and mode the daemon demands (munged refuses a group-readable key)."""
    def fn(ctx):
        path, owner = ctx.values[path_key], ctx.values[owner_key]
        out = ctx.run(["stat", "-c", "%U:%G:%a", path], timeout=10)
        got = out.stdout.strip()
        want = f"{owner}:{mode.lstrip('0')}"
        return got == want, f"{path} is {got or 'missing'} (want {want})"
    return Check(f"{path_key} owner and mode", fn, f"owner {{{owner_key}}}, mode {mode}")


def differs_check(a: str, b: str, what: str) -> Cmd:
    """cmp exits 1 when the files differ: that is success here (the key really changed)."""
    return Cmd(("cmp", "-s", "--", a, b), why=f"{what} differs from the backup", ok_rc=(1,))


# ---- graded read-only checks (PASS / WARN / FAIL) ---------------------------------------------------
# A read-only runbook (munge-health, slurmdbd-archive-check) should show *every* finding, not stop at
# the first one. Each graded check records its level in ctx.memory and passes; `verdict` at the end
# of the same step fails the run when any FAIL (or, with strict, any WARN) was recorded. Keep them
# in one step: a resumed run re-runs that whole step, so the findings are complete again.
LEVELS = ("PASS", "WARN", "FAIL")


def graded(name: str, fn, why: str = "") -> Check:
    """``fn(ctx) -> (level, detail)`` with level PASS, WARN or FAIL."""
    def run(ctx):
        level, detail = fn(ctx)
        if level not in LEVELS:
            raise ValueError(f"{name}: level {level!r} is not one of {LEVELS}")
        ctx.memory.setdefault("findings", []).append((level, name, detail))
        return True, f"{level}: {detail}"
    return Check(name, run, why)


def verdict(strict_param: str | None = "strict") -> Check:
    """Fails when a graded check said FAIL, or WARN when the runbook's ``strict`` parameter is set."""
    def run(ctx):
        found = ctx.memory.get("findings", [])
        strict = bool(strict_param and ctx.params.get(strict_param))
        counts = {lv: sum(1 for f in found if f[0] == lv) for lv in LEVELS}
        bad = [f for f in found if f[0] == "FAIL" or (strict and f[0] == "WARN")]
        summary = ", ".join(f"{counts[lv]} {lv}" for lv in LEVELS)
        if bad:
            return False, f"{summary}: " + "; ".join(f"{lv} {n}" for lv, n, _ in bad)
        warns = [n for lv, n, _ in found if lv == "WARN"]
        return True, summary + (f" (warnings: {', '.join(warns)})" if warns else "")
    return Check("verdict", run, "fails on any FAIL (and on WARN with strict=true)")
