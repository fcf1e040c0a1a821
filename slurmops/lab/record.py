"""`slurmops lab record`: capture the lab's real Slurm outputs as parser fixtures.

Every command's stdout is written under ``<out>/cli/`` and every slurmrestd answer under
``<out>/rest/``, with this host's name and the lab's directory normalised (``labhost``,
``/lab``) so fixtures are stable across machines. A MANIFEST.json lists what ran.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

from . import checks, proc
from ..slurm.sources.rest import offered_versions
from .platform import Lab, LabError

# (file name, argv). Parsers in slurmops/slurm/ read exactly these shapes.
CLI_CAPTURES: list[tuple[str, list[str]]] = [
    ("squeue.json", ["squeue", "--json"]),
    ("sinfo.json", ["sinfo", "--json"]),
    ("sacct.json", ["sacct", "--json", "-a", "-S", "now-1days"]),
    ("sdiag.txt", ["sdiag"]),
    ("sshare.txt", ["sshare", "-a", "-l", "-P"]),
    ("sprio.txt", ["sprio", "-h", "-l"]),
    ("scontrol-show-nodes.txt", ["scontrol", "show", "nodes", "-o"]),
    ("scontrol-show-partitions.txt", ["scontrol", "show", "partitions", "-o"]),
    ("scontrol-show-jobs.txt", ["scontrol", "show", "jobs", "-o"]),
    ("scontrol-show-reservations.txt", ["scontrol", "show", "reservations", "-o"]),
    ("scontrol-show-licenses.txt", ["scontrol", "show", "licenses", "-o"]),
    ("scontrol-ping.txt", ["scontrol", "ping"]),
    ("squeue-text.txt", ["squeue", "-h", "-r", "-o", "%i|%T|%P|%u|%a|%r|%C|%D|%V|%S"]),
    ("sinfo-nodes-text.txt", ["sinfo", "-N", "-h", "-o", "%N|%T|%P|%C|%m|%e|%O|%E"]),
]
REST_SLURM = ("ping", "diag", "jobs", "nodes", "partitions", "reservations", "licenses")
REST_SLURMDB = ("diag", "jobs", "associations")


def rest_captures(version: str) -> list[str]:
    """The slurmrestd paths recorded for one data_parser version."""
    return [f"/slurm/{version}/{p}" for p in REST_SLURM] + \
        [f"/slurmdb/{version}/{p}" for p in REST_SLURMDB]


def normaliser(hostname: str, lab_dir: Path):
    host_re = re.compile(rf"\b{re.escape(hostname)}\b") if hostname else None

    def norm(text: str) -> str:
        text = text.replace(str(lab_dir), "/lab")
        if host_re:
            text = host_re.sub("labhost", text)
        return text
    return norm


def record(lab: Lab, out: Path) -> dict:
    norm = normaliser(lab.cfg.hostname, lab.cfg.dir)
    (out / "cli").mkdir(parents=True, exist_ok=True)
    (out / "rest").mkdir(parents=True, exist_ok=True)
    manifest: dict = {"recorded_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "slurm_version": _slurm_version(lab), "cli": {}, "rest": {}}
    for name, argv in CLI_CAPTURES:
        r = proc.run(argv, env=lab.env, timeout=60)
        if r.returncode != 0:
            raise LabError(f"{' '.join(argv)} failed: {(r.stderr or r.stdout).strip()[:200]}")
        (out / "cli" / name).write_text(norm(r.stdout))
        manifest["cli"][name] = argv
    token = lab.token(lifespan_s=300)
    headers = {"X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": token}
    versions = offered_versions(lab.cfg.url("slurmrestd"), token) or [lab.rest_version(token)]
    manifest["rest_versions"] = versions
    for path in [p for v in versions for p in rest_captures(v)]:
        status, body = checks.http_get(lab.cfg.url("slurmrestd") + path, headers=headers, timeout=60)
        name = path.strip("/").replace("/", "-") + ".json"
        if status != 200:
            manifest["rest"][name] = {"path": path, "status": status}
            continue
        try:
            doc = json.loads(body)
        except ValueError:
            raise LabError(f"slurmrestd {path} returned invalid JSON")
        (out / "rest" / name).write_text(norm(json.dumps(doc, indent=1, ensure_ascii=False)) + "\n")
        manifest["rest"][name] = {"path": path, "status": status}
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (out / "PROVENANCE.json").write_text(
        json.dumps(provenance(lab, manifest, norm), indent=2, sort_keys=True) + "\n")
    return manifest


# slurm.conf parameters worth quoting in a provenance file: what shapes the recorded output.
_EXCERPT = re.compile(r"^(ClusterName|AuthType|AuthAltTypes|AccountingStorageType|ProctrackType|"
                      r"TaskPlugin|JobAcctGatherType|SelectType|SelectTypeParameters|SchedulerType|"
                      r"PriorityType|Licenses|CommunicationParameters|NodeName|PartitionName)=")


def provenance(lab: Lab, manifest: dict, norm) -> dict:
    """Where the recording came from: Slurm and Debian package versions, the command, the date
    and the configuration that shaped it (secrets never: slurm.conf holds none)."""
    from . import rootfs
    if lab.gen.in_rootfs:
        info = rootfs.stamp(lab.rootfs_path) or {}
        packages, suite = info.get("versions", {}), info.get("suite")
    else:
        packages, suite = {p: _dpkg_version(p) for p in ("slurmctld", "slurmrestd")}, "bookworm (host)"
    conf = lab.cfg.slurm_conf.read_text().splitlines()
    return {
        "kind": "recorded",
        "slurm_version": manifest["slurm_version"],
        "slurm_generation": lab.cfg.slurm,
        "debian_suite": suite,
        "debian_packages": {p: packages.get(p) for p in
                            ("slurmctld", "slurmd", "slurmdbd", "slurmrestd", "slurm-client",
                             "munge", "mariadb-server") if packages.get(p)},
        "command": f"slurmops lab up --slurm {lab.cfg.slurm} --dir /lab; slurmops lab record "
                   f"--slurm {lab.cfg.slurm} --dir /lab",
        "recorded_at": manifest["recorded_at"],
        "rest_versions": manifest.get("rest_versions", []),
        "slurm_conf_excerpt": [norm(ln) for ln in conf if _EXCERPT.match(ln)],
    }


def _dpkg_version(pkg: str) -> str:
    r = proc.run(["dpkg-query", "-W", "-f", "${Version}", pkg])
    return r.stdout.strip() if r.returncode == 0 else ""


def _slurm_version(lab: Lab) -> str:
    r = proc.run(["sinfo", "--version"], env=lab.env)
    return r.stdout.strip().split()[-1] if r.returncode == 0 and r.stdout.strip() else "unknown"
