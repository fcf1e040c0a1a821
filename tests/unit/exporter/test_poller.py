"""The poller with a stub source (a stand-in for Slurm in pure unit tests of the polling logic;
the lab tests run the same poller against the real Slurm)."""
from __future__ import annotations

import threading
import time
import urllib.request

from slurmops.exporter.collectors import scheduler
from slurmops.exporter.poller import ClusterPoller, Snapshot
from slurmops.exporter.server import MetricsServer
from slurmops.slurm.models import SchedulerStats
from slurmops.slurm.sources import CallStats, SourceError


class StubSource:
    def __init__(self):
        self.stats = CallStats()
        self.fail = False
        self.calls = 0

    def scheduler(self):
        self.calls += 1
        self.stats.call("sdiag")
        if self.fail:
            self.stats.error("sdiag", "timeout")
            raise SourceError("sdiag", "timeout", "no answer in 1s")
        return SchedulerStats(server_thread_count=self.calls)

    def licenses(self):
        raise RuntimeError("collector bug")


def make(stale_after=60.0):
    src = StubSource()
    p = ClusterPoller("lab", src, {"scheduler": lambda p, d: scheduler.build(p.cluster, d),
                                   "licenses": lambda p, d: []}, interval=3600, stale_after=stale_after)
    return src, p


def test_scrapes_never_call_slurm_and_concurrent_scrapes_share_the_snapshot():
    src, p = make()
    p.poll_all()
    srv = MetricsServer("127.0.0.1:0", Snapshot([p]).render).start()
    try:
        bodies = []

        def scrape():
            with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/metrics", timeout=5) as r:
                bodies.append(r.read().decode())
        threads = [threading.Thread(target=scrape) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        srv.stop()
    assert src.calls == 1 and len(bodies) == 10
    assert all('slurm_scheduler_threads{cluster="lab"} 1.0' in b for b in bodies)
    assert 'slurm_exporter_source_calls_total{cluster="lab",command="sdiag"} 1.0' in bodies[0]


def test_failure_keeps_last_data_marks_down_and_recovers():
    src, p = make()
    p.poll_all()
    src.fail = True
    p.poll("scheduler")
    out = Snapshot([p]).render().decode()
    assert 'slurm_up{cluster="lab"} 0.0' in out
    assert 'slurm_exporter_collector_success{cluster="lab",collector="scheduler"} 0.0' in out
    assert 'slurm_exporter_command_errors_total{cluster="lab",command="sdiag",reason="timeout"} 1.0' in out
    assert 'slurm_scheduler_threads{cluster="lab"} 1.0' in out        # last good data, not stale yet
    # A collector with a bug fails alone.
    assert 'slurm_exporter_collector_success{cluster="lab",collector="licenses"} 0.0' in out
    src.fail = False
    p.poll("scheduler")
    out = Snapshot([p]).render().decode()
    assert 'slurm_up{cluster="lab"} 1.0' in out and 'slurm_scheduler_threads{cluster="lab"} 3.0' in out


def test_stale_data_is_dropped_not_served_as_current():
    src, p = make(stale_after=0.2)
    p.poll_all()
    src.fail = True
    time.sleep(0.3)
    p.poll("scheduler")
    out = Snapshot([p]).render().decode()
    assert "slurm_scheduler_threads{" not in out
    assert 'slurm_exporter_snapshot_age_seconds{cluster="lab",collector="scheduler"}' in out


def test_background_threads_poll_on_their_own():
    src, p = make()
    p.interval = 0.05
    p.start()
    try:
        deadline = time.monotonic() + 3
        while src.calls < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        p.stop()
    assert src.calls >= 3


def test_checked_parse_counts_skips_and_fails_on_nothing_but_garbage():
    from slurmops.slurm.parse.text import parse_sdiag
    from slurmops.slurm.sources import checked_parse
    stats = CallStats()
    try:
        checked_parse(stats, "scheduler", "sdiag", parse_sdiag, "garbage\n\x00\x01\n", True)
    except SourceError as exc:
        assert exc.reason == "parse"
    else:
        raise AssertionError("garbage sdiag output must be a parse failure")
    good = checked_parse(stats, "scheduler", "sdiag", parse_sdiag,
                         "Server thread count:  3\nAgent queue size:     0\n", True)
    assert good.server_thread_count == 3
    assert stats.snapshot()[1] == {("sdiag", "parse"): 1}


def test_gzip_answers_are_one_stream_equal_to_the_plain_answer(monkeypatch):
    import gzip
    import zlib

    from slurmops.exporter import poller as poller_mod
    from slurmops.exporter.server import accepts_gzip
    monkeypatch.setattr(poller_mod.time, "time", lambda: 1_800_000_000.0)   # self-metrics fixed
    src, p = make()
    p.poll_all()
    snap = Snapshot([p])
    plain = snap.render()
    first = snap.render_gzip_parts()
    again = snap.render_gzip_parts()
    assert first[0] is again[0]                 # the data is compressed once per poll
    assert gzip.decompress(b"".join(first)) == plain == gzip.decompress(b"".join(again))
    d = zlib.decompressobj(31)                  # a single gzip member: nothing after its end
    assert d.decompress(b"".join(first)) == plain and d.eof and d.unused_data == b""
    p.poll("scheduler")                         # new data: compressed afresh, in the poll thread
    assert snap._gz is not None and snap._gz[1] is not first[0]
    assert snap.render_gzip_parts()[0] is snap._gz[1]
    assert gzip.decompress(b"".join(snap.render_gzip_parts())) == snap.render()
    srv = MetricsServer("127.0.0.1:0", snap.render_parts, render_gzip=snap.render_gzip_parts).start()
    try:
        url = f"http://127.0.0.1:{srv.port}/metrics"
        req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.headers["Content-Encoding"] == "gzip" and r.headers["Vary"] == "Accept-Encoding"
            assert gzip.decompress(r.read()) == snap.render()
        with urllib.request.urlopen(url, timeout=5) as r:      # no Accept-Encoding: plain text
            assert r.headers.get("Content-Encoding") is None and r.read() == snap.render()
    finally:
        srv.stop()
    assert [accepts_gzip(h) for h in ("gzip", "deflate, gzip;q=0.5", "*", "GZIP", "x-gzip")] == [True] * 5
    assert [accepts_gzip(h) for h in (None, "", "identity", "gzip;q=0", "br, deflate", "gzip;q=x")] == [False] * 6


def test_unsupported_collector_is_not_a_failure():
    """A collector the source cannot serve on this Slurm (fair-share through slurmrestd 22.05 or
    pyslurm) is reported as unsupported, with no success series: SlurmExporterCollectorFailing
    (alerts/exporters.rules.yml) must not page for it forever."""
    class NoShares(StubSource):
        def fairshare(self):
            raise SourceError("shares", "unsupported", "slurmrestd 22.05 has no /shares")

    src = NoShares()
    p = ClusterPoller("lab", src, {"scheduler": lambda p, d: scheduler.build(p.cluster, d),
                                   "fairshare": lambda p, d: []}, interval=3600)
    p.poll_all()
    p.poll_all()
    out = Snapshot([p]).render().decode()
    assert 'slurm_exporter_collector_supported{cluster="lab",collector="fairshare"} 0.0' in out
    assert 'slurm_exporter_collector_supported{cluster="lab",collector="scheduler"} 1.0' in out
    assert 'slurm_exporter_collector_success{cluster="lab",collector="fairshare"}' not in out
    assert 'slurm_exporter_collector_success{cluster="lab",collector="scheduler"} 1.0' in out
    assert 'slurm_up{cluster="lab"} 1.0' in out
