"""jobstats settings: the packaged defaults (jobstats.yml) overlaid with the site's file."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULTS = Path(__file__).with_name("jobstats.yml")
SITE = Path("/etc/slurmops/jobstats.yml")


class ConfigError(ValueError):
    pass


@dataclass
class Config:
    prometheus_url: str = ""
    grafana_url: str = ""
    cluster_label: str = "cluster"
    state_dir: str = "/var/lib/slurmops/jobstats"
    bulk_prometheus_max: int = 200
    thresholds: dict[str, float] = field(default_factory=dict)

    def t(self, name: str) -> float:
        return self.thresholds[name]


def _read(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top")
    return data


def load(path: str | None = None) -> Config:
    base = _read(DEFAULTS)
    site = Path(path) if path else (SITE if SITE.exists() else None)
    over = _read(site) if site else {}
    unknown = set(over) - set(base)
    if unknown:
        raise ConfigError(f"{site}: unknown setting(s) {', '.join(sorted(unknown))}")
    thresholds = dict(base["thresholds"])
    bad = set(over.get("thresholds") or {}) - set(thresholds)
    if bad:
        raise ConfigError(f"{site}: unknown threshold(s) {', '.join(sorted(bad))}")
    for k, v in (over.get("thresholds") or {}).items():
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise ConfigError(f"{site}: threshold {k} must be a number, not {v!r}")
        thresholds[k] = v
    merged = {**base, **over, "thresholds": thresholds}
    cfg = Config(**merged)
    if not cfg.prometheus_url:
        cfg.prometheus_url = os.environ.get("PROMETHEUS_URL", "")
    return cfg
