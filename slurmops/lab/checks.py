"""Health checks the lab (and later the runbooks' cluster health check) use. Each returns
``(ok, detail)`` and never raises: a dead daemon is an answer, not an exception."""
from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping

from ..slurm.parse.controllers import parse_scontrol_ping
from . import proc

Result = tuple[bool, str]


def http_get(url: str, headers: Mapping[str, str] | None = None, timeout: float = 5) -> tuple[int, str]:
    """(status, body); status 0 when nothing answered."""
    req = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return 0, str(getattr(exc, "reason", exc))


def munge_roundtrip(socket_path: str, env: dict[str, str] | None = None) -> Result:
    try:
        cred = subprocess.run(["munge", "-n", "-S", socket_path], capture_output=True, text=True,
                              timeout=5, env=env, stdin=subprocess.DEVNULL)
        if cred.returncode != 0:
            return False, cred.stderr.strip() or "munge failed"
        dec = subprocess.run(["unmunge", "-S", socket_path], input=cred.stdout,
                             capture_output=True, text=True, timeout=5, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if dec.returncode != 0:
        return False, dec.stderr.strip() or dec.stdout.strip()
    return True, "credential encoded and decoded"


def scontrol_ping(env: dict[str, str]) -> Result:
    r = proc.run(["scontrol", "ping"], env=env, timeout=10)
    text = (r.stdout + r.stderr).strip()
    ok = r.returncode == 0 and " is UP" in text and "DOWN" not in text
    return ok, text.splitlines()[0] if text else "no answer"


def controllers(env: dict[str, str]) -> dict[str, tuple[str, str]]:
    """{role: (host, UP|DOWN)} from `scontrol ping` ("Slurmctld(primary) at vm is UP");
    roles are primary, backup (backup1, ... when there are several)."""
    r = proc.run(["scontrol", "ping"], env=env, timeout=15)
    return parse_ping(r.stdout + r.stderr)


def parse_ping(text: str) -> dict[str, tuple[str, str]]:
    """{role: (host, UP|DOWN)}: the exporter's parser (slurm/parse/controllers.py) as a dict."""
    return {c.role: (c.host, "UP" if c.up else "DOWN") for c in parse_scontrol_ping(text)}


def controller_up(env: dict[str, str], role: str) -> Result:
    """One controller (primary or backup) answers `scontrol ping`, whatever the other does."""
    ctl = controllers(env)
    if role not in ctl:
        return False, f"scontrol ping lists no {role} controller" + (f" ({ctl})" if ctl else "")
    host, state = ctl[role]
    return state == "UP", f"Slurmctld({role}) at {host} is {state}"


def native_metrics(slurmctld_url: str) -> Result:
    """slurmctld's own OpenMetrics endpoint answers (metrics.shtml: GET /metrics/nodes on
    SlurmctldPort, slurm_nodes is the total node count)."""
    status, body = http_get(f"{slurmctld_url}/metrics/nodes", timeout=5)
    if status != 200:
        return False, f"GET /metrics/nodes -> {status or body}"
    if not any(line.startswith("slurm_nodes ") for line in body.splitlines()):
        return False, "GET /metrics/nodes -> 200 without slurm_nodes"
    return True, "/metrics/nodes -> 200"


def sacctmgr_ping(env: dict[str, str]) -> Result:
    r = proc.run(["sacctmgr", "-n", "-P", "show", "cluster", "format=cluster"], env=env, timeout=10)
    if r.returncode != 0:
        said = (r.stderr or r.stdout).strip()
        return False, said.splitlines()[-1] if said else f"rc={r.returncode}"
    clusters = ",".join(r.stdout.split())
    return True, f"answers (clusters: {clusters})" if clusters else "answers (no cluster registered yet)"


def node_states(env: dict[str, str]) -> dict[str, str]:
    """{node: long state} from sinfo; empty when slurmctld does not answer."""
    r = proc.run(["sinfo", "-N", "-h", "-o", "%N %T"], env=env, timeout=10)
    if r.returncode != 0:
        return {}
    out = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[0]] = parts[1]
    return out


def prometheus_query(base_url: str, query: str, timeout: float = 5) -> list[dict] | None:
    from urllib.parse import urlencode
    status, body = http_get(f"{base_url}/api/v1/query?{urlencode({'query': query})}", timeout=timeout)
    if status != 200:
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if doc.get("status") != "success":
        return None
    return doc["data"]["result"]
