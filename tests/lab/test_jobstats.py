"""`slurmops jobstats` against real jobs in the lab, each figure checked against an independent
truth: the kernel's cgroup files sampled by this test while the job runs, or what the job was built
to do. The summaries are stored by the lab's real EpilogSlurmctld (slurmops jobstats store).

Jobs run concurrently (one fixture submits them all) to keep this module near one minute."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from slurmops.lab import proc
from slurmops.lab.workload import sbatch

pytestmark = pytest.mark.lab
CG = Path("/sys/fs/cgroup")
MB = 2**20
TOUCH_MB = 300
BUSY_S = 30


def jobstats(lab, *args, env=None, timeout=120):
    e = {**lab.env, "PROMETHEUS_URL": lab.cfg.url("prometheus"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "slurmops", "jobstats", *args], env=e,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def report(lab, jobid, *args):
    r = jobstats(lab, jobid, "--json", *args)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return json.loads(r.stdout)


def sacct_field(lab, jobid, field):
    r = proc.run(["sacct", "-X", "-n", "-P", "-j", jobid, "-o", field], env=lab.env, timeout=30)
    return r.stdout.strip().splitlines()[0] if r.stdout.strip() else ""


def job_cgroups(ctl: str, jobid: str, nodes) -> list[Path]:
    return [p for p in CG.glob(f"{ctl}/slurm*/uid_*/job_{jobid}")
            if p.parent.parent.name.removeprefix("slurm_") in nodes]


class Sampler(threading.Thread):
    """Reads the job's cgroup files once a second until they vanish: the independent truth."""

    def __init__(self, jobid, nodes):
        super().__init__(daemon=True)
        self.jobid, self.nodes = jobid, nodes
        self.cpu: list[tuple[float, float]] = []     # (time, cpuacct.usage seconds, all nodes)
        self.mem_peak = 0

    def run(self):
        deadline = time.monotonic() + 180
        seen = False
        while time.monotonic() < deadline:
            cpu = job_cgroups("cpuacct", self.jobid, self.nodes)
            mem = job_cgroups("memory", self.jobid, self.nodes)
            try:
                if cpu:
                    seen = True
                    self.cpu.append((time.time(), sum(int((p / "cpuacct.usage").read_text())
                                                      for p in cpu) / 1e9))
                for p in mem:
                    self.mem_peak = max(self.mem_peak, int((p / "memory.max_usage_in_bytes").read_text()))
            except OSError:
                pass
            if seen and not cpu:
                return
            time.sleep(1)

    def cpu_average(self, start: int) -> float:
        """CPU seconds per second from the job's start to the last sample of the kernel counter
        (the same span the report's figure covers; the kernel counter starts at 0 with the job)."""
        t, u = self.cpu[-1]
        return u / (t - start)

    def cpu_rate(self) -> float:
        """CPU seconds per second while the job ran (steady state: first to last sample)."""
        (t0, u0), (t1, u1) = self.cpu[0], self.cpu[-1]
        return (u1 - u0) / (t1 - t0)


def wait_done(lab, jobids, timeout=240):
    """Until every job is finished in sacct AND the lab's EpilogSlurmctld has dealt with it (its
    log names the job: summary stored, or why not)."""
    log = lab.cfg.log / "jobstats-store.log"
    deadline = time.monotonic() + timeout
    pending = set(jobids)
    while pending and time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        for j in list(pending):
            state = sacct_field(lab, j, "State")
            if state and state.split()[0] not in ("PENDING", "RUNNING", "COMPLETING", "REQUEUED"):
                if f"job {sacct_field(lab, j, 'JobIDRaw')}: " in text:
                    pending.discard(j)
        time.sleep(2)
    assert not pending, f"jobs not finished/stored in time: {pending}"


@pytest.fixture(scope="module")
def jobs(lab):
    nodes = lab.cfg.node_names
    busy = (f"python3 -c 'import time\nt=time.time()\nwhile time.time()-t<{BUSY_S}: pass'")
    touch = (f"python3 -c 'import time\nb=bytearray({TOUCH_MB}*2**20)\nb[::4096]=b\"x\"*len(range(0,len(b),4096))\n"
             f"time.sleep(20)'")
    j = {
        "busy": sbatch(lab, "-p", "cpu", "-N1", "-c", "4", "--mem=400M", "-t", "10", "-J", "js-busy",
                       "--wrap", busy),
        "touch": sbatch(lab, "-p", "cpu", "-N1", "--mem=1G", "-t", "10", "-J", "js-touch", "--wrap", touch),
        "sleep": sbatch(lab, "-p", "cpu", "-N1", "-c", "2", "--mem=200M", "-t", "10", "-J", "js-sleep",
                        "--wrap", "sleep 20"),
        "oom": sbatch(lab, "-p", "cpu", "-N1", "--mem=100M", "-t", "10", "-J", "js-oom", "--wrap",
                      "python3 -c 'import time\nb=bytearray(400*2**20)\nb[::4096]=b\"x\"*len(range(0,len(b),4096))'"),
        "multi": sbatch(lab, "-p", "cpu", "-N2", "--ntasks-per-node=1", "--mem=200M", "-t", "10",
                        "-J", "js-multi", "--wrap", "srun sleep 20"),
        "array": sbatch(lab, "-p", "cpu", "-N1", "-a", "1-2", "--mem=100M", "-t", "10", "-J", "js-array",
                        "--wrap", "sleep 15"),
    }
    samplers = {k: Sampler(j[k], nodes) for k in ("busy", "touch", "sleep")}
    for s in samplers.values():
        s.start()
    running = None
    deadline = time.monotonic() + 60
    while running is None and time.monotonic() < deadline:   # the busy job while it runs, live
        time.sleep(3)
        if sacct_field(lab, j["busy"], "State") == "RUNNING":
            time.sleep(12)    # a few scrapes
            running = jobstats(lab, j["busy"], "--json", "--no-stored")
    wait_done(lab, [j["busy"], j["touch"], j["sleep"], j["oom"], j["multi"],
                    f"{j['array']}_1", f"{j['array']}_2"])
    for s in samplers.values():
        s.join(timeout=30)
    yield {"ids": j, "samplers": samplers, "running": running}
    proc.run(["scancel", *j.values()], env=lab.env, timeout=30)


def test_running_job_report_from_prometheus(lab, jobs):
    r = jobs["running"]
    assert r is not None and r.returncode == 0, r and r.stderr
    d = json.loads(r.stdout)
    assert d["source"] == "prometheus" and d["job"]["state"] == "RUNNING" and d["job"]["end"] is None
    assert d["figures"]["cpu_s"] > 0


def test_cpu_efficiency_of_one_busy_cpu_out_of_four(lab, jobs):
    d = report(lab, jobs["ids"]["busy"])
    assert d["source"] == "stored"
    truth = jobs["samplers"]["busy"].cpu_average(d["job"]["start"]) / 4   # kernel cpuacct.usage / 4
    eff = d["figures"]["cpu_eff"]
    print(f"\nbusy 1 of 4 CPUs: report {eff:.1%}, kernel {truth:.1%} (designed 25%)")
    assert abs(eff - truth) <= 0.03
    # what the job was built to do; on this shared 2-core host one busy loop may not get a whole
    # core, which the kernel figure shows — then the designed 25% cannot be the truth.
    if abs(truth - 0.25) <= 0.02:
        assert abs(eff - 0.25) <= 0.03


def test_peak_memory_of_a_job_touching_n_mb(lab, jobs):
    d = report(lab, jobs["ids"]["touch"])
    peak = d["figures"]["mem_used"]
    kernel = jobs["samplers"]["touch"].mem_peak
    print(f"\ntouch {TOUCH_MB} MB: report {peak / MB:.1f} MB, kernel max_usage {kernel / MB:.1f} MB")
    assert abs(peak - TOUCH_MB * MB) <= 0.05 * TOUCH_MB * MB
    assert abs(peak - kernel) <= 0.02 * kernel


def test_sleep_job_uses_no_cpu(lab, jobs):
    d = report(lab, jobs["ids"]["sleep"])
    assert d["figures"]["cpu_eff"] < 0.01
    assert jobs["samplers"]["sleep"].cpu_rate() < 0.02          # the kernel agrees


def test_oom_killed_job_says_so(lab, jobs):
    jid = jobs["ids"]["oom"]
    assert sacct_field(lab, jid, "State") == "OUT_OF_MEMORY"     # Slurm's own verdict
    d = report(lab, jid)
    assert [n["rule"] for n in d["notes"]][:1] == ["oom-killed"]
    text = jobstats(lab, jid, "--no-color").stdout
    assert "killed by the out-of-memory killer" in text


def test_two_node_job_shows_both_nodes(lab, jobs):
    jid = jobs["ids"]["multi"]
    nodes = proc.run(["sacct", "-X", "-n", "-P", "-j", jid, "-o", "NodeList"], env=lab.env).stdout.strip()
    expanded = proc.run(["scontrol", "show", "hostnames", nodes], env=lab.env).stdout.split()
    assert len(expanded) == 2
    d = report(lab, jid)
    assert d["job"]["nodes"] == expanded
    covered = sorted(n for v in d["nodes"].values() for n in v["slurm_nodes"])
    assert covered == sorted(expanded)
    text = jobstats(lab, jid, "--no-color").stdout
    assert all(n in text.split("Detailed Utilization")[1] for n in expanded)


def test_array_task_by_jobid_task(lab, jobs):
    aid = jobs["ids"]["array"]
    raws = set()
    for task in ("1", "2"):
        d = report(lab, f"{aid}_{task}")
        assert d["job"]["jobid"] == f"{aid}_{task}" and d["source"] == "stored"
        raws.add(d["job"]["jobid_raw"])
    assert len(raws) == 2        # each task its own summary (sacctmgr by JOBID_TASK, not all tasks)


def test_bulk_one_sacct_call_uses_stored_summaries(lab, jobs, tmp_path):
    r = jobstats(lab, "--user", "root", "--since", "1d", "--format", "json",
                 "--prometheus", "http://127.0.0.1:1")      # no Prometheus: stored summaries only
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    mine = {row["jobid"]: row for row in d["jobs"]}
    assert mine[jobs["ids"]["busy"]]["data"] == "stored"
    waste = [row["wasted_core_h"] + 16 * row["wasted_gpu_h"] for row in d["jobs"]]
    assert waste == sorted(waste, reverse=True)
    assert abs(d["totals"]["wasted_core_hours"] - sum(row["wasted_core_h"] for row in d["jobs"])) < 0.01
    out = tmp_path / "weekly.html"
    r = jobstats(lab, "weekly", "--account", "root", "--since", "1d", "-o", str(out))
    assert r.returncode == 0, r.stderr
    r = jobstats(lab, "--account", "root", "--since", "1d", "--format", "json")
    worst = json.loads(r.stdout)["jobs"][0]["jobid"]
    check_in_chromium(out, tmp_path, worst)


def check_in_chromium(page: Path, tmp_path: Path, jobid: str) -> None:
    """The weekly page as a browser builds it: totals, both charts drawn, the worst job first."""
    import os
    import re
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        msg = "chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("SLURMOPS_REQUIRE_LAB") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1100,1400"]
    r = subprocess.run([*args, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    dom = r.stdout
    assert r.returncode == 0 and "</html>" in dom, r.stderr[-500:]
    for chart in ("chart-users", "chart-days"):
        part = dom.split(f'id="{chart}"', 1)[1].split("</div>", 1)[0]
        assert len(re.findall(r"<rect ", part)) >= 2, f"{chart} drew no bars"
    assert re.search(r'id="wasted-core-hours"[^>]*>\d+\.\d<', dom)
    first = dom.split('id="worst"', 1)[1].split("</tr>", 2)[1]      # the row after the header
    assert f"<td>{jobid}</td>" in first
    shot = tmp_path / "weekly.png"
    r = subprocess.run([*args, f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and shot.stat().st_size > 10_000, r.stderr[-500:]


def test_bad_input_clear_errors(lab, jobs):
    # sacct failing for real: slurmdbd unreachable (a copy of slurm.conf pointing at a closed port).
    # The copy lives in the lab's etc/: a newer generation's sacct runs in the lab's mount
    # namespace, which sees the lab dir but not the host's /tmp.
    conf = lab.cfg.etc / "slurm-closed-dbd-port.conf"
    conf.write_text("".join("AccountingStoragePort=1\n" if line.startswith("AccountingStoragePort=")
                            else line for line in lab.cfg.slurm_conf.read_text().splitlines(True)))
    cases = [
        (("999999",), {}, 3, "not in the accounting"),
        ((jobs["ids"]["busy"], "--cluster", "elsewhere"), {}, 3, "cluster 'elsewhere'"),
        (("12x",), {}, 2, "not a job id"),
        ((jobs["ids"]["busy"], "--no-stored", "--prometheus", "http://127.0.0.1:1"), {}, 5, "unreachable"),
        ((jobs["ids"]["busy"],), {"SLURM_CONF": str(conf)}, 4, "Problem talking to the database"),
    ]
    try:
        for args, env, code, words in cases:
            r = jobstats(lab, *args, env=env)
            assert r.returncode == code, (args, r.returncode, r.stderr)
            assert r.stderr.startswith("error: ") and words in r.stderr and "Traceback" not in r.stderr, r.stderr
    finally:
        conf.unlink(missing_ok=True)


def test_malformed_stored_summary(lab, jobs):
    jid = jobs["ids"]["sleep"]
    proc.run(["sacctmgr", "-i", "modify", "job", "where", f"jobid={jid}", "set",
              "AdminComment=so1:nothex!!"], env=lab.env, timeout=30)
    r = jobstats(lab, jid, "--json")                    # Prometheus still has the job: fallback
    assert r.returncode == 0 and "warning: the summary stored" in r.stderr
    assert json.loads(r.stdout)["source"] == "prometheus"
    r = jobstats(lab, jid, "--prometheus", "http://127.0.0.1:1")
    assert r.returncode == 6 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr


def test_summary_survives_prometheus_data_loss(lab, jobs):
    """Last: it deletes Prometheus' data. Before that, a job ends while Prometheus is down: it
    completes, and the epilog logs and counts the missing summary."""
    busy = jobs["ids"]["busy"]
    before = report(lab, busy)
    counter = lab.cfg.dir / "jobstats" / "slurmops_jobstats.prom"

    def missing():
        for line in counter.read_text().splitlines():
            if line.startswith('slurmops_jobstats_store_total{result="prometheus_error"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    n0 = missing()
    assert proc.run([sys.executable, "-m", "slurmops", "lab", "stop", "prometheus", "--dir",
                     str(lab.cfg.dir)], env=lab.env, timeout=120).returncode == 0
    try:
        shutil.rmtree(lab.cfg.dir / "prometheus" / "data")
        (lab.cfg.dir / "prometheus" / "data").mkdir()
        jid = sbatch(lab, "-p", "cpu", "--mem=100M", "-t", "5", "--wrap", "sleep 2")
        wait_done(lab, [jid], timeout=90)
        deadline = time.monotonic() + 60
        while missing() < n0 + 1 and time.monotonic() < deadline:
            time.sleep(1)
        assert sacct_field(lab, jid, "State") == "COMPLETED"
        assert missing() == n0 + 1
        log = (lab.cfg.log / "jobstats-store.log").read_text()
        assert f"job {jid}: summary missing: Prometheus at" in log
    finally:
        assert proc.run([sys.executable, "-m", "slurmops", "lab", "start", "prometheus", "--dir",
                         str(lab.cfg.dir)], env=lab.env, timeout=180).returncode == 0
    after = report(lab, busy)
    assert after["source"] == "stored" and after["figures"] == before["figures"]
    assert after["nodes"] == before["nodes"]
    r = jobstats(lab, busy, "--no-stored", "--json")          # Prometheus really forgot the job
    assert json.loads(r.stdout)["source"] == "none"


def test_store_never_overwrites_another_tools_admin_comment(lab, jobs, tmp_path):
    jid = jobs["ids"]["oom"]
    proc.run(["sacctmgr", "-i", "modify", "job", "where", f"jobid={jid}", "set",
              "AdminComment=site-note"], env=lab.env, timeout=30)
    r = jobstats(lab, "store", jid, "--state-dir", str(tmp_path), "--wait", "0")
    assert r.returncode == 0 and "AdminComment already holds something else" in r.stderr
    assert 'slurmops_jobstats_store_total{result="occupied"} 1' in (tmp_path / "slurmops_jobstats.prom").read_text()
    assert sacct_field(lab, jid, "AdminComment") == "site-note"
