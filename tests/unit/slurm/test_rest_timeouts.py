"""The rest source's timeouts, against a slow local HTTP server standing in for slurmrestd (a real
slurmrestd cannot be made slow on demand; the real one is in tests/lab): /jobs gets its own,
larger timeout (a full list at 50,000 jobs takes 15-18 s inside slurmrestd 22.05), every other
request the short one."""
from __future__ import annotations

import json
import threading
import time
from http.server import ThreadingHTTPServer

import pytest

from replay import JsonHandler
from slurmops.slurm.sources import SourceError
from slurmops.slurm.sources.rest import JOBS_TIMEOUT_S, RestSource

DELAY_S = 0.6


class _SlowStandIn(JsonHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        time.sleep(DELAY_S)
        self.send_json(200, json.dumps({"meta": {}, "errors": [], "jobs": [], "nodes": []}).encode())


@pytest.fixture()
def slow_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _SlowStandIn)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_jobs_uses_the_larger_timeout_other_requests_the_short_one(slow_server):
    src = RestSource(slow_server, timeout=DELAY_S / 3, jobs_timeout=DELAY_S * 5, version="v0.0.40")
    assert src.jobs() == []
    with pytest.raises(SourceError) as exc:
        src.nodes()
    assert exc.value.reason == "timeout"


def test_jobs_timeout_default_holds_a_full_list_at_scale():
    # 15-18 s measured inside slurmrestd 22.05 at 50,000 jobs, before a 155 MB transfer.
    assert JOBS_TIMEOUT_S >= 60
    assert RestSource("http://x").jobs_timeout == JOBS_TIMEOUT_S
    assert RestSource("http://x", timeout=300).jobs_timeout == 300   # never below --command.timeout
