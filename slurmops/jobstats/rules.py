"""The notes of a report: ONE declared table of rules. Each rule reads the job's accounting record,
its figures and its summary, and the thresholds of the config file (jobstats.yml), and returns the
note's text and the evidence behind it (the figures and the threshold it crossed), or None.

Princeton's jobstats showed which notes users act on (docs/notes.md of PrincetonUniversity/jobstats):
over-requested memory, low CPU use, idle GPUs, a time limit far above the run time, OOM kills.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .figures import Figures, node_cpus, suggest_mem_gb
from .format import gb, hms, pct
from .sacct import JobRecord
from .summary import Summary


@dataclass(frozen=True)
class Note:
    rule: str
    severity: str          # red | warn | info
    text: str
    evidence: dict


@dataclass(frozen=True)
class Ctx:
    rec: JobRecord
    fig: Figures
    summary: Summary | None
    t: dict[str, float]

    @property
    def long_enough(self) -> bool:
        return self.fig.run_s >= self.t["min_runtime_s"]


Check = Callable[[Ctx], "tuple[str, dict] | None"]


def _oom(c: Ctx):
    if c.rec.state != "OUT_OF_MEMORY" and not c.fig.oom_kills:
        return None
    alloc = f" (allocated {gb(c.fig.mem_alloc)})" if c.fig.mem_alloc else ""
    return (f"This job was killed by the out-of-memory killer: it needed more memory than it "
            f"asked for{alloc}. Ask for more with --mem or --mem-per-cpu and resubmit.",
            {"state": c.rec.state, "oom_kills": c.fig.oom_kills, "mem_peak_bytes": c.fig.mem_used,
             "mem_alloc_bytes": c.fig.mem_alloc})


def _idle_gpus(c: Ctx):
    if not c.rec.gpus or not c.long_enough or c.summary is None:
        return None
    util = c.fig.gpu_util
    if c.fig.idle_gpus == 0 and not (util is not None and util < c.t["gpu_util_red"]):
        return None
    ev = {"gpus": c.rec.gpus, "idle_gpus": c.fig.idle_gpus, "gpu_util": util,
          "gpu_util_red": c.t["gpu_util_red"], "gpu_idle_fraction": c.t["gpu_idle_fraction"]}
    if c.fig.idle_gpus:
        return (f"{c.fig.idle_gpus} of the {c.rec.gpus} allocated GPU(s) had no process of this "
                f"job for at least {pct(c.t['gpu_idle_fraction'])} of the run. Is the code "
                f"GPU-enabled, and does it use every GPU it asks for?", ev)
    return (f"GPU utilisation was only {pct(util)} (below {pct(c.t['gpu_util_red'])}). Check "
            f"the input pipeline (data loading, CPU threads) or ask for fewer/smaller GPUs.", ev)


def _cpu_low(c: Ctx):
    eff = c.fig.cpu_eff
    if eff is None or not c.long_enough or c.rec.gpus or eff >= c.t["cpu_eff_warn"]:
        return None
    used = c.fig.cpu_s / max(c.fig.run_s, 1) if c.fig.cpu_s is not None else None
    hint = (f" It kept about {used:.1f} of {c.rec.ncpus} CPUs busy: ask for "
            f"--cpus-per-task={max(1, round(used))}, or check the threads your code starts."
            if used is not None and c.rec.ncpus > 1 else " Check what the job was waiting for.")
    return (f"CPU efficiency was {pct(eff)} (target: {pct(c.t['cpu_eff_warn'])} or more).{hint}",
            {"cpu_eff": eff, "cpu_seconds": c.fig.cpu_s, "cpus": c.rec.ncpus,
             "run_s": c.fig.run_s, "cpu_eff_warn": c.t["cpu_eff_warn"]})


def _cpu_idle_node(c: Ctx):
    if c.summary is None or c.rec.nnodes < 2 or not c.long_enough:
        return None
    idle = sorted(name for name, n in c.summary.nodes.items()
                  if n.cpu_s is not None and n.span_s
                  and n.cpu_s / (node_cpus(c.rec, n.slurm_nodes) * n.span_s) < c.t["cpu_idle_node"])
    if not idle:
        return None
    return (f"Node(s) {', '.join(idle)} of this {c.rec.nnodes}-node job did (almost) no CPU work. "
            f"Does the code run on more than one node (srun, MPI)?",
            {"idle_nodes": idle, "cpu_idle_node": c.t["cpu_idle_node"]})


def _mem_over(c: Ctx):
    f = c.fig
    if (f.mem_eff is None or f.mem_alloc is None or f.mem_used is None or not c.long_enough or f.oom_kills
            or c.rec.state == "OUT_OF_MEMORY" or f.mem_eff >= c.t["mem_used_low"]
            or f.mem_alloc <= c.t["mem_min_alloc_gb"] * 2**30):
        return None
    want = suggest_mem_gb(f.mem_used, c.t["mem_headroom"])
    return (f"You asked for {gb(f.mem_alloc)} of memory but used at most {gb(f.mem_used)} "
            f"({pct(f.mem_eff)}). Ask for --mem={want}G next time: jobs that ask for less start "
            f"sooner.",
            {"mem_alloc_bytes": f.mem_alloc, "mem_peak_bytes": f.mem_used, "mem_eff": f.mem_eff,
             "mem_used_low": c.t["mem_used_low"], "suggested_mem_gb": want})


def _time_over(c: Ctx):
    f, lim = c.fig, c.rec.timelimit_s
    if (c.rec.running or f.time_eff is None or not lim or lim <= c.t["time_limit_min_s"]
            or f.time_eff >= c.t["time_used_low"] or c.rec.state != "COMPLETED"):
        return None
    return (f"The job ran {hms(f.run_s)} of its {hms(lim)} time limit ({pct(f.time_eff)}). A "
            f"--time closer to the need lets the backfill scheduler start it sooner.",
            {"run_s": f.run_s, "timelimit_s": lim, "time_eff": f.time_eff,
             "time_used_low": c.t["time_used_low"]})


def _swap(c: Ctx):
    if not c.fig.swap_max or c.fig.swap_max < c.t["swap_bytes"]:
        return None
    return (f"The job swapped up to {gb(c.fig.swap_max)}: it runs much slower than in memory. "
            f"Ask for more memory.", {"swap_max_bytes": c.fig.swap_max,
                                      "swap_bytes": c.t["swap_bytes"]})


def _pressure(c: Ctx):
    if c.summary is None or not c.fig.run_s:
        return None
    mem = c.summary.total("mem_pressure_s")
    io = c.summary.total("io_pressure_s")
    nn = max(len(c.summary.nodes), 1)
    parts: list[str] = []
    ev: dict[str, object] = {}
    if mem is not None and mem / nn / c.fig.run_s > c.t["mem_pressure_frac"]:
        parts.append(f"waited on memory for {pct(mem / nn / c.fig.run_s)} of its run")
        ev.update(mem_pressure_s=mem, mem_pressure_frac=c.t["mem_pressure_frac"])
    if io is not None and io / nn / c.fig.run_s > c.t["io_pressure_frac"]:
        parts.append(f"waited on disk IO for {pct(io / nn / c.fig.run_s)} of its run")
        ev.update(io_pressure_s=io, io_pressure_frac=c.t["io_pressure_frac"])
    if not parts:
        return None
    ev["run_s"] = c.fig.run_s
    return ("The job " + " and ".join(parts) + " (pressure stall information): more memory, or "
            "node-local scratch instead of the shared file system, may help.", ev)


# id, severity, check — in the order notes are printed.
RULES: tuple[tuple[str, str, Check], ...] = (
    ("oom-killed", "red", _oom),
    ("gpu-idle", "red", _idle_gpus),
    ("cpu-idle-node", "red", _cpu_idle_node),
    ("cpu-low", "warn", _cpu_low),
    ("memory-over-requested", "warn", _mem_over),
    ("time-limit-too-long", "info", _time_over),
    ("swap", "warn", _swap),
    ("pressure", "warn", _pressure),
)


def evaluate(rec: JobRecord, fig: Figures, summary: Summary | None, thresholds: dict) -> list[Note]:
    ctx = Ctx(rec, fig, summary, thresholds)
    notes = []
    for rule, severity, check in RULES:
        out = check(ctx)
        if out is not None:
            text, evidence = out
            sev = severity
            if rule == "cpu-low" and fig.cpu_eff is not None and fig.cpu_eff < thresholds["cpu_eff_red"]:
                sev = "red"
            notes.append(Note(rule, sev, text, evidence))
    return notes
