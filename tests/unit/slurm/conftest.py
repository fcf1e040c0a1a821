"""Fixtures shared by the Slurm parser and source tests."""
from __future__ import annotations

import time

import pytest

from slurmops.slurm.parse import text as T


@pytest.fixture
def utc(monkeypatch):
    """Fixture timestamps are the lab's local time, which is UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    T._cached_timestamp.cache_clear()
    yield
    monkeypatch.undo()
    time.tzset()
    T._cached_timestamp.cache_clear()
