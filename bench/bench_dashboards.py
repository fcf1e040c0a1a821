#!/usr/bin/env python3
"""Dashboards at scale: every query of every dashboard on the big lab's real Prometheus.

    flock /tmp/slurmops-biglab.lock .venv/bin/python bench/bench_dashboards.py [--nodes 10000] [--jobs 50000] [--keep]

Builds the same lab as bench_slurm_exporter.py (10,000 powered-down CLOUD nodes, 50,000 held jobs,
/var/tmp/slurmops-bench-lab), keeps its Slurm exporter and Prometheus running, lets Prometheus
scrape for --scrape-minutes, then runs `slurmops dashboards budget` logic: each query as Grafana
opens the dashboard (variables at their defaults, All included), range queries over the data
there is, instant queries now. Prints the heaviest and slowest queries and every one over the
budget (slurmops/grafana/budget.py: 50 series, 2 s) or unranked. The figures go in bench/README.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import bench_slurm_exporter as bse  # noqa: E402  (the bench lab, built one way for both benches)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=10000)
    ap.add_argument("--jobs", type=int, default=50000)
    ap.add_argument("--scrape-minutes", type=float, default=4.0)
    ap.add_argument("--keep", action="store_true", help="leave the bench lab running")
    args = ap.parse_args()

    from slurmops.grafana import budget, generate
    from slurmops.grafana.prom import Prometheus
    from slurmops.lab.platform import Lab, load_config

    t0 = time.time()
    bse.build_lab(args.nodes, args.jobs)      # stops the lab's exporters and Prometheus
    for component in ("slurm_exporter", "prometheus"):
        r = bse.sh([sys.executable, "-m", "slurmops", "lab", "start", component, "--dir", str(bse.LAB_DIR)],
                   timeout=600)
        if r.returncode != 0:
            sys.exit(f"lab start {component} failed:\n{r.stdout}\n{r.stderr}")
    lab = Lab(load_config(bse.LAB_DIR))
    prom = Prometheus(lab.cfg.url("prometheus"), timeout=120)
    print(f"bench lab ready in {time.time() - t0:.0f} s; Prometheus scrapes for {args.scrape_minutes} min",
          flush=True)
    start = time.time()
    time.sleep(args.scrape_minutes * 60)
    nodes = prom.query('count(slurm_node_state{cluster="bench"})')
    series = prom.query("prometheus_tsdb_head_series")
    print(f"Prometheus sees {nodes[0].points[0][1] if nodes else 0:.0f} nodes, "
          f"{series[0].points[0][1] if series else 0:.0f} head series", flush=True)

    costs = budget.measure(prom, generate.load_built(), {"cluster": "bench"},
                           window_s=time.time() - start, step_s=15)
    print(f"\nDashboards on the big lab ({args.nodes} nodes, {args.jobs} jobs), "
          f"{len(costs)} queries, variables at their defaults:")
    for line in budget.worst(costs, 15):
        print("  " + line)
    bad = budget.problems(costs)
    print(f"max {max(c.series for c in costs)} series (budget {budget.MAX_SERIES}), "
          f"max {max(c.seconds for c in costs):.3f} s (budget {budget.MAX_SECONDS} s)")
    print("over budget:\n  " + "\n  ".join(bad) if bad else "every query within the budget")
    if not args.keep:
        bse.sh([sys.executable, "-m", "slurmops", "lab", "down", "--purge", "--dir", str(bse.LAB_DIR)],
               timeout=900)


if __name__ == "__main__":
    main()
