"""The Slurm generations the lab runs: the host's own Debian 12 Slurm 22.05, and newer Debian
suites' Slurm from a root filesystem (see rootfs.py and docs/ARCHITECTURE.md, "Generations")."""
from __future__ import annotations

from dataclasses import dataclass

from .rootfs import SUITES, Suite


@dataclass(frozen=True)
class Generation:
    slurm: str                      # "24.11"
    suite_name: str                 # the Debian suite whose slurm-wlm it is
    in_rootfs: bool                 # False: the host's packages (Debian 12 itself)
    # The OpenAPI / data_parser plugins slurmrestd must load for slurmops (slurmrestd(8): with
    # no -s/-d it loads every one in PluginDir; these are the ones the rest source speaks).
    rest_plugins: tuple[str, ...]
    # Plugins a config may name that are built into Slurm, no .so (measured: Debian's 24.11.5 and
    # 26.05.5 ship no mpi_none.so or jobcomp_none.so, and their daemons run with MpiDefault=none
    # and JobCompType=jobcomp/none).
    builtin_plugins: tuple[str, ...] = ()
    # Prometheus and Alertmanager from the suite's own packages, run inside the root filesystem
    # instead of the host's Debian 12 ones (forky: Prometheus 3.5, so the lab of this generation
    # proves every dashboard query and recording rule on Prometheus 3 while the host's labs prove
    # them on 2.42; promtool 3.5 from the same tree runs the rule tests, tests/rootfs).
    prometheus_in_rootfs: bool = False
    # slurmctld's own OpenMetrics endpoint (GET /metrics/... on SlurmctldPort), added in 25.11:
    # the slurm.conf MetricsType that turns it on, "" where the generation has none
    # (shared/reference/slurm/26.05.3/html/metrics.shtml; docs/native-metrics.md).
    metrics_type: str = ""

    @property
    def suite(self) -> Suite:
        return SUITES[self.suite_name]

    @property
    def rootfs_packages(self) -> list[str]:
        """What this generation's root filesystem installs (its cache key)."""
        return ROOTFS_PACKAGES + (PROMETHEUS_PACKAGES if self.prometheus_in_rootfs else [])


def _parsers(*minor: int) -> tuple[str, ...]:
    return tuple(f"data_parser/v0.0.{n}" for n in minor)


GENERATIONS = {
    "22.05": Generation("22.05", "bookworm", False, ("openapi/v0.0.38", "openapi/dbv0.0.38")),
    "24.11": Generation("24.11", "trixie", True,
                        ("openapi/slurmctld", "openapi/slurmdbd", *_parsers(40, 41, 42)),
                        ("mpi/none", "jobcomp/none")),
    "26.05": Generation("26.05", "forky", True,
                        ("openapi/slurmctld", "openapi/slurmdbd", *_parsers(42, 43, 44, 45)),
                        ("mpi/none", "jobcomp/none"), prometheus_in_rootfs=True,
                        metrics_type="metrics/openmetrics"),
}
DEFAULT = "22.05"

# slurmctld's native endpoints (metrics.shtml "HTTP Endpoints") that the lab's Prometheus scrapes
# as job="slurmctld_native", one target per path labelled endpoint="<path>". Not
# /metrics/jobs-users-accts: one series per user and account, which metrics.shtml advises against
# storing ("Do not use unbounded metric endpoints ... to store data"); the lab tests read it directly.
NATIVE_JOB = "slurmctld_native"
NATIVE_ENDPOINTS = ("jobs", "nodes", "partitions", "scheduler")

# What a newer generation's root filesystem holds: the daemons, the client commands and the
# plugin packages the lab's configs name, munge and MariaDB (the measured list).
ROOTFS_PACKAGES = ["slurmctld", "slurmd", "slurmdbd", "slurmrestd", "slurm-client",
                   "slurm-wlm-basic-plugins", "slurm-wlm-jwt-plugin", "slurm-wlm-mysql-plugin",
                   "munge", "mariadb-server",
                   # jobs run inside the root filesystem: the tests' CPU and memory hogs are python3
                   "python3-minimal"]
# Added where a generation runs Prometheus from its root filesystem (part of that tree's cache key).
PROMETHEUS_PACKAGES = ["prometheus", "prometheus-alertmanager"]


def generation(name: str) -> Generation:
    try:
        return GENERATIONS[name]
    except KeyError:
        raise ValueError(f"unknown Slurm generation {name!r}; one of {', '.join(GENERATIONS)}") from None
