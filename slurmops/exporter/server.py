"""The HTTP endpoint both exporters share: node_exporter's flags (--web.listen-address,
--web.telemetry-path, --web.config.file) and behaviour (landing page, 401 with a
WWW-Authenticate challenge, TLS from the web config)."""
from __future__ import annotations

import base64
import binascii
import gzip
import logging
import socket
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .webconfig import WebConfig

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def parse_listen_address(addr: str) -> tuple[str, int]:
    """':9341' -> ('0.0.0.0', 9341); '127.0.0.1:9341'; '[::1]:9341'."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"bad listen address {addr!r}: want host:port or :port")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def accepts_gzip(header: str | None) -> bool:
    """Does an Accept-Encoding header allow gzip? ``gzip``, ``gzip;q=0.5``, ``*`` yes;
    ``gzip;q=0``, ``identity`` or no header no."""
    for item in (header or "").split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = params.strip().lower()
        if q.startswith("q="):
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
        return True
    return False


Parts = Callable[[], "bytes | list[bytes]"]


def _parts(body: bytes | list[bytes]) -> list[bytes]:
    return [body] if isinstance(body, bytes) else body


def select_families(text: bytes, names: frozenset[str]) -> bytes:
    """Only the samples ``name[]`` asks for, as client_python's restricted registry keeps them:
    a sample whose name (``x``, ``x_total``, ``x_bucket``, ...) is asked, under its family's
    HELP and TYPE; a family with none of them is left out."""
    out = []
    for block in text.split(b"# HELP ")[1:]:
        head, _, rest = block.partition(b"\n")
        typ, _, samples = rest.partition(b"\n")
        keep = [ln for ln in samples.splitlines(keepends=True)
                if ln.split(b"{", 1)[0].split(b" ", 1)[0].decode() in names]
        if keep:
            out.append(b"# HELP " + head + b"\n" + typ + b"\n" + b"".join(keep))
    return b"".join(out)


def bake(render: Parts, render_gzip: Parts | None, accept_encoding: str | None,
         query: str) -> tuple[list[bytes], dict[str, str]]:
    """What a scrape gets, in one place for both exporters (client_python's ``_bake_output``):
    ``name[]`` filtering and gzip. ``render_gzip`` is a page's own gzip stream (the Slurm
    exporter compresses its data once per poll); without one the body is compressed here."""
    names = frozenset(urllib.parse.parse_qs(query).get("name[]", []))
    gz = accepts_gzip(accept_encoding)
    headers = {"Content-Type": CONTENT_TYPE, "Vary": "Accept-Encoding"}
    if gz:
        headers["Content-Encoding"] = "gzip"
    if names:
        body = select_families(b"".join(_parts(render())), names)
        return ([gzip.compress(body, 1)] if gz else [body]), headers
    if gz:
        if render_gzip is not None:
            return _parts(render_gzip()), headers
        return [gzip.compress(b"".join(_parts(render())), 1)], headers
    return _parts(render()), headers


def serve_until_interrupted(serve_forever: Callable[[], None], close: Callable[[], None]) -> None:
    """Serve in the foreground until Ctrl-C (or an error), then close: the commands' main loop."""
    try:
        serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops SYNs when several Prometheus servers or a
    # burst of scrapes connect at once, and each dropped SYN costs the client a 1 s retry.
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], handler: type[BaseHTTPRequestHandler], ipv6: bool):
        if ipv6:
            self.address_family = socket.AF_INET6
        super().__init__(addr, handler)


class MetricsServer:
    def __init__(self, listen: str, render: Callable[[], bytes | list[bytes]], *,
                 render_gzip: Callable[[], bytes | list[bytes]] | None = None,
                 telemetry_path: str = "/metrics",
                 web_config: WebConfig | None = None, web_config_dir: Path = Path("."),
                 title: str = "slurmops exporter"):
        self.render = render
        self.render_gzip = render_gzip
        self.telemetry_path = telemetry_path
        self.web = web_config or WebConfig()
        self.title = title
        host, port = parse_listen_address(listen)
        handler = self._handler_class()
        self.httpd = _Server((host, port), handler, ipv6=":" in host)
        ctx = self.web.ssl_context(web_config_dir)
        self.tls = ctx is not None
        if ctx is not None:
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True,
                                                do_handshake_on_connect=False)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 30
            server_version = "slurmops"
            sys_version = ""

            def log_message(self, fmt: str, *args: Any) -> None:  # quiet: Prometheus scrapes every few seconds
                log.debug("%s " + fmt, self.address_string(), *args)

            def _authorized(self) -> bool:
                if not server.web.users:
                    return True
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return False
                try:
                    user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    return False
                return server.web.check(user, password)

            def _send(self, code: int, body: bytes | list[bytes], ctype: str,
                      extra: dict[str, str] | None = None) -> None:
                parts = [body] if isinstance(body, bytes) else body
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(sum(len(p) for p in parts)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    for part in parts:   # cached parts go out as they are, never copied
                        self.wfile.write(part)

            def do_GET(self) -> None:
                if not self._authorized():
                    self._send(401, b"Unauthorized\n", "text/plain; charset=utf-8",
                               {"WWW-Authenticate": 'Basic realm="slurmops"'})
                    return
                path, _, query = self.path.partition("?")
                if path == server.telemetry_path:
                    try:
                        body, headers = bake(server.render, server.render_gzip,
                                             self.headers.get("Accept-Encoding"), query)
                    except Exception as exc:  # never a traceback to the scraper
                        log.exception("render failed")
                        self._send(500, f"render failed: {type(exc).__name__}\n".encode(),
                                   "text/plain; charset=utf-8")
                        return
                    ctype = headers.pop("Content-Type")
                    self._send(200, body, ctype, headers)
                elif path == "/":
                    page = (f"<html><head><title>{server.title}</title></head><body><h1>{server.title}</h1>"
                            f"<p><a href=\"{server.telemetry_path}\">Metrics</a></p></body></html>")
                    self._send(200, page.encode(), "text/html; charset=utf-8")
                else:
                    self._send(404, b"Not Found\n", "text/plain; charset=utf-8")

            do_HEAD = do_GET

        return Handler

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.5)

    def start(self) -> MetricsServer:
        self._thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
