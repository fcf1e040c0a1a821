"""The audit trail and the run lock.

Audit: one JSON object per line, appended with O_APPEND and fsync'd before the engine moves on, so
after a kill -9 (or a power cut) every record the engine got past is on disk and whole; `resume`
rebuilds a run from it. A torn last line (the kill landed inside write) is skipped, never fatal.

Lock: one run at a time per runbook and target, with flock(2) on a lock file. The kernel drops the
lock when the holder dies, so a killed run never leaves a stale lock behind.
"""
from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def who() -> dict[str, Any]:
    """Who ran it: the login behind sudo when there is one, as well as the effective user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return {"user": user, "sudo_user": os.environ.get("SUDO_USER"), "uid": os.getuid(),
            "host": socket.gethostname(), "pid": os.getpid()}


def digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode(errors="surrogateescape"))
    return h.hexdigest()


class AuditLog:
    def __init__(self, path: Path, run_id: str):
        self.path = path
        self.run_id = run_id
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        new = not path.exists()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if new:   # make the new file's directory entry durable too
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        self._seq = sum(1 for _ in read_records(path)) if not new else 0
        self._lock = threading.Lock()

    def write(self, event: str, **data: Any) -> dict:
        with self._lock:    # a parallel fleet phase writes from several threads: one line, one seq each
            self._seq += 1
            rec = {"ts": now_iso(), "run_id": self.run_id, "seq": self._seq, "event": event, **data}
            line = (json.dumps(rec, sort_keys=False, default=str) + "\n").encode()
            os.write(self._fd, line)
            os.fsync(self._fd)
        return rec

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_records(path: Path) -> Iterator[dict]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except ValueError:
            continue   # a line torn by kill -9 mid-write: everything before it is intact


class LockBusy(Exception):
    pass


@dataclass
class RunLock:
    path: Path
    fd: int = -1

    def acquire(self, run_id: str) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
            os.close(fd)
            raise LockBusy(f"another run holds {self.path} ({holder or 'unknown holder'})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid={os.getpid()} run={run_id} since={now_iso()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def new_run_id(runbook: str) -> str:
    return f"{runbook}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.urandom(2).hex()}"
