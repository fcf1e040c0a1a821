"""Slurm job cgroups: where they are (discovery) and what their kernel files say (readers).

Layouts handled, all found by walking a few directory levels under ``--cgroup.root``:

* cgroup v1, one directory per controller: ``<ctl>/slurm/uid_<u>/job_<id>/step_<s>/task_<n>``.
  With multiple-slurmd (Debian's 22.05.8, the lab) the prefix is ``slurm_<nodename>`` instead of
  ``slurm``; cpuset and freezer stop at ``step_<s>``. Controllers may be co-mounted
  (``cpu,cpuacct``), so a controller is found by splitting directory names on commas.
* cgroup v2 (unified): ``system.slice/slurmstepd.scope/job_<id>/step_<s>/{slurm,user/task_<n>}``,
  or ``<nodename>_slurmstepd.scope`` with multiple-slurmd.
* Slurm 26.05 SLUIDs: a job directory may be named by the job's SLUID (``s`` + 13 Crockford
  base32 characters, e.g. ``sBR1JB8J1YM400``), bare or as ``job_<sluid>``. A SLUID does not contain
  the numeric job id, so discovery keeps the SLUID and the collector resolves the job id from
  ``SLURM_JOB_ID`` in the environment of one of the job's own processes (a file read, no Slurm
  call, works while slurmctld is down); when that fails the SLUID itself is the ``jobid`` label,
  so the series still exists and is unique.

Parsing is pure (text -> dataclass, tested with fixture files); ``read_job`` is the only I/O. A file
that is absent is not an error (kernels and Slurm configurations differ in which files exist); a job
directory that vanished mid-read, a permission error or an unparsable file is reported in
``JobStats.errors`` for the collector to count.
"""
from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

# Anything at or above this is the kernel's "no limit" (v1 prints PAGE_COUNTER_MAX * PAGE_SIZE).
UNLIMITED = 1 << 62
USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

_JOB_NUM = re.compile(r"^job_(\d+)$")
_SLUID = re.compile(r"^(?:job_)?([sS][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{13})$")
_STEP = re.compile(r"^step_(.+)$")
_UID = re.compile(r"^uid_(\d+)$")
_V1_PREFIX = re.compile(r"^slurm(?:_(.+))?$")
_V2_SCOPE = re.compile(r"^(?:(.+)_)?slurmstepd\.scope$")
V1_CONTROLLERS = ("memory", "cpuacct", "cpuset", "blkio", "pids", "devices", "freezer")


# --------------------------------------------------------------------------- pure parsers

def parse_int(text: str) -> int | None:
    """A single-number file; ``max`` (v2) and v1's huge "unlimited" values read as None."""
    s = text.strip()
    if s == "max":
        return None
    v = int(s)
    return None if v >= UNLIMITED else v


def parse_flat_keyed(text: str) -> dict[str, int]:
    """``key value`` lines: memory.stat, cpu.stat, memory.events, cpuacct.stat, memory.oom_control."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if v:
            out[k] = int(v)
    return out


def count_cpus(text: str) -> int:
    """cpuset list (``0-3,8,10-11``) -> number of CPUs; an empty set is 0."""
    n = 0
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return n


@dataclass(frozen=True)
class Pressure:
    """PSI totals in seconds (the kernel prints microseconds); ``full`` is None where absent."""
    some_s: float
    full_s: float | None


def parse_pressure(text: str) -> Pressure:
    """``some avg10=0.00 avg60=0.00 avg300=0.00 total=<usec>`` and the same for ``full``."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        for item in rest.split():
            if item.startswith("total="):
                totals[kind] = int(item[6:]) / 1e6
    if "some" not in totals:
        raise ValueError("no 'some' line in pressure file")
    return Pressure(totals["some"], totals.get("full"))


@dataclass(frozen=True)
class IoCounters:
    read_bytes: int = 0
    write_bytes: int = 0
    read_ops: int = 0
    write_ops: int = 0


def parse_io_stat(text: str) -> IoCounters:
    """v2 io.stat, summed over devices: ``8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0``."""
    sums = {"rbytes": 0, "wbytes": 0, "rios": 0, "wios": 0}
    for line in text.splitlines():
        for item in line.split()[1:]:
            k, _, v = item.partition("=")
            if k in sums:
                sums[k] += int(v)
    return IoCounters(sums["rbytes"], sums["wbytes"], sums["rios"], sums["wios"])


def parse_blkio(text: str) -> tuple[int, int]:
    """v1 blkio.throttle.io_service_bytes / io_serviced: ``8:0 Read 4096`` lines -> (read, write),
    summed over devices; the per-device and global ``Total`` lines are ignored."""
    read = write = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            if parts[1] == "Read":
                read += int(parts[2])
            elif parts[1] == "Write":
                write += int(parts[2])
    return read, write


def parse_devices_list(text: str, major: int) -> tuple[bool, list[int]]:
    """v1 devices.list -> (unconstrained, allowed minors of char devices with this major).
    ``a *:* rwm`` means every device is allowed, i.e. the list tells nothing about GPUs."""
    minors: list[int] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        kind, devno = parts[0], parts[1]
        if kind == "a":
            return True, []
        maj, _, mnr = devno.partition(":")
        if kind == "c" and maj == str(major) and mnr.isdigit():
            minors.append(int(mnr))
    return False, minors


def parse_environ(data: bytes) -> dict[str, str]:
    """/proc/<pid>/environ: NUL-separated ``KEY=value``; undecodable bytes are replaced."""
    out: dict[str, str] = {}
    for item in data.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            out[k.decode(errors="replace")] = v.decode(errors="replace")
    return out


# --------------------------------------------------------------------------- discovery

@dataclass
class JobCgroup:
    """One job (or, with steps, one step) on this host under one slurmd.

    ``paths`` maps a v1 controller name to its directory, or ``"unified"`` to the v2 directory."""
    jobid: str                  # numeric job id, or the SLUID until resolved
    version: int
    paths: dict[str, str]
    node: str = ""              # multiple-slurmd node name from the prefix, "" for plain slurm/
    uid: int | None = None      # v1 only: from uid_<n>
    sluid: str = ""
    step: str = ""              # "" for a whole job

    @property
    def main_path(self) -> str:
        for ctl in ("unified", "memory", "cpuacct", "cpuset", "freezer", "pids"):
            if ctl in self.paths:
                return self.paths[ctl]
        return next(iter(self.paths.values()))


@functools.lru_cache(maxsize=65536)     # every scrape sees the same names: no regex per job
def classify_job_dir(name: str) -> tuple[str, str] | None:
    """Directory name -> (jobid, sluid): ``job_123`` -> ("123", ""), ``sBR1JB8J1YM400`` or
    ``job_sBR1JB8J1YM400`` -> ("sBR1JB8J1YM400", "sBR1JB8J1YM400"); anything else -> None."""
    m = _JOB_NUM.match(name)
    if m:
        return m.group(1), ""
    m = _SLUID.match(name)
    if m:
        return m.group(1), m.group(1)
    return None


def _subdirs(path: str) -> list[tuple[str, str]]:
    try:
        with os.scandir(path) as it:
            return [(e.name, e.path) for e in it if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


def detect_version(root: str) -> int:
    """2 when ``root`` is a unified (v2) mount; else 1 (a v1 tmpfs of controller mounts, or a
    hybrid host like Debian 12 with systemd's legacy mode, where Slurm uses v1)."""
    return 2 if os.path.exists(os.path.join(root, "cgroup.controllers")) else 1


def v1_controller_dirs(root: str) -> dict[str, str]:
    """Controller -> mount directory; co-mounts (``cpu,cpuacct``) are split."""
    out: dict[str, str] = {}
    for name, path in sorted(_subdirs(root) + [(n, os.path.join(root, n)) for n in _symlinks(root)]):
        for ctl in name.split(","):
            if ctl in V1_CONTROLLERS and (ctl not in out or name == ctl):
                out[ctl] = path
    return out


def _symlinks(root: str) -> list[str]:
    try:
        with os.scandir(root) as it:
            return [e.name for e in it if e.is_symlink() and e.is_dir()]
    except OSError:
        return []


def _job_and_steps(job_path: str, steps: bool) -> list[tuple[str, str]]:
    """(step name, directory) pairs: one ("", job dir) without steps."""
    if not steps:
        return [("", job_path)]
    out = []
    for name, path in _subdirs(job_path):
        m = _STEP.match(name)
        if m:
            out.append((m.group(1), path))
    return out


def _node_filter(node: str | None) -> set[str] | None:
    """``--slurm.node``: one node, a comma list or a hostlist (``n[1-3],c1``) of the nodes whose
    slurmd run on this host; cgroups without a node prefix (plain ``slurm/``) always match."""
    if node is None:
        return None
    from ..slurm.hostlist import expand
    return set(expand(node)) | {""}


def discover_v1(root: str, steps: bool = False, node: str | None = None) -> list[JobCgroup]:
    found: dict[tuple[str, str, str], JobCgroup] = {}
    wanted = _node_filter(node)
    for ctl, ctl_dir in v1_controller_dirs(root).items():
        for prefix, prefix_path in _subdirs(ctl_dir):
            pm = _V1_PREFIX.match(prefix)
            if not pm:
                continue
            node_name = pm.group(1) or ""
            if wanted is not None and node_name not in wanted:
                continue
            for uid_name, uid_path in _subdirs(prefix_path):
                um = _UID.match(uid_name)
                if not um:
                    continue
                for job_name, job_path in _subdirs(uid_path):
                    ids = classify_job_dir(job_name)
                    if ids is None:
                        continue
                    for step, path in _job_and_steps(job_path, steps):
                        key = (node_name, ids[0], step)
                        cg = found.get(key)
                        if cg is None:
                            cg = found[key] = JobCgroup(ids[0], 1, {}, node_name, int(um.group(1)),
                                                        ids[1], step)
                        cg.paths[ctl] = path
    return list(found.values())


def discover_v2(root: str, steps: bool = False, node: str | None = None) -> list[JobCgroup]:
    out: list[JobCgroup] = []
    wanted = _node_filter(node)
    for slice_name, slice_path in _subdirs(root):
        if not slice_name.endswith(".slice"):
            continue
        for scope, scope_path in _subdirs(slice_path):
            sm = _V2_SCOPE.match(scope)
            if not sm:
                continue
            node_name = sm.group(1) or ""
            if wanted is not None and node_name not in wanted:
                continue
            for job_name, job_path in _subdirs(scope_path):
                ids = classify_job_dir(job_name)
                if ids is None:
                    continue
                for step, path in _job_and_steps(job_path, steps):
                    out.append(JobCgroup(ids[0], 2, {"unified": path}, node_name, None, ids[1], step))
    return out


def discover(root: str, steps: bool = False, node: str | None = None) -> list[JobCgroup]:
    """Every Slurm job cgroup under ``root`` (one per job, or per step with ``steps``)."""
    if detect_version(root) == 2:
        return discover_v2(root, steps, node)
    return discover_v1(root, steps, node)


# --------------------------------------------------------------------------- reading

@dataclass
class JobStats:
    """What the kernel says about one job cgroup, in base units; None = not available here."""
    cpu_user_s: float | None = None
    cpu_system_s: float | None = None
    cpu_usage_s: float | None = None
    cpus: int | None = None
    mem_used: int | None = None
    mem_peak: int | None = None
    mem_limit: int | None = None
    mem_rss: int | None = None
    mem_cache: int | None = None
    mem_shmem: int | None = None
    mem_swap: int | None = None
    oom_kills: int | None = None
    io_read_bytes: int | None = None
    io_write_bytes: int | None = None
    io_read_ops: int | None = None
    io_write_ops: int | None = None
    pressure: dict[str, Pressure] = field(default_factory=dict)   # cpu, memory, io
    processes: int | None = None
    threads: int | None = None
    pids: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)    # reasons: vanished, permission, parse, io
    vanished: bool = False

    def merge(self, other: JobStats) -> None:
        """Add another cgroup of the same job (multiple-slurmd: one per node on this host).
        Counters and gauges add up; the peak of the sum is at most the sum of the peaks."""
        for name in ("cpu_user_s", "cpu_system_s", "cpu_usage_s", "cpus", "mem_used", "mem_peak",
                     "mem_limit", "mem_rss", "mem_cache", "mem_shmem", "mem_swap", "oom_kills",
                     "io_read_bytes", "io_write_bytes", "io_read_ops", "io_write_ops",
                     "processes", "threads"):
            a, b = getattr(self, name), getattr(other, name)
            if b is not None:
                setattr(self, name, b if a is None else a + b)
        for k, p in other.pressure.items():
            q = self.pressure.get(k)
            if q is None:
                self.pressure[k] = p
            else:
                full = None if q.full_s is None and p.full_s is None else (q.full_s or 0) + (p.full_s or 0)
                self.pressure[k] = Pressure(q.some_s + p.some_s, full)
        self.pids.extend(other.pids)
        self.errors.extend(other.errors)


_O_FILE = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_O_DIR = _O_FILE | getattr(os, "O_DIRECTORY", 0)
_BUF = 16384        # every file read here is smaller; a full buffer reads on


def fd_budget(reserve: int = 512) -> int:
    """How many cgroup files a FileCache may keep open: the soft RLIMIT_NOFILE, raised to the hard
    limit first (systemd's default soft limit is 1,024, the hard one 524,288), less a reserve for
    sockets and the rest of the process."""
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if hard != resource.RLIM_INFINITY else 1 << 20
        if soft != resource.RLIM_INFINITY and soft < want:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
                soft = want
            except (ValueError, OSError):
                pass
        return max(0, (soft if soft != resource.RLIM_INFINITY else 1 << 20) - reserve)
    except (ImportError, OSError, ValueError):
        return 0


class FileCache:
    """Open descriptors of cgroup files kept from one scrape to the next, per job.

    A kernfs (cgroup) file is generated anew by every read from offset 0, so ``pread(fd, n, 0)`` on a
    descriptor kept open returns exactly what a fresh open + read would: one syscall (~1.5 us)
    instead of three (~10 us); opening is most of what a scrape costs. When the cgroup is removed
    the kernel answers ENODEV: the descriptor is dropped and the path opened again (a job requeued
    on this node gets a new cgroup under the same path). Descriptors of jobs no longer found are
    closed at the end of each scan, so a finished job's cgroup is held at most one scrape.

    v1 ``cgroup.procs`` and ``tasks`` are special: a descriptor read before keeps a pointer to the
    cgroup's pid list, which the kernel keeps (and hands to every reader that has read before) for
    one second after the last read (CGROUP_PIDLIST_DESTROY_DELAY), while a fresh open always loads
    a new list. So a kept one is used only when this exporter last read it at least
    ``PIDLIST_REUSE_S`` ago (the list is gone by then unless another reader loaded one in the
    last second); scrapes closer together open the file afresh. Beyond ``limit`` descriptors files
    are opened and closed as before. Each kept descriptor costs about 4.5 KiB of kernel memory
    (the seq_file page and the struct file), ~15-18 descriptors per job.
    """

    # One budget for the whole process (several exporters or scanners, e.g. in tests, share it).
    _process_limit: int | None = None
    _process_count = 0

    def __init__(self, limit: int | None = None):
        if FileCache._process_limit is None:
            soft_left = fd_budget()
            FileCache._process_limit = soft_left - soft_left // 4      # headroom for the rest
        self.limit = FileCache._process_limit if limit is None else limit
        self.count = 0
        self.jobs: dict[str, _Fds] = {}
        self.now = 0.0              # set by the scanner once per scan (time.monotonic())

    def room(self) -> bool:
        return self.count < self.limit and FileCache._process_count < (FileCache._process_limit or 0)

    def added(self) -> None:
        self.count += 1
        FileCache._process_count += 1

    def _removed(self, n: int) -> None:
        self.count -= n
        FileCache._process_count -= n

    def __del__(self):
        try:
            self.close()
        except Exception:   # interpreter shutdown
            pass

    def job(self, key: str) -> _Fds:
        d = self.jobs.get(key)
        if d is None:
            d = self.jobs[key] = _Fds()
        return d

    def forget(self, fds: _Fds, path: str) -> None:
        fds.last.pop(path, None)
        fd = fds.pop(path, None)
        if fd is not None:
            self._removed(1)
            try:
                os.close(fd)
            except OSError:
                pass

    def drop(self, key: str) -> None:
        fds = self.jobs.pop(key, None) or _Fds()
        for fd in fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._removed(len(fds))

    def keep_only(self, live) -> None:
        for k in [k for k in self.jobs if k not in live]:
            self.drop(k)

    def close(self) -> None:
        for k in list(self.jobs):
            self.drop(k)


PIDLIST_REUSE_S = 2.0


class _Fds(dict):
    """path -> kept descriptor of one job; ``last``: when each v1 pid list was last read."""
    __slots__ = ("last",)

    def __init__(self):
        super().__init__()
        self.last: dict[str, float] = {}


def _read_rest(fd: int, first: bytes) -> bytes:
    chunks = [first]
    off = len(first)
    while True:
        b = os.pread(fd, _BUF, off)
        if not b:
            break
        chunks.append(b)
        off += len(b)
    return b"".join(chunks)


class _NoFileCache:
    """A reader without a FileCache: keeps nothing (``fds`` is None then, so most is never asked)."""
    now = 0.0

    def room(self) -> bool:
        return False

    def added(self) -> None:
        pass

    def forget(self, fds: _Fds, path: str) -> None:
        pass


_NO_FILE_CACHE = _NoFileCache()


class _Reader:
    """Reads files for one JobStats, turning OS and parse errors into error reasons. With a
    FileCache, descriptors are kept open between scrapes (see FileCache)."""

    __slots__ = ("stats", "fds", "cache", "missed")

    def __init__(self, stats: JobStats, cache: FileCache | None = None, key: str = ""):
        self.stats = stats
        self.cache: FileCache | _NoFileCache = cache if cache is not None else _NO_FILE_CACHE
        self.fds = cache.job(key) if cache is not None else None
        self.missed = False     # a file was absent or failed: check whether the job vanished

    def raw(self, path: str, keep: bool = True, dir_fd: int | None = None, name: str = "") -> bytes | None:
        fds = self.fds if keep else None
        if fds is not None and dir_fd is None:
            fd = fds.get(path)
            if fd is not None:
                try:
                    b = os.pread(fd, _BUF, 0)
                    return b if len(b) < _BUF else _read_rest(fd, b)
                except OSError:     # ENODEV: the cgroup went away (maybe came back): open again
                    self.cache.forget(fds, path)
        try:
            fd = os.open(name, _O_FILE, dir_fd=dir_fd) if dir_fd is not None else os.open(path, _O_FILE)
        except FileNotFoundError:
            self.missed = True
            return None
        except PermissionError:
            self.stats.errors.append("permission")
            self.missed = True
            return None
        except OSError:
            self.stats.errors.append("io")
            self.missed = True
            return None
        try:
            b = os.pread(fd, _BUF, 0)
            if len(b) >= _BUF:
                b = _read_rest(fd, b)
        except OSError:    # ENODEV, EIO: a cgroup being torn down
            os.close(fd)
            self.stats.errors.append("io")
            self.missed = True
            return None
        if fds is not None and self.cache.room():
            fds[path] = fd
            self.cache.added()
        else:
            os.close(fd)
        return b

    def pidlist(self, d: str, name: str) -> bytes | None:
        """A v1 ``cgroup.procs`` or ``tasks`` file (see FileCache for when a kept one is used)."""
        path = d + "/" + name
        fds = self.fds
        if fds is None:
            return self.raw(path, False)
        now = self.cache.now
        fd = fds.get(path)
        if fd is not None and now - fds.last.get(path, now) >= PIDLIST_REUSE_S:
            try:
                kept = os.pread(fd, _BUF, 0)
                fds.last[path] = now
                return kept if len(kept) < _BUF else _read_rest(fd, kept)
            except OSError:
                self.cache.forget(fds, path)
                fd = None
        dfd = self.dirfd(d)
        b = self.raw(path, fd is None, dfd, name)     # a fresh open, kept when none is yet
        if b is not None:
            fds.last[path] = now
        return b

    def num(self, path: str) -> int | None:
        """parse_int of a kept file, straight from bytes (int() takes them, whitespace and all)."""
        b = self.raw(path)
        if b is None:
            return None
        try:
            v = int(b)
        except ValueError:
            if b.strip() == b"max":
                return None
            self.stats.errors.append("parse")
            return None
        return None if v >= UNLIMITED else v

    def text(self, path: str, keep: bool = True) -> str | None:
        b = self.raw(path, keep)
        return None if b is None else b.decode()

    def parse(self, path: str, fn: Callable, keep: bool = True):
        t = self.text(path, keep)
        if t is None:
            return None
        try:
            return fn(t)
        except (ValueError, IndexError):   # truncated or unexpected content
            self.stats.errors.append("parse")
            return None

    def dirfd(self, path: str) -> int | None:
        """A kept descriptor of a directory (fstat for its link count, openat below it)."""
        fds = self.fds
        if fds is None:
            return None
        key = path + "/"
        fd = fds.get(key)
        if fd is None and self.cache.room():
            try:
                fd = os.open(path, _O_DIR)
            except OSError:
                return None
            fds[key] = fd
            self.cache.added()
        return fd


def _key_int(text: str, key: str) -> int | None:
    """The value of ``key`` in a flat-keyed file given as ``"\\n" + text``; ``key`` is
    ``"\\n<name> "``. A handful of finds instead of splitting a 40-line memory.stat."""
    i = text.find(key)
    if i < 0:
        return None
    i += len(key)
    j = text.find("\n", i)
    return int(text[i:j] if j >= 0 else text[i:])


def _key_bytes(data: bytes, key: bytes) -> int | None:
    """_key_int on the raw bytes (``key`` is ``b"\\n<name> "``; the first line is matched too)."""
    i = data.find(key)
    if i < 0:
        if not data.startswith(key[1:]):
            return None
        i = -1
    i += len(key)
    j = data.find(b"\n", i)
    return int(data[i:j] if j >= 0 else data[i:])


def _walk(path: str) -> list[str]:
    """The directory and all its descendants (cgroups are shallow: job/step/user/task)."""
    out = [path]
    i = 0
    while i < len(out):
        out.extend(p for _, p in _subdirs(out[i]))
        i += 1
    return out


def _walk_counted(path: str) -> list[tuple[str, int]]:
    """Like _walk, with each directory's number of subdirectories."""
    out: list[tuple[str, int]] = []
    todo = [path]
    while todo:
        d = todo.pop(0)
        subs = [p for _, p in _subdirs(d)]
        out.append((d, len(subs)))
        todo.extend(subs)
    return out


def _walk_v1_cached(r: _Reader, path: str, cache: dict | None) -> list[str]:
    """The v1 job tree under one controller, walked again only when a directory's link count
    changes: a directory's st_nlink is 2 + its subdirectories (kernfs and tmpfs alike), so one
    fstat on a kept descriptor per directory (~1 us) replaces a listing (~20 us for a memory
    cgroup's 30 files). A removed directory changes its parent's count."""
    if cache is None or r.fds is None:
        return _walk(path)
    hit = cache.get(path)
    if hit is not None:
        fds, fstat = r.fds, os.fstat
        for d, nsub in hit:
            fd = fds.get(d + "/")
            if fd is None:
                fd = r.dirfd(d)
            try:
                if fd is None or fstat(fd).st_nlink != nsub + 2:
                    break
            except OSError:
                break
        else:
            return [d for d, _ in hit]
        for d, _ in hit:                       # stale: drop the old directories' descriptors
            r.cache.forget(r.fds, d + "/")
    tree = _walk_counted(path)
    cache[path] = tree
    return [d for d, _ in tree]


def _walk_leaves(path: str) -> list[str]:
    """Only the leaf directories: cgroup v2's "no internal processes" rule means the job, step and
    user directories Slurm creates never hold pids themselves, so reading them is wasted work.
    Every v2 interface file is named ``<controller>.<name>``, so an entry without a dot is a child
    cgroup: a plain listdir, no stat per entry (this walk is most of a 1,000-job scrape)."""
    leaves, todo = [], [path]
    while todo:
        d = todo.pop()
        try:
            subs = [n for n in os.listdir(d) if "." not in n]
        except OSError:
            continue
        if subs:
            todo.extend(d + "/" + n for n in subs)
        else:
            leaves.append(d)
    return leaves


def _leaves_cached(r: _Reader, path: str, cache: dict | None) -> list[str]:
    """The leaves of a v2 job tree, re-walked only when ``cgroup.stat``'s ``nr_descendants``
    changes (a step or task came or went). One small read instead of ~9 directory listings per
    job; a leaf that vanished anyway (one step ended as another began) marks the entry stale."""
    if cache is None:
        return _walk_leaves(path)
    t = r.text(path + "/cgroup.stat")
    n = None
    if t is not None:
        try:
            n = _key_int("\n" + t, "\nnr_descendants ")
        except ValueError:
            r.stats.errors.append("parse")
    hit = cache.get(path)
    if n is not None and hit is not None and hit[0] == n:
        return hit[1]
    leaves = _walk_leaves(path)
    if n is not None:
        cache[path] = (n, leaves)
    return leaves


def _count_tree(r: _Reader, dirs: list[str], procs_file: str, threads_file: str | None,
                stats: JobStats, keep: bool = True) -> None:
    """Processes (and, with ``threads_file``, threads) of the directories. ``keep=False`` (v1):
    the files are pid lists, see ``_Reader.pidlist``."""
    pids: list[int] = []
    threads = 0
    for d in dirs:
        b = r.raw(d + "/" + procs_file) if keep else r.pidlist(d, procs_file)
        if b is None:
            if not os.path.isdir(d):
                stats.errors.append("stale")
                continue
        elif b:
            try:
                pids.extend(map(int, b.split()))
            except ValueError:
                stats.errors.append("parse")
        if threads_file:
            t = r.raw(d + "/" + threads_file) if keep else r.pidlist(d, threads_file)
            if t:
                threads += t.count(b"\n")
    stats.pids = pids
    stats.processes = len(pids)
    if threads_file:
        stats.threads = threads


def _sum_tree(r: _Reader, dirs: list[str], name: str, key: str) -> int | None:
    total = None
    k = ("\n" + key + " ").encode()
    for d in dirs:
        t = r.raw(d + "/" + name)
        if t is None:
            continue
        try:
            v = _key_bytes(t, k)
        except ValueError:
            r.stats.errors.append("parse")
            continue
        if v is not None:
            total = (total or 0) + v
    return total


def _psi_total(text: str) -> Pressure:
    """parse_pressure for the two lines the kernel writes, without splitting every field."""
    i = text.find("total=")
    if i < 0 or not text.startswith("some "):
        raise ValueError("no 'some' line in pressure file")
    j = text.find("\n", i)
    some = int(text[i + 6:j if j >= 0 else None]) / 1e6
    full = None
    k = text.find("\nfull ")
    if k >= 0:
        i = text.find("total=", k)
        if i >= 0:
            j = text.find("\n", i)
            full = int(text[i + 6:j if j >= 0 else None]) / 1e6
    return Pressure(some, full)


def _vanished(s: JobStats, path: str) -> bool:
    if not os.path.isdir(path):
        s.vanished = True
        s.errors.append("vanished")
        return True
    return False


def read_v2(path: str, tree_cache: dict | None = None, files: FileCache | None = None) -> JobStats:
    s = JobStats()
    r = _Reader(s, files, path)
    p = path + "/"
    cpu = r.text(p + "cpu.stat")
    if cpu is None and _vanished(s, path):
        return s
    try:
        if cpu:
            cpu = "\n" + cpu
            user = _key_int(cpu, "\nuser_usec ")
            if user is not None:
                s.cpu_user_s = user / 1e6
                s.cpu_system_s = (_key_int(cpu, "\nsystem_usec ") or 0) / 1e6
            usage = _key_int(cpu, "\nusage_usec ")
            if usage is not None:
                s.cpu_usage_s = usage / 1e6
    except ValueError:
        s.errors.append("parse")
    cpus = r.parse(p + "cpuset.cpus.effective", count_cpus)
    s.cpus = cpus if cpus is not None else r.parse(p + "cpuset.cpus", count_cpus)
    s.mem_used = r.num(p + "memory.current")
    s.mem_peak = r.num(p + "memory.peak")
    s.mem_limit = r.num(p + "memory.max")
    st = r.text(p + "memory.stat")
    if st:
        st = "\n" + st
        try:
            s.mem_rss = _key_int(st, "\nanon ")
            s.mem_cache = _key_int(st, "\nfile ")
            s.mem_shmem = _key_int(st, "\nshmem ")
        except ValueError:
            s.errors.append("parse")
    s.mem_swap = r.num(p + "memory.swap.current")
    ev = r.parse(p + "memory.events", parse_flat_keyed)   # hierarchical in v2
    if ev is not None:
        s.oom_kills = ev.get("oom_kill", 0)
    io = r.parse(p + "io.stat", parse_io_stat)
    if io is not None:
        s.io_read_bytes, s.io_write_bytes = io.read_bytes, io.write_bytes
        s.io_read_ops, s.io_write_ops = io.read_ops, io.write_ops
    for res in ("cpu", "memory", "io"):
        pr = r.parse(p + res + ".pressure", _psi_total)
        if pr is not None:
            s.pressure[res] = pr
    pids_current = r.num(p + "pids.current")
    # pids.current counts threads; without the pids controller count cgroup.threads instead.
    threads_file = None if pids_current is not None else "cgroup.threads"
    # v2 cgroup.procs restarts its task iterator on a read from offset 0: kept descriptors are exact
    _count_tree(r, _leaves_cached(r, path, tree_cache), "cgroup.procs", threads_file, s)
    if tree_cache is not None and "stale" in s.errors:     # a leaf went away: walk again
        s.errors.remove("stale")
        tree_cache.pop(path, None)
        _count_tree(r, _leaves_cached(r, path, tree_cache), "cgroup.procs", threads_file, s)
    s.errors = [e for e in s.errors if e != "stale"]    # a step ending mid-scrape is no error
    if pids_current is not None:
        s.threads = pids_current
    if (r.missed or files is None) and not s.vanished:
        # every read succeeded on a live cgroup otherwise (a removed one answers ENODEV)
        _vanished(s, path)
    return s


def read_v1(paths: dict[str, str], tree_cache: dict | None = None,
            files: FileCache | None = None) -> JobStats:
    s = JobStats()
    key = next(iter(paths.values())) if paths else ""
    for ctl in ("unified", "memory", "cpuacct", "cpuset", "freezer", "pids"):
        if ctl in paths:
            key = paths[ctl]
            break
    r = _Reader(s, files, key)
    trees = None
    if tree_cache is not None and files is not None:
        trees = tree_cache.get(key)
        if not isinstance(trees, dict):
            trees = tree_cache[key] = {}
    cpuacct = paths.get("cpuacct")
    if cpuacct:
        user = r.num(cpuacct + "/cpuacct.usage_user")
        if user is not None:
            s.cpu_user_s = user / 1e9
            sys_ns = r.num(cpuacct + "/cpuacct.usage_sys")
            s.cpu_system_s = (sys_ns or 0) / 1e9
        else:   # older kernels: only USER_HZ ticks
            st = r.parse(cpuacct + "/cpuacct.stat", parse_flat_keyed)
            if st:
                s.cpu_user_s = st.get("user", 0) / USER_HZ
                s.cpu_system_s = st.get("system", 0) / USER_HZ
        usage = r.num(cpuacct + "/cpuacct.usage")
        s.cpu_usage_s = usage / 1e9 if usage is not None else None
    cpuset = paths.get("cpuset")
    if cpuset:
        n = r.parse(cpuset + "/cpuset.effective_cpus", count_cpus)
        s.cpus = n if n is not None else r.parse(cpuset + "/cpuset.cpus", count_cpus)
    mem = paths.get("memory")
    dirs: list[str] = []
    if mem:
        s.mem_used = r.num(mem + "/memory.usage_in_bytes")
        s.mem_peak = r.num(mem + "/memory.max_usage_in_bytes")
        s.mem_limit = r.num(mem + "/memory.limit_in_bytes")
        st = r.raw(mem + "/memory.stat")
        if st:
            # The job directory holds no tasks itself: only the hierarchical total_* count.
            pre = b"\ntotal_" if b"\ntotal_rss " in st else b"\n"
            try:
                s.mem_rss, s.mem_cache = _key_bytes(st, pre + b"rss "), _key_bytes(st, pre + b"cache ")
                s.mem_shmem, s.mem_swap = _key_bytes(st, pre + b"shmem "), _key_bytes(st, pre + b"swap ")
            except ValueError:
                s.errors.append("parse")
        if s.mem_swap is None and s.mem_used is not None:
            memsw = r.num(mem + "/memory.memsw.usage_in_bytes")
            if memsw is not None:
                s.mem_swap = max(memsw - s.mem_used, 0)
        # v1 counts an OOM kill only in the cgroup of the killed task (task_N): sum the subtree.
        dirs = _walk_v1_cached(r, mem, trees)
        s.oom_kills = _sum_tree(r, dirs, "memory.oom_control", "oom_kill")
    blkio = paths.get("blkio")
    if blkio:
        for suffix in ("_recursive", ""):
            b = r.parse(f"{blkio}/blkio.throttle.io_service_bytes{suffix}", parse_blkio)
            if b is not None:
                s.io_read_bytes, s.io_write_bytes = b
                ops = r.parse(f"{blkio}/blkio.throttle.io_serviced{suffix}", parse_blkio)
                if ops is not None:
                    s.io_read_ops, s.io_write_ops = ops
                break
    # Processes from the freezer tree when there is one: proctrack/cgroup's, where Slurm itself
    # looks for a job's processes, and shallower than memory's (no task_<n> level): fewer files.
    tree_root = paths.get("freezer") or mem or cpuacct or cpuset
    if tree_root:
        tdirs = dirs if tree_root == mem else _walk_v1_cached(r, tree_root, trees)
        _count_tree(r, tdirs, "cgroup.procs", "tasks", s, keep=False)
        if trees is not None and "stale" in s.errors:      # a directory went away: walk again
            for d, _ in trees.pop(tree_root, None) or ():
                if r.fds is not None:
                    r.cache.forget(r.fds, d + "/")
            s.errors = [e for e in s.errors if e != "stale"]
            _count_tree(r, _walk_v1_cached(r, tree_root, trees), "cgroup.procs", "tasks", s, keep=False)
        s.errors = [e for e in s.errors if e != "stale"]
    if "pids" in paths:
        n = r.num(paths["pids"] + "/pids.current")
        if n is not None:
            s.threads = n
    if tree_root and (r.missed or files is None):
        _vanished(s, tree_root)
    return s


def read_job(cg: JobCgroup, tree_cache: dict | None = None, files: FileCache | None = None) -> JobStats:
    """``tree_cache``: a dict the caller keeps between scrapes (v2: see ``_leaves_cached``; v1, with
    ``files``: see ``_walk_v1_cached``); ``files``: descriptors kept open, see ``FileCache``."""
    if cg.version == 2:
        return read_v2(cg.paths["unified"], tree_cache, files)
    return read_v1(cg.paths, tree_cache, files)
