"""Build step only (the project is configured in pyproject.toml): the wheel carries a copy of the
operator content folders as package data, slurmops/_content/{alerts,runbooks,dashboards}, so an
installed package has its alert rules, runbooks and dashboard sources without a clone. The
top-level folders stay the one editable source (slurmops/content.py finds them from a clone)."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CONTENT = ("alerts", "runbooks", "dashboards")


class BuildWithContent(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):   # an editable install reads the clone itself
            return
        here = Path(__file__).resolve().parent
        for name in CONTENT:
            dest = Path(self.build_lib) / "slurmops" / "_content" / name
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(here / name, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithContent})
