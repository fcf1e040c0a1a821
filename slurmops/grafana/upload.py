"""Post generated dashboards to Grafana's HTTP API (`POST /api/dashboards/db`)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass


class UploadError(Exception):
    pass


@dataclass(frozen=True)
class Result:
    uid: str
    status: str
    url: str
    version: int | None


def payload(model: dict, folder_uid: str | None, overwrite: bool, message: str) -> dict:
    dash = dict(model)
    dash["id"] = None          # Grafana matches by uid; a numeric id from elsewhere would clash
    body = {"dashboard": dash, "overwrite": overwrite, "message": message}
    if folder_uid:
        body["folderUid"] = folder_uid
    return body


def upload(url: str, token: str, model: dict, *, folder_uid: str | None = None,
           overwrite: bool = False, message: str = "slurmops dashboards upload",
           timeout: float = 30.0) -> Result:
    body = json.dumps(payload(model, folder_uid, overwrite, message)).encode()
    req = urllib.request.Request(
        url.rstrip("/") + "/api/dashboards/db", data=body, method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json",
                 "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            doc = json.load(r)
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")[:300]
        try:
            detail = json.loads(detail).get("message", detail)
        except ValueError:
            pass
        raise UploadError(f"{model.get('uid')}: HTTP {e.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as e:
        raise UploadError(f"cannot reach Grafana at {url}: {e}") from None
    return Result(doc.get("uid", model.get("uid")), doc.get("status", ""), doc.get("url", ""),
                  doc.get("version"))
