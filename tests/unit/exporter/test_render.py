"""The fast exposition of RowsFamily must be byte for byte client_python's."""
from __future__ import annotations

import math

import pytest

from reference import client_python_exposition as slow_render
from slurmops.exporter.metrics import RowsFamily
from slurmops.exporter.render import render


def _family(name, typ, labels, rows):
    f = RowsFamily(name, 'Help with a \\ backslash\nand a newline "quoted".', typ, labels)
    f.rows.extend(rows)
    return f


@pytest.mark.parametrize("rows", [
    [(("c1", "n1", "idle"), 64.0), (("c1", "n2", "total"), 2.68435456e11), (("c1", "n3", "x"), 0.5)],
    # values that need escaping, in any label position
    [(("c1", 'bad "dimm"', "a\\b"), 1.0), (("c1", "n2", "line\nbreak"), -3.0), (("c1", "n3", "ok"), 1.0)],
    [(("c1", "n1", "a"), math.inf), (("c1", "n2", "b"), -math.inf), (("c1", "n3", "c"), math.nan),
     (("c1", "n4", "d"), 1e-7), (("c1", "n5", "e"), 12345678901234567.0)],
    [(("c1", "ünïcode ✓", "a{b}"), 1.0), (("c1", "{0}", "}{"), 2.0)],   # braces are not templates
])
def test_rows_render_exactly_as_client_python(rows):
    # label names out of order, so sorting by name must move the values too
    fam = _family("slurm_test_metric", "gauge", ["zone", "node", "cluster"], rows)
    assert render([fam]) == slow_render([fam])


def test_counter_and_no_label_families_render_exactly_as_client_python():
    c = _family("slurm_test_calls", "counter", ["cluster", "command"], [(("c1", "squeue"), 7.0)])
    g = _family("slurm_test_up", "gauge", [], [((), 1.0)])
    assert render([c, g]) == slow_render([c, g])
    assert b"slurm_test_calls_total{cluster=\"c1\",command=\"squeue\"} 7.0\n" in render([c])
