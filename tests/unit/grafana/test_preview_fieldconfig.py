"""The preview applies thresholds, value mappings, overrides and table transformations the way
Grafana documents them (grafana.com/docs: "Configure thresholds", "Configure value mappings",
"Transform data": merge, organize fields), on the JSON our dashboards really contain."""
from __future__ import annotations

from slurmops.grafana import generate, model as m, preview
from slurmops.grafana.prom import Series

STEPS = {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 1},
                                       {"color": "red", "value": 5}]}


def test_thresholds_pick_the_highest_step_reached():
    assert preview.threshold_color(0, STEPS) == preview.NAMED["green"]
    assert preview.threshold_color(1, STEPS) == preview.NAMED["orange"]     # a stat orange at 1
    assert preview.threshold_color(4.9, STEPS) == preview.NAMED["orange"]
    assert preview.threshold_color(7, STEPS) == preview.NAMED["red"]


def test_value_mappings_replace_text_and_colour():
    gpus = generate.load_built()["gpus"]
    xid = next(p for p in m.panels(gpus) if p["title"].startswith("Last XID"))
    conf = preview.field_config(xid, "last XID", numeric=True)
    assert preview.display(79.0, conf) == ("79: GPU has fallen off the bus", preview.NAMED["red"])
    assert preview.display(13.0, conf) == ("13: graphics engine exception (app)", preview.NAMED["blue"])
    assert preview.display(999.0, conf)[0] == "999"          # unmapped: the plain value
    # The override applies to number fields only: a label column keeps no mapping.
    assert not preview.field_config(xid, "Hostname", numeric=False).get("mappings")


def test_range_and_special_mappings():
    maps = [{"type": "range", "options": {"from": 0, "to": 0.5, "result": {"text": "low", "color": "red"}}},
            {"type": "special", "options": {"match": "nan", "result": {"text": "n/a"}}}]
    assert preview.map_value(0.2, maps) == ("low", preview.NAMED["red"])
    assert preview.map_value(float("nan"), maps) == ("n/a", "")
    assert preview.map_value(0.7, maps) is None


def test_table_merge_and_organize_like_grafana():
    nodes = generate.load_built()["nodes"]
    panel = next(p for p in m.panels(nodes) if p["title"].startswith("Drained and down nodes"))
    a = [Series({"node": "n1", "reason": "bad disk", "user": "root", "cluster": "c"}, [(100.0, 1.0)]),
         Series({"node": "n2", "reason": "maint: bios", "user": "ops", "cluster": "c"}, [(100.0, 1.0)])]
    b = [Series({"node": "n1", "cluster": "c"}, [(100.0, 1.7e12)])]
    columns, rows = preview.table_frame([("A", a), ("B", b)], multi=True)
    assert columns == ["Time", "cluster", "node", "reason", "user", "Value #A", "Value #B"]
    order, rows = preview.transform(panel, columns, rows)
    # merge joins on the labels the frames share (n1's two rows become one); organize hides
    # Time, cluster and Value #A and renames Value #B to "since".
    assert [d for _, d in order] == ["node", "reason", "user", "since"]
    n1 = next(r for r in rows if r.get("node") == "n1" and "Value #B" in r)
    assert n1["reason"] == "bad disk"



def test_heatmap_buckets_are_decumulated_like_grafanas_heatmap_format():
    buckets = [("60.0", [(1.0, 2.0), (2.0, 2.0)]), ("300.0", [(1.0, 5.0), (2.0, 2.0)]),
               ("+Inf", [(1.0, 9.0), (2.0, 3.0)])]
    assert preview.decumulate(buckets) == [("60.0", [(1.0, 2.0), (2.0, 2.0)]),
                                           ("300.0", [(1.0, 3.0), (2.0, 0.0)]),
                                           ("+Inf", [(1.0, 4.0), (2.0, 1.0)])]
