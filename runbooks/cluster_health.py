"""Cluster health check: the pre/post check every other runbook runs, usable on its own."""
from slurmops.runbook import Runbook, Step
from slurmops.runbook.health import health_checks

RUNBOOK = Runbook(
    name="cluster-health",
    title="Cluster health check",
    purpose="Prove the cluster works end to end: munge, slurmctld, slurmdbd, slurmrestd answer; no node "
            "is DOWN or not responding; a test job (`srun -N1 true`) completes.",
    when="Before and after any maintenance (every runbook here runs it as its first and last step), "
         "after an alert, or when users report that jobs do not start.",
    steps=[Step("Daemons answer, nodes respond, a test job completes",
                "read-only: changes nothing", check=health_checks(), timeout_s=180)],
    references=[
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml): `scontrol ping`, `sinfo`, `srun`",
        "SchedMD, Authentication plugins (authentication.shtml): `munge -n | unmunge`",
        "SchedMD, JSON Web Tokens (jwt.shtml) and REST API (rest.shtml): `scontrol token`, "
        "GET /slurm/<newest data_parser both speak>/diag",
    ],
)
