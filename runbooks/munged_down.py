"""Incident: munged is down on a host (alert MungedDown). Check its key, start it, prove
credentials decode and the Slurm daemons of the host authenticate again."""
from slurmops.runbook import Cmd, Runbook, Service, Step
from slurmops.runbook.health import NOT_NEEDED, WARN, check_named, postflight, preflight
from slurmops.runbook.incident import return_nodes_check
from slurmops.runbook.steps import file_mode_check

RUNBOOK = Runbook(
    name="munged-down",
    title="Incident: munged is down on a host",
    purpose="Bring munged back on the host the target points at (`--ssh HOST` on a systemd "
            "target): check its key (present, owner, mode 0400), start munged, prove a credential "
            "encodes and decodes, then that slurmctld answers, return the nodes slurmctld set DOWN "
            "for not responding meanwhile (never one drained or downed for another reason), and "
            "prove they respond again.",
    when="Alert MungedDown (the job exporter's munge round trip fails, or munge.service is not active); Slurm "
         "commands on the host fail with \"Munge encode failed\" or \"Unable to contact slurm "
         "controller\", the node goes NOT_RESPONDING.",
    steps=[
        preflight(munge=NOT_NEEDED, slurmctld=NOT_NEEDED, slurmdbd=NOT_NEEDED, nodes=NOT_NEEDED,
                  slurmrestd=NOT_NEEDED, test_job=NOT_NEEDED),
        Step("The munge key is usable", "munged refuses a key with the wrong owner or mode",
             check=[Cmd(("test", "-s", "{munge_key}"), why="the key exists and is not empty"),
                    file_mode_check("munge_key", "0400", "munge_owner")]),
        Step("Start munged", "starting a running munged is a no-op",
             action=[Service("start", "munged")],
             verify=[check_named("munge", retry_s=60)],
             destructive=True, timeout_s=180),
        Step("Slurm authenticates again", "slurmctld retries on its own once munged answers",
             verify=[check_named("slurmctld", retry_s=90)], timeout_s=180),
        Step("The nodes respond again", "while credentials failed, slurmctld set the nodes it "
             "could not reach DOWN (\"Not responding\"), or does so at its next ping; it does not ping "
             "a DOWN node again and asks it to register only every 20th ping, so each such node gets "
             "State=RESUME (only where slurmctld set that reason; scontrol(1): update State=RESUME)",
             action=[return_nodes_check()],
             destructive=True, timeout_s=240),
        postflight(retry_s=60, slurmrestd=WARN),
    ],
    references=[
        "SchedMD, Authentication plugins (authentication.shtml): munged on every host, the same "
        "key, owned by the munge user, mode 0400",
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml): munged before the Slurm "
        "daemons",
        "scontrol(1), 22.05.8: update NodeName=... State=RESUME",
        "slurm.conf(5), 22.05.8: SlurmdTimeout (a node not responding for it is set DOWN), "
        "ReturnToService",
    ],
    notes="When munged runs but credentials do not decode between hosts (a different key, clock "
          "skew beyond the credential's lifetime), see munge-health and node-not-responding.",
)
