"""`envoy-events contract --report DIR`: the verdict as a CI page shows it.

DIR gets `junit.xml` (the test cases, the drift rows as properties) and `summary.md`: the
verdict, the drift table, the rules checked and not checked with the reason, and for each
operation which documented statuses the run observed and which it never did. With
`$GITHUB_STEP_SUMMARY` set, the Markdown is appended there too (the job's summary page).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from envoy_events_kit.contract_tests.drift import BROKEN, UNCHECKED
from envoy_events_kit.contract_tests.verdict import WORDS, Verdict, closing_line

from envoy_events_kit.redaction import Redactor

JUNIT_NAME, SUMMARY_NAME = "junit.xml", "summary.md"


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def heading(title: str, word: str, status: int, closing: str) -> list[str]:
    """`## Envoy events TITLE: WORD (exit N)` and the closing line: every report's top."""
    return [f"## Envoy events {title}: {word} (exit {status})", "", f"`{cell(closing)}`", ""]


def rules_table(rows: Iterable[tuple[str, str, str, str]]) -> list[str]:
    """The rules-and-assumptions table from (key, result, why not checked, promise) rows."""
    lines = ["### Rules and assumptions", "",
             "| rule / assumption | result | why not checked | what it promises |",
             "|---|---|---|---|"]
    for key, status, why, promise in rows:
        result = f"**{status}**" if status == BROKEN else status
        lines.append(f"| `{key}` | {result} | {cell(why)} | {promise} |")
    return lines


def coverage_table(sides: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Which documented statuses each operation was seen to answer, and which never.

    `sides` is label -> `coverage.coverage(...)`; one side (the contract suite's target)
    shows plain counts, several (a parity run's target and mock) show each side's, or one
    `both` entry where they agree."""
    if not any(sides.values()):
        return []
    lines = ["### Documented statuses observed", "",
             "| operation | observed | never observed |", "|---|---|---|"]
    operations = next(iter(sides.values())).keys()
    for operation in operations:
        observed = {label: ", ".join(f"{status} ×{count}" for status, count
                                     in cover[operation]["observed"].items()) or "none"
                    for label, cover in sides.items() if operation in cover}
        missing = {label: ", ".join(cover[operation].get("not_observed", [])) or "—"
                   for label, cover in sides.items() if operation in cover}
        lines.append(f"| `{operation}` | {_sides(observed)} | {_sides(missing)} |")
    return lines


def _sides(cells: dict[str, str]) -> str:
    values = set(cells.values())
    if len(cells) == 1 or len(values) == 1:
        return (f"both: {next(iter(values))}" if len(cells) > 1 else next(iter(values)))
    return "; ".join(f"{label}: {value}" for label, value in cells.items())


def markdown(verdict: Verdict) -> str:
    """The summary page: verdict first, then what was checked, then coverage."""
    word = WORDS.get(verdict.exit_status, f"exit {verdict.exit_status}")
    lines = heading("contract", word, verdict.exit_status, closing_line(verdict))
    if verdict.built_in_mock:
        lines += ["> **This run checked the kit's built-in mock, not a deployment** "
                  "(no `--base-url`).", ""]
    tests = ", ".join(f"{n} {kind}" for kind, n in verdict.tests.items() if n)
    if tests:
        lines += [f"Tests: {tests}.", ""]
    shown = [r for r in verdict.rows if not (verdict.deployment and r.mock_only)]
    lines += rules_table(
        (row.key, row.status, (row.detail or row.reason) if row.status == UNCHECKED else "",
         cell(row.sentence) + (" *(mock only)*" if row.mock_only else "")) for row in shown)
    hidden = [r.key for r in verdict.rows if verdict.deployment and r.mock_only]
    if hidden:
        lines += ["", f"Only the mock can show (left out above): {', '.join(hidden)}."]
    if verdict.coverage:
        lines += ["", *coverage_table({"target": verdict.coverage})]
    return "\n".join(lines) + "\n"


def publish(directory: str | Path, text: str) -> Path:
    """DIR/summary.md (already redacted), and the same appended to `$GITHUB_STEP_SUMMARY`."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    summary = target / SUMMARY_NAME
    summary.write_text(text, encoding="utf-8")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as page:
            page.write(text)
    return summary


def write(directory: str | Path, verdict: Verdict, junit: str | Path | None,
          redact: Redactor) -> Path:
    """Write DIR/summary.md (and DIR/junit.xml from `junit`); append to the step summary."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    if junit and Path(junit).resolve() != (target / JUNIT_NAME).resolve() and Path(
            junit).is_file():
        shutil.copyfile(junit, target / JUNIT_NAME)
    return publish(target, redact(markdown(verdict)))
