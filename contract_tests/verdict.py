"""The run's verdict, its exit status and the line that closes it.

Green must mean "the target keeps the contract, as far as the run says it checked", so the
closing line names everything that was not checked and why, and a realtime rule that could
not be checked although realtime was asked for (`--realtime-url`, `--require-realtime`) makes
the run "could not check" instead of green.

Exit statuses: 0 kept, 1 broken (a rule failed), 2 usage, 3 could not check.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from envoy_events_kit.contract_tests.drift import BROKEN, HELD, NOT_SELECTED, UNCHECKED, Row
from envoy_events_kit.contract_tests.realtime_rules import NOT_THE_MOCKS

KEPT, BROKEN_EXIT, USAGE, COULD_NOT_CHECK = 0, 1, 2, 3
#: pytest's own exit 2 (interrupted) reaches the CLI as 2 as well.
WORDS = {KEPT: "KEPT", BROKEN_EXIT: "BROKEN", USAGE: "USAGE ERROR OR INTERRUPTED",
         COULD_NOT_CHECK: "COULD NOT CHECK"}
#: Why a realtime rule may go unchecked even when realtime is required: the person chose it
#: (no --allow-destructive, no --jwt-secret, -k) or only a mock can show it.
EXCUSED = ("mock only", "not destructive", "no --jwt-secret", NOT_SELECTED, NOT_THE_MOCKS)
PREFIX = "envoy-events contract:"


@dataclass
class Verdict:
    """What the run checked and what came of it (written as JSON for the CLI's report)."""

    target: str
    built_in_mock: bool
    deployment: bool
    rows: list[Row]
    realtime_required: bool = False
    exit_status: int = KEPT
    tests: dict[str, int] = field(default_factory=dict)
    #: operationId -> {"documented": [...], "observed": {status: count}}.
    coverage: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def broken(self) -> list[Row]:
        return [r for r in self.rows if r.status == BROKEN]

    @property
    def held(self) -> list[Row]:
        return [r for r in self.rows if r.status == HELD]

    @property
    def unchecked(self) -> list[Row]:
        return [r for r in self.rows if r.status == UNCHECKED]

    def required_but_unchecked(self) -> list[Row]:
        """Realtime rules that were asked for and not checked, for no reason the person chose."""
        if not self.realtime_required:
            return []
        return [r for r in self.unchecked if r.realtime and r.reason not in EXCUSED]

    def decide(self, pytest_status: int) -> int:
        """The exit status from pytest's and the rows: a failure is 1; nothing failed but a
        required realtime rule unchecked is 3; pytest's "no tests" is 3, its usage error 2."""
        if pytest_status == 5:
            status = COULD_NOT_CHECK
        elif pytest_status == 4:
            status = USAGE
        elif pytest_status == 0 and self.required_but_unchecked():
            status = COULD_NOT_CHECK
        else:
            status = pytest_status
        self.exit_status = status
        return status

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Verdict:
        raw = json.loads(text)
        raw["rows"] = [Row(**row) for row in raw["rows"]]
        return cls(**raw)

    def write(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")


def target_words(built_in_mock: bool, description: str) -> str:
    if built_in_mock:
        return ("the built-in mock (no --base-url: no deployment was checked, only the kit's "
                "own mock)")
    return description


def first_line(base_url: str | None) -> str:
    """Printed before anything else, so no one mistakes a mock run for a staging run."""
    if base_url:
        return f"{PREFIX} checking {base_url} against the contract"
    return (f"{PREFIX} checking the BUILT-IN MOCK, not a deployment (no --base-url or "
            "ENVOY_EVENTS_BASE_URL given)")


def not_checked_words(rows: Iterable[Row]) -> str:
    """`mock only: a, b; not destructive: c`: rows grouped by why they were not checked."""
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(row.reason or "no reason given", []).append(row.key)
    return "; ".join(f"{reason}: {', '.join(keys)}" for reason, keys in groups.items())


def closing_line(verdict: Verdict) -> str:
    """One line: the verdict, the target, counts, what broke, what was not checked and why."""
    word = WORDS.get(verdict.exit_status, f"pytest exit {verdict.exit_status}")
    parts = [f"{PREFIX} {word} (exit {verdict.exit_status})",
             f"target {target_words(verdict.built_in_mock, verdict.target)}",
             f"{len(verdict.held)} held, {len(verdict.broken)} BROKEN, "
             f"{len(verdict.unchecked)} not checked"]
    if verdict.broken:
        parts.append("BROKEN: " + ", ".join(r.key for r in verdict.broken))
    required = verdict.required_but_unchecked()
    if verdict.exit_status == COULD_NOT_CHECK and required:
        parts.append(f"realtime was required (--realtime-url or --require-realtime) and "
                     f"{len(required)} realtime rule{'s' if len(required) > 1 else ''} could "
                     "not be checked")
    if verdict.unchecked:
        parts.append("not checked - " + not_checked_words(verdict.unchecked))
    return "; ".join(parts)


def stopped_line(reason: str) -> str:
    """The closing line of a run that stopped before checking (unreachable, refused token)."""
    reason = reason.removeprefix("envoy-events contract suite: ")
    return f"{PREFIX} {WORDS[COULD_NOT_CHECK]} (exit {COULD_NOT_CHECK}): {reason}"
