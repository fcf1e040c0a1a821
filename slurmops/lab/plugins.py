"""Which Slurm plugins the lab's rendered configs name: pure functions over the config text.

slurm.conf(5), slurmdbd.conf(5) and cgroup.conf(5) (shared/reference/slurm/22.05.8/man) name
a plugin as ``type/name`` in the parameters below; slurmrestd names its authentication plugins
with ``-a`` and its OpenAPI/data_parser plugins with ``-s``/``-d`` (slurmrestd(8)).
A plugin ``type/name`` is the file ``type_name.so`` in PluginDir (plugins.shtml).
"""
from __future__ import annotations

# parameter -> plugin type (values may be written with or without the `type/` prefix)
SLURM_CONF = {
    "AccountingStorageType": "accounting_storage", "AcctGatherEnergyType": "acct_gather_energy",
    "AcctGatherFilesystemType": "acct_gather_filesystem",
    "AcctGatherInterconnectType": "acct_gather_interconnect",
    "AcctGatherProfileType": "acct_gather_profile", "AuthAltTypes": "auth", "AuthType": "auth",
    "BurstBufferType": "burst_buffer", "CliFilterPlugins": "cli_filter", "CoreSpecPlugin": "core_spec",
    "CredType": "cred", "ExtSensorsType": "ext_sensors", "JobAcctGatherType": "jobacct_gather",
    "JobCompType": "jobcomp", "JobContainerType": "job_container", "JobSubmitPlugins": "job_submit",
    "LaunchType": "launch", "MCSPlugin": "mcs", "MpiDefault": "mpi", "NodeFeaturesPlugins": "node_features",
    "PowerPlugin": "power", "PreemptType": "preempt", "PrEpPlugins": "prep", "PriorityType": "priority",
    "ProctrackType": "proctrack", "RoutePlugin": "route", "SchedulerType": "sched",
    "SelectType": "select", "SiteFactorPlugin": "site_factor", "SwitchType": "switch",
    "TaskPlugin": "task", "TopologyPlugin": "topology", "MetricsType": "metrics",
    "HashPlugin": "hash", "CertmgrType": "certmgr", "TLSType": "tls",
}
SLURMDBD_CONF = {"AuthType": "auth", "AuthAltTypes": "auth", "StorageType": "accounting_storage",
                 "ArchiveScript": None, "HashPlugin": "hash"}
CGROUP_CONF = {"CgroupPlugin": "cgroup"}
# Values that select no plugin file.
_NOT_A_PLUGIN = {"autodetect", ""}


def conf_plugins(text: str, params: dict[str, str | None]) -> list[tuple[str, str]]:
    """[(parameter, "type/name")] for every plugin the config text names, in order."""
    lower = {k.lower(): (k, t) for k, t in params.items() if t}
    out: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if "=" not in line:
            continue
        key, value = (s.strip() for s in line.split("=", 1))
        if key.lower() not in lower:
            continue
        name, ptype = lower[key.lower()]
        for item in (v.strip() for v in value.split(",")):
            if item.lower() in _NOT_A_PLUGIN:
                continue
            out.append((name, item if "/" in item else f"{ptype}/{item}"))
    return out


def slurmrestd_plugins(argv: list[str]) -> list[tuple[str, str]]:
    """[(option, "type/name")] from slurmrestd's command line: -a (rest_auth), -s (openapi),
    -d (data_parser, 23.02+)."""
    types = {"-a": "rest_auth", "-s": "openapi", "-d": "data_parser"}
    out: list[tuple[str, str]] = []
    for opt, value in zip(argv, argv[1:], strict=False):   # pairs of neighbours: one shorter
        if opt in types:
            for item in (v.strip() for v in value.split(",") if v.strip()):
                if item in ("list", "help"):
                    continue
                out.append((f"slurmrestd {opt}", item if "/" in item else f"{types[opt]}/{item}"))
    return out
