"""JUnit XML in pytest's own layout, for the reports the kit writes without pytest.

The contract suite's `junit.xml` comes from pytest (`--junit-xml`); the parity run, the
proxy and a contract run that stopped before testing write theirs here, with the same
elements and attributes (`testsuites` > `testsuite name errors failures skipped tests time
timestamp hostname` > `properties` > `property name value`, then `testcase classname name
time` with a `failure`, `skipped` or `error` child), so one CI step reads them all alike.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

#: The `type` of a `skipped` element: pytest writes `pytest.skip`; ours say who skipped.
SKIPPED_TYPE = "envoy-events.not-checked"


@dataclass(frozen=True)
class Case:
    """One test case: passed, or failed / skipped / errored with a message and details."""

    classname: str
    name: str
    seconds: float = 0.0
    failure: str | None = None
    skipped: str | None = None
    error: str | None = None
    details: str = ""


def write_junit(path: str | Path, suite_name: str, cases: Iterable[Case], *,
                properties: Mapping[str, str] | None = None, seconds: float | None = None,
                started: datetime | None = None) -> Path:
    """Write `path`; `seconds` defaults to the cases' sum, `started` to now."""
    cases = list(cases)
    total = sum(c.seconds for c in cases) if seconds is None else seconds
    stamp = (started or datetime.now(UTC)).astimezone(UTC)
    suite = ET.Element("testsuite", {
        "name": suite_name,
        "errors": str(sum(1 for c in cases if c.error is not None)),
        "failures": str(sum(1 for c in cases if c.failure is not None)),
        "skipped": str(sum(1 for c in cases if c.skipped is not None)),
        "tests": str(len(cases)), "time": f"{total:.3f}", "timestamp": stamp.isoformat(),
        "hostname": socket.gethostname()})
    if properties:
        props = ET.SubElement(suite, "properties")
        for name, value in properties.items():
            ET.SubElement(props, "property", name=name, value=value)
    for case in cases:
        element = ET.SubElement(suite, "testcase", classname=case.classname, name=case.name,
                                time=f"{case.seconds:.3f}")
        if case.failure is not None:
            ET.SubElement(element, "failure", message=case.failure).text = (
                case.details or case.failure)
        elif case.error is not None:
            ET.SubElement(element, "error", message=case.error).text = (
                case.details or case.error)
        elif case.skipped is not None:
            ET.SubElement(element, "skipped", type=SKIPPED_TYPE,
                          message=case.skipped).text = case.details or case.skipped
    root = ET.Element("testsuites", name=suite_name)
    root.append(suite)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # pytest's own declaration (double quotes, no line break before the root).
    target.write_text('<?xml version="1.0" encoding="utf-8"?>'
                      + ET.tostring(root, encoding="unicode"), encoding="utf-8")
    return target


def write_stopped(path: str | Path, suite_name: str, reason: str) -> Path:
    """One errored test saying why the run stopped before testing, so a CI report does not
    read `tests=0 failures=0`."""
    return write_junit(path, suite_name, [Case(suite_name, "reach the target", error=reason)])
