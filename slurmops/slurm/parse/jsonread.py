"""The one way Slurm's JSON is read: bounded in size, depth and memory, one record at a time.

slurmrestd's ``/jobs`` is 155 MB at 50,000 jobs and must never become one document in memory;
a hostile or broken answer must never cost gigabytes, recurse without bound, or pass for a
shorter list. :func:`records` reads a document from a binary file in chunks and hands over the
members of its record list one at a time, each decoded by the C scanner of the standard ``json``
module (``JSONDecoder.raw_decode``):

* **size**: at most ``max_bytes`` (:data:`MAX_DOCUMENT_BYTES`) are read, and one record or other
  top-level member may not exceed :data:`MAX_VALUE_BYTES`; beyond either the document is an error.
* **depth**: the C scanner counts its nesting against the interpreter's recursion limit (about
  1,000 levels), so a document nested 20,000 deep is an error in microseconds with no memory to
  speak of (ijson, used before, built a prefix string per level: 981 MiB for 39 KiB of input).
* **invalid UTF-8** is decoded with ``surrogateescape``; a record that holds such bytes is decoded
  again with them replaced (U+FFFD) and reported, so one job name in Latin-1 costs one counted
  record, not the whole answer.
* **shape**: the top level must be an object holding the record list under its key; a missing,
  null or non-list key is an error, never an empty success; nothing may follow the object.

Errors are ``ValueError`` (:class:`JsonError`) with a short reason; sources turn them into
``SourceError(reason="parse")``. Decoding never raises anything else for any input.
"""
from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

#: Largest answer read (slurmrestd's /jobs at 50,000 jobs is 155 MB).
MAX_DOCUMENT_BYTES = 1 << 30
#: Largest single record or top-level member (a job record is a few KB).
MAX_VALUE_BYTES = 64 << 20
_CHUNK = 4 << 20

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")
_ESCAPED = re.compile("[\udc80-\udcff]")     # what surrogateescape makes of invalid UTF-8 bytes


class JsonError(ValueError):
    """The bytes are not a document we read: invalid, cut, too large, too deep or wrongly shaped."""


def _repaired(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class _Reader:
    """A window of decoded text over a binary file; values are decoded from it one at a time."""

    def __init__(self, f: BinaryIO, max_bytes: int):
        self.f, self.max_bytes = f, max_bytes
        self.decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self.s, self.pos, self.eof, self.read_bytes = "", 0, False, 0
        self.dirty = False        # the window holds invalid UTF-8

    def more(self, want: int = _CHUNK) -> bool:
        if self.eof:
            return False
        data = self.f.read(max(want, _CHUNK))
        self.read_bytes += len(data)
        if self.read_bytes > self.max_bytes:
            raise JsonError(f"answer larger than {self.max_bytes:,} bytes")
        text = self.decoder.decode(data, final=not data)
        self.eof = not data
        if not data.isascii() and _ESCAPED.search(text):
            self.dirty = True
        elif self.pos >= len(self.s):
            self.dirty = False
        self.s, self.pos = self.s[self.pos:] + text, 0
        return True

    def peek(self) -> str:
        """The next non-blank character ("" at the end of the input)."""
        while True:
            self.pos = _WS.match(self.s, self.pos).end()  # type: ignore[union-attr]  # \s* always matches
            if self.pos < len(self.s):
                return self.s[self.pos]
            if not self.more():
                return ""

    def expect(self, chars: str, what: str) -> str:
        c = self.peek()
        if not c:
            raise JsonError(f"not a complete JSON document (it ends after {self.read_bytes:,} "
                            f"bytes, where {what} should follow)")
        if c not in chars:
            raise JsonError(f"expected {what} at character ~{self.read_bytes - len(self.s) + self.pos:,}"
                            f", found {c!r}")
        self.pos += 1
        return c

    def value(self) -> tuple[Any, bool]:
        """The next JSON value, and whether invalid UTF-8 in it was replaced."""
        self.peek()
        while True:
            try:
                obj, end = _DECODER.raw_decode(self.s, self.pos)
                # A value that ends where the window ends may go on in the next chunk (a number).
                if end < len(self.s) or self.eof:
                    break
            except RecursionError:
                raise JsonError("nested deeper than the JSON reader allows (~1,000 levels)") from None
            except ValueError as exc:
                # Cut at the window's end (read on), or wrong where it stands (give up now)?
                if self.eof or (isinstance(exc, json.JSONDecodeError) and exc.pos < len(self.s) - 16
                                and not exc.msg.startswith("Unterminated string")):
                    raise JsonError(f"not a complete JSON document ({str(exc)[:200]})") from None
            if len(self.s) - self.pos > MAX_VALUE_BYTES:
                raise JsonError(f"one value is larger than {MAX_VALUE_BYTES:,} bytes")
            self.more(len(self.s) - self.pos)       # grow the window geometrically
        start, self.pos = self.pos, end
        if end - start > MAX_VALUE_BYTES:
            raise JsonError(f"one value is larger than {MAX_VALUE_BYTES:,} bytes")
        if self.dirty and _ESCAPED.search(self.s, start, end):
            try:
                return json.loads(_repaired(self.s[start:end])), True
            except RecursionError:
                raise JsonError("nested deeper than the JSON reader allows (~1,000 levels)") from None
        return obj, False


def records(f: BinaryIO, key: str, outer: dict[str, Any] | None = None,
            notes: list[str] | None = None,
            max_bytes: int = MAX_DOCUMENT_BYTES) -> Iterator[tuple[Any, bool]]:
    """Yield ``(record, repaired)`` for each member of the list ``doc[key]`` of the JSON object in
    ``f``, read from its start; ``outer`` receives the object's other members (meta, errors,
    warnings, last_update, ...), and ``notes`` a line for each of those whose invalid UTF-8 was
    replaced. Raises :class:`JsonError` as described in the module docstring
    (a missing, null or non-list ``key`` included) once the input shows it."""
    f.seek(0)
    r = _Reader(f, max_bytes)
    outer = {} if outer is None else outer
    found = False
    r.expect("{", "a JSON object")
    if r.peek() == "}":
        r.pos += 1
    else:
        while True:
            name, _ = r.value()
            if not isinstance(name, str):
                raise JsonError("expected a member name")
            r.expect(":", "':'")
            if name == key:
                if r.peek() != "[":
                    value, _ = r.value()
                    raise JsonError(f"{key}: expected a list, got {_kind(value)}")
                r.pos += 1
                found = True
                if r.peek() == "]":
                    r.pos += 1
                else:
                    while True:
                        yield r.value()
                        if r.expect(",]", "',' or ']'") == "]":
                            break
            else:
                outer[name], repaired = r.value()
                if repaired and notes is not None:
                    notes.append(f"{name}: invalid UTF-8 replaced")
            if r.expect(",}", "',' or '}'") == "}":
                break
    if r.peek():
        raise JsonError("data after the JSON document")
    if not found:
        raise JsonError(f"{key}: missing")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def load(data: bytes, max_bytes: int = MAX_DOCUMENT_BYTES) -> tuple[Any, bool]:
    """A whole (small) document: ``(value, invalid UTF-8 was replaced)``. Same limits and errors
    as :func:`records`, for answers that hold no long record list (diag, ping, shares, openapi)."""
    if len(data) > max_bytes:
        raise JsonError(f"answer larger than {max_bytes:,} bytes")
    text = data.decode("utf-8", "surrogateescape")
    repaired = not data.isascii() and _ESCAPED.search(text) is not None
    if repaired:
        text = _repaired(text)
    try:
        return json.loads(text), repaired
    except RecursionError:
        raise JsonError("nested deeper than the JSON reader allows (~1,000 levels)") from None
    except ValueError as exc:
        raise JsonError(f"not a JSON document ({str(exc)[:200]})") from None
