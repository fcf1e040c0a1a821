"""A seeded mutation fuzzer over every parser fixture (issue 12), shared by the CI test
(tests/unit/slurm/test_fuzz_parsers.py, fixed seed) and the long run (bench/fuzz_parsers.py).

Each input is a fixture from tests/fixtures (text from Slurm's commands, JSON from slurmrestd and
``--json``) with one to three mutations: bytes flipped, deleted, duplicated or cut; invalid UTF-8;
a value replaced by one Slurm never prints or prints only as "no value" (sentinels, negatives,
400-digit and 1e400 numbers, hostlist and array bombs, lone surrogates, deep nesting, wrong JSON
types); a JSON member deleted or its type changed. Each input goes through what the exporter
runs: the source's parse (``CliSource._parse`` / ``RestSource.decode``/``decode_stream``, so the
bounded reader and ``checked_parse``), then the collector's metric building and the exposition.

The property, for every input:

* the outcome is a result, a result with records skipped *and counted*, or a ``SourceError``;
  any other exception is a failure;
* never a silently shorter list: where an independent reading of the input (``json.loads``, or
  the record lines of the text) finds N records, ``len(result) + counted problems >= N``;
* each input costs at most ``time_limit_s`` of CPU (``ITIMER_PROF``) and the process's peak RSS
  stays under ``rss_limit_mb``.
"""
from __future__ import annotations

import io
import json
import random
import re
import resource
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slurmops.exporter.collectors import accounting, jobs, nodes, partitions, scheduler
from slurmops.exporter.poller import render_chunk
from slurmops.slurm.parse import jsondoc as jp, jsonread, text as tp
from slurmops.slurm.parse.controllers import parse_ping_doc, parse_scontrol_ping
from slurmops.slurm.sources import CallStats, SourceError, checked_parse
from slurmops.slurm.sources.cli import CliSource
from slurmops.slurm.sources.rest import RestSource

FIXTURES = Path(__file__).resolve().parent / "fixtures"


class Overrun(BaseException):
    """One input took more CPU than allowed (BaseException: no parser may swallow it)."""


# ------------------------------------------------------------------------------ targets

@dataclass
class Target:
    name: str
    path: Path
    run: Callable[[bytes], tuple[Any, int]]          # -> (result, problems counted); may raise SourceError
    expected: Callable[[bytes], int | None]          # independent count of records, None = unknown
    base: bytes = b""


def _build(collector: str, result: Any) -> None:
    """Metric building and exposition, as the poller does after a good parse."""
    if collector == "nodes":
        fams = nodes.build("c", result)
    elif collector == "partitions":
        fams = partitions.build("c", result, [])
    elif collector == "jobs":
        fams = jobs.build("c", result, now=2e9, partitions=["p"], per_user=True)
    elif collector == "scheduler":
        fams = scheduler.build("c", result)
    elif collector == "fairshare":
        fams = accounting.fairshare("c", result)
    elif collector == "licenses":
        fams = accounting.licenses("c", result)
    elif collector == "reservations":
        fams = accounting.reservations("c", result, now=2e9)
    else:
        fams = accounting.controllers("c", result)
    b"".join(h + b for _, h, b in render_chunk(fams))


def _cli(collector: str, parse: Callable) -> Callable[[bytes], tuple[Any, int]]:
    def run(data: bytes) -> tuple[Any, int]:
        src = CliSource(stats=CallStats())
        result = src._parse(collector, "cmd", parse, data.decode(errors="replace"))   # as _read_text
        _build(collector, result)
        return result, sum(src.stats.snapshot()[2].values())
    return run


def _rest_stream(collector: str, key: str, stream: Callable) -> Callable[[bytes], tuple[Any, int]]:
    def run(data: bytes) -> tuple[Any, int]:
        src = RestSource("http://127.0.0.1:9", stats=CallStats())
        result, _ = src.decode_stream(key, f"slurm/{key}", io.BytesIO(data), stream)
        _build(collector, result)
        return result, sum(src.stats.snapshot()[2].values())
    return run


def _rest_doc(collector: str, parse: Callable) -> Callable[[bytes], tuple[Any, int]]:
    def run(data: bytes) -> tuple[Any, int]:
        src = RestSource("http://127.0.0.1:9", stats=CallStats())
        doc = src.decode("slurm/x", io.BytesIO(data))
        result = src._parse(collector, "x", parse, doc)
        _build(collector, result)
        return result, sum(src.stats.snapshot()[2].values())
    return run


def _json_cli(collector: str, parse: Callable) -> Callable[[bytes], tuple[Any, int]]:
    """``squeue --json`` / ``sinfo --json`` output through the bounded loader and checked_parse."""
    def run(data: bytes) -> tuple[Any, int]:
        stats = CallStats()
        try:
            doc, repaired = jsonread.load(data)
        except ValueError as exc:
            raise SourceError("cmd", "parse", str(exc)) from None
        result = checked_parse(stats, collector, "cmd", parse, doc, True)
        _build(collector, result)
        return result, sum(stats.snapshot()[2].values()) + repaired
    return run


# ---- independent record counts

def _json_records(key: str, distinct_names: bool = False) -> Callable[[bytes], int | None]:
    def count(data: bytes) -> int | None:
        try:
            doc = json.loads(data.decode("utf-8", "replace"))
        except (ValueError, RecursionError):
            return None
        items = doc.get(key) if isinstance(doc, dict) else None
        if not isinstance(items, list):
            return None
        if not distinct_names:
            return len(items)
        # Nodes of one name are one node (merged by design): count distinct names.
        named = [i["name"].strip() for i in items if isinstance(i, dict) and isinstance(i.get("name"), str)]
        return len(items) - len(named) + len(set(named))
    return count


def _lines(data: bytes) -> list[str]:
    text = data.decode(errors="replace")
    return [m.group().rstrip("\r\n") for m in re.finditer(r"[^\n]*\n|[^\n]+$", text)]


def _squeue_records(data: bytes) -> int:
    return sum(1 for line in _lines(data) if line.strip())


def _scontrol_records(first_key: str) -> Callable[[bytes], int]:
    notice = re.compile(r"^no .*(in the system|configured)", re.I)

    def count(data: bytes) -> int:
        n = 0
        for line in _lines(data):
            if not line.strip():
                continue
            if line[0].isspace() and not line.lstrip().startswith(first_key + "="):
                continue           # continuation of the record before (or a stray first line)
            if not notice.match(line.strip()):
                n += 1
        return n
    return count


def _sshare_records(data: bytes) -> int:
    lines = [ln for ln in data.decode(errors="replace").splitlines() if ln.strip()]
    return max(len(lines) - 1, 0)


def _none(data: bytes) -> None:
    return None


_TEXT = {
    "scontrol-show-nodes": ("nodes", tp.parse_scontrol_nodes, _scontrol_records("NodeName")),
    "scontrol-show-nodes-details": ("nodes", tp.parse_scontrol_nodes, _scontrol_records("NodeName")),
    "scontrol-show-partitions": ("partitions", tp.parse_scontrol_partitions,
                                 _scontrol_records("PartitionName")),
    "scontrol-show-reservations": ("reservations", tp.parse_scontrol_reservations,
                                   _scontrol_records("ReservationName")),
    "scontrol-show-licenses": ("licenses", tp.parse_scontrol_licenses, _scontrol_records("LicenseName")),
    "squeue-exporter": ("jobs", tp.parse_squeue, _squeue_records),
    "sdiag": ("scheduler", tp.parse_sdiag, _none),
    "sshare": ("fairshare", tp.parse_sshare, _sshare_records),
    "scontrol-ping": ("controllers", parse_scontrol_ping, _none),
}
_REST = {
    "nodes": lambda: _rest_stream("nodes", "nodes", jp.stream_nodes),
    "jobs": lambda: _rest_stream("jobs", "jobs", jp.stream_jobs),
    "partitions": lambda: _rest_stream("partitions", "partitions", jp.stream_partitions),
    "licenses": lambda: _rest_stream("licenses", "licenses", jp.stream_licenses),
    "reservations": lambda: _rest_stream("reservations", "reservations", jp.stream_reservations),
    "diag": lambda: _rest_doc("scheduler", jp.parse_diag),
    "shares": lambda: _rest_doc("fairshare", jp.parse_shares),
    "ping": lambda: _rest_doc("controllers", parse_ping_doc),
}
_REST_COUNT = {"nodes": _json_records("nodes", True), "jobs": _json_records("jobs"),
               "partitions": _json_records("partitions"), "licenses": _json_records("licenses"),
               "reservations": _json_records("reservations")}


def targets() -> list[Target]:
    """One target per fixture file a parser of the exporter reads."""
    out = []
    for path in sorted([*FIXTURES.glob("slurm-*/cli/*.txt"), *FIXTURES.glob("gpu-*/**/cli/*.txt")]):
        stem = path.stem.replace("-empty", "")
        if stem in _TEXT:
            collector, parse, count = _TEXT[stem]
            out.append(Target(f"{path.parent.parent.name}/{path.name}", path, _cli(collector, parse), count))
    for path in sorted(FIXTURES.glob("slurm-*/rest/slurm-v*.json")):
        what = re.sub(r"^slurm-v0\.0\.\d+-", "", path.stem).replace("-empty", "")
        if what in _REST:
            out.append(Target(f"{path.parent.parent.name}/{path.name}", path, _REST[what](),
                              _REST_COUNT.get(what, _none)))
    for name, collector, parse, key in (("squeue.json", "jobs", jp.parse_jobs, "jobs"),
                                        ("sinfo.json", "nodes", jp.parse_nodes, "nodes")):
        path = FIXTURES / "slurm-22.05" / "cli" / name
        out.append(Target(f"slurm-22.05/{name}", path, _json_cli(collector, parse),
                          _json_records(key, key == "nodes")))
    for t in out:
        t.base = t.path.read_bytes()
    return out


# ------------------------------------------------------------------------------ mutations

_TEXT_VALUES = [
    "-5", "-1", "-2", "4294967294", "4294967295", "18446744073709551614", "18446744073709551615",
    "9" * 400, "1" + "0" * 30, "1e400", "1.8e309", "nan", "inf", "", "(null)", "N/A", "None",
    "abc", "0x10", "0-9999999999", "1-4000000", "1-9:0", "0-18446744073709551615%2",
    "n[1-20000000]", "n[1-18446744073709551615]", "n[1-3", "n]1[", "n" + "[1]" * 3000,
    "gpu:a100:" + "9" * 30, "gpu:2(IDX:0-99999999)", "gres/gpu=" + "9" * 400,
    "gres/gpu:a100=-3", "cpu=1,mem=" + "9" * 400 + "M", " " * 5000 + "x", "[a@" * 2000,
    "\u00e9", "\ufffd", "\u202e", "x|y|z", "A=B C=D", "2026-13-45T99:99:99", "99999-00:00:00",
    "0000-01-01T00:00:00", "UNLIMITED",
]
_JSON_VALUES = [
    "-5", "4294967294", "18446744073709551615", "9" * 400, "1e400", "-1e400", "1.5e308",
    '"\\ud800"', '"n\\udfff"', "null", "true", "[]", "{}", '"abc"', "12", "[1,2]",
    '{"set":true,"infinite":false,"number":' + "9" * 400 + "}",
    '{"set":true,"infinite":false,"number":"x"}', '{"number":18446744073709551615,"set":true}',
    '"n[1-20000000]"', '"n[1-18446744073709551615]"', '"0-9999999999"', '"1-4000000%4"',
    '"gpu:2(IDX:0-99999999)"', '"gres/gpu=' + "9" * 400 + '"', '"' + "x" * 100_000 + '"',
    "[" * 2000 + "]" * 2000, "[" * 50 + "]" * 50, '["IDLE","DRAIN"]', '"RUNNING"',
]
_INVALID_UTF8 = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe9t\xe9", b"\xf4\x90\x80\x80", b"\xc0\xaf"]
_TEXT_TOKEN = re.compile(rb"(?<=[=|:,])[^\s=|,]*")
_JSON_SCALAR = re.compile(rb'"(?:[^"\\\n]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null')


def _span(rng: random.Random, n: int) -> tuple[int, int]:
    a = rng.randrange(n + 1)
    return a, min(n, a + rng.choice((1, 2, 8, 64, 512)))


def mutate(rng: random.Random, data: bytes, is_json: bool) -> bytes:
    for _ in range(rng.choice((1, 1, 2, 3))):
        op = rng.randrange(20)       # 0-4 bytes (25 %), 5-7 structure (15 %), else a value (60 %)
        n = len(data)
        if op == 0 and n:                                   # flip bytes
            b = bytearray(data)
            for _ in range(rng.choice((1, 2, 4))):
                b[rng.randrange(n)] = rng.randrange(256)
            data = bytes(b)
        elif op == 1:                                       # delete a span
            a, z = _span(rng, n)
            data = data[:a] + data[z:]
        elif op == 2:                                       # duplicate a span (a record, a line...)
            a, z = _span(rng, n)
            data = data[:z] + data[a:z] + data[z:]
        elif op == 3:                                       # cut
            data = data[:rng.randrange(n + 1)]
        elif op == 4:                                       # invalid UTF-8
            a = rng.randrange(n + 1)
            data = data[:a] + rng.choice(_INVALID_UTF8) + data[a:]
        elif op in (5, 6, 7) and is_json:                   # a member deleted or retyped
            data = _json_structural(rng, data)
        else:                                               # a value replaced
            pattern = _JSON_SCALAR if is_json else _TEXT_TOKEN
            spans = [m.span() for m in pattern.finditer(data)]
            if spans:
                a, z = rng.choice(spans)
                new = rng.choice(_JSON_VALUES if is_json else _TEXT_VALUES).encode("utf-8", "surrogatepass")
                data = data[:a] + new + data[z:]
    return data


def _json_structural(rng: random.Random, data: bytes) -> bytes:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return data
    path: list[Any] = []
    node = doc
    while isinstance(node, (dict, list)) and node and rng.random() < 0.8:
        k = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        path.append((node, k))
        node = node[k]
    if not path:
        return b"null"
    parent, k = path[-1]
    if isinstance(parent, dict) and rng.random() < 0.4:
        del parent[k]
    else:
        parent[k] = json.loads(rng.choice(_JSON_VALUES[:20]))
    return json.dumps(doc).encode()


# ------------------------------------------------------------------------------ the run

@dataclass
class Report:
    n: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: {"ok": 0, "counted": 0, "source_error": 0})
    failures: list[str] = field(default_factory=list)
    max_cpu_s: float = 0.0
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def check(t: Target, data: bytes, report: Report, time_limit_s: float, rss_limit_mb: float) -> None:
    """One input through one target; a broken property is appended to report.failures."""
    where = f"{t.name}: {data[:160]!r}"
    c0 = _cpu()
    signal.setitimer(signal.ITIMER_PROF, time_limit_s)
    try:
        result, counted = t.run(data)
        outcome = "counted" if counted else "ok"
    except SourceError as exc:
        result, counted, outcome = None, 0, "source_error"
        if "MemoryError" in exc.detail or "RecursionError" in exc.detail:
            report.failures.append(f"{where}: {exc}")
    except Overrun:
        result, counted, outcome = None, 0, "overrun"
        report.failures.append(f"{where}: more than {time_limit_s} s of CPU")
    except Exception as exc:  # noqa: BLE001 -- exactly what the property forbids
        result, counted, outcome = None, 0, "exception"
        report.failures.append(f"{where}: {type(exc).__name__}: {str(exc)[:200]}")
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
    report.max_cpu_s = max(report.max_cpu_s, _cpu() - c0)
    report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
    report.n += 1
    if isinstance(result, list):
        want = t.expected(data)
        if want is not None and len(result) + counted < want:
            report.failures.append(f"{where}: {len(result)} records + {counted} counted < {want} in the input")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if rss > rss_limit_mb and rss > report.peak_rss_mb:
        report.failures.append(f"{where}: peak RSS {rss:.0f} MB > {rss_limit_mb} MB")
    report.peak_rss_mb = max(report.peak_rss_mb, rss)


def run(n: int, seed: int, time_limit_s: float = 1.0, rss_limit_mb: float = 512.0,
        progress: Callable[[Report], None] | None = None) -> Report:
    """``n`` mutated inputs, spread evenly over every target, reproducible from ``seed``."""
    def overrun(signum, frame):
        raise Overrun()
    old = signal.signal(signal.SIGPROF, overrun)
    rng = random.Random(seed)
    ts = targets()
    report = Report()
    t0 = time.perf_counter()
    try:
        for t in ts:                      # the fixtures themselves first: they must parse clean
            check(t, t.base, report, time_limit_s, rss_limit_mb)
        for i in range(n - len(ts)):
            t = ts[i % len(ts)]
            check(t, mutate(rng, t.base, t.path.suffix == ".json"), report, time_limit_s, rss_limit_mb)
            if progress and report.n % 10_000 == 0:
                progress(report)
    finally:
        signal.signal(signal.SIGPROF, old)
    report.wall_s = time.perf_counter() - t0
    return report
