"""`slurmops runbooks serve`: the rendered runbook pages over HTTP, so the alerts' `runbook_url`
and the dashboards' runbook links (slurmops/runbook/links.py) open in a browser. Read-only: only
``<name>.md`` files of the docs directory (and ``/`` for the index) are served, as plain text."""
from __future__ import annotations

import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_PAGE = re.compile(r"/([a-z0-9][a-z0-9-]*)(?:\.md)?")


def make_server(docs_dir: Path, host: str = "127.0.0.1", port: int = 9347) -> ThreadingHTTPServer:
    docs = docs_dir.resolve()

    class Handler(BaseHTTPRequestHandler):
        server_version = "slurmops-runbooks"

        def do_GET(self):   # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            m = _PAGE.fullmatch(path)
            name = "README" if path in ("/", "/index.md") else (m.group(1) if m else None)
            page = docs / f"{name}.md" if name else None
            if page is None or not page.is_file():
                self.send_error(404, "no such runbook page")
                return
            body = page.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):   # one line per request on stderr, as http.server does
            super().log_message(fmt, *args)

    return ThreadingHTTPServer((host, port), Handler)
