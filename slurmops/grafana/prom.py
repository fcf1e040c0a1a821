"""A small Prometheus HTTP API client (stdlib only) and Grafana variable resolution against it."""
from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from . import model as m


class PromError(Exception):
    pass


@dataclass
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]   # (unix seconds, value)


class Prometheus:
    def __init__(self, url: str, timeout: float = 15.0):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: list[tuple[str, str]]) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as r:
                doc = json.load(r)
        except urllib.error.HTTPError as e:
            try:
                doc = json.load(e)
            except ValueError:
                raise PromError(f"{path}: HTTP {e.code}") from None
        except (urllib.error.URLError, OSError) as e:
            raise PromError(f"cannot reach Prometheus at {self.url}: {e}") from None
        if doc.get("status") != "success":
            raise PromError(f"{doc.get('errorType', 'error')}: {doc.get('error', doc)}")
        return doc["data"]

    def query(self, expr: str, at: float | None = None) -> list[Series]:
        params = [("query", expr)] + ([("time", f"{at:.3f}")] if at else [])
        data = self._get("/api/v1/query", params)
        if data["resultType"] == "scalar":
            return [Series({}, [(float(data["result"][0]), float(data["result"][1]))])]
        return [Series(r["metric"], [(float(r["value"][0]), float(r["value"][1]))])
                for r in data["result"]]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        data = self._get("/api/v1/query_range", [("query", expr), ("start", f"{start:.3f}"),
                                                  ("end", f"{end:.3f}"), ("step", f"{step:g}")])
        return [Series(r["metric"], [(float(t), float(v)) for t, v in r["values"]])
                for r in data["result"]]

    def label_values(self, label: str, match: str | None, start: float | None = None) -> list[str]:
        params = [("match[]", match)] if match else []
        if start:
            params.append(("start", f"{start:.3f}"))
        return list(self._get(f"/api/v1/label/{urllib.parse.quote(label)}/values", params))


def apply_regex(values: list[str], regex: str | None) -> list[str]:
    """Grafana's variable regex: `/re/` keeps matching values, or the first capture group."""
    if not regex:
        return values
    pattern = re.compile(regex[1:-1] if regex.startswith("/") and regex.endswith("/") else regex)
    out: list[str] = []
    for v in values:
        mt = pattern.search(v)
        if mt:
            got = mt.group(1) if mt.groups() else v
            if got not in out:
                out.append(got)
    return out


def variable_values(prom: Prometheus, var: dict, resolved: dict[str, str]) -> list[str]:
    sel, label = m.parse_label_values(var["query"])
    if sel:
        sel = m.substitute(sel, resolved)
    values = prom.label_values(label, sel, start=time.time() - 3600)
    return sorted(apply_regex(values, var.get("regex")))


def resolve(prom: Prometheus, model: dict, prefer: dict[str, str] | None = None,
            all_by_default: bool = True) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Concrete values for every variable, in order (later queries use earlier values).

    A preferred value is used when the variable's query offers it; otherwise an include-all
    variable becomes `.*` (Grafana's All with allValue) when `all_by_default`, else its first value.
    Returns the values and, per variable, what its query offered."""
    prefer = prefer or {}
    values: dict[str, str] = {}
    offered: dict[str, list[str]] = {}
    for var in m.variables(model):
        name = var["name"]
        if var.get("type") == "datasource":
            values[name] = prefer.get(name, "prometheus")
            continue
        opts = variable_values(prom, var, values)
        offered[name] = opts
        if name in prefer and (prefer[name] in opts or prefer[name] == ".*"):
            values[name] = prefer[name]
        elif var.get("includeAll") and (all_by_default or not opts):
            values[name] = var.get("allValue") or ".*"
        elif opts:
            values[name] = opts[0]
        else:
            values[name] = prefer.get(name, "")
    return values, offered
