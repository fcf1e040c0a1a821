"""Independent references the tests compare the code with (never the code under test itself)."""
from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest


class _Fixed:
    def __init__(self, families: list):
        self._families = families

    def collect(self):
        return iter(self._families)


def client_python_exposition(families: Iterable) -> bytes:
    """client_python's own text exposition of these families: a fresh CollectorRegistry holding
    them, rendered by ``prometheus_client.exposition.generate_latest`` (its reference renderer)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(list(families)))   # type: ignore[arg-type]
    return generate_latest(registry)
