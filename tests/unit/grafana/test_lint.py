"""Every generated dashboard: valid JSON, unique uids and panel ids, modern panel types only, a
datasource, unit and query on every panel, valid variables, PromQL that parses; the build is
deterministic and the committed JSON is what the sources give; upload speaks Grafana's API."""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from slurmops.grafana import generate, lint, model as m
from slurmops.grafana.cli import dashboards
from slurmops.grafana.upload import UploadError, upload

REPO = Path(__file__).resolve().parents[3]
EXPECTED = {"overview", "scheduler", "partitions", "nodes", "jobs", "gpus", "fairshare",
            "reservations", "platform", "job"}


@pytest.fixture(scope="module")
def built() -> list[generate.Built]:
    return generate.build_all()


@pytest.fixture(scope="module")
def models(built) -> dict[str, dict]:
    return {b.name: json.loads(b.text) for b in built}


def test_every_dashboard_is_there_and_valid_json(built):
    assert {b.name for b in built} == EXPECTED
    paths = sorted(generate.BUILD_DIR.glob("*.json"))
    assert [p.stem for p in paths] == sorted(EXPECTED)
    for path in paths:
        json.loads(path.read_text())  # raises on invalid JSON


def test_committed_json_is_what_the_sources_give(built):
    assert generate.differences(built) == [], "run `slurmops dashboards build`"


def test_build_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    generate.write(generate.build_all(), a)
    generate.write(generate.build_all(), b)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) == sorted(f"{n}.json" for n in EXPECTED)
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
        assert (a / name).read_bytes() == (generate.BUILD_DIR / name).read_bytes(), name


def test_build_command_regenerates_into_a_dir_with_no_diff(tmp_path):
    r = CliRunner().invoke(dashboards, ["build", "--out-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    paths = sorted(generate.BUILD_DIR.glob("*.json"))
    assert len(paths) == len(EXPECTED)
    for path in paths:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes()
    (tmp_path / "overview.json").write_text("{}\n")
    (tmp_path / "stale.json").write_text("{}\n")
    r = CliRunner().invoke(dashboards, ["check", "--out-dir", str(tmp_path), "--no-promtool"])
    assert r.exit_code != 0
    assert "overview.json: differs" in r.output and "stale.json: no source" in r.output


def test_lint_is_clean(models):
    assert lint.lint(models) == []


def test_uids_unique_and_stable(models):
    uids = [d["uid"] for d in models.values()]
    assert len(set(uids)) == len(uids)
    assert {name: d["uid"] for name, d in models.items()} == {n: f"slurmops-{n}" for n in EXPECTED}


def test_panel_ids_unique_within_each_dashboard(models):
    for name, d in models.items():
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), name


def test_schema_version_recent_and_explicit(models):
    for d in models.values():
        assert d["schemaVersion"] >= 36


def test_no_deprecated_panel_types(models):
    for name, d in models.items():
        for p in m.panels(d):
            assert p["type"] in lint.MODERN_TYPES, (name, p["title"], p["type"])
            assert p["type"] not in ("graph", "singlestat")


def test_every_panel_has_datasource_unit_and_a_target(models):
    for name, d in models.items():
        for p in m.panels(d):
            where = f"{name}: {p['title']}"
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
            assert m.unit(p), where
            assert p["targets"], where
            for t in p["targets"]:
                assert t["expr"].strip() and t["datasource"] == p["datasource"], where


def test_variables(models):
    for name, d in models.items():
        vs = m.variables(d)
        assert vs[0]["type"] == "datasource" and vs[0]["query"] == "prometheus", name
        assert "cluster" in [v["name"] for v in vs], name
        defined = set()
        for v in vs:
            if v["type"] == "query":
                sel, label = m.parse_label_values(v["query"])
                assert label and sel is not None, (name, v["name"])
                assert m.referenced_vars(sel) <= defined, (name, v["name"])
            defined.add(v["name"])
    for name in ("partitions", "nodes", "jobs", "gpus"):
        assert "partition" in [v["name"] for v in m.variables(models[name])], name


def test_every_expression_and_variable_parses_with_promtool(models, promtool_bin):
    assert lint.promtool_check(models, promtool_bin) == []


def _alert_runbooks() -> dict[str, str]:
    """alert name -> the runbook its runbook_url names, from the rule files themselves."""
    import yaml
    out = {}
    for path in sorted((REPO / "alerts").glob("*.rules.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    out[rule["alert"]] = rule["annotations"]["runbook_url"].rsplit("/", 1)[-1][:-3]
    return out


def test_a_panel_that_shows_an_alerts_condition_links_that_alerts_runbook(models):
    """A panel whose description names the alert it counts ("... (SlurmNodeDown)") sends the
    on-call engineer to the same runbook as the alert does (the one that works in that condition),
    and the overview's health row says which alert each stat counts."""
    alerts = _alert_runbooks()
    checked = 0
    for d in models.values():
        for p in m.panels(d):
            named = [a for a in re.findall(r"\((\w+)\)", p.get("description", "")) if a in alerts]
            links = [ln["url"].rsplit("/", 1)[-1][:-3] for ln in p.get("links", [])
                     if ln["title"].startswith("Runbook: ")]
            if named and links:
                assert links == [alerts[named[0]]], (d["title"], p["title"], named, links)
                checked += 1
    assert checked >= 5


def test_runbook_and_drilldown_links(models):
    runbooks = {link["url"].rsplit("/", 1)[-1][:-3]
                for d in models.values() for p in m.panels(d) for link in p.get("links", [])
                if link["title"].startswith("Runbook: ")}
    assert {"cluster-health", "slurmctld-down", "slurmdbd-down", "dbd-agent-queue", "node-not-responding",
            "node-drain"} <= runbooks
    docs = REPO / "runbooks" / "docs"
    if docs.is_dir():
        missing = sorted(r for r in runbooks if not (docs / f"{r}.md").exists())
        assert not missing, f"runbooks linked from dashboards without a doc: {missing}"
    # cluster -> partition -> node -> job
    urls = {name: json.dumps(d) for name, d in models.items()}
    assert "/d/slurmops-partitions/" in urls["overview"]
    assert "/d/slurmops-nodes/" in urls["partitions"]
    assert "/d/slurmops-jobs/" in urls["nodes"]
    uids = {d["uid"] for d in models.values()}
    for name, text in urls.items():
        for uid in re.findall(r"/d/([\w-]+)/", text):
            assert uid in uids, (name, uid)


def test_lint_catches_bad_dashboards(models):
    d = json.loads(json.dumps(models["overview"]))
    p = m.panels(d)[0]
    p["type"] = "graph"
    p["fieldConfig"]["defaults"]["unit"] = ""
    p["datasource"] = "Prometheus"
    p["targets"][0]["expr"] = "up{x=~\"$nosuchvar\"}"
    d["panels"][2]["id"] = d["panels"][1]["id"]
    d["templating"]["list"][1]["query"] = "up"
    got = "\n".join(lint.lint({"a": d, "b": models["overview"]}))
    for needle in ("'graph' is not one of", "no unit", "not the $datasource variable",
                   "unknown variables ['nosuchvar']", "not unique", "not label_values",
                   "also used by a"):
        assert needle in got, needle


def test_substitute():
    assert m.substitute('label_replace(x{a=~"$cluster"}, "n", "$1", "i", "(.*)")[$__rate_interval]',
                        {"cluster": "lab"}) == \
        'label_replace(x{a=~"lab"}, "n", "$1", "i", "(.*)")[1m]'
    assert m.substitute("${node:regex} [[user]]", {"node": "n1", "user": "u"}) == "n1 u"
    with pytest.raises(KeyError):
        m.substitute("$nope", {})


# ---- upload against a local stand-in for Grafana's API ------------------------------------------

class _Grafana(BaseHTTPRequestHandler):
    requests: list[dict] = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                    "ctype": self.headers.get("Content-Type"), "body": body})
        ok = (self.path == "/api/dashboards/db"
              and self.headers.get("Authorization") == "Bearer s3cret"
              and isinstance(body.get("dashboard"), dict) and body["dashboard"].get("uid")
              and body["dashboard"].get("id") is None and isinstance(body.get("overwrite"), bool))
        if not ok:
            self._reply(400, {"message": "bad request"})
        elif type(self).status != 200:
            self._reply(type(self).status, {"message": "The dashboard has been changed by someone else",
                                            "status": "version-mismatch"})
        else:
            uid = body["dashboard"]["uid"]
            self._reply(200, {"id": 1, "uid": uid, "url": f"/d/{uid}/x", "status": "success",
                              "version": 1, "slug": "x"})

    def _reply(self, code, doc):
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def grafana():
    _Grafana.requests = []
    _Grafana.status = 200
    srv = HTTPServer(("127.0.0.1", 0), _Grafana)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", _Grafana
    srv.shutdown()
    srv.server_close()


def test_upload_posts_each_dashboard(grafana, models):
    url, handler = grafana
    r = upload(url, "s3cret", models["overview"], folder_uid="hpc", overwrite=True)
    assert (r.uid, r.status, r.version) == ("slurmops-overview", "success", 1)
    req = handler.requests[-1]
    assert req["auth"] == "Bearer s3cret" and req["ctype"] == "application/json"
    assert req["body"]["folderUid"] == "hpc" and req["body"]["overwrite"] is True
    assert req["body"]["dashboard"]["panels"] == models["overview"]["panels"]
    upload(url, "s3cret", models["nodes"])
    assert "folderUid" not in handler.requests[-1]["body"]
    assert handler.requests[-1]["body"]["overwrite"] is False


def test_upload_reports_grafana_errors(grafana, models):
    url, handler = grafana
    with pytest.raises(UploadError, match="HTTP 400"):
        upload(url, "wrong", models["overview"])
    handler.status = 412
    with pytest.raises(UploadError, match="412.*changed by someone else"):
        upload(url, "s3cret", models["overview"])


def test_upload_command(grafana, tmp_path):
    url, handler = grafana
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    r = CliRunner().invoke(dashboards, ["upload", "--grafana-url", url, "--token-file", str(token),
                                        "--folder-uid", "hpc", "--overwrite"])
    assert r.exit_code == 0, r.output
    assert sorted(q["body"]["dashboard"]["uid"] for q in handler.requests) == \
        sorted(f"slurmops-{n}" for n in EXPECTED)
    assert all(q["body"]["folderUid"] == "hpc" and q["body"]["overwrite"] for q in handler.requests)
    r = CliRunner(env={"GRAFANA_TOKEN": ""}).invoke(dashboards, ["upload", "--grafana-url", url])
    assert r.exit_code != 0 and "no token" in r.output
