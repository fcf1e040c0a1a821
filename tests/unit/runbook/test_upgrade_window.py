"""The compatibility window slurm-upgrade and slurmdbd-upgrade-check apply, against the table in
SchedMD's Upgrade Guide (upgrades.shtml, 25.05.5: tests/fixtures/reference)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from slurmops.runbook.loader import load_file

REPO = Path(__file__).resolve().parents[3]
PAGE = REPO / "tests" / "fixtures" / "reference" / "slurm-25.05.5-upgrades.shtml"
UPGRADE = load_file(REPO / "runbooks" / "slurm_upgrade.py")


def _module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("_slurm_upgrade_t", REPO / "runbooks" / "slurm_upgrade.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


M = _module()


def page_table() -> dict[str, set[str]]:
    """{release: compatible prior versions} from the page's Compatibility Window table."""
    html = PAGE.read_text()
    rows = re.findall(r"<tr>\s*<td>(\d\d\.\d\d)</td>\s*<td>[^<]*</td>\s*<td>([^<]*)</td>\s*</tr>", html)
    return {rel: {v.strip() for v in prior.split(",")} for rel, prior in rows}


def test_the_page_has_the_table():
    table = page_table()
    assert set(table) == {"23.02", "23.11", "24.05", "24.11", "25.05", "25.11"}
    assert table["24.11"] == {"24.05", "23.11", "23.02"}


@pytest.mark.parametrize("release", sorted(page_table()))
def test_window_matches_the_page(release):
    """Exactly the listed prior versions are accepted by each release, no other one."""
    accepted = {old for old in M.W.RELEASES if old < release and M.window_problem("x", old, release) is None}
    assert accepted == page_table()[release]


def test_22_05_to_24_11_is_refused_with_the_reason_and_the_steps():
    why = M.window_problem("slurmctld", "22.05", "24.11")
    assert why is not None
    assert "22.05 -> 24.11 is 4 major releases, outside 24.11's compatibility window of 3" in why
    assert "upgrade in steps 22.05 -> 23.11 -> 24.11" in why
    # each step of that path is accepted by the page's table
    table = page_table()
    assert "22.05" in table["23.11"] and "23.11" in table["24.11"]


def test_24_11_to_26_05_is_within_the_window():
    """26.05 is not in the 25.05.5 page's table; the page's rule (three earlier major releases
    from 24.11 on) gives 25.11, 25.05 and 24.11."""
    assert M.window_problem("slurmctld", "24.11", "26.05") is None
    assert M.window_problem("slurmctld", "24.05", "26.05") is not None


def test_downgrade_and_unknown_release_are_refused():
    assert "downgrades are not supported" in M.window_problem("slurmdbd", "26.05", "24.11")
    assert "unknown release" in M.window_problem("slurmdbd", "19.05", "24.11")


def test_runbook_shape():
    """SchedMD's order: backups before slurmdbd, slurmdbd before slurmctld before slurmd."""
    titles = [s.title for s in UPGRADE.steps]
    order = [next(i for i, t in enumerate(titles) if key in t)
             for key in ("Back up", "Upgrade slurmdbd", "Upgrade slurmctld", "Upgrade slurmd,", "client")]
    assert order == sorted(order)
    assert all(s.rollback for s in UPGRADE.destructive_steps)
