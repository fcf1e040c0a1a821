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

import os
import re
from dataclasses import dataclass, field
from typing import Callable

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


def parse_pids(text: str) -> list[int]:
    """cgroup.procs, tasks, cgroup.threads: one id per line."""
    return [int(x) for x in text.split()]


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


def discover_v1(root: str, steps: bool = False, node: str | None = None) -> list[JobCgroup]:
    found: dict[tuple[str, str, str], JobCgroup] = {}
    for ctl, ctl_dir in v1_controller_dirs(root).items():
        for prefix, prefix_path in _subdirs(ctl_dir):
            pm = _V1_PREFIX.match(prefix)
            if not pm:
                continue
            node_name = pm.group(1) or ""
            if node is not None and node_name not in (node, ""):
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
    for slice_name, slice_path in _subdirs(root):
        if not slice_name.endswith(".slice"):
            continue
        for scope, scope_path in _subdirs(slice_path):
            sm = _V2_SCOPE.match(scope)
            if not sm:
                continue
            node_name = sm.group(1) or ""
            if node is not None and node_name not in (node, ""):
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

    def merge(self, other: "JobStats") -> None:
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


class _Reader:
    """Reads files for one JobStats, turning OS and parse errors into error reasons."""

    __slots__ = ("stats",)

    def __init__(self, stats: JobStats):
        self.stats = stats

    def text(self, path: str) -> str | None:
        # os.open/os.read: about half the cost of open() for these tiny files, which matters
        # at ~15 files x 1,000 jobs per scrape
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except PermissionError:
            self.stats.errors.append("permission")
            return None
        except OSError:
            self.stats.errors.append("io")
            return None
        try:
            chunks = []
            while True:
                b = os.read(fd, 65536)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode()
        except OSError:    # ENODEV, EIO: a cgroup being torn down
            self.stats.errors.append("io")
            return None
        finally:
            os.close(fd)

    def parse(self, path: str, fn: Callable):
        t = self.text(path)
        if t is None:
            return None
        try:
            return fn(t)
        except (ValueError, IndexError):   # truncated or unexpected content
            self.stats.errors.append("parse")
            return None


def _walk(path: str) -> list[str]:
    """The directory and all its descendants (cgroups are shallow: job/step/user/task)."""
    out = [path]
    i = 0
    while i < len(out):
        out.extend(p for _, p in _subdirs(out[i]))
        i += 1
    return out


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


def _leaves_cached(r: "_Reader", path: str, cache: dict | None) -> list[str]:
    """The leaves of a v2 job tree, re-walked only when ``cgroup.stat``'s ``nr_descendants``
    changes (a step or task came or went). One small read instead of ~9 directory listings per
    job; a leaf that vanished anyway (one step ended as another began) marks the entry stale."""
    if cache is None:
        return _walk_leaves(path)
    st = r.parse(os.path.join(path, "cgroup.stat"), parse_flat_keyed)
    n = st.get("nr_descendants") if st else None
    hit = cache.get(path)
    if n is not None and hit is not None and hit[0] == n:
        return hit[1]
    leaves = _walk_leaves(path)
    if n is not None:
        cache[path] = (n, leaves)
    return leaves


def _count_tree(r: _Reader, dirs: list[str], procs_file: str, threads_file: str | None,
                stats: JobStats) -> None:
    pids: list[int] = []
    threads = 0
    for d in dirs:
        p = r.parse(os.path.join(d, procs_file), parse_pids)
        if p is None and not os.path.isdir(d):
            stats.errors.append("stale")
            continue
        if p:
            pids.extend(p)
        if threads_file:
            t = r.text(os.path.join(d, threads_file))
            if t:
                threads += t.count("\n")
    stats.pids = pids
    stats.processes = len(pids)
    if threads_file:
        stats.threads = threads


def _sum_tree(r: _Reader, dirs: list[str], name: str, key: str) -> int | None:
    total = None
    for d in dirs:
        kv = r.parse(os.path.join(d, name), parse_flat_keyed)
        if kv and key in kv:
            total = (total or 0) + kv[key]
    return total


def read_v2(path: str, tree_cache: dict | None = None) -> JobStats:
    s = JobStats()
    r = _Reader(s)
    j = os.path.join
    cpu = r.parse(j(path, "cpu.stat"), parse_flat_keyed)
    if cpu is None and not os.path.isdir(path):
        s.vanished = True
        s.errors.append("vanished")
        return s
    if cpu:
        if "user_usec" in cpu:
            s.cpu_user_s = cpu["user_usec"] / 1e6
            s.cpu_system_s = cpu.get("system_usec", 0) / 1e6
        if "usage_usec" in cpu:
            s.cpu_usage_s = cpu["usage_usec"] / 1e6
    cpus = r.parse(j(path, "cpuset.cpus.effective"), count_cpus)
    s.cpus = cpus if cpus is not None else r.parse(j(path, "cpuset.cpus"), count_cpus)
    s.mem_used = r.parse(j(path, "memory.current"), parse_int)
    s.mem_peak = r.parse(j(path, "memory.peak"), parse_int)
    s.mem_limit = r.parse(j(path, "memory.max"), parse_int)
    st = r.parse(j(path, "memory.stat"), parse_flat_keyed)
    if st:
        s.mem_rss, s.mem_cache, s.mem_shmem = st.get("anon"), st.get("file"), st.get("shmem")
    s.mem_swap = r.parse(j(path, "memory.swap.current"), parse_int)
    ev = r.parse(j(path, "memory.events"), parse_flat_keyed)   # hierarchical in v2
    if ev is not None:
        s.oom_kills = ev.get("oom_kill", 0)
    io = r.parse(j(path, "io.stat"), parse_io_stat)
    if io is not None:
        s.io_read_bytes, s.io_write_bytes = io.read_bytes, io.write_bytes
        s.io_read_ops, s.io_write_ops = io.read_ops, io.write_ops
    for res in ("cpu", "memory", "io"):
        p = r.parse(j(path, f"{res}.pressure"), parse_pressure)
        if p is not None:
            s.pressure[res] = p
    pids_current = r.parse(j(path, "pids.current"), parse_int)
    # pids.current counts threads; without the pids controller count cgroup.threads instead.
    threads_file = None if pids_current is not None else "cgroup.threads"
    _count_tree(r, _leaves_cached(r, path, tree_cache), "cgroup.procs", threads_file, s)
    if tree_cache is not None and "stale" in s.errors:     # a leaf went away: walk again
        s.errors.remove("stale")
        tree_cache.pop(path, None)
        _count_tree(r, _leaves_cached(r, path, tree_cache), "cgroup.procs", threads_file, s)
    s.errors = [e for e in s.errors if e != "stale"]    # a step ending mid-scrape is no error
    if pids_current is not None:
        s.threads = pids_current
    if not os.path.isdir(path):
        s.vanished = True
        s.errors.append("vanished")
    return s


def read_v1(paths: dict[str, str]) -> JobStats:
    s = JobStats()
    r = _Reader(s)
    j = os.path.join
    cpuacct = paths.get("cpuacct")
    if cpuacct:
        user = r.parse(j(cpuacct, "cpuacct.usage_user"), parse_int)
        if user is not None:
            s.cpu_user_s = user / 1e9
            sys_ns = r.parse(j(cpuacct, "cpuacct.usage_sys"), parse_int)
            s.cpu_system_s = (sys_ns or 0) / 1e9
        else:   # older kernels: only USER_HZ ticks
            st = r.parse(j(cpuacct, "cpuacct.stat"), parse_flat_keyed)
            if st:
                s.cpu_user_s = st.get("user", 0) / USER_HZ
                s.cpu_system_s = st.get("system", 0) / USER_HZ
        usage = r.parse(j(cpuacct, "cpuacct.usage"), parse_int)
        s.cpu_usage_s = usage / 1e9 if usage is not None else None
    cpuset = paths.get("cpuset")
    if cpuset:
        n = r.parse(j(cpuset, "cpuset.effective_cpus"), count_cpus)
        s.cpus = n if n is not None else r.parse(j(cpuset, "cpuset.cpus"), count_cpus)
    mem = paths.get("memory")
    if mem:
        s.mem_used = r.parse(j(mem, "memory.usage_in_bytes"), parse_int)
        s.mem_peak = r.parse(j(mem, "memory.max_usage_in_bytes"), parse_int)
        s.mem_limit = r.parse(j(mem, "memory.limit_in_bytes"), parse_int)
        st = r.parse(j(mem, "memory.stat"), parse_flat_keyed)
        if st:
            # The job directory holds no tasks itself: only the hierarchical total_* count.
            pre = "total_" if "total_rss" in st else ""
            s.mem_rss, s.mem_cache = st.get(pre + "rss"), st.get(pre + "cache")
            s.mem_shmem, s.mem_swap = st.get(pre + "shmem"), st.get(pre + "swap")
        if s.mem_swap is None and s.mem_used is not None:
            memsw = r.parse(j(mem, "memory.memsw.usage_in_bytes"), parse_int)
            if memsw is not None:
                s.mem_swap = max(memsw - s.mem_used, 0)
        # v1 counts an OOM kill only in the cgroup of the killed task (task_N): sum the subtree.
        dirs = _walk(mem)
        s.oom_kills = _sum_tree(r, dirs, "memory.oom_control", "oom_kill")
    blkio = paths.get("blkio")
    if blkio:
        for suffix in ("_recursive", ""):
            b = r.parse(j(blkio, f"blkio.throttle.io_service_bytes{suffix}"), parse_blkio)
            if b is not None:
                s.io_read_bytes, s.io_write_bytes = b
                ops = r.parse(j(blkio, f"blkio.throttle.io_serviced{suffix}"), parse_blkio)
                if ops is not None:
                    s.io_read_ops, s.io_write_ops = ops
                break
    tree_root = mem or cpuacct or paths.get("freezer") or cpuset
    if tree_root:
        _count_tree(r, dirs if tree_root == mem else _walk(tree_root), "cgroup.procs", "tasks", s)
        s.errors = [e for e in s.errors if e != "stale"]
    if "pids" in paths:
        n = r.parse(j(paths["pids"], "pids.current"), parse_int)
        if n is not None:
            s.threads = n
    if tree_root and not os.path.isdir(tree_root):
        s.vanished = True
        s.errors.append("vanished")
    return s


def read_job(cg: JobCgroup, tree_cache: dict | None = None) -> JobStats:
    """``tree_cache`` (v2): a dict the caller keeps between scrapes, see ``_leaves_cached``."""
    return read_v2(cg.paths["unified"], tree_cache) if cg.version == 2 else read_v1(cg.paths)
