"""mysqldump of the Slurm accounting database through a MySQL defaults file."""
import re

from slurmops.runbook import Check, Cmd, Param, Runbook, Step
from slurmops.runbook.steps import free_bytes

DUMP = "{dest_dir}/{db_name}-{ts}.sql"


def derive(ctx):
    return {"dest_dir": ctx.params.get("dest") or ctx.values["backup_dir"]}


def room_for_dump(ctx):
    """The file system of the dump has twice the database's size free (data + indexes from
    information_schema; a text dump is usually smaller, the margin covers the rest): a dump that
    fills the disk fails half way and can take slurmdbd's own disk down with it."""
    db = ctx.values["db_name"]
    if not re.fullmatch(r"[A-Za-z0-9_]+", db):
        return False, f"database name {db!r}: letters, digits and '_' only"
    size = ctx.run(["mysql", f"--defaults-file={ctx.values['my_cnf']}", "--batch", "--skip-column-names",
                    "--execute=SELECT COALESCE(SUM(data_length + index_length), 0) FROM "
                    f"information_schema.tables WHERE table_schema = '{db}'"], timeout=60)
    try:
        need = 2 * int(size.stdout.split()[0])
    except (IndexError, ValueError):
        return False, f"database size unknown: {(size.stderr or size.stdout).strip()[:200]}"
    free, where, error = free_bytes(ctx, ctx.values["dest_dir"])
    if free is None:
        return False, error
    mb = 1024 * 1024
    return free >= need, f"{free // mb} MB free in {where}, need {need // mb} MB (2 x {need // 2 // mb} MB)"


RUNBOOK = Runbook(
    name="database-backup",
    title="Back up the accounting database (mysqldump)",
    purpose="Dump slurmdbd's database with mysqldump (one consistent InnoDB snapshot, no table "
            "locks), mode 0600, and prove the dump is complete.",
    when="Before a slurmdbd upgrade (its first start converts the database and cannot be undone), "
         "before archive/purge changes, and on a schedule.",
    params=[
        Param("dest", "directory for the dump (default: the target's backup_dir)", type="path"),
        Param("defaults_file", "MySQL client options file with socket/host and credentials (default: "
              "the target's my_cnf; lab: <dir>/etc/my.cnf)", type="path"),
    ],
    derive=lambda ctx: {**derive(ctx), "my_cnf": ctx.params.get("defaults_file") or ctx.values["my_cnf"]},
    steps=[
        Step("Database answers", "credentials and socket in the defaults file work",
             check=[Cmd(("mysqladmin", "--defaults-file={my_cnf}", "ping"), expect="alive", timeout_s=20)]),
        Step("Dump", "single transaction: slurmdbd keeps writing while we read",
             check=[Check("room for the dump", room_for_dump, "df of the backup dir vs twice the "
                          "database size (information_schema)")],
             action=[Cmd(("mkdir", "-p", "-m", "0700", "{dest_dir}"), why="backup dir"),
                     Cmd(("install", "-m", "0600", "/dev/null", DUMP + ".part"), why="0600 from the start"),
                     Cmd(("mysqldump", "--defaults-file={my_cnf}", "--single-transaction", "--quick",
                          "--routines", "--triggers", "--databases", "{db_name}",
                          "--result-file=" + DUMP + ".part"), timeout_s=1800, why="mysqldump"),
                     Cmd(("mv", "-f", "--", DUMP + ".part", DUMP), why="complete")],
             verify=[Cmd(("tail", "-n", "1", DUMP), expect="Dump completed", why="dump finished"),
                     Cmd(("grep", "-c", "CREATE TABLE", DUMP), expect=r"^[1-9]", why="has tables"),
                     Cmd(("sha256sum", "--", DUMP), why="checksum (in the audit log)")],
             rollback=[Cmd(("rm", "-f", "--", DUMP + ".part", DUMP), why="no partial dump")],
             timeout_s=2000),
    ],
    references=[
        "SchedMD, Accounting and Resource Limits (accounting.shtml): MySQL/MariaDB, mysqldump of the "
        "Slurm tables",
        "SchedMD, Upgrade Guide (upgrades.shtml): back up the database before upgrading slurmdbd",
    ],
)
