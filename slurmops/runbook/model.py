"""What a runbook is: typed parameters and ordered steps, each with a pre-check, an action, a
verification and a rollback, made of *operations*.

Operations are data (a command's argument list with ``{placeholders}``, a service action, a named
check) rather than code that runs things, so the same definition can be planned (printed exactly,
with real values, before anything runs), executed, audited, resumed and rendered into docs. A phase
may also be a function ``ctx -> [ops]`` when the ops depend on parameters (restart each daemon the
operator listed); it is called with real values at plan time, so the plan still shows every argv.
"""
from __future__ import annotations

import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


class RunbookError(Exception):
    """A definition or parameter problem: one clear line for the operator, exit code 2."""


class _Missing(dict):
    """format_map helper: a placeholder with no value is an error naming what is missing."""

    def __missing__(self, key: str) -> str:
        raise RunbookError(f"no value for {{{key}}} (not a parameter or target value)")


def fill(template: str, values: dict[str, str]) -> str:
    """Fill ``{name}`` placeholders of one argv element. Values are inserted literally: a value is
    never re-parsed, split or handed to a shell, which is what keeps `reason=$(rm -rf /)` a reason."""
    return string.Formatter().vformat(template, (), _Missing(values))


def placeholders(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


# ---- operations ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fan:
    """Marks an op as one host's share of a parallel fleet phase (``fleet.each(...,
    parallel=True)``): ops of one ``group`` run lane by lane (a lane is a host, its ops in order),
    up to the run's ``--fanout`` lanes at once."""
    group: int
    lane: str


@dataclass(frozen=True)
class Cmd:
    """Run one command as an argument list. It passes when its exit code is in ``ok_rc`` and, if
    ``expect`` is set, its output matches that regex; ``retry_s`` keeps trying until then (a daemon
    that was just restarted needs a moment)."""
    argv: tuple[str, ...]
    why: str = ""
    timeout_s: float = 60
    ok_rc: tuple[int, ...] = (0,)
    expect: str | None = None
    reject: str | None = None      # fail when the output matches this regex
    retry_s: float = 0
    secret_output: bool = False    # output is never kept, not even a tail (tokens, credentials)
    capture: str | None = None     # keep stdout in memory under this name for later ops
    host: str = ""                 # an inventory host (fleet.py); "" = the target's own transport
    fan: Fan | None = None         # one host's share of a parallel fleet phase (fleet.each)

    def __post_init__(self):
        if isinstance(self.argv, str):
            raise RunbookError(f"Cmd argv must be a list of arguments, not a string: {self.argv!r}")
        object.__setattr__(self, "argv", tuple(self.argv))

    def render(self, ctx) -> list[str]:
        values = ctx.host_values(self.host) if self.host else ctx.values
        return [fill(a, values) for a in self.argv]

    def describe(self) -> str:
        return " ".join(self.argv) + (f" (on {self.host})" if self.host else "")

    def conditions(self, words: dict[str, str], rc_join: str = ",") -> list[str]:
        """What besides exit 0 decides the outcome (expect, reject, ok_rc, retry_s), each through
        ``words[kind].format(value)``: the one list the plan and the rendered docs both word."""
        out = []
        if self.expect:
            out.append(words["expect"].format(self.expect))
        if self.reject:
            out.append(words["reject"].format(self.reject))
        if self.ok_rc != (0,):
            out.append(words["ok_rc"].format(rc_join.join(map(str, self.ok_rc))))
        if self.retry_s:
            out.append(words["retry"].format(f"{self.retry_s:.0f}"))
        return out


@dataclass(frozen=True)
class Service:
    """Start, stop or restart a daemon through the target's service manager (lab or systemd)."""
    action: str
    component: str
    why: str = ""
    timeout_s: float = 120
    host: str = ""                 # an inventory host (fleet.py); "" = the target's own transport
    fan: Fan | None = None         # one host's share of a parallel fleet phase (fleet.each)
    ACTIONS = ("start", "stop", "restart")

    def __post_init__(self):
        if self.action not in self.ACTIONS:
            raise RunbookError(f"service action {self.action!r}: one of {', '.join(self.ACTIONS)}")

    def render(self, ctx) -> list[str]:
        return ctx.services.argv(self.action, fill(self.component, ctx.values))

    def describe(self) -> str:
        return f"{self.action} {self.component} (service manager{', on ' + self.host if self.host else ''})"


CheckFn = Callable[[Any], "tuple[bool, str]"]


GRADES = ("required", "warn")     # "not needed" checks are simply left out of the step


@dataclass(frozen=True)
class Check:
    """A named check in Python (parse sinfo, call slurmrestd). It runs its commands through
    ``ctx.run`` so they are audited like any other; it returns ``(ok, detail)``.

    ``grade`` "warn": a failure is reported and recorded, and the step goes on. ``health`` names a
    cluster-health check (health.CHECKS) that an operator may override with ``--force-unhealthy``.
    ``plan_safe`` False: `plan` does not run it (it submits a job or otherwise acts)."""
    name: str
    fn: CheckFn
    why: str = ""
    retry_s: float = 0
    grade: str = "required"
    health: str = ""
    plan_safe: bool = True
    fan: Fan | None = None         # one host's share of a parallel fleet phase (fleet.each)

    def __post_init__(self):
        if self.grade not in GRADES:
            raise RunbookError(f"check {self.name}: grade {self.grade!r} is not one of {', '.join(GRADES)}")

    def describe(self) -> str:
        return self.name


Op = Cmd | Service | Check
Phase = Sequence[Op] | Callable[[Any], Sequence[Op]]


@dataclass(frozen=True)
class Step:
    """One unit of change. Contract (docs/runbooks.md): the rollback must be safe to run when the
    action ran only partly or not at all, and the whole step must be safe to run again (resume
    re-runs an interrupted step from its pre-check)."""
    title: str
    why: str = ""
    check: Phase = ()
    action: Phase = ()
    verify: Phase = ()
    rollback: Phase = ()
    destructive: bool = False
    timeout_s: float = 300

    def ops(self, phase: str, ctx) -> list[Op]:
        value = getattr(self, phase)
        ops = list(value(ctx) if callable(value) else value)
        for op in ops:
            if not isinstance(op, (Cmd, Service, Check)):
                raise RunbookError(f"step {self.title!r} {phase}: {op!r} is not a Cmd, Service or Check")
        return ops


# ---- parameters ------------------------------------------------------------------------------
TYPES = ("str", "int", "bool", "path", "choice", "list")


@dataclass(frozen=True)
class Param:
    """A typed parameter. Values arrive as text (``-p name=value``) and are checked here, before
    anything runs, so a typo is one clear error line and not a half-done change."""
    name: str
    help: str
    type: str = "str"
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()
    pattern: str | None = None     # the whole value (each item of a list) must match

    def __post_init__(self):
        if self.type not in TYPES:
            raise RunbookError(f"parameter {self.name}: type {self.type!r} is not one of {', '.join(TYPES)}")

    def parse(self, raw: Any) -> Any:
        if raw is None:
            return None
        text = raw
        if self.type == "int":
            try:
                return int(text)
            except (TypeError, ValueError):
                raise RunbookError(f"parameter {self.name}: {text!r} is not an integer") from None
        if self.type == "bool":
            if isinstance(text, bool):
                return text
            low = str(text).lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise RunbookError(f"parameter {self.name}: {text!r} is not true/false")
        if self.type == "list":
            items = list(text) if isinstance(text, (list, tuple)) else \
                [i.strip() for i in str(text).split(",") if i.strip()]
            for item in items:
                self._check_one(item)
            return items
        text = str(text)
        if "\x00" in text or "\n" in text:
            raise RunbookError(f"parameter {self.name}: newlines and NUL bytes are not allowed")
        if self.type == "path" and not text.startswith("/"):
            raise RunbookError(f"parameter {self.name}: {text!r} must be an absolute path")
        self._check_one(text)
        return text

    def _check_one(self, item: str) -> None:
        if self.choices and item not in self.choices:
            raise RunbookError(f"parameter {self.name}: {item!r} is not one of {', '.join(self.choices)}")
        if self.pattern and not re.fullmatch(self.pattern, item):
            raise RunbookError(f"parameter {self.name}: {item!r} does not match {self.pattern}")

    def text(self, value: Any) -> str:
        """The value as placeholders see it."""
        if value is None:
            return ""
        if isinstance(value, list):
            return ",".join(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


@dataclass(frozen=True)
class Runbook:
    name: str
    title: str
    purpose: str
    when: str
    steps: tuple[Step, ...]
    params: tuple[Param, ...] = ()
    references: tuple[str, ...] = ()
    # Real state read at plan time (StateSaveLocation from `scontrol show config`): returns extra
    # placeholder values; stored in the audit log so `resume` uses the same ones.
    derive: Callable[[Any], dict[str, str]] | None = None
    targets: tuple[str, ...] = ("lab", "systemd")
    notes: str = ""
    path: str = field(default="", compare=False)

    def __post_init__(self):
        if not re.fullmatch(r"[a-z][a-z0-9-]*", self.name):
            raise RunbookError(f"runbook name {self.name!r}: lower-case letters, digits and '-'")
        if not self.steps:
            raise RunbookError(f"runbook {self.name}: no steps")
        seen = set()
        for p in self.params:
            if p.name in seen:
                raise RunbookError(f"runbook {self.name}: parameter {p.name} defined twice")
            seen.add(p.name)
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "params", tuple(self.params))

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise RunbookError(f"runbook {self.name} has no parameter {name!r}; parameters: "
                           + (", ".join(p.name for p in self.params) or "none"))

    def parse_params(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Typed values for every parameter, or a RunbookError naming the first problem."""
        for name in raw:
            self.param(name)
        out = {}
        for p in self.params:
            if raw.get(p.name) is not None:
                out[p.name] = p.parse(raw[p.name])
            elif p.required:
                raise RunbookError(f"runbook {self.name}: parameter {p.name} is required ({p.help})")
            else:
                out[p.name] = p.parse(p.default) if p.default is not None else None
        return out

    @property
    def destructive_steps(self) -> list[Step]:
        return [s for s in self.steps if s.destructive]
