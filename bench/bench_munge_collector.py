"""What the job exporter's munge collector costs a scrape: N round trips (munge -n | unmunge)
through a real munged, wall time per round trip (p50 / p90 / max) and the CPU time of the two
client processes, plus the cost of the failure paths (socket absent, stale socket, hung munged).

    .venv/bin/python bench/bench_munge_collector.py [--n 200] [--socket /run/munge/munge.socket.2]

Without --socket it starts a throw-away munged (own key and socket in a temporary directory).
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from slurmops.node.munge import MungeCollector, roundtrip  # noqa: E402


def start_munged(d: Path) -> subprocess.Popen:
    key = d / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    p = subprocess.Popen(["munged", "-F", f"--key-file={key}", f"--socket={d / 's'}",
                          f"--pid-file={d / 'pid'}", f"--seed-file={d / 'seed'}", "--num-threads=2"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not roundtrip(str(d / "s")).up:
        if time.monotonic() > deadline:
            raise SystemExit("error: munged did not come up")
        time.sleep(0.05)
    return p


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def scrape_s(c: MungeCollector) -> float:
    t = time.perf_counter()
    list(c.collect())
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--socket")
    a = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="munge-b-", dir="/tmp"))
    d.chmod(0o755)
    own = None if a.socket else start_munged(d)
    sock = a.socket or str(d / "s")
    try:
        c = MungeCollector(sock)
        cpu0 = children_cpu()
        walls = sorted(scrape_s(c) for _ in range(a.n))
        cpu = (children_cpu() - cpu0) / a.n
        assert c.last.up, c.last
        q = statistics.quantiles(walls, n=10)
        print(f"healthy munged, {a.n} round trips: wall p50 {statistics.median(walls) * 1000:.1f} ms, "
              f"p90 {q[8] * 1000:.1f} ms, max {walls[-1] * 1000:.1f} ms; "
              f"munge + unmunge CPU {cpu * 1000:.1f} ms per round trip")
        if own is not None:
            own.send_signal(signal.SIGSTOP)
            print(f"hung munged (SIGSTOP), timeout 2 s: {scrape_s(MungeCollector(sock)):.2f} s")
            own.send_signal(signal.SIGCONT)
            own.kill()
            own.wait()
            stale = MungeCollector(sock)
            print(f"stale socket (munged killed): first scrape {scrape_s(stale):.2f} s, "
                  f"next {scrape_s(stale) * 1000:.1f} ms ({stale.last.reason})")
            os.unlink(sock)
            print(f"socket absent: {scrape_s(MungeCollector(sock)) * 1000:.2f} ms")
    finally:
        if own is not None and own.poll() is None:
            own.kill()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
