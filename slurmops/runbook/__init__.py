"""Executable runbooks: declarative definitions (``runbooks/*.py``) of typed parameters and
ordered steps (pre-check, action, verification, rollback), run by an engine that plans, gates
destructive steps, locks, audits to fsync'd JSONL, rolls back and resumes. See docs/runbooks.md."""
from .model import Check, Cmd, Param, Runbook, RunbookError, Service, Step

__all__ = ["Check", "Cmd", "Param", "Runbook", "RunbookError", "Service", "Step"]
