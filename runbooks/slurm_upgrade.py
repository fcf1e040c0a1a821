"""Upgrade Slurm to a newer major release in SchedMD's order: back up, slurmdbd (its first start
converts the database), slurmctld, slurmd node by node, then the client commands and slurmrestd,
with a check between steps and a way back from each.

Grounded in SchedMD's Upgrade Guide (upgrades.shtml, 25.05.5, in ../shared/reference/slurm):
"Upgrade Procedure" (order: create backups, slurmdbd, slurmctld, slurmd, login nodes and client
commands), "Create Backups" (StateSaveLocation, the database with slurmdbd *not* running),
"slurmdbd (Accounting)" (stop it and wait until it is fully down, back up, check
innodb_buffer_pool_size, upgrade only slurmdbd, first start in the foreground `slurmdbd -D` because
the conversion may outlast a systemd timeout, validate with sacct/sacctmgr), "slurmctld
(Controller)" (stop, back up StateSaveLocation, upgrade, start, validate), "slurmd (Compute Nodes)"
(rolling, in groups, validate each), "Compatibility Window" (two earlier major releases, three from
24.11: 26.05 accepts 24.11) and "Reverting an Upgrade" (not supported once a daemon started: the
way back is restoring StateSaveLocation and the database, which wipes what happened since).

"Install the new packages" is `apt-get install` on a systemd target and `slurmops lab switch
DAEMON --slurm VERSION` on the lab (the daemon runs from that generation's Debian root filesystem,
keeping the lab's StateSaveLocation, database, spool and configs).
"""
import re
from pathlib import Path

from slurmops.runbook import Check, Cmd, Param, Runbook, RunbookError, Service, Step
from slurmops.runbook.health import check_named, preflight
from slurmops.runbook.incident import _free_space, dbd_queue_empty, jobs_known_after, record_jobs_before, show_nodes
from slurmops.runbook.steps import free_bytes

BACKUP = "{backup_dir}/upgrade-{run_id}"
DUMP = BACKUP + "/{db_name}.sql"
STATE_BEFORE = BACKUP + "/statesave-before.tar.gz"        # taken first, slurmctld running
STATE_STOPPED = BACKUP + "/statesave-ctld-stopped.tar.gz"  # slurmctld stopped: the one to restore
MY = "--defaults-file={my_cnf}"
RELEASE = {"to": "the target release", "from": "the old release"}
PACKAGES = {"slurmdbd": ("slurmdbd",), "slurmctld": ("slurmctld",), "slurmd": ("slurmd",),
            "clients": ("slurm-client", "slurmrestd")}


def _kv(text: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, s, v in (ln.partition("=") for ln in text.splitlines()) if s}


def major(version: str) -> str:
    m = re.match(r"(\d+\.\d+)", version or "")
    return m.group(1) if m else ""


def _window_module():
    """slurmdbd-upgrade-check's functions (RELEASES, window, distance, upgrade_path): the release
    list and the compatibility window live there once (upgrades.shtml's table)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("_slurmdbd_upgrade_check",
                                                  Path(__file__).with_name("slurmdbd_upgrade_check.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


W = _window_module()


def derive(ctx):
    """Versions, paths and nodes from the running cluster (slurmctld and slurmdbd must answer)."""
    ctl = ctx.run(["scontrol", "show", "config"], timeout=20)
    conf = _kv(ctl.stdout)
    if ctl.rc != 0 or "SLURM_VERSION" not in conf:
        raise RunbookError("cannot read `scontrol show config`: the upgrade starts from a running cluster")
    dbd = ctx.run(["sacctmgr", "show", "config"], timeout=30)
    dconf = _kv(dbd.stdout.split("SlurmDBD configuration:", 1)[-1])
    if dbd.rc != 0 or "SLURMDBD_VERSION" not in dconf:
        raise RunbookError("cannot read slurmdbd's configuration (`sacctmgr show config`); is slurmdbd up?")
    db = dconf.get("StorageLoc") or ctx.values["db_name"]
    if not re.fullmatch(r"[A-Za-z0-9_]+", db):
        raise RunbookError(f"StorageLoc {db!r}: letters, digits and _ only")
    loc = conf.get("StateSaveLocation", "").rstrip("/")
    if not loc.startswith("/"):
        raise RunbookError(f"StateSaveLocation {loc!r} is not an absolute path")
    nodes = ctx.params.get("nodes") or []
    if not nodes:
        # Nodes whose slurmd runs now, except CLOUD ones: those start slurmd from their image at the
        # next resume (ResumeProgram, power_save.shtml), not from a restart here.
        nodes = sorted(n["NodeName"] for n in show_nodes(ctx)
                       if n.get("Version") not in (None, "", "N/A", "(null)")
                       and "CLOUD" not in n.get("State", "").split("+"))
    for n in nodes:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", n):
            raise RunbookError(f"node name {n!r}: letters, digits, '.', '_' and '-' only")
    parent, _, name = loc.rpartition("/")
    return {
        "ctld_version": conf["SLURM_VERSION"], "from": major(conf["SLURM_VERSION"]),
        "dbd_version": dconf["SLURMDBD_VERSION"], "db_name": db,
        "my_cnf": ctx.params.get("defaults_file") or ctx.values["my_cnf"],
        "state_save": loc, "state_save_parent": parent or "/", "state_save_name": name,
        "cluster": conf.get("ClusterName", "cluster"), "nodes": ",".join(nodes),
        "to": ctx.params["to"],
    }


def packages(ctx) -> dict[str, str]:
    """The Debian package versions apt installs on a real host (to_deb, and from_deb for the way
    back): required there, since apt's default candidate is not necessarily the target release."""
    to_deb, from_deb = ctx.params.get("to_deb") or "", ctx.params.get("from_deb") or ""
    if ctx.services.kind != "lab" and not (to_deb and from_deb):
        raise RunbookError("a systemd target needs -p to_deb=VERSION and -p from_deb=VERSION (the "
                           "Debian package versions to install and to go back to; `apt-cache policy slurmctld`)")
    return {"to_deb": to_deb, "from_deb": from_deb}


# ---- checks ------------------------------------------------------------------------------------------
def window_problem(what: str, old: str, to: str) -> str | None:
    """Why `what` at release `old` cannot go to `to` in one step, or None (upgrades.shtml,
    Compatibility Window: three earlier major releases from 24.11 on, two before)."""
    d = W.distance(old, to)
    if d is None:
        return f"{what} {old}: unknown release ({', '.join(W.RELEASES)})"
    if d < 0:
        return f"{what} {old} is newer than the target {to}: downgrades are not supported"
    if d > W.window(to):
        path = W.upgrade_path(old, to)
        return (f"{what} {old} -> {to} is {d} major releases, outside {to}'s compatibility window of "
                f"{W.window(to)} earlier releases (upgrades.shtml): upgrade in steps "
                f"{' -> '.join([old, *path]) if path else '(no path)'}")
    return None


def compatibility(ctx):
    """upgrades.shtml "Compatibility Window": every running component within `to`'s window (two
    earlier major releases up to 24.05, three from 24.11), else the upgrade goes in steps."""
    to = ctx.values["to"]
    out = ctx.run(["sinfo", "-h", "-N", "-o", "%N %v"], timeout=20)
    slurmd = {major(p[1]) for p in (ln.split() for ln in out.stdout.splitlines())
              if len(p) == 2 and major(p[1])}
    running = {"slurmdbd": major(ctx.values["dbd_version"]), "slurmctld": ctx.values["from"]}
    running.update({f"slurmd {v}": v for v in slurmd})
    if to not in W.RELEASES:
        return False, f"target {to}: not a known major release ({', '.join(W.RELEASES)})"
    fails = [p for p in (window_problem(what, v, to) for what, v in sorted(running.items())) if p]
    text = ", ".join(f"{k} {v}" for k, v in sorted(running.items()))
    if fails:
        return False, "; ".join(fails)
    if all(v == to for v in running.values()):
        return True, f"already at {to}: {text} (a resumed run, or nothing to do)"
    return True, f"{text} -> {to}: within {to}'s window of {W.window(to)} earlier releases"


def room_for_backups(ctx):
    """The backup directory holds twice the database (information_schema: data + indexes) and
    twice StateSaveLocation (two archives); a backup that fills the disk fails half way."""
    db = ctx.values["db_name"]
    size = ctx.run(["mysql", MY.format(my_cnf=ctx.values["my_cnf"]), "--batch", "--skip-column-names",
                    "--execute=SELECT COALESCE(SUM(data_length + index_length), 0) FROM "
                    f"information_schema.tables WHERE table_schema = '{db}'"], timeout=60)
    state = ctx.run(["du", "-s", "-B1", "--", ctx.values["state_save"]], timeout=60)
    try:
        need = 2 * int(size.stdout.split()[0]) + 2 * int(state.stdout.split()[0])
    except (IndexError, ValueError):
        return False, f"sizes unknown: {(size.stderr or state.stderr).strip()[:200]}"
    free, where, error = free_bytes(ctx, ctx.values["backup_dir"])
    if free is None:
        return False, error
    kb = 1024
    return free >= need, f"{free // kb} KiB free in {where}, need {need // kb} KiB (2 x database + 2 x state)"


def dbd_down(ctx):
    """upgrades.shtml: "Wait until slurmdbd is fully down before proceeding"."""
    out = ctx.run(["sacctmgr", "-n", "show", "cluster", "format=cluster"], timeout=20)
    return out.rc != 0, "slurmdbd does not answer (down)" if out.rc != 0 else "slurmdbd still answers"


def version_is(daemon: str, key: str):
    """`daemon` reports `key` (the to/from value) as its major release."""
    def fn(ctx):
        want = ctx.values[key]
        if daemon == "slurmdbd":
            out = ctx.run(["sacctmgr", "show", "config"], timeout=30)
            got = _kv(out.stdout).get("SLURMDBD_VERSION", "")
        elif daemon == "slurmctld":
            out = ctx.run(["scontrol", "show", "config"], timeout=20)
            got = _kv(out.stdout).get("SLURM_VERSION", "")
        else:
            out = ctx.run(["sinfo", "--version"], timeout=20)
            got = out.stdout.split()[-1] if out.stdout.split() else ""
        return major(got) == want, f"{daemon} {got or 'no answer'} (want {want})"
    return Check(f"{daemon} runs {RELEASE[key]}", fn, f"{daemon}'s own version answer", retry_s=120)


def node_is(node: str, key: str):
    def fn(ctx):
        out = ctx.run(["sinfo", "-h", "-N", "-n", node, "-o", "%t %v"], timeout=20)
        parts = out.stdout.split()
        ok = len(parts) == 2 and major(parts[1]) == ctx.values[key] and not parts[0].endswith("*") \
            and parts[0].rstrip("~#!%$@^-+") not in ("down", "fail", "unk", "unknown")
        return ok, f"{node}: {' '.join(parts) or 'not in sinfo'} (want {ctx.values[key]}, responding)"
    return Check(f"slurmd on {node} runs {RELEASE[key]} and responds", fn, "sinfo %t %v", retry_s=90)


def archive_once(src_key: str, dest: str):
    """tar StateSaveLocation into dest unless dest already exists: a resumed step must not
    overwrite the archive of the old state with the new daemon's state."""
    def fn(ctx):
        v = ctx.values
        path = dest.format(**v)
        if ctx.run(["test", "-e", path], timeout=10).rc == 0:
            return True, f"{path} exists (kept: it holds the state from before)"
        for argv in (["mkdir", "-p", "-m", "0700", path.rsplit("/", 1)[0]],
                     ["install", "-m", "0600", "/dev/null", path + ".part"]):
            out = ctx.run(argv, timeout=30)
            if out.rc != 0:
                return False, f"{argv[0]}: {(out.stderr or out.stdout).strip()[:200]}"
        out = ctx.run(["tar", "-C", v["state_save_parent"], "-czf", path + ".part", v["state_save_name"]],
                      timeout=600)
        if out.rc not in (0, 1):        # 1: a file changed while read (slurmctld running)
            ctx.run(["rm", "-f", "--", path + ".part"], timeout=30)
            return False, f"tar exit {out.rc}: {(out.stderr or out.stdout).strip()[:200]}"
        ctx.run(["mv", "-f", "--", path + ".part", path], timeout=30)
        listed = ctx.run(["tar", "-tzf", path], timeout=300)
        return listed.rc == 0, f"{path}: {len(listed.stdout.splitlines())} entries"
    return Check(f"archive {src_key} (once)", fn, "tar -czf, 0600, kept if it exists")


def restore_state(ctx):
    """Put back the StateSaveLocation archived with slurmctld stopped, if there is one; the state
    the new slurmctld wrote is moved aside (kept, never deleted). Without the archive slurmctld
    was never stopped by this run, so its state is the old one."""
    v = ctx.values
    arc = STATE_STOPPED.format(**v)
    if ctx.run(["test", "-f", arc], timeout=10).rc != 0:
        return True, "no archive: slurmctld's state was not touched by this run"
    aside = f"{v['state_save']}.upgrade-{v['run_id']}"
    if ctx.run(["test", "-e", aside], timeout=10).rc != 0:
        out = ctx.run(["mv", "--", v["state_save"], aside], timeout=60)
        if out.rc != 0:
            return False, f"mv: {out.stderr.strip()[:200]}"
    out = ctx.run(["tar", "-C", v["state_save_parent"], "-xzpf", arc], timeout=600)
    if out.rc != 0:
        return False, f"tar -x exit {out.rc}: {out.stderr.strip()[:200]}"
    return True, f"restored {arc}; the newer state is kept in {aside}"


# ---- installing a generation: apt on a systemd host, `lab switch` on the lab --------------------------
def install(ctx, daemon: str, key: str, node: str = "", restart: bool = False) -> list:
    """Install the packages of `key`'s release (to, or from for the way back)."""
    gen = ctx.values[key]
    if ctx.services.kind == "lab":
        name = f"slurmd-{node}" if node else daemon
        return [Cmd((ctx.services.python, "-m", "slurmops", "lab", "switch", name, "--slurm", gen,
                     *(["--restart"] if restart else []), "--dir", "{lab_dir}"), timeout_s=300,
                    why=f"lab: {name} runs Slurm {gen} from its Debian root filesystem")]
    if daemon == "slurmrestd":
        return []                       # a package of the clients' step on a real host
    pkgs = PACKAGES["slurmd" if node else daemon]
    apt = ("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q",
           "--no-install-recommends", "-o", "Dpkg::Options::=--force-confold",
           *(["--allow-downgrades"] if key == "from" else []),
           *(f"{p}={{{key}_deb}}" for p in pkgs))
    remote = ("ssh", "-o", "BatchMode=yes", "--", node) if node else ()
    ops = [Cmd((*remote, *apt), timeout_s=900, why=f"packages of Slurm {gen} (the site's apt source)")]
    if restart:
        ops.append(Cmd((*remote, "systemctl", "restart", "slurmd"), why="slurmd of the new packages"))
    return ops


def slurmd_ops(key: str):
    def ops(ctx):
        nodes = [n for n in ctx.values["nodes"].split(",") if n]
        out = []
        for n in (nodes if key == "to" else reversed(nodes)):
            out += install(ctx, "slurmd", key, node=n, restart=True)
            out.append(node_is(n, key))
        return out
    return ops


def dump_complete(ctx):
    path = DUMP.format(**ctx.values)
    out = ctx.run(["tail", "-n", "1", "--", path], timeout=30)
    ok = out.rc == 0 and "Dump completed" in out.stdout
    return ok, f"{path}: " + ("complete" if ok else (out.stderr.strip() or "not finished")[:200])


def restore_database(ctx):
    """Drop the converted database and load the dump taken with slurmdbd stopped (upgrades.shtml,
    Reverting an Upgrade: restoring the database is required). Without a complete dump nothing
    is dropped: the step failed before slurmdbd was upgraded."""
    ok, detail = dump_complete(ctx)
    if not ok:
        return False, f"no complete dump, database left as it is ({detail})"
    v = ctx.values
    if not re.fullmatch(r"/[A-Za-z0-9_./@:+-]+", DUMP.format(**v)):   # `source` takes the rest of the line
        return False, f"dump path {DUMP.format(**v)!r}: letters, digits and /_.@:+- only"
    my = MY.format(**v)
    drop = ctx.run(["mysql", my, f"--execute=DROP DATABASE IF EXISTS `{v['db_name']}`"], timeout=120)
    if drop.rc != 0:
        return False, f"drop: {drop.stderr.strip()[:200]}"
    load = ctx.run(["mysql", my, "--abort-source-on-error", "--execute=source " + DUMP.format(**v)],
                   timeout=3600)
    return load.rc == 0, (f"{v['db_name']} loaded from {DUMP.format(**v)}" if load.rc == 0
                          else f"source exit {load.rc}: {load.stderr.strip()[:200]}")


RUNBOOK = Runbook(
    name="slurm-upgrade",
    title="Upgrade Slurm (major release): slurmdbd, slurmctld, slurmd, clients",
    purpose="Upgrade a cluster to a newer major Slurm release in SchedMD's order, keeping running and "
            "pending jobs: back up the database (slurmdbd stopped) and StateSaveLocation, check the "
            "disk, upgrade slurmdbd and let its first start convert the database, then slurmctld "
            "(StateSaveLocation archived with it stopped), then slurmd node by node, then the "
            "client commands and slurmrestd. Each step is checked before the next; each has a way "
            "back (restore the database, restore StateSaveLocation, the old packages).",
    when="A planned maintenance window. Run slurmdbd-upgrade-check first (it tries the conversion "
         "on a copy of the database); read the target's RELEASE_NOTES for configuration changes.",
    params=[
        Param("to", "target major release (e.g. 26.05)", required=True, pattern=r"\d{2}\.\d{2}"),
        Param("nodes", "slurmd nodes to upgrade, in this order (default: every node whose slurmd "
              "reports a version, except CLOUD nodes: they get the new release from their image)",
              type="list", pattern=r"[A-Za-z0-9][A-Za-z0-9._-]*"),
        Param("defaults_file", "MySQL client options file (default: the target's my_cnf)", type="path"),
        Param("to_deb", "systemd target: the Debian package version to install (apt's `pkg=VERSION`)",
              pattern=r"[A-Za-z0-9.+~:-]+"),
        Param("from_deb", "systemd target: the Debian package version to go back to",
              pattern=r"[A-Za-z0-9.+~:-]+"),
    ],
    derive=lambda ctx: {**packages(ctx), **derive(ctx)},
    steps=[
        preflight(),
        Step("Versions within the compatibility window; jobs noted",
             "upgrades.shtml: upgrades from outside the window fail at startup and kill running jobs",
             check=[Check("compatibility window", compatibility, "every daemon's release vs the target's window"),
                    Check("jobs known before", record_jobs_before, "squeue -t all (kept in the run dir)")]),
        Step("Disk space for the backups and the new state", "a full disk during the dump or the "
             "conversion corrupts what it writes",
             check=[Check("room for the backups", room_for_backups, "df vs 2 x database + 2 x StateSaveLocation"),
                    Check("free space in StateSaveLocation", _free_space, "df: at least 100 MB free")]),
        Step("Stop slurmdbd", "upgrades.shtml: stop it and wait until it is fully down before the dump; "
             "slurmctld queues accounting records meanwhile (watch sdiag's DBD Agent queue)",
             action=[Service("stop", "slurmdbd")],
             verify=[Check("slurmdbd is down", dbd_down, "sacctmgr gets no answer", retry_s=60)],
             rollback=[Service("start", "slurmdbd", why="the old slurmdbd back"),
                       check_named("slurmdbd", retry_s=90)],
             destructive=True, timeout_s=240),
        Step("Back up the database and StateSaveLocation", "upgrades.shtml Create Backups: the dump "
             "with slurmdbd stopped (the database is not changing); StateSaveLocation as it is now",
             action=[Cmd(("mkdir", "-p", "-m", "0700", BACKUP), why="backup dir"),
                     Cmd(("install", "-m", "0600", "/dev/null", DUMP + ".part"), why="0600 from the start"),
                     Cmd(("mysqldump", MY, "--single-transaction", "--quick", "--routines", "--triggers",
                          "--databases", "{db_name}", "--result-file=" + DUMP + ".part"),
                         timeout_s=3600, why="mysqldump --databases (upgrades.shtml)"),
                     Cmd(("mv", "-f", "--", DUMP + ".part", DUMP), why="complete"),
                     archive_once("StateSaveLocation", STATE_BEFORE)],
             verify=[Cmd(("tail", "-n", "1", DUMP), expect="Dump completed", why="dump finished"),
                     Cmd(("grep", "-c", "CREATE TABLE", DUMP), expect=r"^[1-9]", why="has tables"),
                     Cmd(("sha256sum", "--", DUMP, STATE_BEFORE), why="checksums (in the audit log)")],
             rollback=[Cmd(("rm", "-f", "--", DUMP + ".part", STATE_BEFORE + ".part"),
                           why="no partial backup (complete ones are kept)")],
             timeout_s=3700),
        Step("Upgrade slurmdbd; its first start converts the database",
             "upgrades.shtml: only slurmdbd now; first start in the foreground (`slurmdbd -D`, what "
             "the lab runs) since the conversion may take long; validate with sacctmgr/sacct",
             check=[Check("a complete dump to go back to", dump_complete, "tail: 'Dump completed'",
                          plan_safe=False)],
             action=lambda ctx: [*install(ctx, "slurmdbd", "to"),
                                 Service("start", "slurmdbd", why="first start: converts the database",
                                         timeout_s=3600)],
             verify=[version_is("slurmdbd", "to"), check_named("slurmdbd", retry_s=120),
                     Check("DBD agent queue drains", dbd_queue_empty,
                           "slurmctld sends what it queued while slurmdbd was down", retry_s=180)],
             rollback=lambda ctx: [Service("stop", "slurmdbd"),
                                   Check("restore the database", restore_database,
                                         "DROP DATABASE, then source the dump (only with a complete dump)"),
                                   *install(ctx, "slurmdbd", "from"),
                                   Service("start", "slurmdbd", why="the old slurmdbd on the old database"),
                                   version_is("slurmdbd", "from")],
             destructive=True, timeout_s=4000),
        Step("Upgrade slurmctld", "upgrades.shtml: stop, back up StateSaveLocation, upgrade, start; "
             "job submission pauses; running jobs keep running",
             action=lambda ctx: [Service("stop", "slurmctld"),
                                 archive_once("StateSaveLocation", STATE_STOPPED),
                                 *install(ctx, "slurmctld", "to"),
                                 Service("start", "slurmctld")],
             verify=[version_is("slurmctld", "to"), check_named("slurmctld", retry_s=60),
                     check_named("nodes", retry_s=90),
                     Check("every job known before is known after", jobs_known_after, "squeue -t all",
                           retry_s=60)],
             rollback=lambda ctx: [Service("stop", "slurmctld"),
                                   Check("restore StateSaveLocation", restore_state,
                                         "the archive taken with slurmctld stopped, if any"),
                                   *install(ctx, "slurmctld", "from"),
                                   Service("start", "slurmctld", why="the old slurmctld on the old state"),
                                   version_is("slurmctld", "from"),
                                   *(node_is(n, "from") for n in ctx.values["nodes"].split(",") if n),
                                   Check("every job known before is known", jobs_known_after, "squeue",
                                         retry_s=60)],
             destructive=True, timeout_s=900),
        Step("Upgrade slurmd, node by node", "upgrades.shtml: rolling slurmd upgrade; running jobs keep "
             "their old slurmstepd; each node must answer with the new version before the next",
             action=slurmd_ops("to"),
             verify=[check_named("nodes", retry_s=60),
                     Check("every job known before is known", jobs_known_after, "squeue", retry_s=30)],
             rollback=slurmd_ops("from"), destructive=True, timeout_s=1800),
        Step("Upgrade the client commands and slurmrestd", "upgrades.shtml: after the core daemons, "
             "client commands and other components, then restart affected daemons",
             action=lambda ctx: [*install(ctx, "clients", "to"),
                                 *install(ctx, "slurmrestd", "to"), Service("restart", "slurmrestd")],
             verify=[version_is("clients", "to"), check_named("slurmrestd", retry_s=60)],
             rollback=lambda ctx: [*install(ctx, "clients", "from"), *install(ctx, "slurmrestd", "from"),
                                   Service("restart", "slurmrestd")],
             destructive=True, timeout_s=600),
        Step("Post-check: upgraded cluster works", "upgrades.shtml: test key functionality; every job "
             "known before is still known; every node on the new release",
             verify=[check_named("munge", retry_s=30), check_named("slurmctld", retry_s=30),
                     check_named("slurmdbd", retry_s=30), check_named("nodes", retry_s=60),
                     check_named("slurmrestd", retry_s=30), check_named("test_job", retry_s=60),
                     Check("every job known before is known", jobs_known_after, "squeue", retry_s=30),
                     version_is("slurmdbd", "to"), version_is("slurmctld", "to")],
             timeout_s=600),
    ],
    references=[
        "SchedMD, Upgrade Guide (upgrades.shtml), 25.05.5: Upgrade Procedure (order), Create Backups "
        "(StateSaveLocation, mysqldump with slurmdbd stopped), slurmdbd (stop and wait, back up, "
        "innodb_buffer_pool_size, upgrade only slurmdbd, first start `slurmdbd -D`, validate), "
        "slurmctld (stop, back up StateSaveLocation, upgrade, start, validate), slurmd (rolling, "
        "validate each group), Compatibility Window (three earlier releases from 24.11), Reverting an "
        "Upgrade (restore StateSaveLocation and the database; loses what happened since)",
        "SchedMD, Accounting and Resource Limits (accounting.shtml): the database, sdiag's DBD Agent queue",
        "sdiag(1): DBD Agent queue size; sinfo(1): %v (slurmd version per node)",
    ],
    notes="Way back: each step's rollback restores what that step changed, in reverse: slurmd back to "
          "the old packages node by node (an older slurmd under a newer slurmctld is supported), "
          "slurmctld stopped, StateSaveLocation restored from the archive taken with it stopped (the "
          "newer state is moved aside, not deleted), the old slurmctld started; slurmdbd stopped, the "
          "database dropped and loaded from the dump taken with slurmdbd stopped, the old slurmdbd "
          "started. As upgrades.shtml says, reverting wipes what happened after the backups: jobs "
          "submitted while the new slurmctld ran are lost on a rollback, jobs from before are kept. "
          "Backups stay in backup_dir/upgrade-RUN_ID (mode 0700; the archives may hold the JWT key). "
          "Not done here: raising SlurmdTimeout/SlurmctldTimeout for a long maintenance "
          "(upgrades.shtml suggests it when the stop could outlast them), recompiling site plugins, "
          "a backup slurmdbd or slurmctld host. On a systemd target (not rehearsed: the lab has no "
          "systemd) the packages are `apt-get install PKG=to_deb` from the site's apt source "
          "(`--allow-downgrades PKG=from_deb` on the way back), the slurmd nodes over ssh; mask "
          "slurmdbd's unit or use policy-rc.d so the package's postinst does not start it under "
          "systemd's timeout (upgrades.shtml recommends the first start as `slurmdbd -D`).",
)
