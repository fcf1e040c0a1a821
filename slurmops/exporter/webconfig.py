"""node_exporter's web configuration file (exporter-toolkit format), the subset operators use:

    tls_server_config:
      cert_file: /etc/slurmops/tls.crt
      key_file: /etc/slurmops/tls.key
      client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
      client_ca_file: /etc/slurmops/ca.crt
      min_version: TLS12                              # optional
    basic_auth_users:
      prometheus: $2y$10$...                          # bcrypt hashes only, never plain text

Unknown keys are rejected so a typo never silently disables TLS or auth.
"""
from __future__ import annotations

import hmac
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml

_TLS_KEYS = {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version",
             "max_version", "cipher_suites", "prefer_server_cipher_suites", "curve_preferences"}
_CLIENT_AUTH = {"NoClientCert": ssl.CERT_NONE, "RequestClientCert": ssl.CERT_OPTIONAL,
                "RequireAnyClientCert": ssl.CERT_REQUIRED, "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
                "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
_TLS_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
                 "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


class WebConfigError(ValueError):
    pass


@dataclass
class WebConfig:
    tls: dict[str, Any] | None = None
    users: dict[str, bytes] = field(default_factory=dict)
    _ok_cache: dict[tuple[str, str], bytes] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ssl_context(self, base_dir: Path) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = _TLS_VERSIONS.get(self.tls.get("min_version", "TLS12"), ssl.TLSVersion.TLSv1_2)
        if "max_version" in self.tls:
            ctx.maximum_version = _TLS_VERSIONS[self.tls["max_version"]]
        cert = base_dir / self.tls["cert_file"]
        key = base_dir / self.tls["key_file"]
        try:
            ctx.load_cert_chain(str(cert), str(key))
        except (OSError, ssl.SSLError) as exc:
            raise WebConfigError(f"cannot load TLS certificate {cert} / key {key}: {exc}") from exc
        mode = self.tls.get("client_auth_type", "NoClientCert")
        ctx.verify_mode = _CLIENT_AUTH[mode]
        if "client_ca_file" in self.tls:
            ctx.load_verify_locations(str(base_dir / self.tls["client_ca_file"]))
        return ctx

    def check(self, user: str, password: str) -> bool:
        """bcrypt is slow by design: remember successful (user, password) pairs, like
        exporter-toolkit does, so each scrape does not pay ~50 ms of hashing."""
        hashed = self.users.get(user)
        if hashed is None:
            bcrypt.checkpw(password.encode(), _DUMMY)  # same cost for unknown users
            return False
        key = (user, password)
        with self._lock:
            cached = self._ok_cache.get(key)
        if cached is not None and hmac.compare_digest(cached, hashed):
            return True
        try:
            ok = bcrypt.checkpw(password.encode(), hashed)
        except ValueError:
            return False
        if ok:
            with self._lock:
                if len(self._ok_cache) > 64:
                    self._ok_cache.clear()
                self._ok_cache[key] = hashed
        return ok


_DUMMY = bcrypt.hashpw(b"dummy", bcrypt.gensalt(rounds=4))


def load(path: Path | None) -> WebConfig:
    if path is None:
        return WebConfig()
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise WebConfigError(f"cannot read web config {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise WebConfigError(f"web config {path}: expected a mapping")
    unknown = set(doc) - {"tls_server_config", "basic_auth_users", "http_server_config"}
    if unknown:
        raise WebConfigError(f"web config {path}: unknown keys {sorted(unknown)}")
    tls = doc.get("tls_server_config")
    if tls is not None:
        if not isinstance(tls, dict) or not tls.get("cert_file") or not tls.get("key_file"):
            raise WebConfigError(f"web config {path}: tls_server_config needs cert_file and key_file")
        bad = set(tls) - _TLS_KEYS
        if bad:
            raise WebConfigError(f"web config {path}: unknown tls_server_config keys {sorted(bad)}")
        if tls.get("client_auth_type", "NoClientCert") not in _CLIENT_AUTH:
            raise WebConfigError(f"web config {path}: bad client_auth_type {tls['client_auth_type']!r}")
        if tls.get("min_version", "TLS12") not in _TLS_VERSIONS:
            raise WebConfigError(f"web config {path}: bad min_version {tls['min_version']!r}")
    users_raw = doc.get("basic_auth_users") or {}
    if not isinstance(users_raw, dict):
        raise WebConfigError(f"web config {path}: basic_auth_users must be a mapping")
    users: dict[str, bytes] = {}
    for user, hashed in users_raw.items():
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise WebConfigError(f"web config {path}: user {user!r} needs a bcrypt hash")
        users[str(user)] = hashed.replace("$2y$", "$2b$", 1).encode()
    return WebConfig(tls=tls, users=users)
