"""Every Slurm command and slurmrestd path the exporters run, in one table.

The sources take their argument lists and paths from here, ``slurmops lab record`` records exactly
these (``tests/fixtures/slurm-<version>/``), and ``tests/unit/slurm/test_commands.py`` checks both
ways: what the sources really run is this table, and each entry has a recording for every Slurm
version that has real (recorded, not schema-derived) fixtures. Each entry says what its recording
guards. (The pattern of SckyzO/slurm_exporter's command registry: commands declared once, the
collectors and the tests read the same table.)

Command formats follow the man pages in shared/reference/slurm/<version>/ (squeue.1 ``-O``,
scontrol.1 ``-o``/``--all``, sshare.1 ``-P``); REST paths follow rest_api.shtml of each release.
"""
from __future__ import annotations

from dataclasses import dataclass

from .parse.text import SQUEUE_ARGS, SSHARE_ARGS

#: Flags that only widen which records a command lists (hidden partitions and their nodes), never
#: the shape of a record. A recording made without one still guards the parser (MANIFEST notes).
WIDENING_FLAGS = frozenset({"--all"})


@dataclass(frozen=True)
class Command:
    """One Slurm command line a source runs (``{jobids}``: the ids asked for, comma-separated)."""
    fetcher: str              # the source method (and collector) that runs it; "jobinfo": the job exporter
    argv: tuple[str, ...]
    fixture: str              # recording: tests/fixtures/slurm-<version>/cli/<fixture>
    guards: str               # what the recording proves
    any_exit: bool = False    # its output is the answer whatever the exit code
    when: str = ""            # run only in this case (instead of the fetcher's plain command)

    def render(self, **values: str) -> list[str]:
        """The argv with its ``{name}`` placeholders (whole arguments) filled in."""
        return [values[a[1:-1]] if a.startswith("{") and a.endswith("}") else a for a in self.argv]


@dataclass(frozen=True)
class RestPath:
    """One slurmrestd path a source requests (``{v}``: the negotiated data_parser version)."""
    fetcher: str
    path: str
    guards: str
    since: str = "v0.0.38"    # the first data_parser version that serves it

    def at(self, version: str) -> str:
        return self.path.format(v=version)

    def fixture(self, version: str) -> str:
        """tests/fixtures/slurm-<release>/rest/<this>: the path's words joined by '-'."""
        return self.at(version).strip("/").replace("/", "-") + ".json"


# %A: the plain job id even for array elements (%i would print 84_1); '|' cannot occur in names.
JOBINFO_FORMAT = "%A|%u|%a|%P"

COMMANDS: tuple[Command, ...] = (
    Command("info", ("sinfo", "--version"), "sinfo-version.txt",
            "the version label of slurm_info (and the release the pyslurm source must match)"),
    Command("info", ("scontrol", "show", "config"), "scontrol-show-config.txt",
            "ClusterName: the cluster label when --cluster is not given"),
    Command("nodes", ("scontrol", "show", "nodes", "-o", "--all"), "scontrol-show-nodes.txt",
            "one node per line: states and flags, CPUs, memory, GRES, reasons, partitions"),
    Command("nodes", ("scontrol", "show", "nodes", "-o", "-d", "--all"),
            "scontrol-show-nodes-details.txt",
            "GresUsed (GPUs in use, with indexes), printed only with -d (SHOW_DETAIL)",
            when="nodes have GPUs that AllocTRES does not name (gres/gpu not in "
                 "AccountingStorageTRES): from then on, instead of the plain command"),
    Command("partitions", ("scontrol", "show", "partitions", "-o", "--all"),
            "scontrol-show-partitions.txt", "partition state, default flag, limits and node lists"),
    Command("jobs", tuple(SQUEUE_ARGS), "squeue-exporter.txt",
            "the queue in the '|'-separated -O format: states, reasons, TRES, pending arrays"),
    Command("scheduler", ("sdiag",), "sdiag.txt",
            "scheduler and backfill counters and the RPC statistics"),
    Command("fairshare", tuple(SSHARE_ARGS), "sshare.txt",
            "fair-share tree in sshare's -P columns (accounts and users)"),
    Command("licenses", ("scontrol", "show", "licenses", "-o"), "scontrol-show-licenses.txt",
            "license totals, used and free"),
    Command("reservations", ("scontrol", "show", "reservations", "-o"),
            "scontrol-show-reservations.txt", "reservation times, nodes, flags"),
    Command("controllers", ("scontrol", "ping"), "scontrol-ping.txt",
            "one 'Slurmctld(role) at host is UP|DOWN' line per SlurmctldHost", any_exit=True),
    Command("jobinfo", ("squeue", "-h", "-j", "{jobids}", "-o", JOBINFO_FORMAT), "squeue-jobinfo.txt",
            "the job exporter's user/account/partition labels for the jobs it found in cgroups"),
)

REST_PATHS: tuple[RestPath, ...] = (
    RestPath("negotiate", "/openapi/v3",
             "the data_parser versions slurmrestd offers (the newest both sides speak is used)"),
    RestPath("info", "/slurm/{v}/ping", "the Slurm release in meta (and the cluster from v0.0.40)"),
    RestPath("info", "/slurmdb/{v}/config",
             "the cluster name where /slurm answers do not carry it (before v0.0.40)"),
    RestPath("nodes", "/slurm/{v}/nodes", "node records, streamed one at a time"),
    RestPath("partitions", "/slurm/{v}/partitions", "partition records"),
    RestPath("jobs", "/slurm/{v}/jobs",
             "job records, streamed; asked again with ?update_time= (304 or [] means no change)"),
    RestPath("scheduler", "/slurm/{v}/diag", "scheduler counters and RPC statistics"),
    RestPath("fairshare", "/slurm/{v}/shares", "the fair-share tree", since="v0.0.40"),
    RestPath("licenses", "/slurm/{v}/licenses", "license counts"),
    RestPath("reservations", "/slurm/{v}/reservations", "reservation records"),
    RestPath("controllers", "/slurm/{v}/ping", "one record per SlurmctldHost"),
)


def command(fetcher: str, first: str | None = None, detail: bool = False) -> Command:
    """The registered command of a fetcher (``first``: its argv[0], where a fetcher runs two;
    ``detail``: the one it runs only ``when`` its case arises)."""
    for c in COMMANDS:
        if c.fetcher == fetcher and (first is None or c.argv[0] == first) and bool(c.when) == detail:
            return c
    raise KeyError(fetcher)


def rest_path(fetcher: str, path: str) -> RestPath:
    """The registered path ``path`` (with ``{v}``) of a fetcher: a typo fails at import."""
    for r in REST_PATHS:
        if r.fetcher == fetcher and r.path == path:
            return r
    raise KeyError(f"{fetcher} {path}")


def version_number(v: str) -> int:
    return int(v.rsplit(".", 1)[1])
