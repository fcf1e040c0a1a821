"""Restore slurmctld's StateSaveLocation from a statesave-backup archive; the current state is kept aside."""
import os
import re

from slurmops.runbook import Check, Cmd, Param, Runbook, RunbookError, Service, Step
from slurmops.runbook.health import health_checks, nodes_responding, postflight, slurmctld_up

ASIDE = "{backup_dir}/{state_save_name}.pre-restore-{run_id}"
FAILED = "{backup_dir}/{state_save_name}.failed-restore-{run_id}"
JOB_DIR = re.compile(r"/hash\.\d/job\.(\d+)/?$")


def derive(ctx):
    """StateSaveLocation and ClusterName from the running controller (as statesave-backup does)."""
    out = ctx.run(["scontrol", "show", "config"], timeout=15)
    conf = dict((k.strip(), v.strip()) for k, _, v in
                (ln.partition("=") for ln in out.stdout.splitlines() if "=" in ln))
    loc = (ctx.params.get("state_save") or conf.get("StateSaveLocation") or "").rstrip("/")
    if not loc:
        raise RunbookError("cannot read StateSaveLocation from `scontrol show config` (is slurmctld "
                           "up?); pass -p state_save=DIR")
    if not loc.startswith("/") or loc.count("/") < 2:
        raise RunbookError(f"StateSaveLocation {loc!r}: refusing to empty a top-level directory")
    cluster = ctx.params.get("cluster") or conf.get("ClusterName")
    if not cluster:
        raise RunbookError("cannot read ClusterName; pass -p cluster=NAME")
    return {"state_save": loc, "state_save_parent": os.path.dirname(loc) or "/",
            "state_save_name": os.path.basename(loc), "cluster": cluster,
            "slurm_version": conf.get("SLURM_VERSION", "")}


def _members(ctx) -> tuple[int, list[str]]:
    out = ctx.run(["tar", "-tzf", ctx.values["archive"]], timeout=300)
    return out.rc, [m for m in out.stdout.splitlines() if m.strip()]


def archive_jobs(ctx) -> list[str]:
    """Batch jobs the archive knows: slurmctld keeps each one's script in hash.N/job.ID/."""
    _, members = _members(ctx)
    return sorted({m.group(1) for m in map(JOB_DIR.search, members) if m}, key=int)


def archive_layout(ctx):
    """Only `<name>/...` members (the directory statesave-backup archives), no absolute path or
    `..`, and the files slurmctld cannot start without."""
    rc, members = _members(ctx)
    if rc != 0:
        return False, f"tar -tzf exit {rc}: archive unreadable"
    name = ctx.values["state_save_name"]
    bad = [m for m in members if m.startswith("/") or ".." in m.split("/")
           or not (m == name + "/" or m.startswith(name + "/"))]
    if bad:
        return False, f"{len(bad)} members outside {name}/ (e.g. {bad[0]!r}): not this StateSaveLocation"
    missing = [f for f in ("job_state", "node_state") if f"{name}/{f}" not in members]
    if missing:
        return False, f"archive lacks {', '.join(missing)}"
    jobs = archive_jobs(ctx)
    return True, f"{len(members)} members under {name}/; batch jobs in it: {', '.join(jobs) or 'none'}"


def _name_and_id(text: str) -> tuple[str, str]:
    """StateSaveLocation's `clustername` file: the name alone (22.05), or `name|cluster id` (24.11
    and 26.05, observed: `rbmore|2939`, the id slurmdbd gave the cluster)."""
    name, _, cid = text.strip().partition("|")
    return name, cid


def archive_cluster(ctx):
    """The archive's `clustername` is this cluster: slurmctld refuses another cluster's state. Where
    both the archive and the live StateSaveLocation carry a cluster id, the ids must agree too."""
    out = ctx.run(["tar", "-xOzf", ctx.values["archive"], f"{ctx.values['state_save_name']}/clustername"],
                  timeout=120)
    if out.rc != 0:
        return True, "no clustername file in the archive (older Slurm): not checked"
    got = out.stdout.strip()
    name, cid = _name_and_id(got)
    live = ctx.run(["cat", "--", f"{ctx.values['state_save']}/clustername"], timeout=10)
    _, live_id = _name_and_id(live.stdout) if live.rc == 0 else ("", "")
    if name != ctx.values["cluster"]:
        return False, f"archive is of cluster {got!r} (running: {ctx.values['cluster']!r})"
    if cid and live_id and cid != live_id:
        return False, f"archive is of cluster {got!r}: cluster id {cid}, the running one has {live_id}"
    return True, f"archive is of cluster {got!r} (running: {ctx.values['cluster']!r})"


def archive_usage(ctx):
    """slurmctld 26.05 will not start from job state without the association usage file
    (observed: `fatal: No Assoc usage file (.../assoc_usage) to recover`; 22.05 starts, usage from
    zero). slurmctld writes it at its periodic state save and at shutdown, so a backup of a
    controller only minutes old can lack it: refused here, before slurmctld is stopped."""
    _, members = _members(ctx)
    name = ctx.values["state_save_name"]
    if f"{name}/job_state" not in members or f"{name}/assoc_usage" in members:
        return True, "association usage (assoc_usage) present, or no job state"
    version = ctx.values.get("slurm_version", "")
    if version[:5] >= "26.05":
        return False, (f"archive has job state but no assoc_usage: slurmctld {version} does not start "
                       "from it; back up again after slurmctld's periodic state save or a restart")
    return True, f"no assoc_usage in the archive: slurmctld {version or '?'} starts, usage from zero"


def restored_cluster(ctx):
    out = ctx.run(["cat", "--", f"{ctx.values['state_save']}/clustername"], timeout=10)
    got = out.stdout.strip()
    return out.rc != 0 or _name_and_id(got)[0] == ctx.values["cluster"], f"clustername {got or '(none)'}"


def slurmctld_down(ctx):
    out = ctx.run(["scontrol", "ping"], timeout=20)
    text = (out.stdout + out.stderr).strip()
    return " is UP" not in text, text.splitlines()[0] if text else "no answer"


def jobs_known(ctx):
    """Every job id given must be known to slurmctld again. Batch jobs found in the archive (script
    dirs) must be too, except those submitted seconds before a backup of a running controller: the
    script dir is written at submit, job_state a moment later, so such a job may be in the archive
    only as an orphan dir, which slurmctld removes. Some of them known: ok, named in the detail;
    none known: the restore did not take effect."""
    given = sorted({str(j) for j in (ctx.params.get("jobs") or [])}, key=int)
    in_archive = archive_jobs(ctx)
    want = sorted(set(given) | set(in_archive), key=int)
    if not want:
        return True, "the archive holds no batch job and no job id was given: nothing to look up"
    missing = []
    for job in want:
        out = ctx.run(["scontrol", "-o", "show", "job", job], timeout=15)
        if out.rc != 0 or f"JobId={job} " not in out.stdout + " ":
            missing.append(job)
    lost_given = [j for j in given if j in missing]
    if lost_given:
        return False, f"slurmctld does not know job(s) {', '.join(lost_given)} from the backup"
    if in_archive and all(j in missing for j in in_archive):
        return False, f"slurmctld knows none of the archive's batch jobs ({', '.join(in_archive)})"
    known = [j for j in want if j not in missing]
    note = (f"; not in the archive's job_state (submitted just before the backup): {', '.join(missing)}"
            if missing else "")
    return True, f"slurmctld knows {len(known)} job(s) from the backup: {', '.join(known)}{note}"


RESTART_ON_OLD_STATE = [
    Service("stop", "slurmctld", why="it must not write while its state is put back"),
    Cmd(("mkdir", "-p", "-m", "0700", FAILED), why="keep what was restored, for the post-mortem"),
    Cmd(("cp", "-a", "--", "{state_save}/.", FAILED + "/"), why="copy the restored state away"),
    Cmd(("find", "{state_save}", "-mindepth", "1", "-delete"), why="empty StateSaveLocation"),
    Cmd(("cp", "-a", "--", ASIDE + "/.", "{state_save}/"), why="the state from before the restore"),
    Cmd(("diff", "-r", "--no-dereference", "--", ASIDE, "{state_save}"), why="put back exactly"),
    Service("start", "slurmctld", why="on its previous state"),
    Check("slurmctld answers", slurmctld_up, "", retry_s=60),
    Check("nodes responding", nodes_responding, "the slurmds registered again", retry_s=90),
]

RUNBOOK = Runbook(
    name="statesave-restore",
    title="Restore StateSaveLocation from a backup",
    purpose="Put a statesave-backup archive back into slurmctld's StateSaveLocation: check the archive "
            "(readable, only this directory, this cluster), stop slurmctld, keep a copy of the current "
            "state aside, unpack, start slurmctld and prove the jobs of the backup are known again and "
            "the cluster is healthy. Any failure puts the set-aside state back.",
    when="The controller's state is lost or corrupt (disk failure, a bad upgrade to revert: "
         "upgrades.shtml, 'Reverting an Upgrade'). Everything slurmctld learnt after the backup is "
         "lost: jobs submitted since are unknown to it, and their job ids will be handed out again.",
    params=[
        Param("archive", "the statesave-backup archive (.tar.gz) to restore", type="path", required=True),
        Param("jobs", "job ids known to be in the backup; each must be known to slurmctld afterwards "
              "(batch jobs found in the archive are checked anyway)", type="list", pattern=r"\d+"),
        Param("state_save", "StateSaveLocation when slurmctld is down (default: from `scontrol show config`)",
              type="path"),
        Param("cluster", "ClusterName when slurmctld is down (default: from `scontrol show config`)",
              pattern=r"[a-z0-9_]+"),
        Param("require_healthy", "refuse to start unless the cluster health check passes (set false "
              "when the lost state is why you restore)", type="bool", default=True),
    ],
    derive=derive,
    steps=[
        Step("Pre-flight: cluster healthy", "skipped with require_healthy=false",
             check=lambda ctx: health_checks() if ctx.params["require_healthy"] else [], timeout_s=180),
        Step("Check the archive", "an unreadable, foreign or other-cluster archive is refused before "
             "anything stops",
             check=[Cmd(("test", "-f", "{archive}"), why="archive exists"),
                    Cmd(("test", "-d", "{state_save}"), why="StateSaveLocation is a directory"),
                    Check("archive layout", archive_layout, "tar -tzf: members, job_state, node_state"),
                    Check("archive is of this cluster", archive_cluster, "its clustername file"),
                    Check("archive has association usage", archive_usage, "assoc_usage beside job_state "
                          "(26.05 requires it)"),
                    Cmd(("sha256sum", "--", "{archive}"), why="checksum (in the audit log)")],
             timeout_s=600),
        Step("Stop slurmctld", "it saves its state on shutdown and must not run while it is replaced; "
             "running jobs keep running (slurmd), submissions fail until the start",
             action=[Service("stop", "slurmctld")],
             verify=[Check("slurmctld stopped", slurmctld_down, "scontrol ping does not say UP", retry_s=30)],
             rollback=[Service("start", "slurmctld", why="back in service"),
                       Check("slurmctld answers", slurmctld_up, "", retry_s=60),
                       Check("nodes responding", nodes_responding, "the slurmds registered again", retry_s=90)],
             destructive=True),
        Step("Set the current state aside", "a complete copy in the 0700 backup dir: the way back",
             action=[Cmd(("mkdir", "-p", "-m", "0700", "{backup_dir}"), why="backup dir"),
                     Cmd(("rm", "-rf", "--", ASIDE + ".part", ASIDE), why="a copy left by an interrupted try"),
                     Cmd(("cp", "-a", "--", "{state_save}", ASIDE + ".part"), why="copy (owners, modes kept)"),
                     Cmd(("mv", "-T", "--", ASIDE + ".part", ASIDE), why="complete")],
             verify=[Cmd(("diff", "-r", "--no-dereference", "--", "{state_save}", ASIDE), why="identical")],
             timeout_s=900),
        Step("Unpack the archive", "StateSaveLocation is emptied and filled from the archive; owners "
             "and modes come from the archive",
             action=[Cmd(("find", "{state_save}", "-mindepth", "1", "-delete"), why="empty StateSaveLocation"),
                     Cmd(("tar", "-C", "{state_save_parent}", "-xzpf", "{archive}"), timeout_s=600,
                         why="unpack")],
             verify=[Cmd(("test", "-s", "{state_save}/job_state"), why="job_state restored"),
                     Check("restored clustername", restored_cluster, "this cluster")],
             rollback=RESTART_ON_OLD_STATE, destructive=True, timeout_s=900),
        Step("Start slurmctld", "it recovers jobs, nodes and reservations from the restored files",
             action=[Service("start", "slurmctld")],
             verify=[Check("slurmctld answers", slurmctld_up, "scontrol ping says UP", retry_s=60)]),
        Step("Jobs from the backup are known", "the restore really took effect",
             verify=[Check("jobs of the backup known", jobs_known, "scontrol show job ID for each", retry_s=20)]),
        postflight(),
    ],
    references=[
        "SchedMD, Upgrade Guide (upgrades.shtml): Reverting an Upgrade (restore StateSaveLocation; "
        "later changes are lost), Create Backups",
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml): StateSaveLocation, "
        "`scontrol ping`",
        "slurmctld(8), 22.05.8 man page: state recovered from the last checkpoint at start (-r, the "
        "default); errors in state files stop the start unless -i (which loses what was unreadable)",
    ],
    notes="The set-aside copy `<backup_dir>/<dir>.pre-restore-<run_id>` is kept after the run; a "
          "failed restore also keeps what was unpacked in `<dir>.failed-restore-<run_id>`. Both may "
          "contain the JWT key (jwt.shtml suggests StateSaveLocation for it): they are in the 0700 "
          "backup dir. Which jobs the backup holds is read from the archive itself: slurmctld keeps "
          "every batch job's script in `hash.N/job.ID/`; pass `jobs=` for others (srun/salloc jobs). "
          "After the restore slurmctld hands out job ids from the backup's sequence again; slurmdbd "
          "tells such jobs apart by submit time, but `sacct -j ID` then shows both.",
)
