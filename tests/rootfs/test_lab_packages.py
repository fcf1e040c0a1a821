"""The lab's APT package list, proven on a fresh Debian 12: a minimal bookworm root filesystem
built with mmdebstrap holds exactly the lab's packages (--no-install-recommends) and every Slurm
plugin the lab's rendered configs and slurmrestd's command line name must be in it as a .so.

This is the guard for the defect where auth/jwt was missing on a fresh machine (the developers'
machines had slurm-wlm-jwt-plugin from elsewhere). The root filesystem is cached under
/var/cache/slurmops/rootfs/ keyed by the package list: CI builds it once per change of the list
(60-66 s and 0.9 GB with the lab's list on the 2-core CI machine; docs/ARCHITECTURE.md)."""
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


@pytest.fixture(scope="module")
def bookworm_root() -> Path:
    _need_root()
    try:
        return rootfs.ensure(rootfs.SUITES["bookworm"], APT_PACKAGES)
    except rootfs.RootfsError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Lab, Path]:
    """The lab's configs rendered exactly as `lab up` writes them (cloud nodes, bench nodes and
    the backup controller's copy included, so every template branch is rendered)."""
    d = tmp_path_factory.mktemp("lab")
    lab = Lab(LabConfig(dir=d, cluster="guard", node_prefix="guard", bench_nodes=2,
                        backup_controller=True))
    lab.render()
    return lab, d


def required_plugins(lab: Lab, d: Path) -> list[tuple[str, str]]:
    etc = d / "etc"
    need = [(f"slurm.conf {k}", p) for k, p in plugins.conf_plugins(
        (etc / "slurm.conf").read_text(), plugins.SLURM_CONF)]
    need += [(f"slurm-backup.conf {k}", p) for k, p in plugins.conf_plugins(
        (etc / "slurm-backup.conf").read_text(), plugins.SLURM_CONF)]
    need += [(f"slurmdbd.conf {k}", p) for k, p in plugins.conf_plugins(
        (etc / "slurmdbd.conf").read_text(), plugins.SLURMDBD_CONF)]
    need += [(f"cgroup.conf {k}", p) for k, p in plugins.conf_plugins(
        (etc / "cgroup.conf").read_text(), plugins.CGROUP_CONF)]
    need += plugins.slurmrestd_plugins(lab.slurmrestd_argv())
    need += [("slurmrestd (the rest source's API)", p) for p in GENERATIONS["22.05"].rest_plugins]
    return need


def test_rendered_configs_name_the_plugins_we_expect(rendered):
    """The extraction is not vacuous: the templates' auth, accounting, cgroup and rest plugins
    are all found (if a template renames a parameter, this fails instead of checking nothing)."""
    lab, d = rendered
    found = {p for _, p in required_plugins(lab, d)}
    for p in ("auth/munge", "auth/jwt", "accounting_storage/slurmdbd", "accounting_storage/mysql",
              "proctrack/cgroup", "task/cgroup", "task/affinity", "cgroup/v1",
              "jobacct_gather/cgroup", "rest_auth/jwt", "openapi/v0.0.38"):
        assert p in found, f"{p} not found in the rendered configs: {sorted(found)}"


def test_every_configured_plugin_is_installed_by_the_lab_package_list(bookworm_root, rendered):
    lab, d = rendered
    info = rootfs.check_built(bookworm_root)
    assert sorted(set(APT_PACKAGES)) == info["packages"]
    dirs = rootfs.plugin_dirs(bookworm_root)
    assert dirs, f"no Slurm plugin directory (usr/lib/*/slurm-wlm) in {bookworm_root}"
    need = required_plugins(lab, d)
    missing = rootfs.missing_plugins(bookworm_root, [p for _, p in need])
    if missing:
        owners = rootfs.plugin_packages(bookworm_root)
        lines = []
        for plugin in dict.fromkeys(missing):
            so = rootfs.plugin_file(plugin)
            where = ", ".join(w for w, p in need if p == plugin)
            pkg = owners.get(so, "no slurm-wlm package of bookworm ships it")
            lines.append(f"{plugin} ({so}, named by {where}) is missing on a fresh Debian 12 "
                         f"with only the lab's APT_PACKAGES; Debian package: {pkg}")
        pytest.fail("add the package to APT_PACKAGES in slurmops/lab/platform.py:\n  "
                    + "\n  ".join(lines))
