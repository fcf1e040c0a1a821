"""Per-job figures from Prometheus: the job exporter's series (docs/metrics-jobs.md) and, where a
DCGM exporter is scraped too, its GPU utilisation and framebuffer figures joined by GPU UUID.

`PromClient` is the only I/O (HTTP API /api/v1/query); `build_summary` turns the answers into a
`Summary` and is pure. Every query is evaluated once, at the job's end (or now, while it runs), over
a range that covers the whole job, so a finished job costs a fixed ~15 instant queries whatever its
length.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from .sacct import JobRecord
from .summary import GpuUsage, NodeUsage, Summary

# Seconds after the job's end the queries look (the last scrape may land a little after the end).
END_PAD_S = 30
# Raw samples of the CPU counter are read over this window at the end: the last sample's time is
# what the CPU seconds were counted up to (sacct's End is later by up to a scrape interval).
LAST_WINDOW_S = 300


class PrometheusError(RuntimeError):
    """Prometheus could not be asked (unreachable, HTTP error, an answer that is not a result)."""


class PromClient:
    def __init__(self, url: str, timeout: float = 10):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.queries = 0          # how many queries this client sent (bulk mode reports it)

    def query(self, expr: str, at: float) -> list[dict]:
        self.queries += 1
        data = urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"}).encode()
        req = urllib.request.Request(f"{self.url}/api/v1/query", data=data,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode(errors="replace")
            raise PrometheusError(f"Prometheus at {self.url} answered HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PrometheusError(f"Prometheus at {self.url} is unreachable ({reason})") from None
        except ValueError:
            raise PrometheusError(f"Prometheus at {self.url} answered something that is not JSON") from None
        if body.get("status") != "success" or "data" not in body:
            raise PrometheusError(f"Prometheus query failed: {body.get('error', body)!r}")
        return body["data"].get("result", [])


def selector(rec: JobRecord, cluster_label: str | None) -> str:
    parts = [f'jobid="{rec.jobid_raw}"']
    if cluster_label and rec.cluster:
        parts.append(f'{cluster_label}="{rec.cluster}"')
    return "{" + ",".join(parts) + "}"


def window(rec: JobRecord, now: float) -> tuple[float, int]:
    """(evaluation time, range in seconds) covering the job from start to end (or now)."""
    end = rec.end if rec.end is not None else now
    at = min(end + END_PAD_S, now)
    start = rec.start if rec.start is not None else at     # not started: an empty window
    return at, max(int(at - start) + 1, 1)


def job_queries(rec: JobRecord, cluster_label: str | None, now: float) -> dict[str, str]:
    s = selector(rec, cluster_label)
    _, w = window(rec, now)
    r = f"[{w}s]"
    by = "max by (instance)"
    q = {
        "cpu_s": f"{by} (max_over_time(slurm_job_cpu_usage_seconds_total{s}{r}))",
        "cpus": f"{by} (max_over_time(slurm_job_cpus_allocated{s}{r}))",
        "mem_peak": f"{by} (max_over_time(slurm_job_memory_peak_bytes{s}{r}))",
        "mem_rss_max": f"{by} (max_over_time(slurm_job_memory_rss_bytes{s}{r}))",
        "mem_limit": f"{by} (max_over_time(slurm_job_memory_limit_bytes{s}{r}))",
        "swap_max": f"{by} (max_over_time(slurm_job_memory_swap_bytes{s}{r}))",
        "oom_kills": f"{by} (max_over_time(slurm_job_oom_kills_total{s}{r}))",
        "io_read": f"{by} (max_over_time(slurm_job_io_read_bytes_total{s}{r}))",
        "io_write": f"{by} (max_over_time(slurm_job_io_write_bytes_total{s}{r}))",
        "mem_pressure_s": f"{by} (max_over_time(slurm_job_pressure_memory_waiting_seconds_total{s}{r}))",
        "io_pressure_s": f"{by} (max_over_time(slurm_job_pressure_io_waiting_seconds_total{s}{r}))",
        # raw samples of the last minutes: the last one's timestamp ends the CPU time's span
        "cpu_last": f"slurm_job_cpu_usage_seconds_total{s}[{min(w, LAST_WINDOW_S)}s]",
    }
    g = "max by (instance, gpu, uuid)"
    q.update({
        "gpu_util": f"{g} (avg_over_time(slurm_job_gpu_utilization_ratio{s}{r}))",
        "gpu_mem_job": f"{g} (max_over_time(slurm_job_gpu_process_memory_bytes{s}{r}))",
        "gpu_mem_used": f"{g} (max_over_time(slurm_job_gpu_memory_used_bytes{s}{r}))",
        "gpu_mem_total": f"{g} (max_over_time(slurm_job_gpu_memory_total_bytes{s}{r}))",
        "gpu_idle": f"{g} (avg_over_time(slurm_job_gpu_idle{s}{r}))",
        "gpu_power": f"{g} (avg_over_time(slurm_job_gpu_power_watts{s}{r}))",
    })
    return q


def dcgm_queries(uuids: list[str], rec: JobRecord, now: float) -> dict[str, str]:
    """DCGM exporter series (DCGM_FI_DEV_GPU_UTIL in %, DCGM_FI_DEV_FB_USED in MiB) for the job's
    GPUs, by the UUID our exporter reports (docs/metrics-jobs.md: `uuid` joins DCGM's `UUID`)."""
    if not uuids:
        return {}
    _, w = window(rec, now)
    sel = '{UUID=~"' + "|".join(sorted(uuids)) + '"}'
    return {"dcgm_util": f"max by (UUID) (avg_over_time(DCGM_FI_DEV_GPU_UTIL{sel}[{w}s])) / 100",
            "dcgm_fb": f"max by (UUID) (max_over_time(DCGM_FI_DEV_FB_USED{sel}[{w}s])) * 1048576"}


def run_queries(client: PromClient, queries: dict[str, str], at: float) -> dict[str, list[dict]]:
    if not queries:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(queries))) as pool:
        futures = {k: pool.submit(client.query, q, at) for k, q in queries.items()}
        return {k: f.result() for k, f in futures.items()}


def host_of(instance: str) -> str:
    host = instance.rsplit(":", 1)[0] if instance.count(":") == 1 else instance
    return host.strip("[]")


def node_keys(instances: list[str], nodes: list[str]) -> dict[str, tuple[str, list[str]]]:
    """instance → (name shown, Slurm nodes it covers). An exporter host named like a Slurm node
    (or its short name is) is that node; the other hosts share the nodes nobody claimed (several
    slurmd on one host, as in the lab, or exporters scraped by address)."""
    out, claimed = {}, set()
    for inst in instances:
        host = host_of(inst)
        short = host.split(".")[0]
        for name in (host, short):
            if name in nodes:
                out[inst] = (name, [name])
                claimed.add(name)
                break
    rest = [n for n in nodes if n not in claimed]
    for inst in instances:
        if inst not in out:
            out[inst] = (host_of(inst), rest)
    return out


def _val(sample: dict) -> float | None:
    try:
        v = float(sample["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return v if v == v else None        # NaN (e.g. avg over nothing) → None


def build_summary(rec: JobRecord, res: dict[str, list[dict]], now: float) -> Summary:
    """Prometheus answers → Summary (pure)."""
    instances = sorted({s["metric"].get("instance", "") for rows in res.values() for s in rows
                        if "instance" in s.get("metric", {})})
    keys = node_keys(instances, rec.nodes)
    nodes: dict[str, NodeUsage] = {}

    def node(inst: str) -> NodeUsage:
        name, covers = keys.get(inst, (host_of(inst), []))
        n = nodes.get(name)
        if n is None:
            n = nodes[name] = NodeUsage(slurm_nodes=list(covers))
        return n

    for attr in ("cpu_s", "cpus", "mem_peak", "mem_rss_max", "mem_limit", "swap_max", "oom_kills",
                 "io_read", "io_write", "mem_pressure_s", "io_pressure_s"):
        for s in res.get(attr, []):
            v = _val(s)
            if v is not None:
                setattr(node(s["metric"].get("instance", "")), attr, v)
    end = rec.end if rec.end is not None else now
    start = rec.start if rec.start is not None else end
    for s in res.get("cpu_last", []):       # the raw samples: the last one per host
        values = s.get("values") or []
        if not values:
            continue
        t, v = values[-1]
        n = node(s["metric"].get("instance", ""))
        n.cpu_s = max(float(v), n.cpu_s or 0.0)
        n.span_s = max(float(t) - start, 1.0)
    for n in nodes.values():
        if n.cpu_s is not None and n.span_s is None:   # no recent sample: the job's whole run
            n.span_s = max(end - start, 1)
    gpu_attrs = {"gpu_util": "util", "gpu_mem_total": "mem_total", "gpu_idle": "idle",
                 "gpu_power": "power_w"}
    uuids = {}                                # GpuUsage id → its UUID (the DCGM join key)
    for key in ("gpu_util", "gpu_mem_used", "gpu_mem_job", "gpu_mem_total", "gpu_idle", "gpu_power"):
        for s in res.get(key, []):
            m, v = s["metric"], _val(s)
            if v is None:
                continue
            g = node(m.get("instance", "")).gpus.setdefault(m.get("gpu", "?"), GpuUsage())
            uuids[id(g)] = m.get("uuid", "")
            if key == "gpu_mem_job":          # the job's own processes: better than the whole GPU
                g.mem_used = v
            elif key == "gpu_mem_used":
                g.mem_used = v if g.mem_used is None else g.mem_used
            else:
                setattr(g, gpu_attrs[key], v)
    dcgm_util = {s["metric"].get("UUID"): _val(s) for s in res.get("dcgm_util", [])}
    dcgm_fb = {s["metric"].get("UUID"): _val(s) for s in res.get("dcgm_fb", [])}
    for n in nodes.values():
        for g in n.gpus.values():
            uuid = uuids.get(id(g), "")
            if dcgm_util.get(uuid) is not None:
                g.util, g.source = dcgm_util[uuid], "dcgm"
                if dcgm_fb.get(uuid) is not None:
                    g.mem_used = dcgm_fb[uuid]
    return Summary(nodes=nodes, stored_at=int(now), source="prometheus")


def gpu_uuids(res: dict[str, list[dict]]) -> list[str]:
    return sorted({s["metric"]["uuid"] for k in ("gpu_mem_total", "gpu_util") for s in res.get(k, [])
                   if s.get("metric", {}).get("uuid")})


def collect(client: PromClient, rec: JobRecord, cluster_label: str | None = "cluster",
            now: float | None = None) -> Summary:
    """Ask Prometheus about one job. PrometheusError when it cannot be asked."""
    now = time.time() if now is None else now
    at, _ = window(rec, now)
    res = run_queries(client, job_queries(rec, cluster_label, now), at)
    res.update(run_queries(client, dcgm_queries(gpu_uuids(res), rec, now), at))
    return build_summary(rec, res, now)
