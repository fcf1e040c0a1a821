"""Check slurmdbd's archive/purge settings against the database they act on. Read-only."""
import re

from slurmops.runbook import Param, Runbook, RunbookError, Step
from slurmops.runbook.steps import graded, verdict

OBJECTS = ("Event", "Job", "Resv", "Step", "Suspend", "TXN", "Usage")
# Archive* flags are plural for some objects in slurmdbd.conf(5).
ARCHIVE_KEY = {"Event": "ArchiveEvents", "Job": "ArchiveJobs", "Resv": "ArchiveResvs", "Step": "ArchiveSteps",
               "Suspend": "ArchiveSuspend", "TXN": "ArchiveTXN", "Usage": "ArchiveUsage"}
SECRET_KEYS = re.compile(r"(?i)pass|secret|key$")
MONTH_S = 30 * 86400


def dbd_config(ctx) -> dict[str, str]:
    """`sacctmgr show config`'s "SlurmDBD configuration" section, as slurmdbd itself reports it: no
    password in it (slurmdbd does not send StoragePass), and nothing read from slurmdbd.conf."""
    if "dbd_conf" in ctx.memory:
        return ctx.memory["dbd_conf"]
    out = ctx.run(["sacctmgr", "show", "config"], timeout=30)
    if out.rc != 0:
        raise RunbookError(f"sacctmgr show config: exit {out.rc}; is slurmdbd up?")
    section = out.stdout.split("SlurmDBD configuration:", 1)
    if len(section) != 2:
        raise RunbookError("sacctmgr show config has no 'SlurmDBD configuration' section")
    conf = {}
    for ln in section[1].splitlines():
        k, sep, v = ln.partition("=")
        if sep and not SECRET_KEYS.search(k.strip()):
            conf[k.strip()] = v.strip()
    ctx.memory["dbd_conf"] = conf
    return conf


def derive(ctx):
    conf = dbd_config(ctx)
    db = conf.get("StorageLoc") or ctx.values["db_name"]
    if not re.fullmatch(r"[A-Za-z0-9_]+", db):
        raise RunbookError(f"StorageLoc {db!r}: letters, digits and _ only")
    return {"db_name": db, "archive_dir": conf.get("ArchiveDir", "/tmp"),
            "slurm_user": conf.get("SlurmUser", "slurm").split("(")[0],
            "my_cnf": ctx.params.get("defaults_file") or ctx.values["my_cnf"]}


def purge_seconds(value: str) -> int | None:
    """slurmdbd.conf(5): a number of months, or with 'hours'/'days' (also 'months'); NONE: never."""
    v = (value or "").strip().lower()
    if v in ("", "none", "(null)", "0"):
        return None
    m = re.fullmatch(r"(\d+)\s*(hours?|days?|months?)?", v)
    if not m:
        return -1
    n, unit = int(m.group(1)), (m.group(2) or "months")
    return n * {"h": 3600, "d": 86400, "m": MONTH_S}[unit[0]]


def settings(ctx):
    """Risky combinations: purge without archive (records are deleted for good), archive without
    purge (archiving happens only when purging, so nothing is archived), usage purged before jobs."""
    conf = dbd_config(ctx)
    script = conf.get("ArchiveScript", "(null)") not in ("(null)", "")
    purged, warns, fails, lines = {}, [], [], []
    for obj in OBJECTS:
        raw = conf.get(f"Purge{obj}After", "NONE")
        secs = purge_seconds(raw)
        arch = conf.get(ARCHIVE_KEY[obj], "No").lower() in ("yes", "1", "true")
        if secs == -1:
            fails.append(f"Purge{obj}After={raw} is not a number of months/days/hours")
            continue
        purged[obj] = secs
        lines.append(f"{obj}: purge {raw if secs else 'never'}, archive {'yes' if arch else 'no'}")
        if secs and not arch and not script:
            warns.append(f"Purge{obj}After={raw} without {ARCHIVE_KEY[obj]}: purged records are deleted for good")
        if arch and not secs:
            warns.append(f"{ARCHIVE_KEY[obj]}=yes without Purge{obj}After: archiving only happens when purging")
    if purged.get("Usage") and purged.get("Job") and purged["Usage"] < purged["Job"]:
        warns.append("PurgeUsageAfter is shorter than PurgeJobAfter: sreport and fairshare history end "
                     "before the job records do")
    if not any(purged.values()):
        ctx.memory["no_purge"] = True
        warns.append("nothing is ever purged (accounting.shtml: make a retention plan early)")
    summary = "; ".join(lines)
    if fails:
        return "FAIL", "; ".join(fails) + f" [{summary}]"
    return ("WARN" if warns else "PASS"), ("; ".join(warns) + " | " if warns else "") + summary


def archive_dir(ctx):
    """Where slurmdbd writes archive files (when it archives itself, without ArchiveScript): it must
    exist, be writable by SlurmUser, not be the /tmp default; free space reported."""
    conf = dbd_config(ctx)
    archiving = any(conf.get(k, "No").lower() == "yes" for k in ARCHIVE_KEY.values())
    script = conf.get("ArchiveScript", "(null)") not in ("(null)", "")
    d, user = ctx.values["archive_dir"], ctx.values["slurm_user"]
    if not archiving:
        return "PASS", f"no Archive* enabled: ArchiveDir ({d}) unused"
    if script:
        return "PASS", f"ArchiveScript set: it, not slurmdbd, writes the archives (ArchiveDir {d} unused)"
    if ctx.run(["test", "-d", d], timeout=10).rc != 0:
        return "FAIL", f"ArchiveDir {d} does not exist: the purge fails and nothing is purged"
    writable = ctx.run(["runuser", "-u", user, "--", "test", "-w", d], timeout=10)
    if writable.rc != 0:
        return "FAIL", f"ArchiveDir {d} is not writable by SlurmUser {user}"
    df = ctx.run(["df", "-P", "-k", d], timeout=10)
    free = df.stdout.splitlines()[-1].split()[3] if df.rc == 0 and len(df.stdout.splitlines()) > 1 else "?"
    free_txt = f"{int(free) / 1048576:.1f} GiB free" if free.isdigit() else "free space unknown"
    if d.rstrip("/") == "/tmp":
        return "WARN", f"ArchiveDir is /tmp (the default): archives there may be cleaned away; {free_txt}"
    return "PASS", f"ArchiveDir {d} writable by {user}; {free_txt}"


def _mysql(ctx, sql: str):
    return ctx.run(["mysql", f"--defaults-file={ctx.values['my_cnf']}", "--batch", "--skip-column-names",
                    f"--execute={sql}"], timeout=120)


def table_sizes(ctx):
    """information_schema: the biggest tables and the total. A database without purge that is large
    is a WARN (upgrades are slower: upgrades.shtml suggests purging before an upgrade)."""
    db = ctx.values["db_name"]
    out = _mysql(ctx, "SELECT table_name, table_rows, data_length + index_length FROM "
                      f"information_schema.tables WHERE table_schema = '{db}' ORDER BY 3 DESC")
    if out.rc != 0:
        return "FAIL", f"information_schema: exit {out.rc}: {out.stderr.strip()[:160]}"
    rows = [ln.split("\t") for ln in out.stdout.splitlines() if ln.count("\t") == 2]
    if not rows:
        return "FAIL", f"no tables in {db}"
    total = sum(int(r[2]) for r in rows if r[2].isdigit())
    top = ", ".join(f"{r[0]} {int(r[2]) / 1048576:.1f} MiB ({r[1]} rows)" for r in rows[:5])
    big = total > ctx.params["large_db_gib"] * 1024 ** 3
    ctx.memory["db_bytes"] = total
    detail = f"{db}: {len(rows)} tables, {total / 1048576:.1f} MiB; largest: {top}"
    if big and ctx.memory.get("no_purge"):
        return "WARN", f"{detail}; over {ctx.params['large_db_gib']} GiB and never purged"
    return "PASS", detail


def oldest_records(ctx):
    """With PurgeJobAfter set, no job record may be much older than that: if there are, the purge
    does not run (slurmdbd log: archive/purge errors)."""
    conf = dbd_config(ctx)
    db = ctx.values["db_name"]
    tables = _mysql(ctx, f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{db}' "
                         "AND table_name LIKE '%\\_job\\_table'")
    names = [t for t in tables.stdout.split() if re.fullmatch(r"[A-Za-z0-9_]+_job_table", t)]
    if not names:
        return "PASS", "no job tables yet"
    purge = purge_seconds(conf.get("PurgeJobAfter", "NONE"))
    found, level = [], "PASS"
    for t in names:
        out = _mysql(ctx, f"SELECT COUNT(*), COALESCE(UNIX_TIMESTAMP() - MIN(NULLIF(time_submit, 0)), 0) "
                          f"FROM `{db}`.`{t}`")
        try:
            count, age = (int(float(x)) for x in out.stdout.split())
        except ValueError:
            return "FAIL", f"cannot read {t}: exit {out.rc}"
        found.append(f"{t[:-len('_job_table')]}: {count} jobs, oldest {age / 86400:.1f} days")
        if purge and purge > 0 and age > purge + 2 * MONTH_S:
            level = "WARN"
            found[-1] += " (older than PurgeJobAfter + 2 months: is the purge running?)"
    return level, "; ".join(found)


RUNBOOK = Runbook(
    name="slurmdbd-archive-check",
    title="Check slurmdbd archive/purge settings",
    purpose="Read slurmdbd's Archive*/Purge* settings as slurmdbd reports them (`sacctmgr show config`, "
            "so the DB password is never read) and check them against the database: purge without "
            "archive, archive without purge, usage purged before jobs, ArchiveDir missing or not "
            "writable by SlurmUser, no purge on a large database, job records older than the purge "
            "age; table sizes from information_schema. Read-only; PASS/WARN/FAIL per finding.",
    when="When planning data retention (accounting.shtml: 'make a plan for data retention shortly after "
         "setting up accounting'), before a slurmdbd upgrade (purging first shortens it: "
         "upgrades.shtml), after changing slurmdbd.conf, when the database grows fast.",
    params=[
        Param("large_db_gib", "a database over this size without any purge is a WARN", type="int", default=10),
        Param("defaults_file", "MySQL client options file (default: the target's my_cnf)", type="path"),
        Param("strict", "warnings fail the run too", type="bool", default=False),
    ],
    derive=derive,
    steps=[
        Step("Archive/purge settings and database size", "read-only: every finding, then the verdict",
             check=[graded("archive/purge settings", settings, "sacctmgr show config: Archive*, Purge*After"),
                    graded("ArchiveDir", archive_dir, "exists, writable by SlurmUser, free space"),
                    graded("table sizes", table_sizes, "information_schema.tables"),
                    graded("oldest job records", oldest_records, "MIN(time_submit) per cluster job table"),
                    verdict()],
             timeout_s=300),
    ],
    references=[
        "SchedMD, Accounting and Resource Limits (accounting.shtml): SlurmDBD Archive and Purge, units "
        "of the purge options",
        "slurmdbd.conf(5), 22.05.8 man page: ArchiveDir (default /tmp), Archive{Events,Jobs,Resvs,Steps,"
        "Suspend,TXN,Usage}, ArchiveScript, Purge*After (months, or hours/days; unset: never purged)",
        "SchedMD, Upgrade Guide (upgrades.shtml): purging old records before an upgrade shortens the outage",
    ],
    notes="Settings come from slurmdbd itself (`sacctmgr show config`, section 'SlurmDBD configuration'), "
          "which does not include StoragePass; keys that look like secrets are dropped anyway. "
          "ArchiveDir is checked on the target host, so run this on the slurmdbd host (`--ssh`). "
          "Table sizes are InnoDB's estimates (information_schema), good to the order of magnitude.",
)
