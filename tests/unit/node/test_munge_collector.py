"""The job exporter's munge collector against a real munged (Debian's munge): a throw-away daemon
with its own key and socket in a temporary directory, then stopped, killed (stale socket) and
frozen (SIGSTOP: accepts connections, never answers). The truth each test checks is munged's own
state (the process we signalled, its socket file) and the rendered page read back with
client_python's parser."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import need
from slurmops.node.exporter import JobExporter, jobs as jobs_command
from slurmops.node.jobinfo import JobInfoCache
from slurmops.node.munge import MungeCollector, roundtrip

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "cgroup"
UP = "slurm_job_exporter_munge_up"
SECONDS = "slurm_job_exporter_munge_roundtrip_seconds"


class Munged:
    """munged -F with its own key, socket, pid and seed files under ``d``."""

    def __init__(self, d: Path):
        self.dir = d
        self.socket = str(d / "munge.socket")
        key = d / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.out = open(d / "munged.out", "wb")     # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            ["munged", "-F", f"--key-file={key}", f"--socket={self.socket}", f"--pid-file={d / 'munged.pid'}",
             f"--seed-file={d / 'munged.seed'}", "--num-threads=2"],
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not roundtrip(self.socket).up:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"munged did not come up: {(d / 'munged.out').read_text()}")
            time.sleep(0.05)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


@pytest.fixture
def munged():
    need.binary("munged", "apt-get install munge")
    # A short path of its own (a unix socket path is at most 107 bytes); munged wants 0755 dirs.
    d = Path(tempfile.mkdtemp(prefix="munge-t-", dir="/tmp"))
    d.chmod(0o755)
    m = Munged(d)
    yield m
    m.stop()
    subprocess.run(["rm", "-rf", str(d)], check=False)


def page(e: JobExporter) -> dict:
    out = {}
    for fam in text_string_to_metric_families(e.render().decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def exporter(sock: str, timeout_s: float = 2.0, bin_dir: str | None = None) -> JobExporter:
    # cache_s=0: every render() is a scrape of its own
    return JobExporter(str(FIX / "v2-25.05"), gpu=False, lookup=JobInfoCache(lambda ids: ""),
                       munge_socket=sock, munge_timeout_s=timeout_s, cache_s=0, munge_bin_dir=bin_dir)


def errors(s: dict, reason: str) -> float:
    return s.get(("slurm_job_exporter_errors_total", (("collector", "munge"), ("reason", reason))), 0)


def munge_children(sock: str) -> list[str]:
    """munge/unmunge processes still running on this socket (a timeout must leave none)."""
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                argv = (p / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and Path(argv[0].decode(errors="replace")).name in ("munge", "unmunge") \
                    and sock.encode() in argv:
                found.append(p.name)
    return found


def test_up_through_a_real_munged(munged):
    e = exporter(munged.socket)
    s = page(e)
    assert s[(UP, ())] == 1
    assert 0 < s[(SECONDS, ())] < 2
    assert s[("slurm_job_exporter_collector_success", (("collector", "munge"),))] == 1
    assert not [k for k in s if k[0] == "slurm_job_exporter_errors_total" and ("collector", "munge") in k[1]]


def test_munged_stopped_removes_its_socket(munged):
    e = exporter(munged.socket)
    assert page(e)[(UP, ())] == 1
    munged.signal(signal.SIGTERM)
    munged.proc.wait(10)
    assert not os.path.exists(munged.socket)        # munged's clean shutdown unlinks it
    s = page(e)
    assert s[(UP, ())] == 0
    assert errors(s, "no_socket") == 1
    assert page(e)[(UP, ())] == 0 and errors(page(e), "no_socket") == 3     # counted per scrape


def test_munged_killed_leaves_a_stale_socket(munged):
    """kill -9: the socket file stays, nothing listens. The munge client retries a refused
    connect for ~2.25 s (longer than the timeout); the collector says "refused", and the next
    scrapes ask the socket first instead of waiting again."""
    e = exporter(munged.socket, timeout_s=1.0)
    munged.signal(signal.SIGKILL)
    munged.proc.wait(10)
    assert os.path.exists(munged.socket)
    t = time.monotonic()
    s = page(e)
    first = time.monotonic() - t
    assert s[(UP, ())] == 0 and errors(s, "refused") == 1
    assert first < 1.0 + 0.5
    t = time.monotonic()
    s = page(e)
    assert time.monotonic() - t < 0.5                # no client retries this time
    assert s[(UP, ())] == 0 and errors(s, "refused") == 2
    assert munge_children(munged.socket) == []


def test_hung_munged_costs_the_scrape_the_timeout_only(munged):
    """SIGSTOP: the kernel still queues connections on the socket, munged never answers."""
    e = exporter(munged.socket, timeout_s=0.5)
    assert page(e)[(UP, ())] == 1
    munged.signal(signal.SIGSTOP)
    try:
        t = time.monotonic()
        s = page(e)
        took = time.monotonic() - t
        assert s[(UP, ())] == 0 and errors(s, "timeout") == 1
        assert 0.5 <= took < 1.5, took
        assert 0.5 <= s[(SECONDS, ())] < 1.5
        assert munge_children(munged.socket) == []    # the client was killed, not left hanging
    finally:
        munged.signal(signal.SIGCONT)
    deadline = time.monotonic() + 10
    while page(e)[(UP, ())] != 1:                     # it answers again once it runs
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_socket_absent_and_not_a_socket(tmp_path):
    s = page(exporter(str(tmp_path / "nothing-here")))
    assert s[(UP, ())] == 0 and errors(s, "no_socket") == 1
    plain = tmp_path / "a-file"
    plain.write_text("")
    s = page(exporter(str(plain)))
    assert s[(UP, ())] == 0 and errors(s, "no_socket") == 1


def test_no_munge_client(munged):
    r = MungeCollector(munged.socket, munge="/nonexistent/bin/munge")
    fams = {f.name: f for f in r.collect()}
    assert fams[UP].samples[0].value == 0
    assert r.errors.get("munge", "no_client") == 1
    assert "/nonexistent/bin/munge" in r.last.detail


def test_bin_dir_names_the_programs(munged, tmp_path):
    """--collector.munge.bin-dir: the programs of that directory, not PATH's."""
    real = Path(need.binary("munge", "apt-get install munge")).parent
    assert page(exporter(munged.socket, bin_dir=str(real)))[(UP, ())] == 1
    s = page(exporter(munged.socket, bin_dir=str(tmp_path)))        # no munge there
    assert s[(UP, ())] == 0 and errors(s, "no_client") == 1


def test_the_credential_is_never_logged(munged, caplog):
    """Every state change is logged (up, down with munge's own reason, up again); no credential
    (munge's "MUNGE:..." text) in any of it."""
    caplog.set_level(logging.DEBUG, logger="slurmops.node.munge")
    c = MungeCollector(munged.socket, timeout_s=0.5)
    list(c.collect())
    munged.signal(signal.SIGSTOP)
    list(c.collect())
    munged.signal(signal.SIGCONT)
    deadline = time.monotonic() + 10
    while not c.last.up and time.monotonic() < deadline:
        list(c.collect())
    assert c.last.up
    text = caplog.text
    assert "works" in text and "failed (timeout)" in text
    assert "MUNGE:" not in text


def test_collector_on_by_default_and_off_by_flag():
    ctx = jobs_command.make_context("jobs", [])
    assert ctx.params["munge"] is True and ctx.params["munge_socket"] == "/run/munge/munge.socket.2"
    assert jobs_command.make_context("jobs", ["--no-collector.munge"]).params["munge"] is False
    e = JobExporter(str(FIX / "v2-25.05"), gpu=False, lookup=JobInfoCache(lambda ids: ""))
    assert (UP, ()) not in page(e)          # no socket given: no munge collector
