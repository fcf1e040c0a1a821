"""A sample workload for the lab: running, pending (several reasons), held, array, completed and
failed jobs from two users and accounts, a drained node with a unicode reason, a future
maintenance reservation, licenses in use and a cloud-burst job. Used by the demo, by
`lab record` and by tests that need a realistic scheduler picture."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import proc
from .platform import WORKLOAD_USER, Lab, LabError

DRAIN_REASON = "maintenance: firmware ✓ über-node"
RESERVATION = "maint_window"


@dataclass
class Workload:
    jobs: dict[str, str] = field(default_factory=dict)   # role -> job id
    drained: str = ""
    reservation: str = ""


def sbatch(lab: Lab, *args: str, user: str | None = None) -> str:
    argv = ["sbatch", "--parsable", "-o", "/dev/null", "-e", "/dev/null", *args]
    if user:
        # runuser keeps our argument list intact (no shell); SLURM_CONF travels in the env.
        argv = ["runuser", "-u", user, "--", "env", f"SLURM_CONF={lab.cfg.slurm_conf}", *argv]
    r = proc.run(argv, env=lab.env, timeout=30)
    if r.returncode != 0:
        raise LabError(f"sbatch {' '.join(args)} failed: {(r.stderr or r.stdout).strip()}")
    return r.stdout.strip().split(";")[0]


def scontrol(lab: Lab, *args: str) -> None:
    r = proc.run(["scontrol", *args], env=lab.env, timeout=30)
    if r.returncode != 0:
        raise LabError(f"scontrol {' '.join(args)} failed: {(r.stderr or r.stdout).strip()}")


def start(lab: Lab, cloud: bool = True) -> Workload:
    c = lab.cfg
    w = Workload()
    w.jobs["running_root"] = sbatch(lab, "-p", "cpu", "-J", "sim-root", "-n", "2", "-A", "research",
                                    "--wrap", "sleep 3600")
    w.jobs["running_user"] = sbatch(lab, "-p", "cpu", "-J", "sim-user", "-A", "physics",
                                    "--wrap", "sleep 3600", user=WORKLOAD_USER)
    w.jobs["array"] = sbatch(lab, "-p", "cpu", "-J", "sweep", "--array=1-4%2", "--wrap", "sleep 3600")
    w.jobs["licensed"] = sbatch(lab, "-p", "cpu", "-J", "fem", "-L", "comsol:2", "--wrap", "sleep 3600")
    w.jobs["pending_licenses"] = sbatch(lab, "-p", "cpu", "-J", "fem-2", "-L", "comsol:2",
                                        "--wrap", "sleep 60")
    w.jobs["pending_dependency"] = sbatch(lab, "-p", "cpu", "-J", "post",
                                          f"--dependency=afterok:{w.jobs['running_root']}",
                                          "--wrap", "true")
    w.jobs["held"] = sbatch(lab, "-p", "cpu", "-J", "held", "--hold", "--wrap", "true")
    w.jobs["pending_resources"] = sbatch(lab, "-p", "cpu", "-J", "wide", f"-N{len(c.cpu_node_names)}",
                                         "--exclusive", "--wrap", "sleep 60")
    w.jobs["failed"] = sbatch(lab, "-p", "cpu", "-J", "broken", "--wrap", "exit 3")
    w.jobs["completed"] = sbatch(lab, "-p", "cpu", "-J", "quick", "--wrap", "true", user=WORKLOAD_USER)
    if cloud and c.cloud_node_names:
        w.jobs["cloud"] = sbatch(lab, "-p", "cloud", "-J", "burst", "--wrap", "sleep 120")
    drain = c.cpu_node_names[-1]
    if len(c.cpu_node_names) > 1:
        scontrol(lab, "update", f"nodename={drain}", "state=drain", f"reason={DRAIN_REASON}")
        w.drained = drain
    r = proc.run(["scontrol", "show", "reservation", RESERVATION], env=lab.env, timeout=10)
    if r.returncode != 0:
        scontrol(lab, "create", "reservation", f"ReservationName={RESERVATION}",
                 "StartTime=now+1days", "Duration=120", f"Nodes={c.cpu_node_names[0]}",
                 "Users=root", "Flags=MAINT,IGNORE_JOBS")
    w.reservation = RESERVATION
    return w


def stop(lab: Lab) -> None:
    """Undo start(): cancel every job, resume drained nodes, delete the reservation."""
    lab.cancel_jobs()
    for node, state in _states(lab).items():
        if "drain" in state or "DRAIN" in state:
            proc.run(["scontrol", "update", f"nodename={node}", "state=resume"], env=lab.env)
    proc.run(["scontrol", "delete", f"reservation={RESERVATION}"], env=lab.env)


def _states(lab: Lab) -> dict[str, str]:
    from .checks import node_states
    return node_states(lab.env)


def wait_settled(lab: Lab, timeout: float = 40) -> bool:
    """Wait until the scheduler has started what can start (no job still without a reason)."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = proc.run(["squeue", "-h", "-o", "%T|%r"], env=lab.env, timeout=15)
        rows = [ln.split("|") for ln in r.stdout.splitlines() if ln]
        running = sum(1 for st, _ in rows if st == "RUNNING")
        unsettled = [1 for st, reason in rows
                     if st in ("PENDING", "CONFIGURING") and reason in ("None", "Priority")]
        if running >= 2 and not unsettled:
            return True
        time.sleep(1)
    return False
