"""The operator content ships with the package: a wheel built from this tree, installed into a fresh
venv outside the repository, runs `alerts build|test`, `runbook list` and `dashboards build` with
no clone around (its alerts/, runbooks/ and dashboards/ are the copies inside the package).

Offline: the wheel is installed with --no-deps, and the fresh venv sees the dependencies of the
test's own environment through a .pth line (a plain path entry: the dev environment's editable
slurmops is not importable through it, so what runs is the wheel)."""
from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow    # builds and installs a wheel: ~20 s
REPO = Path(__file__).resolve().parents[2]
_ANYWHERE = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache")


def SKIP(directory: str, names: list[str]) -> set[str]:
    """What the copy of the tree leaves out: caches anywhere; the venv, git, builds, tests at the top."""
    top = {".git", ".venv", "build", "artifacts", "tests"} if Path(directory) == REPO else set()
    return set(_ANYWHERE(directory, names)) | (top & set(names))


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{' '.join(argv)}: {r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory, promtool_bin) -> tuple[Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=SKIP)            # the build writes nothing into the repository
    wheels = tmp / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
         str(src)], cwd=tmp)
    (wheel,) = wheels.glob("slurmops-*.whl")
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
    py = venv / "bin" / "python"
    purelib = run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp).strip()
    Path(purelib, "dev-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q",
         str(wheel)], cwd=tmp)     # pip >= 22.3 installs into another environment
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURMOPS_", "PYTHON", "VIRTUAL_ENV"))}
    env["PROMTOOL"] = promtool_bin
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    return venv, env


def test_the_wheel_is_what_runs(installed, tmp_path):
    venv, env = installed
    where = run([str(venv / "bin" / "python"), "-c",
                 "import json, slurmops, slurmops.content as c; "
                 "print(json.dumps([slurmops.__file__] + [str(c.content_dir(n)) for n in c.NAMES]))"],
                cwd=tmp_path, env=env)
    paths = json.loads(where)
    assert all(p.startswith(str(venv)) for p in paths), paths
    assert not any(p.startswith(str(REPO)) for p in paths), paths


def test_alerts_build_and_test_from_the_installed_package(installed, tmp_path):
    venv, env = installed
    slurmops = str(venv / "bin" / "slurmops")
    out = run([slurmops, "alerts", "build", "--check"], cwd=tmp_path, env=env)
    assert "drift" not in out
    run([slurmops, "alerts", "build", "--out", str(tmp_path / "rules")], cwd=tmp_path, env=env)
    assert sorted(p.name for p in (tmp_path / "rules").glob("*.rules.yml")) == \
        sorted(p.name for p in (REPO / "alerts").glob("*.rules.yml"))
    out = run([slurmops, "alerts", "test"], cwd=tmp_path, env=env)
    assert "SUCCESS" in out or "pass" in out.lower(), out


def test_runbook_list_from_the_installed_package(installed, tmp_path):
    venv, env = installed
    out = run([str(venv / "bin" / "slurmops"), "runbook", "list"], cwd=tmp_path, env=env)
    from_clone = run([sys.executable, "-m", "slurmops", "runbook", "list"], cwd=REPO)
    assert out == from_clone and len(out.splitlines()) == len(list((REPO / "runbooks").glob("[!_]*.py")))


def test_dashboards_build_from_the_installed_package(installed, tmp_path):
    venv, env = installed
    run([str(venv / "bin" / "slurmops"), "dashboards", "build", "--out-dir", str(tmp_path / "json")],
        cwd=tmp_path, env=env)
    built = sorted((tmp_path / "json").glob("*.json"))
    assert [p.name for p in built] == sorted(p.name for p in (REPO / "dashboards" / "build").glob("*.json"))
    for p in built:
        assert p.read_bytes() == (REPO / "dashboards" / "build" / p.name).read_bytes(), p.name
