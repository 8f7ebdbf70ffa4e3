"""What a parity run was asked to do, and what came of it: each step's differences.

A step is anything both sides were asked alike: an HTTP request (`probes.Probe`, or a
Schemathesis case or state-machine step turned into one), or a realtime question. It names
the contract rule it exercises and the spec's `x-assumed` behaviours it relies on, so a
difference names both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from envoy_events_kit.contract_tests.drift import assumptions as spec_assumptions

from .compare import Difference
from .mirror import Mirror

AGREE, DIFFER, UNCHECKED = 0, 1, 3
OPERATIONS = {"/events/connection_token": "getConnectionToken",
              "/events/subscription_token": "getSubscriptionToken",
              "/events/provision": "provisionEvents", "/events/deprovision": "deprovisionEvents"}
CONFIRMED, DIFFERS, NOT_CHECKED = "confirmed", "DIFFERS", "not checked"
#: Assumptions that only some kinds of difference break (the error shape is not broken by
#: a 200 where a 403 was due; that is the status rule's business).
ASSUMPTION_RULES = {"Error": {"content-type", "json-shape", "error-code"}}


@dataclass
class ParityOptions:
    base_url: str
    token: str = field(repr=False)
    admin_token: str | None = field(default=None, repr=False)
    expired_token: str | None = field(default=None, repr=False)
    allow_destructive: bool = False
    rate_limit: str | None = None
    timeout: float = 10.0
    report_dir: Path | None = None
    write_fixtures: Path | None = None
    #: Generated channels per kind (the contract suite's Hypothesis strategies).
    examples: int = 10
    #: Stateful walks of the contract suite's organisation model (with --allow-destructive).
    walks: int = 10
    #: The target's realtime server (ws://…/connection/websocket): compare realtime outcomes.
    realtime_url: str | None = None


class Step(Protocol):
    """What an outcome needs of the step it answers for."""

    @property
    def name(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def assumptions(self) -> tuple[str, ...]: ...
    @property
    def destructive(self) -> bool: ...
    @property
    def kind(self) -> str: ...


@dataclass
class Outcome:
    """One probe's result: its differences, or why a side could not be asked."""

    probe: Step
    request: str
    differences: list[Difference] = field(default_factory=list)
    unchecked: str | None = None
    #: side ("target", "mock") -> the HTTP status it answered (the report's status counts).
    statuses: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    #: The request as sent (method, path), for the report's per-operation status counts.
    method: str | None = None
    path: str | None = None

    def answered(self, side: str, status: int, sent: Any = None) -> None:
        """Record one side's status (and, given the prepared request, what was sent); the
        step lasts until the last answer."""
        self.statuses[side] = status
        self.finished = time.monotonic()
        if sent is not None:
            self.method = sent.method or "GET"
            self.path = urlsplit(sent.url or "").path

    @property
    def seconds(self) -> float:
        return (self.finished or self.started) - self.started


@dataclass
class ParityResult:
    mirror: Mirror | None
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: str | None = None  # why the run could not start
    #: What was asked for but could not be sent, and why: the run could not check it all.
    not_asked: list[str] = field(default_factory=list)
    #: When the run began (the JUnit timestamp and duration).
    started: float = field(default_factory=time.time)

    @property
    def differences(self) -> int:
        return sum(len(o.differences) for o in self.outcomes)

    @property
    def unchecked(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.unchecked]

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return UNCHECKED
        if self.differences:
            return DIFFER
        return UNCHECKED if self.unchecked or self.not_asked else AGREE

    def by_rule(self) -> dict[str, list[tuple[str, int, str]]]:
        """rule -> (probe and detail, times seen, first request), each difference once."""
        grouped: dict[str, dict[str, list[Any]]] = {}
        for outcome in self.outcomes:
            for diff in outcome.differences:
                key = f"{outcome.probe.name}: {diff.detail}"
                entry = grouped.setdefault(diff.rule, {}).setdefault(key, [0, outcome.request])
                entry[0] += 1
        return {rule: [(key, count, request) for key, (count, request) in entries.items()]
                for rule, entries in sorted(grouped.items())}

    def assumptions(self) -> dict[str, str]:
        """Each `x-assumed` behaviour of the spec: confirmed (every probe relying on it
        agreed), DIFFERS, or not checked."""
        verdicts: dict[str, str] = {}
        for outcome in self.outcomes:
            if outcome.unchecked:
                continue
            for key in outcome.probe.assumptions:
                relevant = ASSUMPTION_RULES.get(key)
                if any(relevant is None or d.rule in relevant for d in outcome.differences):
                    verdicts[key] = DIFFERS
                else:
                    verdicts.setdefault(key, CONFIRMED)
        return {key: verdicts.get(key, NOT_CHECKED) for key in spec_assumptions()}


