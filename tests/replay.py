"""Recorded Slurm answers replayed: a bin dir whose commands print the recording of their exact
argv (and log what ran), and a local HTTP server that answers slurmrestd paths with their recordings
(and logs the paths). What the tests learn from them is what the code asks and what it makes of
real answers; Slurm itself is the lab's business (tests/lab)."""
from __future__ import annotations

import json
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from slurmops.slurm.commands import COMMANDS

SHIM = """#!{python}
import json, os, sys
argv = [os.path.basename(sys.argv[0]), *sys.argv[1:]]
with open(os.environ["SLURMOPS_REPLAY_LOG"], "a") as f:
    f.write(json.dumps(argv) + "\\n")
table = json.load(open(os.environ["SLURMOPS_REPLAY_TABLE"]))
path = table.get(json.dumps(argv))
if path is None:
    sys.exit("replay: no recording of " + " ".join(argv))
sys.stdout.write(open(path).read())
"""


def replay_bin(version_dir: Path, tmp: Path) -> tuple[Path, dict[str, str], Path]:
    """(bin dir, env for the commands, log of the argv that ran): each registered command prints
    ``<version_dir>/cli/<its fixture>`` when that recording exists; anything else exits 1."""
    table = {json.dumps(list(c.argv)): str(version_dir / "cli" / c.fixture)
             for c in COMMANDS if "{jobids}" not in c.argv and (version_dir / "cli" / c.fixture).is_file()}
    manifest = version_dir / "MANIFEST.json"
    if manifest.is_file():   # and the exact argv each recording was made with
        for name, argv in json.loads(manifest.read_text())["cli"].items():
            table[json.dumps(argv)] = str(version_dir / "cli" / name)
    (tmp / "table.json").write_text(json.dumps(table))
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for cmd in {c.argv[0] for c in COMMANDS}:
        p = bin_dir / cmd
        p.write_text(SHIM.format(python=sys.executable))
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    log = tmp / "ran.jsonl"
    return bin_dir, {"SLURMOPS_REPLAY_LOG": str(log), "SLURMOPS_REPLAY_TABLE": str(tmp / "table.json")}, log


def ran(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet handler that answers JSON bodies."""

    def send_json(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class _Handler(JsonHandler):
    root: Path
    paths: list[str]

    def do_GET(self) -> None:   # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        type(self).paths.append(path)
        f = self.root / (path.strip("/").replace("/", "-") + ".json")
        body = f.read_bytes() if f.is_file() else b'{"errors": [{"error": "no recording"}]}'
        self.send_json(200 if f.is_file() else 404, body)


@contextmanager
def replay_rest(version_dir: Path) -> Iterator[tuple[str, list[str]]]:
    """(base URL, the paths asked so far) of a server answering with ``<version_dir>/rest/``."""
    handler = type("Replay", (_Handler,), {"root": version_dir / "rest", "paths": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler.paths
    finally:
        server.shutdown()
        server.server_close()
