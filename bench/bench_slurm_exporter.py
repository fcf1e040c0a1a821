#!/usr/bin/env python3
"""Scale benchmark of the Slurm exporter on a large *real* cluster built on the lab.

    .venv/bin/python bench/bench_slurm_exporter.py [--nodes 10000] [--jobs 50000] [--keep]

Builds its own lab (/var/tmp/slurmops-bench-lab, ports from 26800) with N powered-down CLOUD
nodes and submits M held jobs (real slurmctld records), then measures per source (cli, rest),
each in a fresh process: poll time per collector, time to render /metrics from the snapshot,
10 concurrent scrapes, RSS, Slurm calls per minute with 1 vs 10 scrapers, and the raw
fetch+decode floor of the same facts. Prints figures and the ratios to the targets
(render <= 50 ms, 10 concurrent scrapes <= 100 ms each with zero extra Slurm calls,
poll <= 2x floor, RSS <= 150 MB), beside the peer's figures measured on the same kind of lab.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LAB_DIR = Path("/var/tmp/slurmops-bench-lab")
PORT_BASE = 26800
# vpenso/prometheus-slurm-exporter on the same 10k-node / 50k-job lab (issue #3).
PEER = {"scrape_s": 2.1, "ten_concurrent_wall_s": 26.9, "commands_per_scrape": 10, "rss_mb": 90,
        "rss_after_burst_mb": 805, "series": 60102}


def sh(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)


def build_lab(nodes: int, jobs: int) -> dict:
    from slurmops.lab.platform import Lab, load_config
    t0 = time.time()
    r = sh([sys.executable, "-m", "slurmops", "lab", "up", "--dir", str(LAB_DIR), "--port-base",
            str(PORT_BASE), "--cluster", "bench", "--node-prefix", "b", "--cloud-nodes", "0",
            "--cpu-nodes", "2", "--bench-nodes", str(nodes)], timeout=900)
    if r.returncode != 0:
        sys.exit(f"bench lab did not come up:\n{r.stdout}\n{r.stderr}")
    # The lab's own exporters and Prometheus (scraping 10,000 nodes every 15 s) would compete
    # with the measured process for the machine's cores: the bench measures without them.
    for component in ("prometheus", "alertmanager", "slurm_exporter", "job_exporter", "node_exporter"):
        sh([sys.executable, "-m", "slurmops", "lab", "stop", component, "--dir", str(LAB_DIR)], timeout=120)
    lab = Lab(load_config(LAB_DIR))
    have = int(sh(["squeue", "-h", "-p", "big", "-o", "%i"], env=lab.env).stdout.count("\n"))
    todo = max(jobs - have, 0)
    print(f"lab up with {nodes} bench nodes in {time.time() - t0:.0f} s; submitting {todo} held jobs "
          f"({have} already there)", flush=True)
    t1 = time.time()
    # Two submitters in parallel: sbatch is latency-bound (one RPC each).
    def submit(n):
        for _ in range(n):
            sh(["sbatch", "--hold", "-p", "big", "-o", "/dev/null", "-J", "bench", "--wrap", "true"],
               env=lab.env)
    workers = [threading.Thread(target=submit, args=(todo // 4 + (1 if i < todo % 4 else 0),))
               for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if todo:
        print(f"submitted {todo} jobs in {time.time() - t1:.0f} s ({todo / (time.time() - t1):.0f}/s)", flush=True)
    return {"slurm_conf": str(lab.cfg.slurm_conf), "rest_url": lab.cfg.url("slurmrestd"),
            "token": lab.token(lifespan_s=3600)}


# ---- one source, measured in its own process ---------------------------------------------------
def worker(source: str, env_info: dict, duration: float) -> dict:
    import resource

    from slurmops.exporter.poller import Snapshot
    from slurmops.exporter.server import MetricsServer
    from slurmops.exporter.slurm_exporter import ClusterConfig, make_poller

    token_file = LAB_DIR / "run" / "bench.jwt"
    token_file.write_text(env_info["token"])
    os.chmod(token_file, 0o600)
    cc = ClusterConfig(name="bench", source=source, env={"SLURM_CONF": env_info["slurm_conf"]},
                       rest_url=env_info["rest_url"], rest_user="root", rest_token_file=str(token_file),
                       timeout=120, interval=max(duration / 3, 5.0))
    p = make_poller(cc)
    per_collector: dict[str, list[float]] = {n: [] for n in p.states}
    totals = []
    for _ in range(3):
        t0 = time.perf_counter()
        for name in p.states:
            p.poll(name)
            per_collector[name].append(p.states[name].duration_s)
        totals.append(time.perf_counter() - t0)
    failed = {n: st.error for n, st in p.states.items() if not st.success}
    rss_polls = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    snap = Snapshot([p])
    renders = []
    for _ in range(20):
        t0 = time.perf_counter()
        body = b"".join(snap.render_parts())
        renders.append(time.perf_counter() - t0)
    series = sum(1 for ln in body.splitlines() if ln and not ln.startswith(b"#"))

    from slurmops.exporter.poller import tune_runtime
    tune_runtime()   # as `slurmops exporter slurm` does
    server = MetricsServer("127.0.0.1:0", snap.render_parts, render_gzip=snap.render_gzip_parts).start()
    url = f"http://127.0.0.1:{server.port}/metrics"

    def scrape_times(n_threads: int, seconds: float) -> tuple[list[float], int]:
        """Scrapers run in another process, as Prometheus does: their buffers are not ours."""
        calls_before = sum(p.stats.snapshot()[0].values())
        r = subprocess.run([sys.executable, __file__, "--scraper", url, "--threads", str(n_threads),
                            "--duration", str(seconds)], capture_output=True, text=True)
        return json.loads(r.stdout), sum(p.stats.snapshot()[0].values()) - calls_before

    p.start()   # background polling as in production (here every duration/3 s)
    time.sleep(2)
    one, calls_one = scrape_times(1, duration)
    ten, calls_ten = scrape_times(10, duration)
    ten_curl = curl_scrapes(url, 10, duration)
    ten_gzip = curl_scrapes(url, 10, duration, gzip=True)
    p.stop()
    server.stop()
    return {
        "source": source, "failed": failed,
        "poll_s": statistics.median(totals),
        "poll_by_collector_s": {n: round(statistics.median(v), 4) for n, v in per_collector.items()},
        "render_ms": statistics.median(renders) * 1000, "series": series, "bytes": len(body),
        "scrape_1_ms_p50": statistics.median(one) * 1000, "scrapes_1": len(one),
        "scrape_10_ms_p50": statistics.median(ten) * 1000,
        "scrape_10_ms_max": max(ten) * 1000, "scrapes_10": len(ten),
        "scrape_10_ms_p99": sorted(ten)[int(len(ten) * 0.99)] * 1000,
        "scrape_10_curl_ms_p50": statistics.median(ten_curl) * 1000 if ten_curl else None,
        "scrape_10_curl_ms_p99": sorted(ten_curl)[int(len(ten_curl) * 0.99)] * 1000 if ten_curl else None,
        "scrape_10_curl_ms_max": max(ten_curl) * 1000 if ten_curl else None, "scrapes_10_curl": len(ten_curl),
        "scrape_10_gzip_ms_p50": statistics.median(ten_gzip) * 1000 if ten_gzip else None,
        "scrape_10_gzip_ms_p99": sorted(ten_gzip)[int(len(ten_gzip) * 0.99)] * 1000 if ten_gzip else None,
        "scrape_10_gzip_ms_max": max(ten_gzip) * 1000 if ten_gzip else None, "scrapes_10_gzip": len(ten_gzip),
        "gzip_bytes": len(b"".join(snap.render_gzip_parts())),
        "calls_per_min_1": calls_one * 60 / duration, "calls_per_min_10": calls_ten * 60 / duration,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_sequential_polls_mb": rss_polls,
    }


def scraper(url: str, n_threads: int, seconds: float) -> list[float]:
    stop = time.monotonic() + seconds
    times: list[float] = []
    lock = threading.Lock()

    def loop():
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            with urllib.request.urlopen(url, timeout=30) as r:
                r.read()
            with lock:
                times.append(time.perf_counter() - t0)
    ts = [threading.Thread(target=loop) for _ in range(n_threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return times


def curl_scrapes(url: str, n: int, seconds: float, gzip: bool = False) -> list[float]:
    """10 concurrent scrapers as C clients (curl, 20 requests per process, curl's own timing):
    closer to Prometheus than Python threads, whose own reading of 6.5 MB competes for the GIL
    and the same 2 cores. ``gzip``: ask for it, as Prometheus does by default. Empty when curl
    is not installed."""
    if not shutil.which("curl"):
        return []
    stop = time.monotonic() + seconds
    times: list[float] = []
    lock = threading.Lock()

    def loop():
        while time.monotonic() < stop:
            argv = ["curl", "-s", "--max-time", "30", "-w", "%{time_total}\n", *(["--compressed"] if gzip else [])]
            for _ in range(20):
                argv += ["-o", "/dev/null", url]
            out = subprocess.run(argv, capture_output=True, text=True).stdout.split()
            with lock:
                times.extend(float(x) for x in out)
    ts = [threading.Thread(target=loop) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return times


def floor(source: str, env_info: dict) -> float:
    """The fastest raw fetch + decode of the same facts, no model building: the floor. Decode
    means json.loads for slurmrestd, and for text splitting each record into its fields (what
    json.loads does for JSON) — not interpreting them."""
    env = dict(os.environ, SLURM_CONF=env_info["slurm_conf"], SLURM_TIME_FORMAT="standard")
    best = []
    # slurmrestd 22.05 grows by gigabytes per full /jobs at this scale: ask it once.
    for _ in range(3 if source == "cli" else 1):
        t0 = time.perf_counter()
        if source == "cli":
            from slurmops.slurm.parse.text import SQUEUE_ARGS
            for argv in (["scontrol", "show", "nodes", "-o", "--all"], ["scontrol", "show", "partitions", "-o"],
                         list(SQUEUE_ARGS), ["sdiag"], ["sshare", "-a", "-l", "-P"],
                         ["scontrol", "show", "licenses", "-o"], ["scontrol", "show", "reservations", "-o"]):
                out = subprocess.run(argv, capture_output=True, text=True, env=env).stdout
                if argv[0] == "squeue" or argv[0] == "sshare":
                    [ln.split("|") for ln in out.splitlines()]
                else:
                    [ln.split(" ") for ln in out.splitlines()]
        else:
            for what in ("nodes", "partitions", "jobs", "diag", "licenses", "reservations"):
                req = urllib.request.Request(f"{env_info['rest_url']}/slurm/v0.0.38/{what}", headers={
                    "X-SLURM-USER-NAME": "root", "X-SLURM-USER-TOKEN": env_info["token"]})
                with urllib.request.urlopen(req, timeout=300) as r:
                    json.loads(r.read())
        best.append(time.perf_counter() - t0)
    return min(best)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=10000)
    ap.add_argument("--jobs", type=int, default=50000)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of scraping per mode")
    ap.add_argument("--sources", default="cli,rest")
    ap.add_argument("--keep", action="store_true", help="leave the bench lab running")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--env-json", help=argparse.SUPPRESS)
    ap.add_argument("--scraper", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.scraper:
        print(json.dumps(scraper(args.scraper, args.threads, args.duration)))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, json.loads(args.env_json), args.duration)))
        return
    env_info = build_lab(args.nodes, args.jobs)
    results = []
    for source in args.sources.split(","):
        r = sh([sys.executable, __file__, "--worker", source, "--env-json", json.dumps(env_info),
                "--duration", str(args.duration)], timeout=3600)
        if r.returncode != 0:
            print(f"{source}: worker failed\n{r.stderr[-3000:]}")
            continue
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res["floor_s"] = floor(source, env_info)
        results.append(res)
    print(f"\nSlurm exporter on a real lab: {args.nodes} nodes, {args.jobs} jobs (2-core machine)")
    for r in results:
        print(f"\n[{r['source']}] failed collectors: {r['failed'] or 'none'}")
        print(f"  poll (all collectors)      {r['poll_s']:8.2f} s   floor (raw fetch+decode) {r['floor_s']:.2f} s"
              f"   ratio {r['poll_s'] / r['floor_s']:.2f} (target <= 2)")
        print(f"  poll by collector          {r['poll_by_collector_s']}")
        print(f"  render /metrics            {r['render_ms']:8.1f} ms  ({r['series']} series, "
              f"{r['bytes'] / 1e6:.1f} MB)   target <= 50 ms: ratio {r['render_ms'] / 50:.2f}")
        print(f"  1 scraper   p50            {r['scrape_1_ms_p50']:8.1f} ms  ({r['scrapes_1']} scrapes)")
        print(f"  10 scrapers p50/p99/max    {r['scrape_10_ms_p50']:8.1f} / {r['scrape_10_ms_p99']:.1f} / "
              f"{r['scrape_10_ms_max']:.1f} ms "
              f"({r['scrapes_10']} scrapes)   target <= 100 ms")
        if r.get("scrapes_10_curl"):
            print(f"  10 curl scrapers p50/p99/max {r['scrape_10_curl_ms_p50']:6.1f} / "
                  f"{r['scrape_10_curl_ms_p99']:.1f} / "
                  f"{r['scrape_10_curl_ms_max']:.1f} ms ({r['scrapes_10_curl']} scrapes)   target <= 100 ms")
        if r.get("scrapes_10_gzip"):
            print(f"  10 curl gzip p50/p99/max     {r['scrape_10_gzip_ms_p50']:6.1f} / "
                  f"{r['scrape_10_gzip_ms_p99']:.1f} / {r['scrape_10_gzip_ms_max']:.1f} ms "
                  f"({r['scrapes_10_gzip']} scrapes, {r['gzip_bytes'] / 1e6:.2f} MB "
                  f"each, as Prometheus asks)   target <= 100 ms")
        print(f"  Slurm calls/min, 1 vs 10   {r['calls_per_min_1']:8.1f} vs {r['calls_per_min_10']:.1f}")
        print(f"  RSS                        {r['rss_mb']:8.0f} MB   target <= 150 MB")
    print(f"\npeer (vpenso exporter, same lab): one scrape {PEER['scrape_s']} s, 10 concurrent "
          f"{PEER['ten_concurrent_wall_s']} s wall, {PEER['commands_per_scrape']} commands per scrape, "
          f"RSS {PEER['rss_mb']} MB ({PEER['rss_after_burst_mb']} MB after the burst), {PEER['series']} series")
    if not args.keep:
        sh([sys.executable, "-m", "slurmops", "lab", "down", "--purge", "--dir", str(LAB_DIR)], timeout=600)


if __name__ == "__main__":
    main()
