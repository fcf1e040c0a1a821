"""munge health: munged answers, credentials round-trip and replays are refused, the key is private,
clocks agree, Slurm authenticates. Read-only; every finding is PASS, WARN or FAIL."""
import re
import time

from slurmops.runbook import Cmd, Param, Runbook, Step
from slurmops.runbook.health import nodes_responding, slurmctld_up, slurmdbd_answers
from slurmops.runbook.steps import graded, verdict

LOCAL_ADDRS = {"127.0.0.1", "::1", "localhost"}


def _fields(text: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in text.splitlines()) if v}


def roundtrip(ctx):
    """munge -n | unmunge: STATUS Success, our uid, encode/decode times; then the same credential
    again must be refused as a replay (munged's replay cache works). The credential is never logged."""
    sock = ctx.values["munge_socket"]
    cred = ctx.run(["munge", "-n", "-S", sock], timeout=10, secret_output=True)
    if cred.rc != 0:
        return "FAIL", f"munge -n exit {cred.rc}: munged does not answer on {sock}"
    dec = ctx.run(["unmunge", "-S", sock], timeout=10, input=cred.stdout, secret_output=True)
    f = _fields(dec.stdout)
    if dec.rc != 0 or not f.get("STATUS", "").startswith("Success"):
        return "FAIL", f"unmunge: {f.get('STATUS') or dec.stderr.strip()[:120]}"
    enc = re.search(r"\((\d+)\)", f.get("ENCODE_TIME", ""))
    dect = re.search(r"\((\d+)\)", f.get("DECODE_TIME", ""))
    lag = int(dect.group(1)) - int(enc.group(1)) if enc and dect else None
    again = ctx.run(["unmunge", "-S", sock], timeout=10, input=cred.stdout, secret_output=True)
    replay = _fields(again.stdout).get("STATUS", "")
    if "Replayed" not in replay:
        return "FAIL", f"the same credential decoded twice ({replay or again.rc}): replay cache broken"
    ctx.memory["munge_cred"] = cred.stdout       # in memory only: for the cross-host decode below
    return "PASS", (f"credential from {f.get('ENCODE_HOST', '?')}, uid {f.get('UID', '?')}, "
                    f"ttl {f.get('TTL', '?')} s, {f.get('CIPHER', '?')}/{f.get('MAC', '?')}, "
                    f"decode lag {lag} s; replay refused ({replay})")


def key_file(ctx):
    """Owner munge (lab: root), mode 0400, at least 32 bytes, directory not writable by others."""
    key, owner = ctx.values["munge_key"], ctx.values["munge_owner"]
    st = ctx.run(["stat", "-L", "-c", "%U:%G %a %s", key], timeout=10)
    if st.rc != 0:
        return "FAIL", f"{key}: {st.stderr.strip()[:120]}"
    who, mode, size = st.stdout.split()
    parent = ctx.run(["stat", "-L", "-c", "%U %a", key.rsplit("/", 1)[0] or "/"], timeout=10)
    problems = []
    if who != owner:
        problems.append(f"owner {who} (want {owner})")
    if int(mode, 8) & 0o077:
        problems.append(f"mode {mode}: readable by others")
    if int(size) < 32:
        problems.append(f"{size} bytes: munged refuses keys under 32 bytes")
    if parent.rc == 0 and int(parent.stdout.split()[1], 8) & 0o022:
        problems.append(f"directory mode {parent.stdout.split()[1]}: writable by group/others")
    if problems:
        return "FAIL", f"{key}: " + "; ".join(problems)
    level = "PASS" if mode == "400" else "WARN"
    return level, f"{key}: {who}, mode {mode}{'' if mode == '400' else ' (authentication.shtml: 400)'}, {size} bytes"


def _local_names(ctx) -> set[str]:
    names = set(LOCAL_ADDRS)
    for argv in (["hostname"], ["hostname", "-s"], ["hostname", "-I"]):
        out = ctx.run(argv, timeout=10)
        names |= set(out.stdout.split())
    return names


def clocks(ctx):
    """munge credentials carry their encode time and expire after their TTL (300 s): hosts whose
    clocks differ by more fail to authenticate each other (quickstart_admin.shtml: synchronized
    clocks). Local: is NTP synchronized? Remote nodes: `ssh HOST date` vs this host, and HOST
    decodes a credential made here (same key)."""
    notes, level = [], "PASS"
    ntp = ctx.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], timeout=10)
    if ntp.rc == 0 and ntp.stdout.strip() == "yes":
        notes.append("NTP synchronized")
    elif ntp.rc == 0:
        level = "WARN"
        notes.append(f"NTPSynchronized={ntp.stdout.strip()}")
    else:
        notes.append("NTP state unknown here (no systemd-timedated)")
    hosts = list(ctx.params.get("hosts") or [])
    if not hosts:
        out = ctx.run(["sinfo", "-h", "-N", "-o", "%N %o"], timeout=15)
        hosts = sorted({ln.split()[1] for ln in out.stdout.splitlines() if len(ln.split()) == 2})
    local = _local_names(ctx)
    remote = [h for h in hosts if h not in local]
    if not remote:
        notes.append(f"all nodes are on this host ({', '.join(hosts) or 'none'}): one clock, no skew "
                     "to measure (the lab is one host)")
        return level, "; ".join(notes)
    limit = ctx.params["max_skew_s"]
    for host in remote[:ctx.params["max_hosts"]]:
        ssh = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", host]
        t0 = time.time()
        out = ctx.run([*ssh, "date", "+%s.%N"], timeout=20)
        t1 = time.time()
        try:
            skew = float(out.stdout.strip()) - (t0 + t1) / 2
        except ValueError:
            level = "FAIL" if level != "FAIL" else level
            notes.append(f"{host}: unreachable over ssh (exit {out.rc})")
            continue
        cred = ctx.memory.get("munge_cred")
        dec = ctx.run([*ssh, "unmunge"], timeout=20, input=cred, secret_output=True) if cred else None
        status = _fields(dec.stdout).get("STATUS", f"exit {dec.rc}") if dec else "not tried"
        if abs(skew) > 300 or (dec and not status.startswith("Success")):
            level = "FAIL"
        elif abs(skew) > limit and level == "PASS":
            level = "WARN"
        notes.append(f"{host}: skew {skew:+.2f} s, decodes our credential: {status}")
    if len(remote) > ctx.params["max_hosts"]:
        notes.append(f"{len(remote) - ctx.params['max_hosts']} more hosts not checked (max_hosts)")
    return level, "; ".join(notes)


def _slurm(fn, what):
    def run(ctx):
        ok, detail = fn(ctx)
        return ("PASS" if ok else "FAIL"), f"{what}: {detail}"
    return run


RUNBOOK = Runbook(
    name="munge-health",
    title="munge health check",
    purpose="Prove munge authentication works: munged answers on its socket, a credential round-trips "
            "and a replay is refused, the key has the right owner and mode, clocks agree across the "
            "nodes, and Slurm's daemons authenticate. Read-only; prints PASS/WARN/FAIL per finding.",
    when="Slurm logs 'Invalid authentication credential', 'Zero Bytes were transmitted or received', "
         "nodes go DOWN with 'Not responding' after a key or clock change; before and after "
         "munge-key-rotation.",
    params=[
        Param("hosts", "hosts to compare clocks with and to decode a credential on, over ssh "
              "(default: the nodes' addresses from sinfo that are not this host)", type="list",
              pattern=r"[A-Za-z0-9_.:\-]+"),
        Param("max_hosts", "check at most this many remote hosts", type="int", default=20),
        Param("max_skew_s", "clock difference that is a WARN (300 s, the credential TTL, is a FAIL)",
              type="int", default=2),
        Param("strict", "warnings fail the run too", type="bool", default=False),
    ],
    steps=[
        Step("munge and Slurm authentication", "read-only: every finding is reported, then the verdict",
             check=[Cmd(("test", "-S", "{munge_socket}"), why="munged's socket exists"),
                    graded("credential round trip and replay", roundtrip, "munge -n | unmunge, twice"),
                    graded("key file", key_file, "owner, mode 0400, >= 32 bytes, directory"),
                    graded("clocks", clocks, "NTP; ssh HOST date; HOST decodes our credential"),
                    graded("slurmctld authenticates", _slurm(slurmctld_up, "scontrol ping"), "scontrol ping"),
                    graded("slurmdbd authenticates", _slurm(slurmdbd_answers, "sacctmgr"), "sacctmgr show cluster"),
                    graded("slurmd authenticate", _slurm(nodes_responding, "sinfo"), "no node not responding"),
                    verdict()],
             timeout_s=300),
    ],
    references=[
        "SchedMD, Authentication plugins (authentication.shtml): one munge.key on every host, owned by "
        "munge, `chmod 400`",
        "SchedMD, Quick Start Administrator Guide (quickstart_admin.shtml): MUNGE requires clocks to be "
        "synchronized (NTP); munged must run before the Slurm daemons",
    ],
    notes="The credential is never logged (secret output) and is kept in memory only to be decoded on "
          "the other hosts. In the lab every node is a `slurmd -N` on this host (NodeAddr 127.0.0.1), so "
          "there is one clock and no cross-host decode: the clock finding says so. On a real cluster "
          "the target host needs ssh (BatchMode) to the nodes, or pass hosts= explicitly.",
)
