"""Every dashboard query proven on the lab's real Prometheus, and the preview drawn in Chromium.

The test makes its own state: two running jobs (one holding a license), a held job (pending
reason JobHeldUser), a drain on the node running them and a future reservation; it waits until
Prometheus has scraped all of it, then evaluates every panel expression with real variable
values. An expression that returns nothing must be in ALLOW with the reason, and the reason's
condition must still hold in the lab (so an entry lifts itself when, say, the job exporter joins)."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import need
from slurmops.grafana import budget, generate, model as m
from slurmops.grafana.config import DEFAULT
from slurmops.grafana.preview import write_previews
from slurmops.grafana.prom import PromError, Prometheus, resolve

pytestmark = pytest.mark.lab

RESERVATION = "slurmops_dashboards_test"
DRAIN_REASON = "slurmops dashboards lab test"


@dataclass(frozen=True)
class Why:
    reason: str
    holds: Callable[[Prometheus], bool]   # the entry applies only while this is true


def _none(expr: str) -> Callable[[Prometheus], bool]:
    return lambda prom: not prom.query(expr)


NO_JOB_EXPORTER = Why("the job exporter (job slurm_job) does not run in the lab yet",
                      _none('up{job="slurm_job"} == 1'))
NO_GPU = Why("no GPU in the lab: the job exporter reports no NVML GPU",
             _none("slurm_job_exporter_gpu_available == 1"))
NO_DCGM = Why("no GPU and no DCGM exporter in the lab", _none("DCGM_FI_DEV_GPU_UTIL"))


def _no_node_exporter_on_a_slurm_node(prom: Prometheus) -> bool:
    """True while no node_exporter instance's host part (the dashboards' own join regex) names a
    node slurm_node_state knows: a multi-host lab, where each node runs its node_exporter, lifts it."""
    regex = re.compile(DEFAULT.node_exporter_node_regex)
    hosts = {mt.group(1) for sr in prom.query('up{job="node"}')
             if (mt := regex.fullmatch(sr.labels.get("instance", "")))}
    nodes = {sr.labels["node"] for sr in prom.query("max by (node) (slurm_node_state)")}
    return bool(hosts) and bool(nodes) and not hosts & nodes   # both seen, and they do not meet


ONE_HOST = Why("the lab runs every slurmd on one host (one node_exporter at 127.0.0.1), so no "
               "node_exporter instance is named after a Slurm node",
               _no_node_exporter_on_a_slurm_node)
NO_OOM = Why("no job was OOM-killed in the last hour (the panel lists only jobs that were)",
             _none("increase(slurm_job_oom_kills_total[1h]) > 0"))
NO_ALERTS = Why("no alert is pending or firing in the lab", _none("ALERTS"))
NO_BLKIO = Why("Slurm creates v1 blkio cgroups only on request: no job IO series in the lab",
               _none("slurm_job_io_read_bytes_total"))

NO_PSI = Why("cgroup v1 host: no pressure stall information per job",
             _none("slurm_job_pressure_memory_waiting_seconds_total"))

JOBS_GPU = ("Idle GPUs: held by a job with no process on them", "GPU utilization by user (least used first)",
            "GPU utilization per job (least used)", "GPU memory of the job's processes")
ALLOW: dict[tuple[str, str], Why] = {
    **{("jobs", t): NO_GPU for t in JOBS_GPU},
    **{("jobs", t): NO_BLKIO for t in ("Block IO per job", "Block IO operations per user")},
    **{("jobs", t): NO_JOB_EXPORTER for t in (
        "Jobs on the selected hosts", "CPUs allocated", "CPUs in use", "CPU efficiency",
        "Memory used / limit", "Idle CPUs held, by user", "Idle CPUs held, by account",
        "CPU efficiency by user (least efficient first)", "CPU efficiency per job (least efficient)",
        "CPUs in use per job (user + system)",
        "Memory used per job", "RSS per user",
        "Memory requested vs peak per job (over-requests first)",
        "OOM kills in the last hour, by job", "Processes and threads per job")},
    **{("gpus", t): NO_DCGM for t in (
        "GPU utilization (least used 20)", "GPU framebuffer used (top 20)", "GPU power (top 20)",
        "GPU temperature (hottest 20)",
        "GPU -> job (DCGM utilization with the job exporter's mapping; least used 20)",
        "GPU utilization per job (DCGM; least used 20)", "Last XID per GPU (non-zero; 20 shown)",
        "Remapped rows per GPU (uncorrectable; top 20)")},
    ("gpus", "GPU power per job (job exporter; top 20)"): NO_GPU,
    **{("nodes", t): ONE_HOST for t in ("Load per CPU (node_exporter, joined to Slurm nodes)",
                                        "CPU busy (node_exporter, joined to Slurm nodes)")},
    **{("platform", t): NO_JOB_EXPORTER for t in (
        "Jobs seen per host (top 20)", "Collector success per host (failing first; 20 shown)",
        "Read problems per second (top 20 hosts)")},
    ("platform", "Alerts pending or firing"): NO_ALERTS,
    ("jobs", "OOM kills in the last hour, by job"): NO_OOM,
    # the per-job dashboard (jobstats links to it)
    **{("job", t): NO_GPU for t in ("GPU utilisation", "GPU memory of the job")},
    ("job", "Block IO"): NO_BLKIO,
    ("job", "Time stalled (PSI some, cgroup v2)"): NO_PSI,
}
# Variables whose query may offer nothing, and why.
ALLOW_VARS: dict[tuple[str, str], Why] = {
    ("jobs", v): NO_JOB_EXPORTER for v in ("user", "account", "host", "jobid")}


def _run(lab, *argv: str, check: bool = True) -> str:
    r = subprocess.run(list(argv), env=lab.env, capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {r.stderr.strip() or r.stdout.strip()}")
    return r.stdout.strip()


def _wait(what: str, probe: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(2)


@pytest.fixture(scope="module")
def prom(lab) -> Prometheus:
    return Prometheus(lab.cfg.url("prometheus"))


def _load_recording_rules(lab, prom) -> None:
    """The nodes dashboard reads per-node recording rules (alerts/recording.rules.yml): load that
    file into the lab's Prometheus (as `slurmops demo` loads every rule file) and wait for them."""
    import urllib.request

    from slurmops.rules import build
    alerts_dir = Path(__file__).resolve().parents[2] / "alerts"
    text = build.render(alerts_dir, build.load_thresholds(alerts_dir))["recording.rules.yml"]
    dest = lab.cfg.dir / "prometheus" / "rules" / "recording.rules.yml"
    if not dest.exists() or dest.read_text() != text:
        dest.write_text(text)
        req = urllib.request.Request(lab.cfg.url("prometheus") + "/-/reload", method="POST")
        urllib.request.urlopen(req, timeout=10).close()
    _wait("the recording rules to produce data",
          lambda: bool(prom.query("cluster_node:slurm_node_state:code")), 60)


@pytest.fixture(scope="module")
def world(lab, prom):
    """Own jobs, a drain and a reservation, visible in Prometheus; all undone afterwards."""
    jobs: list[str] = []
    node = None
    _load_recording_rules(lab, prom)
    try:
        for extra in (["-L", "matlab:1"], []):
            jobs.append(_run(lab, "sbatch", "--parsable", "-p", "cpu", "-J", "dash-run", "-A", "research",
                             "-o", "/dev/null", *extra, "--wrap", "sleep 300"))
        jobs.append(_run(lab, "sbatch", "--parsable", "-p", "cpu", "-J", "dash-held", "--hold",
                         "-o", "/dev/null", "--wrap", "sleep 1"))
        # A job that cannot start yet gives the backfill scheduler work: its sdiag cycle figures
        # only exist once backfill has run a cycle with something to consider.
        jobs.append(_run(lab, "sbatch", "--parsable", "-p", "cpu", "-J", "dash-wide", "--exclusive",
                         f"-N{len(lab.cfg.cpu_node_names)}", "-t", "5", "-o", "/dev/null",
                         "--wrap", "sleep 1"))

        def running() -> bool:
            out = _run(lab, "squeue", "-h", "-j", jobs[0], "-o", "%T %N")
            return out.startswith("RUNNING ") and bool(out.split()[1:])
        _wait("our job to run", running, 60)
        node = _run(lab, "squeue", "-h", "-j", jobs[0], "-o", "%N")
        account = _run(lab, "squeue", "-h", "-j", jobs[0], "-o", "%a")
        _run(lab, "scontrol", "update", f"nodename={node}", "state=drain",
             f"reason={DRAIN_REASON}")
        _run(lab, "scontrol", "create", "reservation", f"reservationname={RESERVATION}",
             "starttime=now+1hour", "duration=10", f"nodes={node}", "users=root",
             "flags=ignore_jobs")
        c = lab.cfg.cluster
        for expr in (f'slurm_jobs{{cluster="{c}", state=~"(?i)running"}} > 0',
                     f'slurm_jobs_pending{{cluster="{c}", reason="JobHeldUser"}} > 0',
                     f'slurm_node_reason_info{{cluster="{c}", node="{node}"}}',
                     f'slurm_reservation_info{{cluster="{c}", reservation="{RESERVATION}"}}',
                     f'slurm_licenses{{cluster="{c}", license="matlab", status="used"}} > 0',
                     f'slurm_user_cpus_allocated{{cluster="{c}", user="root"}} > 0',
                     f'slurm_scheduler_backfill_cycle_mean_seconds{{cluster="{c}"}}'):
            _wait(f"Prometheus to show {expr}", lambda e=expr: bool(prom.query(e)))
        # The job exporter's counters need two scrapes of our job before rate()/increase() answer.
        if prom.query('up{job="slurm_job"} == 1'):
            for expr in (f'rate(slurm_job_cpu_usage_seconds_total{{jobid="{jobs[0]}"}}[1m])',
                         f'increase(slurm_job_oom_kills_total{{jobid="{jobs[0]}"}}[1h])'):
                _wait(f"Prometheus to show {expr}", lambda e=expr: bool(prom.query(e)))
        yield {"node": node, "jobid": jobs[0], "account": account, "cluster": lab.cfg.cluster}
    finally:
        if jobs:
            _run(lab, "scancel", *jobs, check=False)
        _run(lab, "scontrol", "delete", f"reservationname={RESERVATION}", check=False)
        if node:
            _run(lab, "scontrol", "update", f"nodename={node}", "state=resume", check=False)


@pytest.fixture(scope="module")
def models() -> dict[str, dict]:
    return generate.load_built()


def _prefer(world) -> dict[str, str]:
    return {"cluster": world["cluster"], "partition": "cpu", "node": world["node"], "user": "root",
            "account": world["account"], "jobid": world["jobid"]}


def test_allow_list_names_real_panels(models):
    titles = {(name, p["title"]) for name, d in models.items() for p in m.panels(d)}
    assert set(ALLOW) <= titles, sorted(set(ALLOW) - titles)


def test_every_expression_returns_data_in_the_lab(prom, world, models):
    failures, allowed, lifted = [], [], []
    checked = 0
    for name, d in sorted(models.items()):
        values, offered = resolve(prom, d, _prefer(world), all_by_default=False)
        for var in m.variables(d):
            if var["type"] == "query" and not offered.get(var["name"]):
                why = ALLOW_VARS.get((name, var["name"]))
                if why and why.holds(prom):
                    allowed.append(f"{name}/${var['name']}: {why.reason}")
                else:
                    failures.append(f"{name}: variable ${var['name']} offers no value "
                                    f"({var['query']})")
        for q in m.queries(d):
            expr = m.substitute(q.expr, values)
            checked += 1
            try:
                series = prom.query(expr)
            except PromError as e:   # a parse error or a bad query: never allowed
                failures.append(f"{q.key}: {e}\n    {expr}")
                continue
            why = ALLOW.get((name, q.panel_title))
            if series:
                if why and why.holds(prom):
                    lifted.append(f"{q.key} returns data now: its allow entry can go")
                continue
            if why and why.holds(prom):
                allowed.append(f"{q.key}: {why.reason}")
            else:
                failures.append(f"{q.key}: no series\n    {expr}")
    print(f"\n{checked} expressions evaluated against {prom.url}")
    print("allowed empty:\n  " + "\n  ".join(allowed or ["(none)"]))
    if lifted:
        print("allow entries no longer needed:\n  " + "\n  ".join(lifted))
    assert not failures, "\n".join(failures)


def test_every_query_within_the_budget(prom, world, models):
    """Series and time per query as Grafana opens each dashboard (variables at their defaults, All
    included), and no unranked per-node/job/user/GPU result. The lab is small: the 10,000-node
    figures of the same command are in bench/README.md."""
    costs = budget.measure(prom, models, {"cluster": world["cluster"]})
    print("\n" + "\n".join(budget.worst(costs, 10)))
    assert len(costs) > 150
    assert not budget.problems(costs), "\n".join(budget.problems(costs))


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _browser_args(profile: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--window-size=1400,2000"]


def test_preview_renders_real_data_in_chromium(prom, world, models, tmp_path_factory):
    browser = _chromium()
    if not browser:
        need.absent("chromium is not installed (apt-get install -y chromium)")
    out = tmp_path_factory.mktemp("dashboards-preview")
    paths = write_previews(prom, models, out, _prefer(world))
    empty = []
    for path in paths:
        profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=out))
        r = subprocess.run([browser, *_browser_args(profile), "--dump-dom", path.as_uri()],
                           capture_output=True, text=True, timeout=120)
        dom = r.stdout
        assert r.returncode == 0 and "</html>" in dom, f"{path}: {r.stderr[-500:]}"
        name = path.stem
        panels = [p for p in m.panels(models[name])]
        for p in panels:
            tag = dom.split(f'id="panel-{p["id"]}"', 1)
            assert len(tag) == 2, f"{name}: panel {p['title']!r} missing from the page"
            head = tag[1].split(">", 1)[0]
            count = int(head.split('data-series-count="', 1)[1].split('"', 1)[0])
            if count == 0 and not (ALLOW.get((name, p["title"])) or Why("", lambda _: False)).holds(prom):
                empty.append(f"{name}: {p['title']}")
            if count and p["type"] in ("timeseries", "state-timeline", "heatmap"):
                assert "<svg" in tag[1].split("</details>", 1)[0], f"{name}: {p['title']} drew no chart"
            if count and p["type"] in ("stat", "gauge"):
                assert "data-stat-value=" in head, f"{name}: {p['title']} shows no value"
    assert not empty, "panels that drew no data:\n  " + "\n  ".join(empty)
    # Thresholds as Grafana applies them: the world drained a node, so the overview's "Nodes
    # drained" stat is orange (not the green the preview used to draw for every value).
    overview = (out / "overview.html").read_text()
    drained = next(p for p in m.panels(models["overview"]) if p["title"] == "Nodes drained")
    head = overview.split(f'id="panel-{drained["id"]}"', 1)[1].split(">", 1)[0]
    assert 'data-stat-color="#ff9830"' in head, head
    shots = []
    for name in sorted(models):
        shot = out / f"{name}.png"
        profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=out))
        r = subprocess.run([browser, *_browser_args(profile), f"--screenshot={shot}",
                            (out / f"{name}.html").as_uri()],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0 and shot.exists() and shot.stat().st_size > 10_000, r.stderr[-500:]
        shots.append(shot)
    print(f"\npreview pages: {out}/index.html\nscreenshots (look at them): " + ", ".join(map(str, shots)))


def test_queries_run_on_the_generations_prometheus(lab):
    """Which Prometheus these queries ran on: the host's Debian 12 Prometheus 2.42 for 22.05 and
    24.11, forky's 3.5 from the root filesystem for 26.05 (the process's root is the lab's tree)."""
    import json
    import os
    import urllib.request

    from slurmops.lab import nsroot, proc
    with urllib.request.urlopen(lab.cfg.url("prometheus") + "/api/v1/status/buildinfo", timeout=5) as r:
        version = json.load(r)["data"]["version"]
    pid = proc.owned_pid(lab.cfg.pidfile("prometheus"), lab.cfg.dir)
    assert pid, "the lab's Prometheus is not running"
    if lab.gen.prometheus_in_rootfs:
        assert version.startswith("3.5."), version
        assert nsroot.in_root(pid, lab.cfg.dir), os.readlink(f"/proc/{pid}/root")
    else:
        assert version.startswith("2.42."), version
        assert os.readlink(f"/proc/{pid}/root") == "/"
