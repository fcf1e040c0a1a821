"""proc.is_zombie against the kernel: a process whose main thread exited while another thread
runs (and holds its sockets) is not gone yet, although /proc/PID/stat says "Z"."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from slurmops.lab import proc

# The main thread ends with the exit(2) system call (not exit_group): the thread group lives on
# in the other thread, which holds a listening socket, until it returns.
LEADER_EXITS = """
import ctypes, socket, sys, threading, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True)
threading.Thread(target=time.sleep, args=(float(sys.argv[1]),)).start()
ctypes.CDLL(None).syscall(60, 0)
"""


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_leader_zombie_with_a_live_thread_is_alive():
    p = subprocess.Popen([sys.executable, "-c", LEADER_EXITS, "2"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(p.stdout.readline())
        deadline = time.monotonic() + 5
        while _state(p.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _state(p.pid) == "Z"                  # the kernel's view of the leader
        assert proc.port_in_use(port)                 # ... while its thread still holds the socket
        assert not proc.is_zombie(p.pid) and proc.alive(p.pid)
    finally:
        p.wait(timeout=10)
    assert proc.is_zombie(p.pid)                       # reaped: gone


def test_plain_zombie_and_missing_pid():
    p = subprocess.Popen(["true"])
    deadline = time.monotonic() + 5
    while _state(p.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.is_zombie(p.pid) and not proc.alive(p.pid)
    p.wait()
    assert not proc.is_zombie(os.getpid())
