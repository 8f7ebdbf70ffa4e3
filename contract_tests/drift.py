"""Which `x-assumed` behaviours of the spec held against this target.

The spec marks every behaviour the public docs do not state with `x-assumed: true` and an
`x-assumption` sentence. Tests that exercise one carry `@pytest.mark.assumption(key)`; at the
end of the run each assumption is `held` (its tests passed), `BROKEN` (one failed) or
`not checked`, printed as a table and written as JUnit XML properties.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from envoy_events_kit.contract_tests.realtime_rules import RULES as REALTIME_RULES

from envoy_events_kit import spec_path
from envoy_events_kit.documents import document

HELD, BROKEN, UNCHECKED = "held", "BROKEN", "not checked"


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


class DriftRecorder:
    """A pytest plugin object: collects outcomes per assumption and reports them."""

    def __init__(self, spec: Path | None = None) -> None:
        # The spec's x-assumed behaviours, then the realtime server's rules (`realtime-*`).
        self.assumptions = {**assumptions(spec), **REALTIME_RULES}
        self.tests: dict[str, set[str]] = {key: set() for key in self.assumptions}
        self.outcomes: dict[str, str] = {}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            for mark in item.iter_markers("assumption"):
                for key in mark.args:
                    if key not in self.assumptions:
                        raise pytest.UsageError(f"{item.nodeid}: unknown assumption {key!r}")
                    self.tests[key].add(item.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and report.skipped):
            if report.failed:
                self.outcomes[report.nodeid] = "failed"
            else:
                self.outcomes.setdefault(report.nodeid, report.outcome)

    def status(self, key: str) -> str:
        outcomes = [self.outcomes.get(nodeid) for nodeid in self.tests[key]]
        if "failed" in outcomes:
            return BROKEN
        return HELD if "passed" in outcomes else UNCHECKED

    def table(self) -> list[str]:
        width = max(len(key) for key in self.assumptions)
        lines = [f"{'assumption':<{width}}  {'result':<11}  x-assumption"]
        for key, text in self.assumptions.items():
            lines.append(f"{key:<{width}}  {self.status(key):<11}  {text}")
        return lines

    def properties(self) -> list[tuple[str, str]]:
        return [(f"x-assumed {key}", self.status(key)) for key in self.assumptions]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.section("x-assumed behaviours (drift summary)")
        for line in self.table():
            terminalreporter.write_line(line)
