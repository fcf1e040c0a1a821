"""Plugin names from config text (slurm.conf(5), cgroup.conf(5), slurmrestd(8)) and the root
filesystem cache's refusal of half-built entries."""
from __future__ import annotations

import os

import pytest

from slurmops.lab import plugins, rootfs

SLURM_CONF = """\
AuthType=auth/munge
AuthAltTypes=auth/jwt
authaltparameters=jwt_key=/x/jwt.key   # not a plugin
TaskPlugin=task/cgroup,affinity
MpiDefault=none
SlurmctldHost=h(127.0.0.1)
# ProctrackType=proctrack/pgid  (a comment)
ProctrackType=proctrack/cgroup
"""


def test_conf_plugins_reads_lists_prefixes_and_skips_comments():
    assert plugins.conf_plugins(SLURM_CONF, plugins.SLURM_CONF) == [
        ("AuthType", "auth/munge"), ("AuthAltTypes", "auth/jwt"), ("TaskPlugin", "task/cgroup"),
        ("TaskPlugin", "task/affinity"), ("MpiDefault", "mpi/none"),
        ("ProctrackType", "proctrack/cgroup")]


def test_cgroup_autodetect_names_no_file():
    assert plugins.conf_plugins("CgroupPlugin=autodetect\n", plugins.CGROUP_CONF) == []
    assert plugins.conf_plugins("CgroupPlugin=cgroup/v2\n", plugins.CGROUP_CONF) == [
        ("CgroupPlugin", "cgroup/v2")]


def test_slurmrestd_options():
    argv = ["slurmrestd", "-a", "rest_auth/jwt,rest_auth/local", "-s", "openapi/slurmctld",
            "-d", "v0.0.42", "-u", "slurmrestd", "127.0.0.1:6820"]
    assert [p for _, p in plugins.slurmrestd_plugins(argv)] == [
        "rest_auth/jwt", "rest_auth/local", "openapi/slurmctld", "data_parser/v0.0.42"]


def test_plugin_file_names():
    assert rootfs.plugin_file("auth/jwt") == "auth_jwt.so"
    assert rootfs.plugin_file("openapi/dbv0.0.38") == "openapi_dbv0_0_38.so"
    assert rootfs.plugin_file("data_parser/v0.0.42") == "data_parser_v0_0_42.so"


def test_cache_key_follows_the_package_list_not_its_order():
    s = rootfs.SUITES["bookworm"]
    assert rootfs.cache_key(s, ["a", "b"]) == rootfs.cache_key(s, ["b", "a", "a"])
    assert rootfs.cache_key(s, ["a", "b"]) != rootfs.cache_key(s, ["a"])
    assert rootfs.cache_key(s, ["a"]) != rootfs.cache_key(rootfs.SUITES["trixie"], ["a"])


def test_half_built_entry_is_refused_not_trusted(tmp_path):
    s = rootfs.SUITES["bookworm"]
    final = rootfs.path_for(s, ["munge"], tmp_path)
    (final / "usr" / "bin").mkdir(parents=True)          # a tree without its stamp
    with pytest.raises(rootfs.RootfsError, match="half-built"):
        rootfs.ensure(s, ["munge"], tmp_path)
    with pytest.raises(rootfs.RootfsError, match="no root filesystem"):
        rootfs.check_built(tmp_path / "absent")


def test_stale_temp_dirs_of_dead_builds_are_removed(tmp_path):
    final = tmp_path / "bookworm-0123"
    dead = tmp_path / f".tmp-{final.name}-999999999-x"   # no such pid
    live = tmp_path / f".tmp-{final.name}-{os.getpid()}-y"
    dead.mkdir()
    live.mkdir()
    rootfs._remove_stale_temps(final)
    assert not dead.exists() and live.exists()


def _ldd_interpreter(path: str) -> str:
    """glibc's own ldd (libc-bin, on every Debian) names the loader: the independent truth."""
    import subprocess
    out = subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout
    loaders = [ln.split()[0] for ln in out.splitlines() if ln.strip().startswith("/") and "ld-linux" in ln]
    assert len(loaders) == 1, out
    return loaders[0]


@pytest.mark.parametrize("program", ["/bin/sh", "/usr/bin/env"])
def test_elf_interpreter_agrees_with_ldd(program):
    from pathlib import Path
    head = Path(program).resolve().read_bytes()[:65536]
    assert rootfs.elf_interpreter(head) == _ldd_interpreter(str(Path(program).resolve()))


def test_elf_interpreter_static_and_not_elf():
    import struct
    static = b"\x7fELF\x02\x01" + bytes(0x40 - 6)          # 64-bit LE header, no program headers
    static = static[:0x36] + struct.pack("<HH", 56, 0) + static[0x3a:]
    assert rootfs.elf_interpreter(static) is None
    with pytest.raises(rootfs.RootfsError, match="not a 64-bit"):
        rootfs.elf_interpreter(b"#!/bin/sh\n")


def test_host_argv_runs_a_trees_program_with_its_loader(tmp_path):
    """The host itself as the tree: its loader runs its /usr/bin/env; a program the tree lacks is
    one error line."""
    import subprocess
    from pathlib import Path
    argv = rootfs.host_argv(Path("/"), "/usr/bin/env")
    assert argv[1] == "--library-path" and argv[-1] == "/usr/bin/env"
    r = subprocess.run([*argv, "A=1", "/usr/bin/env"], capture_output=True, text=True, env={})
    assert r.returncode == 0 and r.stdout.strip() == "A=1", r
    with pytest.raises(rootfs.RootfsError, match="is not in the root filesystem"):
        rootfs.host_argv(tmp_path, "/usr/bin/promtool")


def test_only_the_26_05_tree_carries_prometheus():
    """forky's tree adds Prometheus (its cache key changes); trixie's list, and so its cached tree,
    stays what it was."""
    from slurmops.lab import nsroot
    from slurmops.lab.generations import GENERATIONS, PROMETHEUS_PACKAGES, ROOTFS_PACKAGES
    assert GENERATIONS["24.11"].rootfs_packages == ROOTFS_PACKAGES
    assert set(PROMETHEUS_PACKAGES) <= set(GENERATIONS["26.05"].rootfs_packages)
    assert "promtool" not in nsroot.commands(GENERATIONS["24.11"])
    assert {"prometheus", "promtool", "prometheus-alertmanager", "amtool"} <= set(
        nsroot.commands(GENERATIONS["26.05"]))


def test_wrappers_follow_the_generation(tmp_path):
    """A name no longer wanted is removed, so it resolves on the host again."""
    from slurmops.lab import nsroot
    d = nsroot.write_wrappers(tmp_path, ["squeue", "prometheus"])
    assert (d / "prometheus").is_symlink()
    nsroot.write_wrappers(tmp_path, ["squeue"])
    assert (d / "squeue").is_symlink() and not (d / "prometheus").exists()
    assert (d / ".run-in-rootfs").is_file()
