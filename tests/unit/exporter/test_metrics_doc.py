from pathlib import Path

from slurmops.exporter import metrics

DOC = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"


def test_docs_metrics_md_is_generated_from_the_code():
    assert DOC.read_text() == metrics.metrics_doc(), \
        "regenerate: slurmops exporter slurm --print-metrics-doc > docs/metrics.md"


def test_every_family_follows_prometheus_naming():
    for spec in metrics.SPECS.values():
        assert spec.name.startswith("slurm_") and spec.help.endswith((".", ")"))
        if spec.kind == "counter":
            assert spec.name.endswith("_total")
        else:
            assert not spec.name.endswith("_total"), spec.name
        assert "cluster" not in spec.labels
