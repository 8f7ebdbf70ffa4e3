"""A parity run's results for a person and for CI, in the contract suite's formats.

`summary` is the terminal's text. `--report DIR` writes what `envoy-events contract --report`
writes, built by the same code (`contract_tests.report`, `contract_tests.junit`): DIR/junit.xml
(one test case per request both sides were asked: failed when they differ, skipped when a
side could not be asked; the `x-assumed` verdicts as properties, in the contract suite's
words), DIR/summary.md (the verdict, the closing line, the rules-and-assumptions table, the
documented statuses each side answered, the differences by rule with the request that shows
each; appended to `$GITHUB_STEP_SUMMARY` too) and DIR/report.json. Everything is redacted.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from envoy_events_kit.contract_tests.coverage import coverage
from envoy_events_kit.contract_tests.drift import BROKEN, HELD, UNCHECKED
from envoy_events_kit.contract_tests.drift import assumptions as spec_assumptions
from envoy_events_kit.contract_tests.junit import Case, write_junit, write_stopped
from envoy_events_kit.contract_tests.realtime_rules import RULES as REALTIME_RULES
from envoy_events_kit.contract_tests.report import (
    JUNIT_NAME,
    cell,
    coverage_table,
    heading,
    publish,
    rules_table,
)
from envoy_events_kit.redaction import Redactor

from .mirror import ADMIN, CALLER, EXPIRED
from .result import (
    AGREE,
    CONFIRMED,
    DIFFER,
    DIFFERS,
    NOT_CHECKED,
    OPERATIONS,
    Outcome,
    ParityOptions,
    ParityResult,
)
from .result import (
    UNCHECKED as UNCHECKED_EXIT,
)

SUITE_NAME = "envoy-events-parity"
JSON_NAME = "report.json"
PREFIX = "envoy-events parity:"
WORDS = {AGREE: "AGREE", DIFFER: "DIFFER", UNCHECKED_EXIT: "COULD NOT CHECK"}
#: The parity run's verdict on an `x-assumed` behaviour, in the contract suite's words.
CONTRACT_WORDS = {CONFIRMED: HELD, DIFFERS: BROKEN, NOT_CHECKED: UNCHECKED}
#: The comparison rules (compare.py), what each promises, and which answers it needs.
RULES = {
    "status": "Both sides answer every request with the same HTTP status.",
    "content-type": "Same status, same content type (when there is content).",
    "www-authenticate": "Both send, or both omit, WWW-Authenticate on a 401.",
    "error-code": "Same status, same error code in {\"error\": {\"code\"}}.",
    "json-shape": "Same status, same JSON shape (keys and value types; values are free).",
    "token-header": "Issued tokens have the same JOSE header.",
    "token-claims": "Issued tokens carry the same claims, apart from iat and exp.",
    "token-lifetime": "Issued tokens live as long (exp - iat).",
    "token-times": "iat and exp agree once each is taken relative to its side's own clock.",
}
TOKEN_OPERATIONS = {"getConnectionToken", "getSubscriptionToken"}


def redactor(result: ParityResult, options: ParityOptions) -> Redactor:
    """Every credential the run held: the options' tokens and the mirror's fixture tokens."""
    secrets = [options.token, options.admin_token, options.expired_token]
    if result.mirror is not None:
        secrets += [result.mirror.fixture_token(role) for role in (CALLER, ADMIN, EXPIRED)]
    return Redactor(secrets)


# -- the terminal -------------------------------------------------------------------------

def asked(result: ParityResult) -> str:
    """`37 fixed requests, 40 generated channels, ...`: what the run asked, by kind."""
    kinds = Counter(outcome.probe.kind for outcome in result.outcomes)
    return ", ".join(f"{count} {kind}" for kind, count in kinds.items()) or "nothing"


def summary(result: ParityResult, options: ParityOptions) -> str:
    if result.stopped:
        return f"envoy-events parity: {result.stopped}"
    mirror = result.mirror
    assert mirror is not None
    me = mirror.caller.identity
    destructive = sum(1 for o in result.outcomes if o.probe.destructive)
    lines = [f"envoy-events parity: {options.base_url} against the mock mirroring it, as "
             f"{me.user_id} of {me.org_id} (namespaces {', '.join(me.namespaces) or 'none'}; "
             f"{'provisioned' if mirror.provisioned else 'not provisioned'})",
             f"  {len(result.outcomes)} requests to each side ({destructive} destructive), "
             f"{result.differences} differences, {len(result.unchecked)} not checked",
             f"  asked: {asked(result)}"]
    grouped = result.by_rule()
    if grouped:
        lines.append("differences by rule:")
    for rule, entries in grouped.items():
        lines.append(f"  {rule} ({sum(count for _, count, _ in entries)})")
        for key, count, request in entries:
            lines.append(f"    {key}" + (f"  (x{count})" if count > 1 else ""))
            lines.append(f"      {request}")
    reasons: dict[str, list[str]] = {}  # one cause, one line (e.g. a realtime URL)
    for outcome in result.unchecked:
        reasons.setdefault(outcome.unchecked or "", []).append(outcome.probe.name)
    for why, names in reasons.items():
        lines.append(f"  not checked ({', '.join(names)}): {why}")
    for what in result.not_asked:
        lines.append(f"  not asked: {what}")
    lines.append("x-assumed behaviours (does the target answer as the mock assumes?):")
    for key, verdict in result.assumptions().items():
        lines.append(f"  {key:<34} {verdict}")
    verdict = {AGREE: "the two agree", DIFFER: "they differ",
               UNCHECKED_EXIT: "a side could not be checked"}[result.exit_code]
    lines.append(f"parity: {verdict} (exit {result.exit_code})")
    return "\n".join(lines)


# -- what summary.md and junit.xml say ----------------------------------------------------

def closing_line(result: ParityResult, options: ParityOptions) -> str:
    """One line: the verdict, the target, counts, the rules that differ, what was not
    checked and why (the contract suite's closing line, for a parity run)."""
    status = result.exit_code
    word = WORDS[status]
    if result.stopped:
        return f"{PREFIX} {word} (exit {status}): {result.stopped}"
    differed = sum(1 for o in result.outcomes if o.differences)
    parts = [f"{PREFIX} {word} (exit {status})",
             f"target {options.base_url} against the built-in mock mirroring its caller",
             f"{len(result.outcomes)} requests to each side: "
             f"{len(result.outcomes) - differed - len(result.unchecked)} agreed, "
             f"{differed} differed, {len(result.unchecked)} not checked"]
    grouped = result.by_rule()
    if grouped:
        parts.append("DIFFER: " + ", ".join(
            f"{rule} ({sum(count for _, count, _ in entries)})"
            for rule, entries in grouped.items()))
    reasons: dict[str, list[str]] = {}
    for outcome in result.unchecked:
        reasons.setdefault(outcome.unchecked or "no reason given", []).append(
            outcome.probe.name)
    if reasons:
        parts.append("not checked - " + "; ".join(
            f"{reason}: {', '.join(names)}" for reason, names in reasons.items()))
    parts += [f"not asked - {what}" for what in result.not_asked]
    return "; ".join(parts)


def _compared(outcome: Outcome) -> bool:
    return {"target", "mock"} <= outcome.statuses.keys() and not outcome.unchecked


def _rule_checked(rule: str, outcomes: list[Outcome]) -> str:
    """Why `rule` was not checked ("" when some pair of answers could show it)."""
    pairs = [o for o in outcomes if _compared(o)]
    if not pairs:
        return "no pair of answers was compared"
    if rule == "status":
        return ""
    same = [o for o in pairs if o.statuses["target"] == o.statuses["mock"]]
    if not same:
        return "the two sides never answered with the same status"
    if rule == "www-authenticate" and not any(o.statuses["target"] == 401 for o in same):
        return "no request was refused with a 401 by both sides"
    if rule.startswith("token-") and not any(
            o.statuses["target"] == 200
            and _operation(o) in TOKEN_OPERATIONS for o in same):
        return "neither side issued a token to the same request"
    return ""


def _lower(sentence: str) -> str:
    return sentence[:1].lower() + sentence[1:]


def _realtime_why(rule: str, outcomes: list[Outcome]) -> str:
    """Why a realtime rule was not checked ("" when one of its questions was compared)."""
    mine = [o for o in outcomes if o.probe.rule == rule]
    return "" if any(not o.unchecked for o in mine) else (mine[0].unchecked or "")


def _operation(outcome: Outcome) -> str | None:
    path = outcome.path or getattr(outcome.probe, "path", None) or ""
    return next((op for where, op in OPERATIONS.items() if path.endswith(where)), None)


def rule_rows(result: ParityResult) -> list[tuple[str, str, str, str]]:
    """(key, result, why not checked, promise): the comparison rules, then the spec's
    `x-assumed` behaviours, in the contract suite's words."""
    grouped = result.by_rule()
    rows = []
    asked = [r for r in dict.fromkeys(o.probe.rule for o in result.outcomes)
             if r in REALTIME_RULES and r not in grouped]  # with --realtime-url
    for rule in [*RULES, *(r for r in grouped if r not in RULES), *asked]:
        if rule in grouped:
            status, why = BROKEN, ""
        else:
            why = (result.stopped and "the run stopped before comparing") or (
                _realtime_why(rule, result.outcomes) if rule in REALTIME_RULES
                else _rule_checked(rule, result.outcomes))
            status = UNCHECKED if why else HELD
        promise = RULES.get(rule) or (f"Both realtime servers alike: {_lower(REALTIME_RULES[rule])}"
                                      if rule in REALTIME_RULES else "")
        rows.append((rule, status, why, cell(promise)))
    sentences = spec_assumptions()
    for key, verdict in result.assumptions().items():
        status = CONTRACT_WORDS[verdict]
        why = _assumption_why(key, result) if status == UNCHECKED else ""
        rows.append((key, status, why, cell(sentences.get(key, ""))))
    return rows


def _assumption_why(key: str, result: ParityResult) -> str:
    if result.stopped:
        return "the run stopped before comparing"
    relying = [o for o in result.outcomes if key in o.probe.assumptions]
    if relying and all(o.unchecked for o in relying):
        return f"its requests could not be asked: {relying[0].unchecked}"
    return "no request of this run relies on it"


def observed(result: ParityResult) -> dict[str, dict[str, dict[str, Any]]]:
    """side -> the contract suite's per-operation status coverage, from the outcomes."""
    counts: dict[str, Counter[tuple[str, str, int]]] = {"target": Counter(), "mock": Counter()}
    for outcome in result.outcomes:
        path = outcome.path or getattr(outcome.probe, "path", None)
        if not isinstance(path, str):
            continue  # not an HTTP request (a realtime question)
        method = (outcome.method or "GET").upper()
        for side, status in outcome.statuses.items():
            counts.setdefault(side, Counter())[(method, path, status)] += 1
    if not any(counts.values()):
        return {}
    return {side: coverage(seen) for side, seen in counts.items()}


def markdown(result: ParityResult, options: ParityOptions) -> str:
    """summary.md: the contract suite's page, for a parity run (not yet redacted)."""
    status = result.exit_code
    lines = heading("parity", WORDS[status], status, closing_line(result, options))
    if result.stopped:
        return "\n".join([*lines, *rules_table(rule_rows(result))]) + "\n"
    mirror = result.mirror
    if mirror is not None:
        me = mirror.caller.identity
        lines += [f"> The target `{options.base_url}` and the built-in mock mirroring its caller "
                  f"(`{me.user_id}` of `{me.org_id}`, namespaces "
                  f"{', '.join(me.namespaces) or 'none'}, "
                  f"{'provisioned' if mirror.provisioned else 'not provisioned'}) were asked "
                  "the same requests.", ""]
    differed = sum(1 for o in result.outcomes if o.differences)
    tests = [f"{len(result.outcomes) - differed - len(result.unchecked)} agreed",
             f"{differed} differed", f"{len(result.unchecked)} not checked"]
    lines += [f"Requests: {', '.join(tests)}.", "", f"Asked: {asked(result)}.", ""]
    lines += [f"**Not asked**: {what}." for what in result.not_asked]
    lines += rules_table(rule_rows(result))
    sides = observed(result)
    if sides:
        lines += ["", *coverage_table(sides)]
    lines += ["", "### Differences by rule", ""]
    grouped = result.by_rule()
    if not grouped:
        lines.append("None: the target and the mirrored mock answered every request alike.")
    for rule, entries in grouped.items():
        lines += [f"#### `{rule}`", "", "| request | difference | seen |", "|---|---|---:|"]
        for key, count, request in entries:
            probe, _, detail = key.partition(": ")
            lines.append(f"| `{_code(request)}` ({cell(probe)}) | {cell(detail)} | {count} |")
        lines.append("")
    if result.unchecked:
        lines += ["", "### Requests not checked", "", "| request | why |", "|---|---|"]
        lines += [f"| `{_code(o.request)}` ({cell(o.probe.name)}) | {cell(o.unchecked or '')} |"
                  for o in result.unchecked]
    if mirror is not None and mirror.notes:
        lines += ["", "### Notes on the mirror", "", *(f"- {note}" for note in mirror.notes)]
    return "\n".join(lines).rstrip("\n") + "\n"


def _code(text: str) -> str:
    return cell(text).replace("`", "'")


def junit_cases(result: ParityResult) -> list[Case]:
    """One test case per request both sides were asked."""
    cases = []
    for outcome in result.outcomes:
        step = outcome.probe
        case = Case(f"parity.{step.rule}", step.name, round(outcome.seconds, 3))
        if outcome.differences:
            first = outcome.differences[0]
            more = len(outcome.differences) - 1
            message = (f"{first.rule}: {first.detail}" + (f" (and {more} more)" if more else "")
                       + f"; request {outcome.request}")
            details = "\n".join([*(f"{d.rule}: {d.detail}" for d in outcome.differences),
                                 f"request: {outcome.request}"])
            case = Case(case.classname, case.name, case.seconds, failure=message,
                        details=details)
        elif outcome.unchecked:
            case = Case(case.classname, case.name, case.seconds, skipped=outcome.unchecked,
                        details=f"request: {outcome.request}")
        cases.append(case)
    return cases


def as_json(result: ParityResult, options: ParityOptions) -> dict[str, Any]:
    return {
        "base_url": options.base_url, "exit_code": result.exit_code, "stopped": result.stopped,
        "requests": len(result.outcomes), "difference_count": result.differences,
        "differences": {rule: [{"difference": key, "count": count, "request": request}
                               for key, count, request in entries]
                        for rule, entries in result.by_rule().items()},
        "not_checked": [{"probe": o.probe.name, "why": o.unchecked} for o in result.unchecked],
        "assumptions": result.assumptions(),
        "statuses_observed": observed(result)}


def write_reports(result: ParityResult, options: ParityOptions, directory: Path) -> list[Path]:
    """DIR/junit.xml, DIR/summary.md (also appended to `$GITHUB_STEP_SUMMARY`) and
    DIR/report.json, all redacted."""
    redact = redactor(result, options)
    directory.mkdir(parents=True, exist_ok=True)
    junit = directory / JUNIT_NAME
    if result.stopped:
        write_stopped(junit, SUITE_NAME, redact(result.stopped))
    else:
        started = datetime.fromtimestamp(result.started, UTC)
        write_junit(junit, SUITE_NAME, junit_cases(result),
                    properties={f"x-assumed {key}": CONTRACT_WORDS[verdict]
                                for key, verdict in result.assumptions().items()},
                    seconds=max(0.0, datetime.now(UTC).timestamp() - result.started),
                    started=started)
    junit.write_text(redact(junit.read_text(encoding="utf-8")), encoding="utf-8")
    page = publish(directory, redact(markdown(result, options)))
    data = directory / JSON_NAME
    data.write_text(redact(json.dumps(as_json(result, options), indent=2)) + "\n",
                    encoding="utf-8")
    return [junit, page, data]
