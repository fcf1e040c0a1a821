"""Debian root filesystems built with mmdebstrap, cached by what they hold.

Two uses: the guard test installs exactly the lab's APT package list into a minimal Debian 12
(bookworm) root filesystem and checks that every plugin the lab's rendered configs name is there
(a fresh machine has only what that list brings; the developers' machines have more); and the
newer Slurm generations of the lab run their daemons from such a root filesystem.

A cache entry is ``CACHE/<suite>-<key>``, key = a hash of everything that decides its content
(suite, mirrors, apt options, package list). It is built in a temporary directory beside it and
renamed into place only after mmdebstrap succeeded and the stamp file was written, so a
half-built entry never carries the final name; one without its stamp is refused, never trusted.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("SLURMOPS_ROOTFS_CACHE", "/var/cache/slurmops/rootfs"))
STAMP = ".slurmops-rootfs.json"          # written last, inside the tree, before the rename
PLUGIN_INDEX = ".slurmops-plugin-packages.json"
FORMAT = 2                               # bump when what a build writes changes
# The Debian registry (SLURMOPS_DEBIAN_MIRROR: a local mirror, or a test's unreachable one).
DEBIAN = os.environ.get("SLURMOPS_DEBIAN_MIRROR", "http://deb.debian.org/debian").rstrip("/")
DEBIAN_SECURITY = os.environ.get("SLURMOPS_DEBIAN_SECURITY_MIRROR",
                                 "http://deb.debian.org/debian-security").rstrip("/")


class RootfsError(Exception):
    """One clear line (the lab CLI prints it as `error: ...`)."""


@dataclass(frozen=True)
class Suite:
    name: str
    sources: tuple[str, ...]
    aptopts: tuple[str, ...] = ()


SUITES = {
    "bookworm": Suite("bookworm", (f"deb {DEBIAN} bookworm main", f"deb {DEBIAN} bookworm-updates main",
                                   f"deb {DEBIAN_SECURITY} bookworm-security main")),
    "trixie": Suite("trixie", (f"deb {DEBIAN} trixie main", f"deb {DEBIAN} trixie-updates main",
                               f"deb {DEBIAN_SECURITY} trixie-security main")),
    # forky's Release file is past its Valid-Until date on the registry this project uses.
    "forky": Suite("forky", (f"deb {DEBIAN} forky main",),
                   ('Acquire::Check-Valid-Until "false"',)),
}


def cache_key(suite: Suite, packages: list[str]) -> str:
    what = {"format": FORMAT, "suite": suite.name, "sources": list(suite.sources),
            "aptopts": list(suite.aptopts), "packages": sorted(set(packages))}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def path_for(suite: Suite, packages: list[str], cache: Path | None = None) -> Path:
    return (cache or CACHE) / f"{suite.name}-{cache_key(suite, packages)}"


def stamp(root: Path) -> dict | None:
    try:
        return json.loads((root / STAMP).read_text())
    except (OSError, ValueError):
        return None


def check_built(root: Path) -> dict:
    """The stamp of a complete root filesystem; RootfsError for a missing or half-built one."""
    if not root.is_dir():
        raise RootfsError(f"no root filesystem at {root}")
    info = stamp(root)
    if info is None or not (root / "usr" / "bin").is_dir():
        raise RootfsError(f"root filesystem {root} is half-built (no {STAMP}); "
                          f"remove it and build it again")
    return info


def ensure(suite: Suite, packages: list[str], cache: Path | None = None, log=None) -> Path:
    """The cached root filesystem for (suite, packages), built first when absent."""
    final = path_for(suite, packages, cache)
    if (final / STAMP).is_file():
        return final
    if final.exists():
        check_built(final)                         # raises: a half-built entry is never trusted
    if shutil.which("mmdebstrap") is None:
        raise RootfsError("mmdebstrap is not installed (apt-get install --no-install-recommends mmdebstrap)")
    final.parent.mkdir(parents=True, exist_ok=True)
    with _lock(final.parent / f".{final.name}.lock"):
        if (final / STAMP).is_file():              # another process built it meanwhile
            return final
        if final.exists():
            check_built(final)                     # raises: a half-built entry is never trusted
        _remove_stale_temps(final)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-{os.getpid()}-", dir=final.parent))
        try:
            info = _build(suite, packages, tmp, log)
            (tmp / STAMP).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
            os.chmod(tmp, 0o755)
            os.rename(tmp, final)                  # atomic: the final name means complete
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _remove_stale_temps(final: Path) -> None:
    """Temp dirs of builds whose process is gone (a crash, a kill) are removed, never used."""
    for d in final.parent.glob(f".tmp-{final.name}-*"):
        try:
            pid = int(d.name[len(f".tmp-{final.name}-"):].split("-")[0])
        except ValueError:
            continue
        if not Path(f"/proc/{pid}").exists():
            shutil.rmtree(d, ignore_errors=True)


def mmdebstrap_argv(suite: Suite, packages: list[str], target: Path) -> list[str]:
    argv = ["mmdebstrap", "--variant=apt", "--mode=root",
            # What `apt-get install --no-install-recommends` does on the host (mmdebstrap's default
            # too; explicit so a changed default cannot make the guard test pass).
            '--aptopt=APT::Install-Recommends "false"',
            *[f"--aptopt={o}" for o in suite.aptopts],
            f"--include={','.join(sorted(set(packages)))}",
            # Before apt's lists are cleaned up: which package ships each Slurm plugin (for the
            # guard test's message). $1 is the root filesystem; APT_CONFIG points apt at it.
            f"--customize-hook={sys.executable} -m slurmops.lab.rootfs index \"$1\"",
            suite.name, str(target), *suite.sources]
    return argv


def _build(suite: Suite, packages: list[str], target: Path, log) -> dict:
    t0 = time.monotonic()
    if log:
        print(f"building a Debian {suite.name} root filesystem with mmdebstrap in {target} ...",
              file=log, flush=True)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    r = subprocess.run(mmdebstrap_argv(suite, packages, target), capture_output=True, text=True,
                       env=env, stdin=subprocess.DEVNULL, timeout=1800)
    if r.returncode != 0:
        raise RootfsError(f"mmdebstrap {suite.name} failed: {_mmdebstrap_error(r.stderr + r.stdout)}")
    build_s = time.monotonic() - t0
    return {
        "suite": suite.name, "sources": list(suite.sources), "aptopts": list(suite.aptopts),
        "packages": sorted(set(packages)), "key": cache_key(suite, packages),
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "build_s": round(build_s, 1),
        "size_bytes": _du(target), "versions": installed_versions(target),
        "command": mmdebstrap_argv(suite, packages, Path("DIR")),
    }


def _mmdebstrap_error(text: str) -> str:
    """The line that says why: a fetch that failed (registry unreachable), a package apt cannot
    find, else apt's or mmdebstrap's first error."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for prefix in ("E: Failed to fetch", "E: Unable to locate package", "E: Package ", "E: "):
        hits = [ln for ln in lines if ln.startswith(prefix)]
        if hits:
            return " ".join(hits[0].split())
    return lines[-1] if lines else "no output"


def _du(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def installed_versions(root: Path) -> dict[str, str]:
    """Package -> version from the root filesystem's dpkg status file (no chroot needed)."""
    out: dict[str, str] = {}
    try:
        text = (root / "var" / "lib" / "dpkg" / "status").read_text(errors="replace")
    except OSError:
        return out
    for stanza in text.split("\n\n"):
        f = _fields(stanza)
        if f.get("Status", "").endswith(" installed") and "Package" in f:
            out[f["Package"]] = f.get("Version", "")
    return out


def _fields(stanza: str) -> dict[str, str]:
    out = {}
    for line in stanza.splitlines():
        if line and not line[0].isspace() and ":" in line:
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


# ---- running a tree's program on the host ---------------------------------------------------
def host_argv(root: Path, program: str) -> list[str]:
    """The argv prefix that runs root's ``program`` (e.g. /usr/bin/promtool) on the host with the
    tree's own dynamic loader and C library: the suite's program and libc, the host's files (no
    chroot, nothing mounted or written). A static program runs as it is."""
    exe = root / program.lstrip("/")
    if not exe.is_file():
        raise RootfsError(f"{program} is not in the root filesystem {root}")
    interp = elf_interpreter(exe.read_bytes()[:65536])
    if interp is None:
        return [str(exe)]
    loader = (root / interp.lstrip("/")).resolve()       # Debian's links are relative: stays inside
    if not loader.is_file() or root.resolve() not in loader.parents:
        raise RootfsError(f"{program}'s loader {interp} is not in the root filesystem {root}")
    return [str(loader), "--library-path", str(loader.parent), str(exe)]


def elf_interpreter(head: bytes) -> str | None:
    """PT_INTERP of a 64-bit little-endian ELF (the dynamic loader it names); None when static."""
    import struct
    if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
        raise RootfsError("not a 64-bit little-endian ELF program")
    phoff, = struct.unpack_from("<Q", head, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
    for i in range(phnum):
        off = phoff + i * phentsize
        if off + 56 > len(head):
            break
        p_type, = struct.unpack_from("<I", head, off)
        if p_type == 3:                                   # PT_INTERP
            p_offset, = struct.unpack_from("<Q", head, off + 8)
            p_filesz, = struct.unpack_from("<Q", head, off + 32)
            return head[p_offset:p_offset + p_filesz].rstrip(b"\0").decode()
    return None


# ---- plugins --------------------------------------------------------------------------------
def plugin_dirs(root: Path) -> list[Path]:
    """Debian's Slurm plugin directory (PluginDir): /usr/lib/<triplet>/slurm-wlm."""
    return sorted(p for p in (root / "usr" / "lib").glob("*/slurm-wlm") if p.is_dir())


def plugin_file(plugin: str) -> str:
    """`auth/jwt` -> `auth_jwt.so`, `openapi/v0.0.38` -> `openapi_v0_0_38.so` (plugins.shtml)."""
    return plugin.replace("/", "_").replace(".", "_") + ".so"


def missing_plugins(root: Path, plugins: list[str]) -> list[str]:
    present = {p.name for d in plugin_dirs(root) for p in d.iterdir()}
    return [p for p in plugins if plugin_file(p) not in present]


def plugin_packages(root: Path) -> dict[str, str]:
    try:
        return json.loads((root / PLUGIN_INDEX).read_text())
    except (OSError, ValueError):
        return {}


def index_plugin_packages(root: Path) -> dict[str, str]:
    """Download (not install) every binary package of Debian's slurm-wlm source and map each
    plugin .so to the package that ships it. Runs as mmdebstrap's customize hook, where
    APT_CONFIG points apt at the new root filesystem and its package lists still exist."""
    # apt pointed at the new root filesystem's configuration and lists (Dir=): the host's apt
    # would describe the host's suite.
    apt_dir = [f"-oDir={root}", f"-oDir::State::status={root}/var/lib/dpkg/status"]
    r = subprocess.run(["apt-cache", *apt_dir, "dumpavail"], capture_output=True, text=True,
                       check=True)
    names = set()
    for stanza in r.stdout.split("\n\n"):
        f = _fields(stanza)
        source = f.get("Source", f.get("Package", "")).split()[0] if f else ""
        if source == "slurm-wlm" and not f["Package"].endswith(("-doc", "-dev", "-dbgsym")):
            names.add(f["Package"])
    index: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="slurmops-debs-") as tmp:
        subprocess.run(["apt-get", *apt_dir, "download", "-q", *sorted(names)], cwd=tmp,
                       check=True, capture_output=True)
        for deb in sorted(Path(tmp).glob("*.deb")):
            pkg = deb.name.split("_")[0]
            listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                                     check=True).stdout
            for m in re.finditer(r"/slurm-wlm/([^/\s]+\.so)$", listing, re.M):
                index.setdefault(m.group(1), pkg)
    if not index:
        raise RuntimeError("no slurm-wlm plugin found in the suite's packages")
    (root / PLUGIN_INDEX).write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    return index


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "index":
        index = index_plugin_packages(Path(argv[1]))
        print(f"indexed {len(index)} Slurm plugins by package", file=sys.stderr)
        return 0
    print("usage: python -m slurmops.lab.rootfs index ROOT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
