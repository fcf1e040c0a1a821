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
