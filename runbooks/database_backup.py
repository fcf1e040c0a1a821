"""mysqldump of the Slurm accounting database through a MySQL defaults file."""
from slurmops.runbook import Cmd, Param, Runbook, Step

DUMP = "{dest_dir}/{db_name}-{ts}.sql"


def derive(ctx):
    return {"dest_dir": ctx.params.get("dest") or ctx.values["backup_dir"]}


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
