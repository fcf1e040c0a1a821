"""The long fuzz run of the parsers (issue 12): the CI test runs 10,000 inputs with a fixed seed,
this runs as many as asked with any seed and prints the figures.

    .venv/bin/python bench/fuzz_parsers.py --n 275000 [--seed 1] [--time-limit 1.0] [--rss-limit 512]

Inputs, property and limits: tests/fuzzing.py. Exit status 1 when any input broke the property
(each is printed with its target, the first bytes of the input and what happened).
"""
from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import fuzzing  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=275_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=1.0, help="CPU seconds allowed per input")
    ap.add_argument("--rss-limit", type=float, default=512.0, help="peak RSS allowed, MB")
    args = ap.parse_args()
    # Address space capped (4 GiB) so a blow-up is a MemoryError here, not the OOM killer.
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    def progress(r: fuzzing.Report) -> None:
        print(f"  {r.n:,} inputs, {len(r.failures)} failures", flush=True)

    r = fuzzing.run(args.n, args.seed, args.time_limit, args.rss_limit, progress)
    print(f"targets: {len(fuzzing.targets())} fixtures; inputs: {r.n:,}; seed {args.seed}")
    print(f"outcomes: {r.outcomes}")
    print(f"wall {r.wall_s:.1f} s ({r.wall_s / r.n * 1e3:.2f} ms per input); max CPU per input "
          f"{r.max_cpu_s * 1e3:.0f} ms; peak RSS {r.peak_rss_mb:.0f} MB")
    for f in r.failures:
        print("FAIL", f[:600])
    print(f"failures: {len(r.failures)}")
    sys.exit(1 if r.failures else 0)


if __name__ == "__main__":
    main()
