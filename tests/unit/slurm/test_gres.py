import pytest

from slurmops.slurm.models import Gres
from slurmops.slurm.parse.gres import gpu_count, parse_gres


@pytest.mark.parametrize("text,want", [
    ("gpu:4", (Gres("gpu", None, 4),)),
    ("gpu:a100:4", (Gres("gpu", "a100", 4),)),
    ("gpu:a100:4(S:0-1)", (Gres("gpu", "a100", 4),)),
    ("gpu:a100:2(IDX:0,2)", (Gres("gpu", "a100", 2, (0, 2)),)),
    ("gpu:a100:4(IDX:0-3),mps:100", (Gres("gpu", "a100", 4, (0, 1, 2, 3)), Gres("mps", None, 100))),
    ("gpu:tesla:2(IDX:N/A)", (Gres("gpu", "tesla", 2),)),
    ("gres/gpu:a100=2", (Gres("gpu", "a100", 2),)),
    ("gpu", (Gres("gpu", None, 1),)),
    ("gpu:h100:8(S:0-1),gpu:l40s:2(S:1)", (Gres("gpu", "h100", 8), Gres("gpu", "l40s", 2))),
    ("shard:1K", (Gres("shard", None, 1024),)),
    ("(null)", ()),
    ("", ()),
    (None, ()),
])
def test_parse_gres(text, want):
    assert parse_gres(text) == want


def test_gpu_count_by_type():
    g = parse_gres("gpu:a100:4(IDX:0-3),gpu:v100:2(IDX:4-5),mps:100")
    assert gpu_count(g) == 6 and gpu_count(g, "v100") == 2 and gpu_count(g, "h100") == 0


def test_garbage_is_skipped_not_raised():
    assert parse_gres("gpu:a100:lots,gpu:2") == (Gres("gpu", None, 2),)


@pytest.mark.parametrize("raw,want", [
    ("Priority", "Priority"), (None, "None"), ("None", "None"),
    ("ReqNodeNotAvail, UnavailableNodes:n[1-3]", "ReqNodeNotAvail"),
    ("Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions",
     "Resources"),
    ("some free text from a plugin", "Other"),
])
def test_normalize_reason(raw, want):
    from slurmops.slurm.parse.reasons import normalize_reason
    assert normalize_reason(raw) == want


def test_controller_pings_text_and_every_json_shape():
    from slurmops.slurm.models import Controller
    from slurmops.slurm.parse.controllers import parse_ping_doc, parse_scontrol_ping
    text = ("Slurmctld(primary) at ctl1 is DOWN\nSlurmctld(backup) at ctl2 is UP\n\n"
            "*****************************************\n** RESTORE SLURMCTLD DAEMON TO SERVICE **\n")
    want = [Controller("ctl1", "primary", False), Controller("ctl2", "backup", True)]
    assert parse_scontrol_ping(text) == want
    assert parse_ping_doc({"pings": [{"hostname": "ctl1", "ping": "DOWN", "mode": "primary"},
                                     {"hostname": "ctl2", "ping": "UP", "mode": "backup"}]}) == want
    assert parse_ping_doc({"pings": [{"hostname": "ctl1", "pinged": "DOWN", "mode": "primary", "latency": 1},
                                     {"hostname": "ctl2", "pinged": "UP", "mode": "backup"}]}) == want
    assert parse_ping_doc({"pings": [{"hostname": "ctl1", "responding": False, "primary": True},
                                     {"hostname": "ctl2", "responding": True, "primary": False}]}) == \
        [Controller("ctl1", "primary", False), Controller("ctl2", "backup", True)]
    errors: list[str] = []
    assert parse_ping_doc({"pings": [3]}, errors) == [] and errors
    errors = []
    assert parse_scontrol_ping("garbage", errors) == [] and errors
