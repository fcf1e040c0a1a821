"""Restore the Slurm accounting database from a database-backup dump, with a safety dump to roll back to."""
import re

from slurmops.runbook import Check, Cmd, Param, Runbook, RunbookError, Service, Step
from slurmops.runbook.health import health_checks, postflight, slurmdbd_answers
from slurmops.runbook.model import fill

SAFE_PATH = r"/[A-Za-z0-9_./@:+-]+"      # `source` in the mysql client takes the rest of the line
SAFETY = "{backup_dir}/{db_name}-pre-restore-{run_id}.sql"
MY = "--defaults-file={my_cnf}"


def mysql(*args: str) -> tuple[str, ...]:
    return ("mysql", MY, "--batch", "--skip-column-names", *args)


def sql(ctx, *args: str) -> list[str]:
    """The same argv for a check's own ctx.run (checks fill their placeholders themselves)."""
    return [fill(a, ctx.values) for a in mysql(*args)]


def load(path: str, why: str) -> Cmd:
    """`source` through the mysql client, stopping at the first error (MariaDB's client otherwise
    reports the error and carries on, exiting 0); `reject` catches a client without that option."""
    return Cmd(mysql("--abort-source-on-error", "--execute=source " + path), why=why, timeout_s=3600,
               reject=r"(?m)^ERROR \d+")


def derive(ctx):
    db = ctx.values["db_name"]
    if not re.fullmatch(r"[A-Za-z0-9_]+", db):
        raise RunbookError(f"db_name {db!r}: letters, digits and _ only")
    out = ctx.run(["scontrol", "show", "config"], timeout=15)
    cluster = next((ln.split("=", 1)[1].strip() for ln in out.stdout.splitlines()
                    if ln.startswith("ClusterName")), "")
    if not cluster:
        raise RunbookError("cannot read ClusterName from `scontrol show config`; is slurmctld up?")
    return {"cluster": cluster, "my_cnf": ctx.params.get("defaults_file") or ctx.values["my_cnf"],
            "safety_dump": SAFETY.format(**ctx.values)}


def dump_is_of_db(path_key: str):
    """Every CREATE DATABASE / USE in the dump names this database, and there is one: a dump made
    with `mysqldump --databases` (database-backup, upgrades.shtml) that recreates what it drops."""
    def fn(ctx):
        path = ctx.values[path_key]
        out = ctx.run(["grep", "-E", "^(CREATE DATABASE|USE )", "--", path], timeout=120)
        names = re.findall(r"^(?:CREATE DATABASE .*?|USE )`([^`]+)`", out.stdout, re.M)
        creates = [ln for ln in out.stdout.splitlines() if ln.startswith("CREATE DATABASE")]
        want = ctx.values["db_name"]
        if not creates:
            return False, f"{path} has no CREATE DATABASE (dump it with --databases {want})"
        other = sorted(set(n for n in names if n != want))
        if other:
            return False, f"{path} also names database(s) {', '.join(other)}: not a dump of {want} alone"
        return True, f"dump of {want} ({len(creates)} CREATE DATABASE, {len(names) - len(creates)} USE)"
    return Check("dump recreates {db_name} only", fn, "grep CREATE DATABASE/USE")


def tables_match(path_key: str):
    """After loading: as many tables in the database as CREATE TABLE statements in the dump."""
    def fn(ctx):
        path = ctx.values[path_key]
        dump = ctx.run(["grep", "-c", "^CREATE TABLE", "--", path], timeout=120)
        live = ctx.run(sql(ctx, "--execute=SELECT COUNT(*) FROM information_schema.tables "
                                  f"WHERE table_schema='{ctx.values['db_name']}'"), timeout=60)
        try:
            want, got = int(dump.stdout.strip()), int(live.stdout.strip())
        except ValueError:
            return False, f"cannot count tables (grep exit {dump.rc}, mysql exit {live.rc})"
        return want == got and want > 0, f"{got} tables in {ctx.values['db_name']}, {want} in the dump"
    return Check("tables match the dump", fn, "information_schema.tables vs CREATE TABLE count")


def slurmdbd_down(ctx):
    out = ctx.run(["sacctmgr", "-n", "-P", "show", "cluster", "format=cluster"], timeout=30)
    return out.rc != 0, "slurmdbd does not answer" if out.rc != 0 else "slurmdbd still answers"


def cluster_registered(ctx):
    out = ctx.run(["sacctmgr", "-n", "-P", "show", "cluster", "format=cluster,controlhost,rpc"], timeout=30)
    rows = [ln.split("|") for ln in out.stdout.splitlines() if ln.strip()]
    mine = [r for r in rows if r[0] == ctx.values["cluster"]]
    if out.rc != 0 or not mine:
        return False, f"cluster {ctx.values['cluster']} not in `sacctmgr show cluster` ({len(rows)} clusters)"
    return True, f"cluster {mine[0][0]} registered (controlhost {mine[0][1] or '-'}, rpc {mine[0][2]})"


def job_in_sacct(ctx):
    """The job id given (or the newest job in the restored job table) is served by sacct."""
    job = ctx.params.get("job_id")
    if job is None:
        out = ctx.run(sql(ctx, f"--execute=SELECT MAX(id_job) FROM `{ctx.values['db_name']}`."
                                 f"`{ctx.values['cluster']}_job_table`"), timeout=60)
        text = out.stdout.strip()
        if out.rc != 0 or not text.isdigit():
            return True, f"no job in the restored {ctx.values['cluster']}_job_table: nothing to look up"
        job = int(text)
    out = ctx.run(["sacct", "-n", "-P", "-X", "-j", str(job), "--starttime=2000-01-01",
                   "--format=JobID,State,Submit"], timeout=30)
    rows = [ln.split("|") for ln in out.stdout.splitlines() if ln.strip()]
    hit = [r for r in rows if r[0] == str(job)]
    if out.rc != 0 or not hit:
        return False, f"job {job} not in sacct (exit {out.rc})"
    return True, f"job {job} in sacct: {hit[0][1]}, submitted {hit[0][2]}"


RUNBOOK = Runbook(
    name="database-restore",
    title="Restore the accounting database from a dump",
    purpose="Replace slurmdbd's database with a database-backup dump: stop slurmdbd, take a safety dump "
            "of the current database (the way back), drop and reload the database from the dump, "
            "start slurmdbd and prove it serves the restored data (cluster registered, a job from the "
            "dump visible in sacct). Any failure reloads the safety dump.",
    when="The accounting database is corrupt or was damaged by a bad change (a wrong `sacctmgr delete`, "
         "a failed upgrade that must be reverted: upgrades.shtml, 'Reverting an Upgrade'). Everything "
         "recorded after the dump was taken is lost (jobs that ended since then, accounts added since).",
    params=[
        Param("dump", "the dump to restore (a database-backup file, `mysqldump --databases`)",
              type="path", required=True, pattern=SAFE_PATH),
        Param("job_id", "a job id known to be in the dump; checked with sacct after the restore "
              "(default: the newest job of the restored job table)", type="int"),
        Param("defaults_file", "MySQL client options file (default: the target's my_cnf; lab: "
              "<dir>/etc/my.cnf)", type="path"),
        Param("require_healthy", "refuse to start unless the cluster health check passes (set false "
              "when the broken database is why you restore)", type="bool", default=True),
    ],
    derive=derive,
    steps=[
        Step("Pre-flight: cluster healthy", "skipped with require_healthy=false",
             check=lambda ctx: health_checks() if ctx.params["require_healthy"] else [], timeout_s=180),
        Step("Check the dump", "a truncated or foreign dump is refused before anything stops",
             check=[Cmd(("test", "-f", "{dump}"), why="dump exists"),
                    Cmd(("tail", "-n", "1", "{dump}"), expect="Dump completed", why="mysqldump finished it"),
                    Cmd(("grep", "-c", "^CREATE TABLE", "--", "{dump}"), expect=r"^[1-9]", why="has tables"),
                    dump_is_of_db("dump"),
                    Cmd(("sha256sum", "--", "{dump}"), why="checksum (in the audit log)"),
                    Cmd(("mysqladmin", MY, "ping"), expect="alive", timeout_s=20, why="database server answers")]),
        Step("Stop slurmdbd", "nothing may write to the database while it is replaced; slurmctld queues "
             "accounting records meanwhile (accounting.shtml)",
             action=[Service("stop", "slurmdbd")],
             verify=[Check("slurmdbd stopped", slurmdbd_down, "sacctmgr cannot reach it", retry_s=30)],
             rollback=[Service("start", "slurmdbd", why="back in service"),
                       Check("slurmdbd answers", slurmdbd_answers, "", retry_s=60)],
             destructive=True),
        Step("Safety dump of the current database", "the way back; taken while slurmdbd is stopped, so "
             "it is consistent (upgrades.shtml, Create Backups)",
             action=[Cmd(("mkdir", "-p", "-m", "0700", "{backup_dir}"), why="backup dir"),
                     Cmd(("install", "-m", "0600", "/dev/null", SAFETY + ".part"), why="0600 from the start"),
                     Cmd(("mysqldump", MY, "--single-transaction", "--quick", "--routines", "--triggers",
                          "--databases", "{db_name}", "--result-file=" + SAFETY + ".part"),
                         timeout_s=1800, why="mysqldump"),
                     Cmd(("mv", "-f", "--", SAFETY + ".part", SAFETY), why="complete")],
             verify=[Cmd(("tail", "-n", "1", SAFETY), expect="Dump completed", why="dump finished"),
                     Cmd(("sha256sum", "--", SAFETY), why="checksum (in the audit log)")],
             rollback=[Cmd(("rm", "-f", "--", SAFETY + ".part"), why="no partial dump; a complete one is kept")],
             timeout_s=2000),
        Step("Load the dump", "drop the database and recreate it from the dump: tables created after "
             "the dump must not survive",
             action=[Cmd(mysql("--execute=DROP DATABASE IF EXISTS `{db_name}`"), why="drop"),
                     load("{dump}", "load the dump")],
             verify=[tables_match("dump")],
             rollback=[Service("stop", "slurmdbd", why="in case a later step started it"),
                       Cmd(mysql("--execute=DROP DATABASE IF EXISTS `{db_name}`"), why="drop the half-restored db"),
                       load("{safety_dump}", "reload the safety dump"),
                       tables_match("safety_dump")],
             destructive=True, timeout_s=4000),
        Step("Start slurmdbd", "serve the restored database",
             action=[Service("start", "slurmdbd")],
             verify=[Check("slurmdbd answers", slurmdbd_answers, "sacctmgr show cluster", retry_s=60)]),
        Step("Restored data is served", "slurmdbd reads what was loaded",
             verify=[Check("cluster registered", cluster_registered, "sacctmgr show cluster", retry_s=60),
                     Check("job from the dump in sacct", job_in_sacct, "sacct -j JOB", retry_s=30)]),
        postflight(),
    ],
    references=[
        "SchedMD, Upgrade Guide (upgrades.shtml): Create Backups (`mysqldump --databases slurm_acct_db`), "
        "Reverting an Upgrade (restore the accounting database; later changes are lost)",
        "SchedMD, Accounting and Resource Limits (accounting.shtml): slurmdbd and its MySQL/MariaDB database",
        "slurmdbd(8), 22.05.8 man page: SIGTERM shuts slurmdbd down cleanly",
    ],
    notes="The dump is loaded with the MySQL client's `source` and `--abort-source-on-error` (MariaDB's "
          "client; without it an SQL error is printed and loading goes on with exit 0). The safety dump "
          "`<backup_dir>/<db>-pre-restore-<run_id>.sql` is kept after the run (it is the only copy of "
          "the database as it was); delete it once the restore is proven. The DB password is never "
          "handled: the client reads its credentials from the defaults file.",
)
