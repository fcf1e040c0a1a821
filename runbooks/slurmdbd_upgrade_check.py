"""The checks of SchedMD's slurmdbd upgrade procedure, without upgrading anything: version order and
compatibility window, MySQL/MariaDB settings, a fresh backup, and the database conversion tried on a
COPY of the database (never the live one)."""
import re
import time
from dataclasses import replace
from pathlib import Path

from slurmops.runbook import Check, Cmd, Param, Runbook, RunbookError, Step
from slurmops.runbook.loader import load_file
from slurmops.runbook.model import fill
from slurmops.runbook.steps import graded, verdict

# Reuse database-backup's dump step as it is, except that a later failure must not delete the backup.
_BACKUP = load_file(Path(__file__).with_name("database_backup.py"))
DUMP_STEP = replace(_BACKUP.steps[1], title="Back up the database (database-backup's dump)",
                    rollback=[Cmd(("rm", "-f", "--", "{dest_dir}/{db_name}-{ts}.sql.part"),
                                  why="no partial dump; a complete backup is kept")])

# Major releases in order (upgrades.shtml, Release Cycle / Compatibility Window).
RELEASES = ("20.02", "20.11", "21.08", "22.05", "23.02", "23.11", "24.05", "24.11", "25.05", "25.11",
            "26.05", "26.11")
SCRATCH = "{backup_dir}/upgrade-check-{run_id}"
MY = "--defaults-file={my_cnf}"


def mysql(*args: str) -> tuple[str, ...]:
    return ("mysql", MY, "--batch", "--skip-column-names", *args)


def sql(ctx, *args: str) -> list[str]:
    """The same argv for a check's own ctx.run (checks fill their placeholders themselves)."""
    return [fill(a, ctx.values) for a in mysql(*args)]


def _kv(text: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, s, v in (ln.partition("=") for ln in text.splitlines()) if s}


def major(version: str) -> str:
    m = re.match(r"(\d+\.\d+)", version or "")
    return m.group(1) if m else ""


def window(release: str) -> int:
    """How many earlier major releases a release accepts: two up to 24.05, three from 24.11 on."""
    return 3 if release >= "24.11" else 2


def distance(old: str, new: str) -> int | None:
    if old not in RELEASES or new not in RELEASES:
        return None
    return RELEASES.index(new) - RELEASES.index(old)


def upgrade_path(old: str, new: str) -> list[str]:
    """Steps from old to new, each within the newer release's window, as few as possible."""
    path, cur = [], old
    while cur != new:
        nxt = max((r for r in RELEASES if cur < r <= new and distance(cur, r) <= window(r)), default=None)
        if nxt is None:
            return []
        path.append(nxt)
        cur = nxt
    return path


def _conf_storage_user(ctx, dbd_conf: str) -> str:
    """StorageUser from slurmdbd.conf itself, where `sacctmgr show config` leaves it empty (observed
    on 26.05.5). The file holds StoragePass: read as secret output, only StorageUser is kept."""
    if not dbd_conf:
        return ""
    out = ctx.run(["cat", "--", dbd_conf], timeout=10, secret_output=True)
    for ln in out.stdout.splitlines():
        k, sep, v = ln.split("#", 1)[0].partition("=")
        if sep and k.strip().lower() == "storageuser" and re.fullmatch(r"[A-Za-z0-9_.\-]+", v.strip()):
            return v.strip()
    return ""


def derive(ctx):
    dbd = ctx.run(["sacctmgr", "show", "config"], timeout=30)
    conf = _kv(dbd.stdout.split("SlurmDBD configuration:", 1)[-1])
    if dbd.rc != 0 or "SLURMDBD_VERSION" not in conf:
        raise RunbookError("cannot read slurmdbd's configuration (`sacctmgr show config`); is slurmdbd up?")
    db = conf.get("StorageLoc") or ctx.values["db_name"]
    if not re.fullmatch(r"[A-Za-z0-9_]+", db):
        raise RunbookError(f"StorageLoc {db!r}: letters, digits and _ only")
    user = conf.get("StorageUser") or _conf_storage_user(ctx, conf.get("SLURMDBD_CONF", "")) or "slurm"
    scratch_db = f"{db}_upgchk_{re.sub(r'[^0-9a-f]', '', ctx.values['run_id'].rsplit('-', 1)[-1])}"
    my_cnf = ctx.params.get("defaults_file") or ctx.values["my_cnf"]
    hosts = ctx.run(["mysql", f"--defaults-file={my_cnf}", "--batch", "--skip-column-names",
                     f"--execute=SELECT host FROM mysql.user WHERE user = '{user}'"], timeout=30)
    grant_hosts = [h for h in hosts.stdout.split() if re.fullmatch(r"[A-Za-z0-9_.%:\-]+", h)]
    if hosts.rc != 0 or not grant_hosts:
        raise RunbookError(f"cannot find MySQL user {user!r} (mysql.user) with the defaults file {my_cnf}")
    helptext = ctx.run([ctx.params.get("slurmdbd") or "slurmdbd", "-h"], timeout=15)
    port = int(conf.get("DbdPort", "6819")) + 100
    return {
        "db_name": db, "my_cnf": my_cnf, "dest_dir": ctx.values["backup_dir"],
        "dbd_conf": conf.get("SLURMDBD_CONF", "/etc/slurm/slurmdbd.conf"),
        "dbd_version": conf["SLURMDBD_VERSION"], "storage_user": user,
        "storage_hosts": ",".join(grant_hosts), "scratch_db": scratch_db, "scratch_dir": SCRATCH.format(**ctx.values),
        "scratch_port": str(ctx.params.get("scratch_port") or port),
        "slurmdbd_bin": ctx.params.get("slurmdbd") or "slurmdbd",
        "dbd_has_u": "yes" if re.search(r"(?m)^\s*-u\b", helptext.stdout + helptext.stderr) else "no",
        "storage_host": conf.get("StorageHost", "localhost"),
    }


# ---- step 1: versions and database settings -------------------------------------------------------
def versions(ctx):
    """upgrades.shtml: slurmdbd at the same or a higher major release than slurmctld, slurmctld at
    or above slurmd, each within the compatibility window; with target_version, every running
    component must be within the target's window, or the upgrade goes in steps."""
    dbd = ctx.values["dbd_version"]
    ctld = _kv(ctx.run(["scontrol", "show", "config"], timeout=15).stdout).get("SLURM_VERSION", "")
    out = ctx.run(["sinfo", "-h", "-N", "-o", "%N %v"], timeout=15)
    slurmd = {}
    for ln in out.stdout.splitlines():
        parts = ln.split()
        if len(parts) == 2 and parts[1] not in ("N/A", "(null)"):
            slurmd.setdefault(parts[1], []).append(parts[0])
    if not ctld:
        return "FAIL", "cannot read slurmctld's version (scontrol show config)"
    text = f"slurmdbd {dbd}, slurmctld {ctld}, slurmd " + (", ".join(
        f"{v} ({len(n)} nodes)" for v, n in sorted(slurmd.items())) or "none answering")
    fails = []
    d, c = major(dbd), major(ctld)
    if d < c:
        fails.append(f"slurmdbd {d} is older than slurmctld {c}: upgrade slurmdbd first")
    elif distance(c, d) is not None and distance(c, d) > window(d):
        fails.append(f"slurmctld {c} is {distance(c, d)} releases behind slurmdbd {d} (window {window(d)})")
    for v in slurmd:
        s = major(v)
        if s > c:
            fails.append(f"slurmd {s} is newer than slurmctld {c}")
        elif distance(s, c) is not None and distance(s, c) > window(c):
            fails.append(f"slurmd {s} is {distance(s, c)} releases behind slurmctld {c} (window {window(c)})")
    target = major(ctx.params.get("target_version") or "")
    if target:
        if target not in RELEASES:
            fails.append(f"target {target}: not a known major release ({', '.join(RELEASES)})")
        elif target < d:
            fails.append(f"target {target} is older than slurmdbd {d}: downgrades are not supported")
        else:
            oldest = min([d, c, *(major(v) for v in slurmd)])
            if distance(oldest, target) > window(target):
                path = upgrade_path(oldest, target)
                fails.append(f"{oldest} -> {target} is {distance(oldest, target)} releases, beyond "
                             f"{target}'s window of {window(target)}: upgrade in steps "
                             f"{' -> '.join([oldest, *path]) if path else '(no path)'}")
            else:
                text += f"; target {target}: within its window of {window(target)} releases"
    return ("FAIL", "; ".join(fails) + f" [{text}]") if fails else ("PASS", text + "; order and windows ok")


def db_settings(ctx):
    """accounting.shtml (25.05.5): innodb_buffer_pool_size at least 4 GiB and 5-50 % of the DB
    server's memory, innodb_log_file_size 25 % of it, innodb_lock_wait_timeout 900, max_allowed_packet
    at least 16M; upgrades.shtml: the buffer pool must be larger than the default before an upgrade."""
    out = ctx.run(sql(ctx, "--execute=SELECT @@innodb_buffer_pool_size, @@innodb_log_file_size, "
                             "@@innodb_lock_wait_timeout, @@max_allowed_packet, @@version"), timeout=30)
    vals = out.stdout.split()
    if out.rc != 0 or len(vals) < 5:
        return "FAIL", f"cannot read the server variables (exit {out.rc})"
    pool, logf, lockw, packet = (int(v) for v in vals[:4])
    warns = []
    gib, mib = 1024 ** 3, 1024 ** 2
    if pool <= 128 * mib:
        warns.append(f"innodb_buffer_pool_size {pool // mib}M is the default (upgrades.shtml: must be larger)")
    elif pool < 4 * gib:
        warns.append(f"innodb_buffer_pool_size {pool // mib}M < 4096M")
    if ctx.values["storage_host"] in ("localhost", "127.0.0.1", "::1"):
        mem = ctx.run(["cat", "/proc/meminfo"], timeout=10).stdout
        m = re.search(r"MemTotal:\s+(\d+) kB", mem)
        if m:
            share = pool / (int(m.group(1)) * 1024) * 100
            if not 5 <= share <= 50:
                warns.append(f"buffer pool is {share:.1f} % of this host's memory (5-50 %)")
    if logf < pool // 4:
        warns.append(f"innodb_log_file_size {logf // mib}M < 25 % of the buffer pool ({pool // 4 // mib}M)")
    if lockw < 900:
        warns.append(f"innodb_lock_wait_timeout {lockw} < 900")
    if packet < 16 * mib:
        warns.append(f"max_allowed_packet {packet // mib}M < 16M")
    # MariaDB 11.8 defaults it on; slurmdbd 26.05 logs that it will fatal on a write conflict then
    # (observed in the lab). Older servers lack the variable: the query fails, nothing to say.
    snap = ctx.run(sql(ctx, "--execute=SELECT @@innodb_snapshot_isolation"), timeout=30)
    if snap.rc == 0 and snap.stdout.strip() == "1":
        warns.append("innodb_snapshot_isolation is ON: slurmdbd (26.05) fatals on a write conflict; set it OFF")
    text = (f"{' '.join(vals[4:])}: buffer pool {pool // mib}M, log file {logf // mib}M, lock wait {lockw} s, "
            f"max_allowed_packet {packet // mib}M")
    return ("WARN", "; ".join(warns) + f" [{text}]") if warns else ("PASS", text)


def dbd_u_support(ctx):
    if ctx.values["dbd_has_u"] == "yes":
        return "PASS", f"{ctx.values['slurmdbd_bin']} has -u: the conversion check asks it on the copy"
    return "PASS", (f"{ctx.values['slurmdbd_bin']} {ctx.values['dbd_version']} has no -u (slurmdbd(8) "
                    "22.05.8 lists none; 25.05.5 does): the conversion is tried by starting it on the copy")


# ---- steps 3-5: the copy, the conversion, clean-up --------------------------------------------------
def grants(ctx, verb: str) -> list[Cmd]:
    what = "GRANT ALL ON `{scratch_db}`.* TO" if verb == "grant" else "REVOKE ALL PRIVILEGES ON `{scratch_db}`.* FROM"
    return [Cmd(mysql(f"--execute={what} '{{storage_user}}'@'{host}'"), ok_rc=(0,) if verb == "grant" else (0, 1),
                why=f"{verb} {ctx.values['storage_user']}@{host}")
            for host in ctx.values["storage_hosts"].split(",")]


def stop_scratch(ctx):
    """TERM the scratch slurmdbd: only the pid in the scratch PidFile, and only if that process runs
    with SLURM_CONF pointing into the scratch dir (a reused pid is never signalled)."""
    d = ctx.values["scratch_dir"]
    pid = ctx.run(["cat", "--", f"{d}/slurmdbd.pid"], timeout=10).stdout.strip()
    if not pid.isdigit():
        return True, "no scratch slurmdbd running"
    env = ctx.run(["cat", f"/proc/{pid}/environ"], timeout=10, secret_output=True)
    if f"SLURM_CONF={d}/slurm.conf" not in env.stdout.split("\x00"):
        return True, f"pid {pid} is not the scratch slurmdbd (gone): nothing to stop"
    ctx.run(["kill", "-TERM", pid], timeout=10)
    for _ in range(60):
        if ctx.run(["kill", "-0", pid], timeout=10).rc != 0:
            return True, f"scratch slurmdbd {pid} stopped"
        time.sleep(1)
    return False, f"scratch slurmdbd {pid} still runs 60 s after SIGTERM"


def cleanup(ctx) -> list:
    """Safe to run at any point: each part does nothing when there is nothing to undo."""
    return [Check("stop the scratch slurmdbd", stop_scratch, "SIGTERM to the pid in its PidFile"),
            Cmd(mysql("--execute=DROP DATABASE IF EXISTS `{scratch_db}`"), why="drop the copy"),
            *grants(ctx, "revoke"),
            Cmd(("rm", "-rf", "--", "{scratch_dir}"), why="the copy's dump and config (holds the DB password)")]


def scratch_conf_ok(ctx):
    """The scratch slurmdbd.conf points at the copy, its own port, pid and log, and archives or
    purges nothing (so it never writes into the real ArchiveDir). Read as secret output."""
    d = ctx.values["scratch_dir"]
    out = ctx.run(["cat", "--", f"{d}/slurmdbd.conf"], timeout=10, secret_output=True)
    keys: dict[str, list[str]] = {}
    for ln in out.stdout.splitlines():
        k, s, v = ln.split("#", 1)[0].partition("=")
        if s:
            keys.setdefault(k.strip().lower(), []).append(v.strip())
            if k.strip().lower() == "storagepass":
                ctx.secret(v.strip())
    want = {"storageloc": ctx.values["scratch_db"], "dbdport": ctx.values["scratch_port"],
            "pidfile": f"{d}/slurmdbd.pid", "logfile": f"{d}/slurmdbd.log"}
    bad = [f"{k}={keys.get(k)}" for k, v in want.items() if keys.get(k) != [v]]
    bad += [k for k in keys if k.startswith(("archive", "purge"))]
    return not bad, ("scratch config: " + (", ".join(bad) if bad else "points at the copy only"))


def port_free(ctx):
    out = ctx.run(["ss", "-H", "-l", "-t", "-n", "sport", "=", f":{ctx.values['scratch_port']}"], timeout=10)
    return out.rc == 0 and not out.stdout.strip(), f"port {ctx.values['scratch_port']} " + (
        "free" if not out.stdout.strip() else "in use (scratch_port=...)")


def schema_version(ctx, db_key: str) -> str:
    out = ctx.run(sql(ctx, f"--execute=SELECT version FROM `{ctx.values[db_key]}`.convert_version_table"),
                  timeout=30)
    return out.stdout.strip() or "?"


def copy_matches(ctx):
    live = schema_version(ctx, "db_name")
    copy = schema_version(ctx, "scratch_db")
    count = ctx.run(sql(ctx, "--execute=SELECT table_schema, COUNT(*) FROM information_schema.tables WHERE "
                               f"table_schema IN ('{ctx.values['db_name']}', '{ctx.values['scratch_db']}') "
                               "GROUP BY table_schema"), timeout=30)
    n = dict(ln.split("\t") for ln in count.stdout.splitlines() if "\t" in ln)
    ctx.memory["schema_before"] = copy
    ok = n.get(ctx.values["db_name"]) == n.get(ctx.values["scratch_db"]) and live == copy != "?"
    return ok, f"copy: {n.get(ctx.values['scratch_db'])} tables (live {n.get(ctx.values['db_name'])}), " \
               f"schema version {copy} (live {live})"


def dbd_u(ctx):
    out = ctx.run(["env", f"SLURM_CONF={ctx.values['scratch_dir']}/slurm.conf", ctx.values["slurmdbd_bin"], "-u"],
                  timeout=120)
    text = (out.stdout + out.stderr).strip().replace("\n", " ")[:200]
    if out.rc == 0:
        return True, f"slurmdbd -u: no conversion needed ({text})"
    if out.rc == 1:
        ctx.memory["needs_conversion"] = True
        return True, f"slurmdbd -u: conversion needed: the first start converts ({text})"
    return False, f"slurmdbd -u exit {out.rc}: {text}"


def started_on_copy(ctx):
    """Poll the scratch log until slurmdbd says it started (conversion done) or dies."""
    d, limit = ctx.values["scratch_dir"], ctx.params["conversion_timeout"]
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        log = ctx.run(["cat", "--", f"{d}/slurmdbd.log"], timeout=10).stdout
        if re.search(r"slurmdbd version \S+ started", log):
            ctx.memory["start_s"] = time.monotonic() - t0
            return True, f"started on the copy after {time.monotonic() - t0:.0f} s"
        fatal = re.search(r"(?m)^.*fatal.*$", log)
        if fatal:
            return False, f"slurmdbd died on the copy: {fatal.group(0)[-200:]}"
        pid = ctx.run(["cat", "--", f"{d}/slurmdbd.pid"], timeout=10).stdout.strip()
        if time.monotonic() - t0 > 10 and not pid:
            return False, "slurmdbd exited without a PidFile; see " + f"{d}/slurmdbd.log"
        time.sleep(1)
    return False, f"not started after {limit} s (conversion_timeout)"


def conversion_report(ctx):
    d = ctx.values["scratch_dir"]
    log = ctx.run(["cat", "--", f"{d}/slurmdbd.log"], timeout=10).stdout
    after = schema_version(ctx, "scratch_db")
    before = ctx.memory.get("schema_before", "?")
    conv = [ln.split("] ", 1)[-1] for ln in log.splitlines() if re.search(r"(?i)convert|conversion", ln)]
    errors = [ln.split("] ", 1)[-1] for ln in log.splitlines() if re.search(r"error:|fatal", ln)]
    settings = [e for e in errors if "not recommended values" in e]
    real_errors = [e for e in errors if e not in settings]
    what = (f"schema {before} -> {after}: " + ("converted" if before != after else "no conversion needed")
            + f"; {len(conv)} conversion log lines" + (f" (last: {conv[-1][:120]})" if conv else ""))
    if settings:
        what += f"; slurmdbd: {settings[0][:160]}"
    if real_errors:
        return False, what + f"; errors: {'; '.join(e[:160] for e in real_errors[:3])}"
    return True, what


RUNBOOK = Runbook(
    name="slurmdbd-upgrade-check",
    title="slurmdbd upgrade checks (versions, DB settings, backup, conversion on a copy)",
    purpose="Everything SchedMD's slurmdbd upgrade procedure asks to verify before the new slurmdbd "
            "starts on the real database, without upgrading anything: the version order (slurmdbd >= "
            "slurmctld >= slurmd) and compatibility window (also towards target_version), the "
            "MySQL/MariaDB settings, a fresh backup (database-backup's dump), and the schema "
            "conversion tried on a COPY of the database in a scratch database with a scratch "
            "slurmdbd (its own port, pid and log), which is then stopped and dropped.",
    when="Before upgrading slurmdbd (upgrades.shtml: slurmdbd is upgraded first). Run it with the NEW "
         "slurmdbd binary (slurmdbd=/path/to/new/sbin/slurmdbd, e.g. on a test host with the new "
         "packages) to see whether and how long the first start converts the database.",
    params=[
        Param("target_version", "the release you plan to upgrade to (e.g. 25.05): checks the window",
              pattern=r"\d\d\.\d\d(\.\d+)?"),
        Param("slurmdbd", "slurmdbd binary to try on the copy (default: slurmdbd in PATH)", type="path"),
        Param("conversion_timeout", "seconds the scratch slurmdbd may take to convert and start",
              type="int", default=900),
        Param("scratch_port", "DbdPort of the scratch slurmdbd (default: DbdPort + 100)", type="int"),
        Param("defaults_file", "MySQL client options file with admin rights (default: the target's my_cnf)",
              type="path"),
        Param("strict", "warnings (e.g. DB settings below the recommendations) fail the run", type="bool",
              default=False),
    ],
    derive=derive,
    steps=[
        Step("Versions and database settings", "read-only: every finding, then the verdict",
             check=[graded("version order and window", versions, "sacctmgr/scontrol show config, sinfo %v"),
                    graded("MySQL/MariaDB settings", db_settings, "innodb_* and max_allowed_packet"),
                    graded("slurmdbd -u available", dbd_u_support, "slurmdbd -h"),
                    verdict()]),
        DUMP_STEP,
        Step("Copy the database into a scratch database", "the conversion is never tried on the live DB",
             check=[Check("scratch port free", port_free, "ss -ltn"),
                    Cmd(("test", "-r", "{dbd_conf}"), why="slurmdbd.conf readable here (run on the slurmdbd host)"),
                    Cmd(mysql("--execute=SHOW DATABASES LIKE '{scratch_db}'"), reject=r"\S",
                        why="no database of that name yet")],
             action=lambda ctx: [
                 Cmd(("mkdir", "-p", "-m", "0700", "{scratch_dir}"), why="scratch dir"),
                 Cmd(("install", "-m", "0600", "/dev/null", "{scratch_dir}/copy.sql"), why="0600"),
                 Cmd(("mysqldump", MY, "--single-transaction", "--quick", "--routines", "--triggers",
                      "{db_name}", "--result-file={scratch_dir}/copy.sql"), timeout_s=1800,
                     why="dump without CREATE DATABASE/USE, so it loads into another name"),
                 Cmd(mysql("--execute=CREATE DATABASE `{scratch_db}`"), why="scratch database"),
                 Cmd(mysql("--database={scratch_db}", "--abort-source-on-error",
                           "--execute=source {scratch_dir}/copy.sql"), timeout_s=3600, reject=r"(?m)^ERROR \d+",
                     why="load the copy"),
                 *grants(ctx, "grant"),
                 Cmd(("cp", "--", "{slurm_conf}", "{scratch_dir}/slurm.conf"), why="slurm.conf beside it"),
                 Cmd(("install", "-m", "0600", "--", "{dbd_conf}", "{scratch_dir}/slurmdbd.conf"),
                     why="copy of slurmdbd.conf, 0600 (holds the DB password; never printed)"),
                 Cmd(("sed", "-i", "-E", "-e", r"/^[[:space:]]*(StorageLoc|DbdPort|PidFile|LogFile|DebugLevel|"
                      r"Archive[A-Za-z]*|Purge[A-Za-z]*|DbdBackupHost)[[:space:]]*=/Id",
                      "{scratch_dir}/slurmdbd.conf"), why="drop what must differ, and archive/purge"),
                 Cmd(("sed", "-i", "-e", "$a StorageLoc={scratch_db}", "-e", "$a DbdPort={scratch_port}",
                      "-e", "$a PidFile={scratch_dir}/slurmdbd.pid", "-e", "$a LogFile={scratch_dir}/slurmdbd.log",
                      "-e", "$a DebugLevel=verbose", "{scratch_dir}/slurmdbd.conf"), why="point it at the copy")],
             verify=[Check("scratch config points at the copy only", scratch_conf_ok, "parsed, password redacted"),
                     Check("copy matches the live database", copy_matches, "table count, convert_version_table")],
             rollback=cleanup, timeout_s=4000),
        Step("Conversion check on the copy", "slurmdbd -u where it exists (25.05: 'if conversion is needed "
             "and exit'), then a real start of slurmdbd on the copy, which converts it, and a clean stop",
             action=lambda ctx: [
                 *([Check("slurmdbd -u on the copy", dbd_u, "exit 0: no conversion, 1: needed")]
                   if ctx.values["dbd_has_u"] == "yes" else []),
                 Cmd(("env", "SLURM_CONF={scratch_dir}/slurm.conf", "{slurmdbd_bin}"), timeout_s=60,
                     why="start slurmdbd (daemon) on the copy"),
                 Check("slurmdbd started on the copy", started_on_copy, "its log says 'started'"),
                 Check("stop the scratch slurmdbd", stop_scratch, "SIGTERM, clean shutdown")],
             verify=[Check("conversion report", conversion_report,
                           "convert_version_table before/after, log lines about conversion, errors")],
             rollback=cleanup, timeout_s=3600),
        Step("Remove the scratch copy", "drop the scratch database, revoke, delete the scratch dir",
             action=cleanup,
             verify=[Cmd(mysql("--execute=SHOW DATABASES LIKE '{scratch_db}'"), reject=r"\S", why="dropped"),
                     Cmd(("test", "!", "-e", "{scratch_dir}"), why="scratch dir removed")]),
    ],
    references=[
        "SchedMD, Upgrade Guide (upgrades.shtml), 25.05.5: Compatibility Window (two earlier major "
        "releases, three from 24.11), slurmdbd at the same or higher release than slurmctld and "
        "upgraded first, Create Backups, innodb_buffer_pool_size larger than the default, "
        "`slurmdbd -D` for the first start after an upgrade",
        "SchedMD, Accounting and Resource Limits (accounting.shtml), 25.05.5: innodb_buffer_pool_size, "
        "innodb_log_file_size, innodb_lock_wait_timeout=900, max_allowed_packet",
        "slurmdbd(8): 25.05.5 man page `-u` (display whether conversion is needed and exit: 0 no, 1 "
        "yes); the 22.05.8 man page has no -u",
    ],
    notes="Version-dependent: `slurmdbd -u` exists in 25.05 (slurmdbd(8) 25.05.5) but not in 22.05 "
          "(slurmdbd(8) 22.05.8 lists -D -h -n -R -s -v -V only; `slurmdbd -h` is read at plan time "
          "to decide). Without it the check starts the given slurmdbd on the copy and compares "
          "convert_version_table before and after; with 22.05 in the lab that start converts nothing "
          "and proves the copy loads and slurmdbd starts on it. The compatibility window is two "
          "earlier releases up to 24.05 and three from 24.11 (upgrades.shtml); the MySQL "
          "recommendations are those of 25.05.5's accounting.shtml (22.05.8's only asks for larger "
          "than default values). The scratch slurmdbd has its own DbdPort, PidFile and LogFile, no "
          "Archive*/Purge* settings (so it never writes into the real ArchiveDir), and talks to no "
          "slurmctld of its own accord. The backup dump is kept; the scratch copy (dump and a 0600 "
          "slurmdbd.conf holding the DB password) is deleted at the end and on rollback.",
)
