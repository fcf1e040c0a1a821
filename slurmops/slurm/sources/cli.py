"""The `cli` source: Slurm's own commands with compact text formats.

Why text and not `--json`: on a 10,000-node, 50,000-job cluster `squeue --json` costs 7.4 s and
155 MB while the text format below costs 0.41 s and 2 MB; `scontrol show nodes -o` is 0.06 s.
Commands run as argument lists with a timeout; SLURM_CONF and the like come from `env`.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from typing import IO

from ..commands import command
from ..models import ClusterInfo, Controller, Job, License, Node, Partition, Reservation, SchedulerStats, Share
from ..parse import text as tp
from ..parse.controllers import parse_scontrol_ping
from . import POLL_GATE, CallStats, SourceError, T, checked_parse, guard_fetchers

#: Largest command output read (squeue at 50,000 jobs prints ~2 MB; scontrol show nodes -o at
#: 10,000 nodes ~6 MB): more is not a Slurm answer, and is refused before it is read.
MAX_OUTPUT_BYTES = 1 << 30


def _argv(fetcher: str, first: str | None = None) -> list[str]:
    """The command line registered for a fetcher (slurmops/slurm/commands.py)."""
    return list(command(fetcher, first).argv)


def _read_text(f: IO[bytes]) -> str:
    """The output as text; bytes that are not UTF-8 (a Latin-1 job name) become U+FFFD and the
    rest of the output is read as usual."""
    f.seek(0)
    return f.read().decode(errors="replace")


@guard_fetchers
class CliSource:
    name = "cli"

    def __init__(self, env: dict[str, str] | None = None, timeout: float = 20.0,
                 stats: CallStats | None = None, bin_dir: str | None = None):
        # CLI_ENV pins the output formats the parsers read (absolute times, no bitstring cut-off)
        # whatever the operator's own environment says.
        self.env = {**os.environ, **(env or {}), **tp.CLI_ENV}
        self.timeout = timeout
        self.stats = stats or CallStats()
        self.bin_dir = bin_dir
        self.node_details = False     # nodes(): whether `scontrol show nodes` needs -d here

    def run(self, argv: list[str], any_exit: bool = False) -> str:
        command = argv[0]
        exe = os.path.join(self.bin_dir, command) if self.bin_dir else command
        self.stats.call(command)
        # Output goes to unlinked temporary files, not pipes: read back in one pass it costs one
        # copy of the text (a pipe costs the chunks, their join and the decoded text: 3x, 18 MB
        # for squeue at 50,000 jobs).
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                with POLL_GATE.io():
                    r = subprocess.run([exe, *argv[1:]], stdout=out, stderr=err, env=self.env,
                                       timeout=self.timeout, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                self.stats.error(command, "timeout")
                raise SourceError(command, "timeout", f"no answer in {self.timeout:g}s") from None
            except OSError as exc:
                self.stats.error(command, "not_found")
                raise SourceError(command, "not_found", str(exc)) from exc
            if out.seek(0, 2) > MAX_OUTPUT_BYTES:
                self.stats.error(command, "parse")
                raise SourceError(command, "parse", f"output larger than {MAX_OUTPUT_BYTES:,} bytes")
            stdout = _read_text(out)
            if r.returncode != 0 and not (any_exit and stdout.strip()):
                self.stats.error(command, "exit")
                last = (_read_text(err).strip() or stdout.strip()).splitlines()[-1:] or [f"exit {r.returncode}"]
                raise SourceError(command, "exit", last[0][:300])
        return stdout

    def _parse(self, collector: str, command: str, parse: Callable[..., T], text: str) -> T:
        return checked_parse(self.stats, collector, command, parse, text, bool(text.strip()))

    # ---- fetchers ----------------------------------------------------------------------------
    def info(self) -> ClusterInfo:
        version = self.run(_argv("info", "sinfo")).strip().split()[-1]
        conf = self.run(_argv("info", "scontrol"))
        m = re.search(r"^ClusterName\s*=\s*(\S+)", conf, re.M)
        return ClusterInfo(cluster=m.group(1) if m else None, version=version)

    def nodes(self) -> list[Node]:
        """``scontrol show nodes -o``; GPUs in use come from AllocTRES. Where that cannot tell
        (GPUs configured but gres/gpu not in AccountingStorageTRES: ``gres_used`` None), this
        source asks again with ``-d`` (GresUsed) and keeps doing so: the extra cost of -d
        (bench/README.md) is paid only by the clusters that need it."""
        if self.node_details:
            return self._parse("nodes", "scontrol", tp.parse_scontrol_nodes,
                               self.run(list(command("nodes", detail=True).argv)))
        nodes = self._parse("nodes", "scontrol", tp.parse_scontrol_nodes, self.run(_argv("nodes")))
        if any(n.gres_used is None for n in nodes):
            self.node_details = True
            return self.nodes()
        return nodes

    def partitions(self) -> list[Partition]:
        return self._parse("partitions", "scontrol", tp.parse_scontrol_partitions,
                           self.run(_argv("partitions")))

    def jobs(self) -> list[Job]:
        return self._parse("jobs", "squeue", tp.parse_squeue, self.run(_argv("jobs")))

    def scheduler(self) -> SchedulerStats:
        return self._parse("scheduler", "sdiag", tp.parse_sdiag, self.run(_argv("scheduler")))

    def fairshare(self) -> list[Share]:
        return self._parse("fairshare", "sshare", tp.parse_sshare, self.run(_argv("fairshare")))

    def licenses(self) -> list[License]:
        out = self.run(_argv("licenses"))
        return self._parse("licenses", "scontrol", tp.parse_scontrol_licenses, out)

    def controllers(self) -> list[Controller]:
        # scontrol ping answers (and may exit non-zero) when a controller is down: that answer
        # is the data, so read it whatever the exit code.
        return self._parse("controllers", "scontrol", parse_scontrol_ping,
                           self.run(_argv("controllers"), any_exit=command("controllers").any_exit))

    def reservations(self) -> list[Reservation]:
        out = self.run(_argv("reservations"))
        return self._parse("reservations", "scontrol", tp.parse_scontrol_reservations, out)
