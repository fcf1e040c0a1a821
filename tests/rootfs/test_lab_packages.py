"""The lab's APT package list, proven on a fresh Debian 12: a minimal bookworm root filesystem
built with mmdebstrap holds exactly the lab's packages (--no-install-recommends) and every Slurm
plugin the lab's rendered configs and slurmrestd's command line name must be in it as a .so.

This is the guard for the defect where auth/jwt was missing on a fresh machine (the developers'
machines had slurm-wlm-jwt-plugin from elsewhere). The root filesystem is cached under
/var/cache/slurmops/rootfs/ keyed by the package list: CI builds it once per change of the list
(60-230 s, load-dependent, and 0.9 GB with the lab's list on the 2-core machine; trixie and
forky 0.6 and 0.85 GB; docs/ARCHITECTURE.md)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import need
from slurmops.lab import plugins, rootfs
from slurmops.lab.config import LabConfig
from slurmops.lab.generations import GENERATIONS
from slurmops.lab.platform import APT_PACKAGES, Lab

pytestmark = pytest.mark.slow


def _need_root() -> None:
    if os.geteuid() != 0:
        need.absent("building a root filesystem with mmdebstrap needs root")


def packages_of(gen: str) -> list[str]:
    """22.05: the host's APT list (a fresh Debian 12 has nothing else); newer generations: what
    their root filesystem is built with."""
    return GENERATIONS[gen].rootfs_packages if GENERATIONS[gen].in_rootfs else APT_PACKAGES


@pytest.fixture(scope="module", params=list(GENERATIONS))
def gen(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def gen_root(gen) -> Path:
    _need_root()
    try:
        return rootfs.ensure(GENERATIONS[gen].suite, packages_of(gen))
    except rootfs.RootfsError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def rendered(gen, tmp_path_factory) -> tuple[Lab, Path]:
    """The lab's configs rendered exactly as `lab up --slurm gen` writes them (cloud nodes, bench
    nodes and, for 22.05, the backup controller's copy: every template branch is rendered)."""
    d = tmp_path_factory.mktemp(f"lab-{gen}")
    lab = Lab(LabConfig(dir=d, cluster="guard", node_prefix="guard", bench_nodes=2, slurm=gen,
                        backup_controller=not GENERATIONS[gen].in_rootfs))
    lab.render()
    return lab, d


def required_plugins(lab: Lab, d: Path) -> list[tuple[str, str]]:
    etc = d / "etc"
    need = [(f"slurm.conf {k}", p) for k, p in plugins.conf_plugins(
        (etc / "slurm.conf").read_text(), plugins.SLURM_CONF)]
    if (etc / "slurm-backup.conf").exists():
        need += [(f"slurm-backup.conf {k}", p) for k, p in plugins.conf_plugins(
            (etc / "slurm-backup.conf").read_text(), plugins.SLURM_CONF)]
    need += [(f"slurmdbd.conf {k}", p) for k, p in plugins.conf_plugins(
        (etc / "slurmdbd.conf").read_text(), plugins.SLURMDBD_CONF)]
    need += [(f"cgroup.conf {k}", p) for k, p in plugins.conf_plugins(
        (etc / "cgroup.conf").read_text(), plugins.CGROUP_CONF)]
    need += plugins.slurmrestd_plugins(lab.slurmrestd_argv())
    need += [("slurmrestd (the rest source's API)", p) for p in GENERATIONS[lab.cfg.slurm].rest_plugins]
    return need


def test_rendered_configs_name_the_plugins_we_expect(rendered):
    """The extraction is not vacuous: the templates' auth, accounting, cgroup and rest plugins
    are all found (if a template renames a parameter, this fails instead of checking nothing)."""
    lab, d = rendered
    found = {p for _, p in required_plugins(lab, d)}
    for p in ("auth/munge", "auth/jwt", "accounting_storage/slurmdbd", "accounting_storage/mysql",
              "proctrack/cgroup", "task/cgroup", "task/affinity", "cgroup/v1",
              "jobacct_gather/cgroup", "rest_auth/jwt", *GENERATIONS[lab.cfg.slurm].rest_plugins):
        assert p in found, f"{p} not found in the rendered configs: {sorted(found)}"
    # slurmctld's own /metrics (26.05: metrics/openmetrics) is named exactly where the generation
    # has it: no package of 22.05 or 24.11 ships a metrics plugin.
    metrics = {p for p in found if p.startswith("metrics/")}
    assert metrics == ({GENERATIONS[lab.cfg.slurm].metrics_type} - {""}), metrics


def test_every_configured_plugin_is_installed_by_the_lab_package_list(gen, gen_root, rendered):
    lab, d = rendered
    info = rootfs.check_built(gen_root)
    assert sorted(set(packages_of(gen))) == info["packages"]
    assert info["versions"]["slurmctld"].startswith(gen)          # the generation it claims
    dirs = rootfs.plugin_dirs(gen_root)
    assert dirs, f"no Slurm plugin directory (usr/lib/*/slurm-wlm) in {gen_root}"
    need = [(w, p) for w, p in required_plugins(lab, d) if p not in GENERATIONS[gen].builtin_plugins]
    missing = rootfs.missing_plugins(gen_root, [p for _, p in need])
    if missing:
        owners = rootfs.plugin_packages(gen_root)
        lines = []
        for plugin in dict.fromkeys(missing):
            so = rootfs.plugin_file(plugin)
            where = ", ".join(w for w, p in need if p == plugin)
            suite = GENERATIONS[gen].suite_name
            pkg = owners.get(so, f"no slurm-wlm package of {suite} ships it")
            what = "the lab's APT_PACKAGES" if not GENERATIONS[gen].in_rootfs else "ROOTFS_PACKAGES"
            lines.append(f"{plugin} ({so}, named by {where}) is missing on a fresh Debian {suite} "
                         f"with only {what}; Debian package: {pkg}")
        where_list = ("APT_PACKAGES in slurmops/lab/platform.py" if not GENERATIONS[gen].in_rootfs
                      else "ROOTFS_PACKAGES in slurmops/lab/generations.py")
        pytest.fail(f"Slurm {gen}: add the package to {where_list}:\n  " + "\n  ".join(lines))
