"""Pure parsers of cgroup kernel files, on text in the kernel's own formats."""
import pytest

from slurmops.node import cgroup as cg


def test_parse_int_unlimited_forms():
    assert cg.parse_int("max\n") is None
    assert cg.parse_int("9223372036854771712\n") is None       # v1 "no limit"
    assert cg.parse_int("104857600\n") == 104857600


def test_count_cpus_ranges():
    assert cg.count_cpus("0-3,8,10-11\n") == 7
    assert cg.count_cpus("5\n") == 1
    assert cg.count_cpus("\n") == 0
    with pytest.raises(ValueError):
        cg.count_cpus("garbage")


def test_parse_pressure_some_and_full_in_seconds():
    p = cg.parse_pressure("some avg10=0.23 avg60=0.31 avg300=0.30 total=12311530\n"
                          "full avg10=0.00 avg60=0.00 avg300=0.00 total=250\n")
    assert p == cg.Pressure(12.31153, 0.00025)
    assert cg.parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n").full_s is None
    with pytest.raises(ValueError):
        cg.parse_pressure("")


def test_parse_io_stat_sums_devices():
    io = cg.parse_io_stat("259:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n"
                          "8:0 rbytes=5 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n")
    assert io == cg.IoCounters(15, 20, 2, 2)


def test_parse_blkio_ignores_totals():
    text = "8:0 Read 100\n8:0 Write 50\n8:0 Sync 150\n8:0 Total 150\n8:16 Read 1\nTotal 151\n"
    assert cg.parse_blkio(text) == (101, 50)


def test_parse_devices_list():
    assert cg.parse_devices_list("a *:* rwm\n", 195) == (True, [])
    assert cg.parse_devices_list("c 1:3 rwm\nc 195:0 rwm\nc 195:2 rw\nb 195:1 r\n", 195) == (False, [0, 2])


def test_parse_environ():
    env = cg.parse_environ(b"A=1\0SLURM_JOB_ID=42\0EMPTY=\0junk\0")
    assert env == {"A": "1", "SLURM_JOB_ID": "42", "EMPTY": ""}


@pytest.mark.parametrize("name,expected", [
    ("job_123", ("123", "")),
    ("sBR1JB8J1YM400", ("sBR1JB8J1YM400", "sBR1JB8J1YM400")),
    ("job_sBR1JB8J1YM400", ("sBR1JB8J1YM400", "sBR1JB8J1YM400")),
    ("job_xyz", None), ("step_0", None), ("system", None),
    ("sBR1JB8J1YM4U0", None),        # U is not Crockford base32
])
def test_classify_job_dir(name, expected):
    assert cg.classify_job_dir(name) == expected
