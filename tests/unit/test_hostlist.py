import pytest

from slurmops.slurm.hostlist import expand


@pytest.mark.parametrize("expr,want", [
    ("n1", ["n1"]),
    ("n[1-3]", ["n1", "n2", "n3"]),
    ("n[1-2,5],c1", ["n1", "n2", "n5", "c1"]),
    ("gpu[008-011]", ["gpu008", "gpu009", "gpu010", "gpu011"]),
    ("r[1-2]n[01-02]", ["r1n01", "r1n02", "r2n01", "r2n02"]),
    ("a-very-long-node-name-0001.cluster.example.org",
     ["a-very-long-node-name-0001.cluster.example.org"]),
    ("", []),
    ("(null)", []),
])
def test_expand(expr, want):
    assert expand(expr) == want


@pytest.mark.parametrize("bad", ["n[1-3", "n1-3]", "n[3-1]", "n[a-b]"])
def test_expand_rejects_bad_syntax(bad):
    with pytest.raises(ValueError):
        expand(bad)
