"""Rotate the munge key on every host of the fleet: back up, distribute, verify the new key
decodes across hosts (before any live munged uses it), switch every host, restart munged
everywhere, then the Slurm daemons. Rollback puts the old key back on every host."""
import os

from slurmops.runbook import Check, Cmd, Param, Runbook, Service, Step
from slurmops.runbook.fleet import DAEMON_GROUP, copy_to, daemon_hosts, each, host_values, in_parallel, munge_across
from slurmops.runbook.health import nodes_responding, postflight, preflight, slurmctld_up, slurmdbd_answers
from slurmops.runbook.model import fill
from slurmops.runbook.steps import backup_file, restore_file

HOSTS = "{hosts}"
BACKUP = "{backup_dir}/munge.key.{host}.{run_id}"      # per host: a split fleet restores as it was
STAGING = "{backup_dir}/munge.key.new.{run_id}"        # the new key, on the machine running this
STAGED = "{munge_key}.slurmops-new"                    # the new key on each host, not yet live
# A throw-away munged on the new key: beside the live socket (munged wants every directory above
# its socket searchable by all, which the 0700 backup dir is not); one per host and run.
VERIFY = "{verify_dir}.{host}"


def derive(ctx) -> dict[str, str]:
    return {"verify_dir": os.path.join(os.path.dirname(ctx.values["munge_socket"]),
                                       f"verify.{ctx.run_id[-4:]}")}


def daemons(ctx) -> list[str]:
    return list(ctx.p.daemons or str(ctx.values["slurm_daemons"]).split(","))


def generate(ctx):
    ops = [Cmd(("mkdir", "-p", "-m", "0700", "{backup_dir}"), why="backup dir"),
           Cmd(("install", "-m", "0400", "/dev/null", STAGING), why="empty file, final mode")]
    if ctx.p.key_file:
        ops.append(Cmd(("cp", "--", "{key_file}", STAGING), why="copy the provided key"))
    else:
        ops.append(Cmd(("dd", "if=/dev/urandom", f"of={STAGING}", "bs=1024", "count=1", "status=none"),
                       why="random key"))
    return ops


def staged_matches(ctx, h):
    """The staged file on the host has the staging copy's bytes (sha256 compared here; the
    digests are not logged)."""
    def fn(c):
        want = c.run(["sha256sum", "--", fill(STAGING, c.values)], timeout=10, secret_output=True)
        staged = fill(STAGED, host_values(c, h.name))
        got = c.run(["sha256sum", "--", staged], timeout=20, secret_output=True, host=h.name)
        if want.rc != 0 or got.rc != 0:
            return False, f"sha256sum failed on {'this machine' if want.rc else h.name}"
        same = want.stdout.split()[:1] == got.stdout.split()[:1]
        return same, f"{staged} on {h.name} {'matches' if same else 'DIFFERS from'} the new key"
    return [Check(f"staged key identical on {h.name}", fn, "the copy arrived whole")]


def start_verify_munged(ctx, h):
    v = VERIFY
    return [Cmd(("mkdir", "-p", "-m", "0755", v), why="its dir", host=h.name),
            Cmd(("munged", f"--key-file={STAGED}", f"--socket={v}/munge.socket",
                 f"--pid-file={v}/munged.pid", f"--seed-file={v}/munged.seed",
                 f"--log-file={v}/munged.log", "--num-threads=1"),
                why="a munged on the new key, beside the live one", host=h.name)]


# Clean-up of files that were never live (a staged copy, the verification munged) tolerates an
# unreachable host (ssh exits 255): what is left there is harmless and the audit log shows it,
# while the live keys, which rollback must restore, are never touched by these ops.
UNREACHABLE_OK = (0, 255)


def stop_verify_munged(ctx, h):
    return [Cmd(("pkill", "-x", "-F", f"{VERIFY}/munged.pid", "munged"), ok_rc=(0, 1, 2, 3, 255),
                why="stop the verification munged (gone already is fine)", host=h.name),
            Cmd(("rm", "-rf", "--", VERIFY), why="its files", ok_rc=UNREACHABLE_OK, host=h.name)]


def switch(ctx, h):
    """Copy (not move) the staged key over the live one, atomically: the step stays safe to run
    again after a kill -9 (the staged copy is still there), and rollback has the backup."""
    tmp = "{munge_key}.slurmops-tmp"
    return [Cmd(("cp", "-p", "--", STAGED, tmp), why="next to the key", host=h.name),
            Cmd(("mv", "-f", "--", tmp, "{munge_key}"), why="atomic replace", host=h.name)]


def remove_staged(ctx):
    return [*each(HOSTS, Cmd(("rm", "-f", "--", STAGED), why="staged copy", ok_rc=UNREACHABLE_OK),
                  parallel=True)(ctx),
            Cmd(("rm", "-f", "--", STAGING), why="staging copy")]


def restart_slurm(ctx):
    """Each daemon on the hosts that run it (fleet.DAEMON_GROUP), in the order given; one
    daemon's hosts at once (every slurmd together, as munged was)."""
    return [op for d in daemons(ctx)
            for op in in_parallel([Service("restart", d, host=h.name) for h in daemon_hosts(ctx, d)])]


def restore(ctx):
    """Old key back on every host, then munged everywhere and every Slurm daemon restarted on
    it, in the same order as the rotation (the restart steps have no rollback of their own)."""
    return [*each(HOSTS, *restore_file(BACKUP, "{munge_key}"), parallel=True)(ctx),
            *each(HOSTS, Service("restart", "munged"), parallel=True)(ctx),
            Check("munge round trip across hosts", munge_across(HOSTS).fn, "", retry_s=30),
            *restart_slurm(ctx)]


RUNBOOK = Runbook(
    name="munge-key-rotation",
    title="Rotate the munge key on every host",
    purpose="Replace the munge key shared by munged on every Slurm host of the inventory: back it "
            "up on every host, distribute the new key, prove it decodes across hosts with a "
            "throw-away munged before any live daemon uses it, switch every host, restart munged "
            "everywhere, then the Slurm daemons. The old key stays in a 0700 backup dir on each "
            "host and is restored on every host automatically if anything fails.",
    when="Scheduled key rotation, a suspected key leak, or a host that was decommissioned while it "
         "held the key. munged holds one key at a time (dun/munge#19): hosts on different keys "
         "cannot talk, so every host is switched in one step and verified together. Without an "
         "inventory the target is a fleet of one host.",
    params=[
        Param("key_file", "install this key (from your config management) instead of generating "
              "one", type="path"),
        Param("daemons", "Slurm daemons to restart after munged, in order, each on the hosts of its "
              "group (slurmdbd: database, slurmctld and slurmrestd: controllers, slurmd: compute; "
              "default: the target's slurm_daemons; lab: slurmdbd,slurmctld,slurmd,slurmrestd)",
              type="list", choices=tuple(DAEMON_GROUP)),
        Param("hosts", "the hosts that share the key: groups, all, Slurm hostlists of inventory "
              "hosts, partition:NAME (its nodes now)", default="all", pattern=r"[A-Za-z0-9_.,:\[\]-]+"),
    ],
    derive=derive,
    steps=[
        preflight(),
        Step("Back up the current key on every host", "the only way back if the new key fails",
             check=each(HOSTS, Cmd(("test", "-f", "{munge_key}"), why="key exists"), parallel=True),
             action=each(HOSTS, *backup_file("{munge_key}", BACKUP), parallel=True),
             verify=each(HOSTS, Cmd(("cmp", "-s", "--", "{munge_key}", BACKUP), why="backup is identical"),
                         parallel=True)),
        Step("Distribute the new key to every host", "every host must hold it before any switches",
             action=lambda ctx: [*generate(ctx),
                                 *each(HOSTS, Cmd(("install", "-m", "0400", "/dev/null", STAGED),
                                                  why="empty file, final mode"),
                                       copy_to(STAGING, STAGED, "copy the new key"),
                                       Cmd(("chown", "{munge_owner}", STAGED), why="owner"),
                                       Cmd(("chmod", "0400", STAGED), why="mode"), parallel=True)(ctx)],
             verify=each(HOSTS, staged_matches, parallel=True),
             rollback=remove_staged,
             timeout_s=400),
        Step("Verify the new key decodes on every host",
             "a throw-away munged per host on the new key: a host whose copy differs is caught "
             "before any live munged changes",
             action=each(HOSTS, stop_verify_munged, start_verify_munged, parallel=True),
             verify=[munge_across(HOSTS, VERIFY + "/munge.socket", "new key decodes across hosts")],
             rollback=each(HOSTS, stop_verify_munged, parallel=True)),
        Step("Switch every host to the new key and restart munged everywhere",
             "munged reads its key only at start; all hosts switch together",
             action=lambda ctx: [*each(HOSTS, stop_verify_munged, parallel=True)(ctx),
                                 *each(HOSTS, switch, parallel=True)(ctx),
                                 *each(HOSTS, Service("restart", "munged"), parallel=True)(ctx)],
             verify=[Check("munge round trip across hosts", munge_across(HOSTS).fn,
                           "munge -n | unmunge between hosts", retry_s=30)],
             rollback=restore, destructive=True, timeout_s=400),
        Step("Restart the Slurm daemons", "they must authenticate with credentials of the new key",
             action=restart_slurm,
             verify=[Check("slurmctld answers", slurmctld_up, "", retry_s=60),
                     Check("slurmdbd answers", slurmdbd_answers, "", retry_s=60),
                     Check("nodes responding", nodes_responding, "", retry_s=60)],
             destructive=True, timeout_s=400),
        Step("Remove the staged copies", "the new key lives in the key files only now",
             action=remove_staged),
        postflight(),
    ],
    references=[
        "SchedMD, Authentication plugins (authentication.shtml): munge.key owned by munge, mode 0400, "
        "same key on every host, restart after a change",
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml): munged before the Slurm daemons",
        "munge(7), munged(8): one key per munged, read at start; --socket for a second instance",
    ],
    notes="The key bytes go from /dev/urandom (or key_file) to a 0400 staging file and from there "
          "to each host with cp or scp -p; they never pass through slurmops, its audit log or the "
          "terminal (digests compared for the staged copies are not logged either). Each host's "
          "backup keeps owner and mode (cp -p) in its 0700 backup dir, named after the host; "
          "delete them once the rotation is proven. Fleet: docs/runbooks.md.",
)
