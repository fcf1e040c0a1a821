"""Starting and stopping the lab's daemons, and finding every process that belongs to a lab.

A process belongs to a lab when its environment carries ``SLURMOPS_LAB_DIR=<dir>``: the lab sets
it on every daemon it starts and children inherit it (slurmstepd, a slurmd started by the
ResumeProgram), so `down` can stop exactly the lab's processes and never a real Slurm's.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from .config import MARKER_ENV


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def process_marker(pid: int) -> str | None:
    """The lab dir a process belongs to, or None (also when it is gone or unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    key = MARKER_ENV.encode() + b"="
    for item in raw.split(b"\0"):
        if item.startswith(key):
            return item[len(key):].decode(errors="replace")
    return None


def _state(stat_path: Path) -> str:
    """The state letter of a /proc .../stat file (proc(5) field 3); "X" when it is gone."""
    try:
        return stat_path.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"


def is_zombie(pid: int) -> bool:
    """Gone, or a zombie with no thread left. A thread-group leader whose main thread has exited
    shows "Z" while its other threads still run and hold its sockets (seen with slurmrestd 24.11
    on SIGTERM: a restart that trusted the leader's "Z" failed to bind the port, "Address already
    in use"), so every thread in /proc/PID/task must be dead too (proc(5))."""
    if _state(Path(f"/proc/{pid}/stat")) not in ("Z", "X"):
        return False
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return True
    return all(_state(t / "stat") in ("Z", "X") for t in tasks)


def owned_pid(pidfile: Path, lab_dir: Path) -> int | None:
    """The pid in pidfile if that process is alive and belongs to this lab (guards pid reuse)."""
    pid = read_pid(pidfile)
    if pid is None or is_zombie(pid):
        return None
    return pid if process_marker(pid) == str(lab_dir) else None


def lab_processes(lab_dir: Path) -> list[int]:
    """Every live process that carries this lab's marker."""
    me = os.getpid()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid != me and process_marker(pid) == str(lab_dir) and not is_zombie(pid):
            out.append(pid)
    return sorted(out)


def lab_env(lab_dir: Path, slurm_conf: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/root"),
        "SLURM_CONF": str(slurm_conf),
        MARKER_ENV: str(lab_dir),
    }
    if extra:
        env.update(extra)
    return env


def _clear_signal_state() -> None:
    # Daemons started from a process that blocks signals (slurmctld running the ResumeProgram)
    # would inherit the mask and ignore SIGTERM; start every daemon with a clean slate.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)


def spawn(argv: Sequence[str], *, env: dict[str, str], log: Path, pidfile: Path,
          cwd: Path | None = None) -> int:
    """Start a foreground daemon detached from us; its stdout/stderr append to log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=env, cwd=str(cwd) if cwd else None, start_new_session=True,
            preexec_fn=_clear_signal_state, close_fds=True,
        )
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not is_zombie(pid)


def terminate(pids: Iterable[int], timeout: float = 15.0, sig: int = signal.SIGTERM) -> list[int]:
    """SIGTERM, wait, then SIGKILL what is left. Returns pids that were still alive at the end."""
    pids = [p for p in pids if alive(p)]
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if alive(p)]
    for p in left:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(p) for p in left):
        time.sleep(0.1)
    return [p for p in left if alive(p)]


def run(argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 60,
        input: str | None = None) -> subprocess.CompletedProcess:
    """Run a short command, argument list only; never raises on non-zero exit or timeout."""
    try:
        return subprocess.run(list(argv), env=env, capture_output=True, text=True,
                              timeout=timeout, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(list(argv), 124, exc.stdout or "",
                                           f"timed out after {timeout}s")
    except FileNotFoundError as exc:
        return subprocess.CompletedProcess(list(argv), 127, "", str(exc))


def ephemeral_ports(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> tuple[int, int] | None:
    """The kernel's range for outgoing connections' local ports, or None where it cannot be read.
    A lab port inside it can be taken at random by any client socket before the lab binds it."""
    try:
        low, high = (int(x) for x in open(path, encoding="ascii").read().split())
    except (OSError, ValueError):
        return None
    return low, high


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    # slurmctld/slurmd bind 0.0.0.0: a listener there also blocks us.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False
