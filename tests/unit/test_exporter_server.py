"""The shared endpoint, with a real HTTPS client and real bcrypt hashes."""
from __future__ import annotations

import base64
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest

from slurmops.exporter import webconfig
from slurmops.exporter.server import MetricsServer, parse_listen_address

BODY = b"# HELP x_up Test.\n# TYPE x_up gauge\nx_up 1.0\n"


def get(url, auth=None, ctx=None):
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(d / "tls.key"), "-out", str(d / "tls.crt")],
                   check=True, capture_output=True)
    return d


def write_config(d: Path, tls: bool, users: dict[str, str]) -> Path:
    lines = []
    if tls:
        lines += ["tls_server_config:", "  cert_file: tls.crt", "  key_file: tls.key"]
    if users:
        lines.append("basic_auth_users:")
        for u, pw in users.items():
            lines.append(f"  {u}: {bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}")
    p = d / "web.yml"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_plain_http_serves_metrics_and_landing_page():
    srv = MetricsServer("127.0.0.1:0", lambda: BODY).start()
    try:
        status, body, headers = get(f"http://127.0.0.1:{srv.port}/metrics")
        assert status == 200 and body == BODY
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
        status, body, _ = get(f"http://127.0.0.1:{srv.port}/")
        assert status == 200 and b'href="/metrics"' in body
        assert get(f"http://127.0.0.1:{srv.port}/nope")[0] == 404
    finally:
        srv.stop()


def test_tls_and_basic_auth_with_a_real_https_client(tls_files):
    cfg_path = write_config(tls_files, True, {"prometheus": "s3cret pass:word"})
    web = webconfig.load(cfg_path)
    srv = MetricsServer("127.0.0.1:0", lambda: BODY, web_config=web,
                        web_config_dir=cfg_path.parent, telemetry_path="/m").start()
    ctx = ssl.create_default_context(cafile=str(tls_files / "tls.crt"))
    url = f"https://127.0.0.1:{srv.port}/m"
    try:
        status, body, _ = get(url, ("prometheus", "s3cret pass:word"), ctx)
        assert status == 200 and body == BODY
        status, _, headers = get(url, ("prometheus", "wrong"), ctx)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
        assert get(url, ("nobody", "s3cret pass:word"), ctx)[0] == 401
        assert get(url, None, ctx)[0] == 401
        # curl, a second real client, agrees; plain HTTP to the TLS port gets no metrics.
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                            str(tls_files / "tls.crt"), "-u", "prometheus:wrong", url],
                           capture_output=True, text=True, timeout=10)
        assert r.stdout == "401"
        r = subprocess.run(["curl", "-s", "--cacert", str(tls_files / "tls.crt"), "-u",
                            "prometheus:s3cret pass:word", url], capture_output=True, timeout=10)
        assert r.stdout == BODY
        r = subprocess.run(["curl", "-s", "-m", "3", f"http://127.0.0.1:{srv.port}/m"],
                           capture_output=True, timeout=10)
        assert BODY not in r.stdout
    finally:
        srv.stop()


@pytest.mark.parametrize("text,msg", [
    ("tls_server_config:\n  cert_file: a\n", "needs cert_file and key_file"),
    ("basic_auth_users:\n  bob: plaintext\n", "bcrypt"),
    ("tls_server_confg: {}\n", "unknown keys"),
    ("[1, 2", "cannot read"),
])
def test_bad_web_config_is_a_clear_error(tmp_path, text, msg):
    p = tmp_path / "web.yml"
    p.write_text(text)
    with pytest.raises(webconfig.WebConfigError, match=msg):
        webconfig.load(p)


def test_missing_cert_is_a_clear_error(tmp_path):
    p = write_config(tmp_path, True, {})
    with pytest.raises(webconfig.WebConfigError, match="cannot load TLS certificate"):
        webconfig.load(p).ssl_context(tmp_path)


def test_listen_address_forms():
    assert parse_listen_address(":9341") == ("0.0.0.0", 9341)
    assert parse_listen_address("127.0.0.1:80") == ("127.0.0.1", 80)
    assert parse_listen_address("[::1]:9341") == ("::1", 9341)
    with pytest.raises(ValueError):
        parse_listen_address("localhost")


def test_render_failure_is_a_500_not_a_traceback():
    def boom():
        raise RuntimeError("no")
    srv = MetricsServer("127.0.0.1:0", boom).start()
    try:
        status, body, _ = get(f"http://127.0.0.1:{srv.port}/metrics")
        assert status == 500 and b"Traceback" not in body
    finally:
        srv.stop()


def test_shipped_examples_load():
    from slurmops.exporter.slurm_exporter import ClusterConfig, load_clusters
    ex = Path(__file__).resolve().parents[2] / "exporters"
    web = webconfig.load(ex / "slurm-exporter.web-config.example.yml")
    assert web.check("prometheus", "example-only-change-me") and not web.check("prometheus", "x")
    clusters = load_clusters(ex / "slurm-exporter.example.yml", ClusterConfig())
    assert [(c.name, c.source) for c in clusters] == [("hpc", "cli"), ("cloud", "rest")]
    assert clusters[1].rest_token_file == "/etc/slurmops/cloud.jwt"
    assert "fairshare" not in clusters[1].collectors and clusters[0].env["SLURM_CONF"] == "/etc/slurm/slurm.conf"


def test_name_filter_keeps_what_client_pythons_restricted_registry_keeps():
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
    from prometheus_client.exposition import generate_latest

    from slurmops.exporter.render import render
    from slurmops.exporter.server import select_families

    g = GaugeMetricFamily("slurm_a", "A.", labels=["x"])
    g.add_metric(["1"], 1)
    c = CounterMetricFamily("slurm_b", "B.", labels=["x"])
    c.add_metric(["1"], 2)
    h = HistogramMetricFamily("slurm_c_seconds", "C.", labels=["x"])
    h.add_metric(["1"], [("1.0", 1), ("+Inf", 2)], 3.0)

    class Fixed:
        def collect(self):
            return [g, c, h]
    reg = CollectorRegistry(auto_describe=True)    # it learns each collector's names by collecting
    reg.register(Fixed())
    text = render([g, c, h])
    for names in ({"slurm_a"}, {"slurm_b_total"}, {"slurm_c_seconds_bucket", "slurm_a"}, {"nothing"}):
        assert select_families(text, frozenset(names)) == generate_latest(reg.restricted_registry(names)), names


def test_both_exporters_answer_gzip_and_name_filter_through_one_path():
    import gzip
    import urllib.request

    body = b"# HELP x X.\n# TYPE x gauge\nx 1.0\n# HELP y Y.\n# TYPE y gauge\ny 2.0\n"
    srv = MetricsServer("127.0.0.1:0", lambda: body).start()     # no gzip stream of its own
    try:
        url = f"http://127.0.0.1:{srv.port}/metrics"
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})) as r:
            assert r.headers["Content-Encoding"] == "gzip" and gzip.decompress(r.read()) == body
        with urllib.request.urlopen(url + "?name[]=y") as r:
            assert r.headers.get("Content-Encoding") is None and r.read() == b"# HELP y Y.\n# TYPE y gauge\ny 2.0\n"
    finally:
        srv.stop()
