"""The dashboards stay bounded at scale without a lab: every query that keeps a per-node, per-job,
per-user or per-GPU label in its result ranks it (topk/bottomk). The measured budget (series and
seconds per query on a real Prometheus) is tests/lab/test_dashboards_lab.py and, at 10,000 nodes,
bench/README.md."""
from __future__ import annotations

from slurmops.grafana import budget, generate, model as m


def test_every_per_node_job_user_gpu_query_is_ranked():
    unranked = []
    for _name, d in generate.load_built().items():
        for q in m.queries(d):
            if budget.per_label_query(q.expr) and not budget.ranked(q.expr):
                unranked.append(f"{q.key}: {q.expr[:100]}")
    assert not unranked, "\n".join(unranked)


def test_per_label_query_reads_the_outermost_aggregation():
    assert budget.per_label_query("sum by (user) (rate(x[5m]))") == ("user",)
    assert budget.per_label_query("(max by (node, flag) (x)) and on (node) topk(20, y)") == ("node",)
    assert budget.per_label_query("count(count by (jobid) (x))") == ()
    assert budget.per_label_query("sum by (partition, state) (x)") == ()


def test_problems_flag_series_time_and_unranked_results():
    def cost(expr, series, seconds, labels=()):
        return budget.Cost("d", "p", "A", expr, False, series, seconds, labels)
    assert budget.problems([cost("topk(20, sum by (node) (x))", 20, 0.1, ("node",))]) == []
    assert budget.problems([cost("topk(20, x)", 51, 0.1)]) == ["d / p / A: 51 series (budget 50)"]
    assert budget.problems([cost("sum(x)", 1, 2.5)]) == ["d / p / A: 2.50 s (budget 2 s)"]
    assert budget.problems([cost("x", 3, 0.1, ("node",))]) == \
        ["d / p / A: one series per node and no topk/bottomk"]


def test_varying_high_labels_ignores_a_label_with_one_value():
    assert budget.varying_high_labels([{"node": "a", "job": "x"}, {"node": "b", "job": "x"}]) == ("node",)
    assert budget.varying_high_labels([{"instance": "i", "state": "a"}, {"instance": "i", "state": "b"}]) == ()
