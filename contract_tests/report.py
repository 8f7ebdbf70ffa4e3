"""`envoy-events contract --report DIR`: the verdict as a CI page shows it.

DIR gets `junit.xml` (the test cases, the drift rows as properties) and `summary.md`: the
verdict, the drift table, the rules checked and not checked with the reason, and for each
operation which documented statuses the run observed and which it never did. With
`$GITHUB_STEP_SUMMARY` set, the Markdown is appended there too (the job's summary page).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from envoy_events_kit.contract_tests.drift import UNCHECKED
from envoy_events_kit.contract_tests.verdict import WORDS, Verdict, closing_line

from envoy_events_kit.redaction import Redactor

JUNIT_NAME, SUMMARY_NAME = "junit.xml", "summary.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(verdict: Verdict) -> str:
    """The summary page: verdict first, then what was checked, then coverage."""
    word = WORDS.get(verdict.exit_status, f"exit {verdict.exit_status}")
    lines = [f"## Envoy events contract: {word} (exit {verdict.exit_status})", "",
             f"`{_cell(closing_line(verdict))}`", ""]
    if verdict.built_in_mock:
        lines += ["> **This run checked the kit's built-in mock, not a deployment** "
                  "(no `--base-url`).", ""]
    tests = ", ".join(f"{n} {kind}" for kind, n in verdict.tests.items() if n)
    if tests:
        lines += [f"Tests: {tests}.", ""]
    shown = [r for r in verdict.rows if not (verdict.deployment and r.mock_only)]
    lines += ["### Rules and assumptions", "",
              "| rule / assumption | result | why not checked | what it promises |",
              "|---|---|---|---|"]
    for row in shown:
        why = _cell(row.detail or row.reason) if row.status == UNCHECKED else ""
        promise = _cell(row.sentence) + (" *(mock only)*" if row.mock_only else "")
        result = f"**{row.status}**" if row.status == "BROKEN" else row.status
        lines.append(f"| `{row.key}` | {result} | {why} | {promise} |")
    hidden = [r.key for r in verdict.rows if verdict.deployment and r.mock_only]
    if hidden:
        lines += ["", f"Only the mock can show (left out above): {', '.join(hidden)}."]
    if verdict.coverage:
        lines += ["", "### Documented statuses observed", "",
                  "| operation | observed | never observed |", "|---|---|---|"]
        for operation, seen in verdict.coverage.items():
            observed = ", ".join(f"{status} ×{count}" for status, count
                                 in seen["observed"].items()) or "none"
            missing = ", ".join(seen.get("not_observed", [])) or "—"
            lines.append(f"| `{operation}` | {observed} | {missing} |")
    return "\n".join(lines) + "\n"


def write(directory: str | Path, verdict: Verdict, junit: str | Path | None,
          redact: Redactor) -> Path:
    """Write DIR/summary.md (and DIR/junit.xml from `junit`); append to the step summary."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    if junit and Path(junit).resolve() != (target / JUNIT_NAME).resolve() and Path(
            junit).is_file():
        shutil.copyfile(junit, target / JUNIT_NAME)
    text = redact(markdown(verdict))
    summary = target / SUMMARY_NAME
    summary.write_text(text, encoding="utf-8")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as page:
            page.write(text)
    return summary
