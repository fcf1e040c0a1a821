"""`slurmops lab record`: capture the lab's real Slurm outputs as parser fixtures.

Every command the exporters run (``slurmops/slurm/commands.py``) and a few more the tests read:
stdout under ``<out>/cli/``, slurmrestd answers under ``<out>/rest/``, with this host's name, the
lab's directory, cluster and node prefix normalised (``labhost``, ``/lab``, ``lab``, ``n1``) so
fixtures are stable across machines. On a generation with slurmctld's own OpenMetrics endpoint
(26.05) its answers go under ``<out>/native/``. MANIFEST.json lists what ran (``cli``: argv,
``rest`` and ``native``: path and status), what each file guards (``guards``) and files recorded
apart (``notes``).
"""
from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from ..slurm.commands import COMMANDS, REST_PATHS, version_number
from ..slurm.parse.text import CLI_ENV
from ..slurm.sources.rest import offered_versions
from . import checks, proc
from .generations import NATIVE_ENDPOINTS
from .platform import Lab, LabError

# slurmctld's native endpoints (metrics.shtml "HTTP Endpoints"): what the lab's Prometheus scrapes,
# and the per-user/account one it does not (unbounded label values; recorded all the same).
NATIVE_CAPTURES = [*NATIVE_ENDPOINTS, "jobs-users-accts"]

# What the tests read besides the exporters' own commands (slurm/commands.py): (file, argv, guards).
EXTRA_CLI: list[tuple[str, list[str], str]] = [
    ("squeue.json", ["squeue", "--json"], "the JSON job records (data_parser shapes, state_reason enums)"),
    ("sinfo.json", ["sinfo", "--json"], "the JSON node records"),
    ("sacct.json", ["sacct", "--json", "-a", "-S", "now-1days"], "accounting records (runbook checks)"),
    ("sprio.txt", ["sprio", "-h", "-l"], "job priority factors"),
    ("scontrol-show-jobs.txt", ["scontrol", "show", "jobs", "-o"],
     "scontrol's one-line job records (the shape of a text source other than squeue)"),
    ("squeue-text.txt", ["squeue", "-h", "-r", "-o", "%i|%T|%P|%u|%a|%r|%C|%D|%V|%S"],
     "squeue's %r text (descriptions, not the reason enum)"),
    ("sinfo-nodes-text.txt", ["sinfo", "-N", "-h", "-o", "%N|%T|%P|%C|%m|%e|%O|%E"],
     "sinfo's per-node view (the lab's health checks read it)"),
]
#: (file, argv, guards): every registered command, then the extras. ``{jobids}`` is filled with the
#: jobs in the queue when recording.
CLI_CAPTURES: list[tuple[str, list[str], str]] = [
    (c.fixture, list(c.argv), c.guards) for c in COMMANDS] + EXTRA_CLI


def rest_captures(version: str) -> list[tuple[str, str]]:
    """(path, guards) recorded for one data_parser version: every registered path that version
    serves, then slurmdbd's paths the tests read."""
    paths: dict[str, list[str]] = {}
    for r in REST_PATHS:
        if version_number(version) >= version_number(r.since):
            paths.setdefault(r.at(version), []).append(r.guards)
    return [(p, "; ".join(g)) for p, g in paths.items()] + [
        (f"/slurmdb/{version}/diag", "slurmdbd's statistics"),
        (f"/slurmdb/{version}/jobs", "accounting job records"),
        (f"/slurmdb/{version}/associations", "associations (accounts, users)"),
    ]


def normaliser(hostname: str, lab_dir: Path, cluster: str = "lab", node_prefix: str = ""):
    """This host's name -> ``labhost``, the lab dir -> ``/lab``; a lab with another ``--cluster`` or
    ``--node-prefix`` is written as the default lab's (``lab``, ``n1``, ``c1``), so recordings from
    any lab compare."""
    host_re = re.compile(rf"\b{re.escape(hostname)}\b") if hostname else None
    cluster_re = re.compile(rf"\b{re.escape(cluster)}\b") if cluster != "lab" else None
    node_re = re.compile(rf"\b{re.escape(node_prefix)}([nc]\d+)\b") if node_prefix else None

    def norm(text: str) -> str:
        text = text.replace(str(lab_dir), "/lab")
        if host_re:
            text = host_re.sub("labhost", text)
        if cluster_re:
            text = cluster_re.sub("lab", text)
        if node_re:
            text = node_re.sub(r"\1", text)
        return text
    return norm


def record(lab: Lab, out: Path, only: set[str] | None = None) -> dict:
    """Record every capture into ``out`` (``only``: just these file names, merged into the
    MANIFEST.json already there, each noted with its own recording time)."""
    norm = normaliser(lab.cfg.hostname, lab.cfg.dir, lab.cfg.cluster, lab.cfg.node_prefix)
    (out / "cli").mkdir(parents=True, exist_ok=True)
    (out / "rest").mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    version = _slurm_version(lab)
    old = out / "MANIFEST.json"
    if only:
        manifest = json.loads(old.read_text())
        if manifest.get("slurm_version") != version:
            raise LabError(f"{old} is Slurm {manifest.get('slurm_version')}, the lab runs {version}")
    else:
        manifest = {"recorded_at": now, "slurm_version": version, "cli": {}, "rest": {}}
    notes = manifest.setdefault("notes", {})
    guards = manifest.setdefault("guards", {})

    def done(name: str, guard: str) -> None:
        guards[name] = guard
        if only:
            notes[name] = f"recorded {now}, apart from the rest (lab record --only)"

    jobids = ",".join(proc.run(["squeue", "-h", "-o", "%A"], env=lab.env).stdout.split()) or "1"
    for name, argv, guard in CLI_CAPTURES:
        if only and name not in only:
            continue
        argv = [jobids if a == "{jobids}" else a for a in argv]
        r = proc.run(argv, env={**lab.env, **CLI_ENV}, timeout=60)   # as the sources run them
        if r.returncode != 0:
            raise LabError(f"{' '.join(argv)} failed: {(r.stderr or r.stdout).strip()[:200]}")
        (out / "cli" / name).write_text(norm(r.stdout))
        manifest["cli"][name] = argv
        done(name, guard)
    token = lab.token(lifespan_s=300)
    headers = {"X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": token}
    versions = offered_versions(lab.cfg.url("slurmrestd"), token) or [lab.rest_version(token)]
    manifest["rest_versions"] = versions
    for path, guard in [pg for v in versions for pg in rest_captures(v)]:
        name = path.strip("/").replace("/", "-") + ".json"
        if only and name not in only:
            continue
        status, body = checks.http_get(lab.cfg.url("slurmrestd") + path, headers=headers, timeout=60)
        manifest["rest"][name] = {"path": path, "status": status}
        if status != 200:
            continue
        try:
            doc = json.loads(body)
        except ValueError:
            raise LabError(f"slurmrestd {path} returned invalid JSON") from None
        (out / "rest" / name).write_text(norm(json.dumps(doc, indent=1, ensure_ascii=False)) + "\n")
        done(name, guard)
    if lab.gen.metrics_type:
        _record_native(lab, out, manifest, only, norm, done)
    old.write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    (out / "PROVENANCE.json").write_text(
        json.dumps(provenance(lab, manifest, norm), indent=2, sort_keys=True) + "\n")
    return manifest


def _record_native(lab: Lab, out: Path, manifest: dict, only: set[str] | None, norm, done) -> None:
    """slurmctld's /metrics/<endpoint> answers, as Prometheus gets them (no token: the lab sets
    MetricsParameters=ignore_private_data)."""
    (out / "native").mkdir(exist_ok=True)
    native = manifest.setdefault("native", {})
    for ep in NATIVE_CAPTURES:
        name = f"metrics-{ep}.txt"
        if only and name not in only:
            continue
        path = f"/metrics/{ep}"
        status, body = checks.http_get(lab.cfg.url("slurmctld") + path, timeout=30)
        native[name] = {"path": path, "status": status}
        if status != 200:
            raise LabError(f"slurmctld {path} answered {status or body}")
        (out / "native" / name).write_text(norm(body))
        done(name, f"slurmctld's own OpenMetrics {path} ({lab.gen.metrics_type}; docs/native-metrics.md)")


# slurm.conf parameters worth quoting in a provenance file: what shapes the recorded output.
_EXCERPT = re.compile(r"^(ClusterName|AuthType|AuthAltTypes|AccountingStorageType|ProctrackType|"
                      r"TaskPlugin|JobAcctGatherType|SelectType|SelectTypeParameters|SchedulerType|"
                      r"PriorityType|Licenses|CommunicationParameters|MetricsType|MetricsParameters|"
                      r"PrivateData|NodeName|PartitionName)=")


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
        # slurmctld's own /metrics answers (native/), with when each was recorded (MANIFEST notes)
        **({"native_endpoints": {n: {"path": v["path"], "recorded": manifest.get("notes", {}).get(
            n, f"recorded {manifest['recorded_at']}")} for n, v in sorted(manifest["native"].items())}}
           if manifest.get("native") else {}),
        "slurm_conf_excerpt": [norm(ln) for ln in conf if _EXCERPT.match(ln)],
    }


def _dpkg_version(pkg: str) -> str:
    r = proc.run(["dpkg-query", "-W", "-f", "${Version}", pkg])
    return r.stdout.strip() if r.returncode == 0 else ""


def _slurm_version(lab: Lab) -> str:
    r = proc.run(["sinfo", "--version"], env=lab.env)
    return r.stdout.strip().split()[-1] if r.returncode == 0 and r.stdout.strip() else "unknown"
