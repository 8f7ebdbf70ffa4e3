"""Which `x-assumed` behaviours of the spec, and which realtime rules, held against this target.

The spec marks every behaviour the public docs do not state with `x-assumed: true` and an
`x-assumption` sentence. Tests that exercise one carry `@pytest.mark.assumption(key)`; at the
end of the run each row is `held` (its tests passed), `BROKEN` (one failed, in its setup, its
call or its teardown) or `not checked` with the reason its tests gave. A row whose tests are
all `mock_only` is marked `mock only`: a deployment's table leaves it out (the closing line
still names it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from envoy_events_kit.contract_tests.realtime_rules import RULES as REALTIME_RULES

from envoy_events_kit import spec_path
from envoy_events_kit.documents import document

HELD, BROKEN, UNCHECKED = "held", "BROKEN", "not checked"
#: The reason of a row whose tests were all deselected (-k, -m) or that has no test.
NOT_SELECTED, NO_TEST, MOCK_ONLY = "not selected", "no test", "mock only"


def _walk(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], dict]]:
    if isinstance(node, dict):
        if node.get("x-assumed") is True:
            yield path, node
        for key, value in node.items():
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, str(index)))


def _key(raw: dict, path: tuple[str, ...]) -> str:
    """`Unauthorized`, `Channel`, `provisionEvents 204`, `getSubscriptionToken ?channel=`,
    `shipmentUpdated` (an event type of the `webhooks` section)."""
    if path[0] == "components":
        return path[2]
    operation = raw[path[0]][path[1]][path[2]].get("operationId", f"{path[2]} {path[1]}")
    if len(path) == 3:
        return operation
    if path[3] == "responses":
        return f"{operation} {path[4]}"
    if path[3] == "parameters":
        param = raw["paths"][path[1]][path[2]]["parameters"][int(path[4])]
        return f"{operation} ?{param['name']}="
    return f"{operation} {'/'.join(path[3:])}"


def assumptions(spec: Path | None = None) -> dict[str, str]:
    """Every `x-assumed` behaviour of the spec: key -> its `x-assumption` sentence."""
    raw = document(spec or spec_path())
    return {_key(raw, path): node.get("x-assumption", "") for path, node in _walk(raw, ())}


def short_reason(text: str) -> str:
    """`mock only` from `mock only: the target does not serve ...`: skip reasons start with
    the few words the closing line groups rows by."""
    text = text.strip()
    if text.startswith("Skipped: "):
        text = text[len("Skipped: "):]
    return text.split(": ", 1)[0].strip() or text


@dataclass(frozen=True)
class Row:
    """One line of the drift table."""

    key: str
    sentence: str
    status: str
    #: Why it is not checked (the first words of its tests' skip reasons), else "".
    reason: str = ""
    #: The full skip reason, for the report.
    detail: str = ""
    mock_only: bool = False

    @property
    def realtime(self) -> bool:
        return self.key in REALTIME_RULES


class DriftRecorder:
    """A pytest plugin object: collects outcomes per row and reports them."""

    def __init__(self, spec: Path | None = None) -> None:
        # The spec's x-assumed behaviours, then the realtime server's rules (`realtime-*`).
        self.assumptions = {**assumptions(spec), **REALTIME_RULES}
        self.tests: dict[str, set[str]] = {key: set() for key in self.assumptions}
        #: Keys whose every test (selected or not) is marked mock_only.
        self.mock_only: set[str] = set()
        #: Keys that have a test at all, selected or not.
        self.covered: set[str] = set()
        self.outcomes: dict[str, str] = {}
        #: nodeid -> why it was skipped.
        self.reasons: dict[str, str] = {}
        #: nodeid -> the rows its failure is blamed on (a RuleBroken naming a row), when not
        #: all of its rows: the others read `not checked: <rule> failed`.
        self.blamed: dict[str, set[str]] = {}
        #: The target is a deployment (not a mock): mock-only rows leave its table.
        self.deployment = False

    def _keys(self, item: pytest.Item) -> set[str]:
        keys = set()
        for mark in item.iter_markers("assumption"):
            for key in mark.args:
                if key not in self.assumptions:
                    raise pytest.UsageError(f"{item.nodeid}: unknown assumption {key!r}")
                keys.add(key)
        return keys

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Before deselection: which rows have tests, and which only mock-only ones."""
        everywhere: set[str] = set()
        for item in items:
            keys = self._keys(item)
            self.covered |= keys
            if not item.get_closest_marker("mock_only"):
                everywhere |= keys
        self.mock_only = self.covered - everywhere

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The tests that will run, per row."""
        for item in session.items:
            for key in self._keys(item):
                self.tests[key].add(item.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        nodeid = report.nodeid
        if report.failed:  # in setup, call or teardown alike
            rows = getattr(report, "blamed_rows", None)
            first = self.outcomes.get(nodeid) != "failed"
            if rows and (first or nodeid in self.blamed):
                self.blamed[nodeid] = self.blamed.get(nodeid, set()) | set(rows)
            else:  # blamed on all of its rows
                self.blamed.pop(nodeid, None)
            self.outcomes[nodeid] = "failed"
        elif report.skipped:
            self.outcomes.setdefault(nodeid, "skipped")
            if isinstance(report.longrepr, tuple):
                self.reasons.setdefault(nodeid, str(report.longrepr[2]))
        elif report.when == "call":
            self.outcomes.setdefault(nodeid, "passed")

    def _status(self, key: str) -> tuple[str, str, str]:
        """(status, short reason, full reason) of one row."""
        nodeids = sorted(self.tests[key])
        outcomes = {n: self.outcomes.get(n) for n in nodeids}
        broken = [n for n, o in outcomes.items()
                  if o == "failed" and key in self.blamed.get(n, {key})]
        if broken:
            return BROKEN, "", ""
        if "passed" in outcomes.values():
            return HELD, "", ""
        if not nodeids:
            why = NOT_SELECTED if key in self.covered else NO_TEST
            return UNCHECKED, why, why
        for nodeid, outcome in outcomes.items():
            if outcome == "failed":  # failed, blamed on another row
                rule = sorted(self.blamed[nodeid])[0]
                return UNCHECKED, f"{rule} failed", f"{rule} failed in {nodeid}"
        if self.deployment and key in self.mock_only:
            return UNCHECKED, MOCK_ONLY, "only a mock can show it"
        details = sorted({_strip_skipped(self.reasons[n]) for n in nodeids
                          if n in self.reasons},
                         key=lambda d: (short_reason(d) == MOCK_ONLY, d))
        if not details:
            return UNCHECKED, NOT_SELECTED, "its tests did not run"
        # A reason the person can act on comes before "mock only" (of another of its tests).
        return UNCHECKED, short_reason(details[0]), details[0]

    def status(self, key: str) -> str:
        return self._status(key)[0]

    def rows(self) -> list[Row]:
        """Every row, in the spec's order then the realtime rules'."""
        found = []
        for key, sentence in self.assumptions.items():
            status, reason, detail = self._status(key)
            found.append(Row(key, sentence, status, reason, detail, key in self.mock_only))
        return found

    def shown_rows(self) -> list[Row]:
        """The table's rows: a deployment's leaves out what only the mock can show."""
        return [r for r in self.rows() if not (self.deployment and r.mock_only)]

    def table(self) -> list[str]:
        rows = self.shown_rows()
        width = max(len(row.key) for row in rows)
        lines = [f"{'assumption':<{width}}  {'result':<11}  x-assumption"]
        for row in rows:
            marked = f"{row.sentence}{' (mock only)' if row.mock_only else ''}"
            reason = f" [{row.reason}]" if row.status == UNCHECKED and row.reason else ""
            lines.append(f"{row.key:<{width}}  {row.status:<11}  {marked}{reason}")
        return lines

    def properties(self) -> list[tuple[str, str]]:
        return [(f"x-assumed {row.key}", row.status) for row in self.shown_rows()]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.section("x-assumed behaviours (drift summary)")
        for line in self.table():
            terminalreporter.write_line(line)


def _strip_skipped(text: str) -> str:
    return text[len("Skipped: "):] if text.startswith("Skipped: ") else text
