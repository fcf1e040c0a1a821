"""The bounded JSON reader against the standard library's json.loads (the independent truth):
every recorded and schema-derived answer read in chunks as small as 1 byte gives the same records
and top-level members, whatever falls on a chunk boundary (a number, a multi-byte character, an
escape)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from slurmops.slurm.parse import jsonread

FIX = Path(__file__).resolve().parents[2] / "fixtures"
DOCS = sorted(p for p in FIX.glob("slurm-*/rest/slurm-v*.json")
              if any(k in p.name for k in ("nodes", "jobs", "partitions", "licenses", "reservations")))


def key_of(path: Path) -> str:
    return next(k for k in ("nodes", "jobs", "partitions", "licenses", "reservations") if k in path.name)


@pytest.mark.parametrize("chunk", [1, 7, 4096])
@pytest.mark.parametrize("path", DOCS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_records_equal_json_loads_at_any_chunk_size(path, chunk, monkeypatch):
    monkeypatch.setattr(jsonread, "_CHUNK", chunk)
    data = path.read_bytes()
    # Multi-byte characters and escapes in the data too, so boundaries fall inside them.
    doc = json.loads(data)
    doc.setdefault("warnings", []).append({"description": "größere Prüfung 🚧 \\ \" \u00e9"})
    data = json.dumps(doc, ensure_ascii=False, indent=1).encode()
    key = key_of(path)
    outer: dict = {}
    got = [rec for rec, repaired in jsonread.records(io.BytesIO(data), key, outer)]
    assert got == doc[key]
    assert outer == {k: v for k, v in doc.items() if k != key}


def test_invalid_utf8_is_replaced_in_its_record_only(monkeypatch):
    monkeypatch.setattr(jsonread, "_CHUNK", 5)
    body = b'{"jobs": [{"n": "ok \xc3\xa9"}, {"n": "bad \xe9 \xff"}, {"n": "ok"}], "meta": {"x": "\xfe"}}'
    notes: list[str] = []
    got = list(jsonread.records(io.BytesIO(body), "jobs", {}, notes))
    assert got == [({"n": "ok \u00e9"}, False), ({"n": "bad \ufffd \ufffd"}, True), ({"n": "ok"}, False)]
    assert notes == ["meta: invalid UTF-8 replaced"]


@pytest.mark.parametrize("body,message", [
    (b'{"jobs": [1, 2', "not a complete JSON document"),
    (b'{"jobs": [1, 2]', "not a complete JSON document"),
    (b'{"jobs": [1 2]}', "expected ',' or ']'"),
    (b'{"jobs": []} {}', "data after the JSON document"),
    (b'{"jobs": [{"a": tru}]}', "not a complete JSON document"),
    (b"", "not a complete JSON document"),
])
def test_cut_and_broken_documents_are_errors(body, message):
    with pytest.raises(jsonread.JsonError, match=message):
        list(jsonread.records(io.BytesIO(body), "jobs"))


def test_size_limits(monkeypatch):
    body = b'{"jobs": [' + b",".join([b'{"a": 1}'] * 1000) + b"]}"
    with pytest.raises(jsonread.JsonError, match="larger than"):
        list(jsonread.records(io.BytesIO(body), "jobs", max_bytes=1000))
    monkeypatch.setattr(jsonread, "MAX_VALUE_BYTES", 100)
    monkeypatch.setattr(jsonread, "_CHUNK", 16)
    with pytest.raises(jsonread.JsonError, match="one value is larger"):
        list(jsonread.records(io.BytesIO(b'{"jobs": ["' + b"x" * 1000 + b'"]}'), "jobs"))
