"""The proxy's report in the contract suite's formats: DIR/junit.xml and DIR/summary.md.

Built by the contract suite's own code (`contract_tests.report`, `contract_tests.junit`), so
a CI job reads the proxy's report like the contract suite's and the parity run's: one test
case per rule the proxy checks the server's answers against (failed when violated, skipped
when no answer could show it), the rules table, the documented statuses the upstream was
seen to answer, and every violation by rule with the request that shows it. With
`--compare-mock`, one more case per comparison rule (failed when the mirrored mock's answers
differed). Requests outside the spec are the client's: listed, never a failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from envoy_events_kit.contract_tests.coverage import coverage
from envoy_events_kit.contract_tests.drift import BROKEN, HELD, UNCHECKED
from envoy_events_kit.contract_tests.junit import Case
from envoy_events_kit.contract_tests.report import cell, coverage_table, heading, rules_table
from envoy_events_kit.contract_tests.verdict import BROKEN_EXIT, KEPT, WORDS

from .report import RuleTally, markdown_table

if TYPE_CHECKING:
    from .app import ProxyReport

SUITE_NAME = "envoy-events-proxy"
PREFIX = "envoy-events proxy:"
TOKEN_OPERATIONS = ("getConnectionToken", "getSubscriptionToken")
#: Each rule the proxy judges the server's answers by (validate.py), what it promises, and
#: which answers can show it: "judged" (any answer in the spec's operations), "refused" (an
#: answer to a request outside the spec), an operation's 200 (a token issued), "secret".
SERVER_RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "response-status-undocumented": ("Every status is one the operation documents.",
                                     ("judged",)),
    "response-content-type": ("Each answer has its documented content type.", ("judged",)),
    "response-body-json": ("A JSON answer parses as JSON.", ("judged",)),
    "response-body-schema": ("Each body fits its documented schema.", ("judged",)),
    "response-unexpected-body": ("A status documented without a body sends none.",
                                 ("judged",)),
    "response-header-missing": ("Documented required headers are sent (WWW-Authenticate on "
                                "a 401).", ("judged",)),
    "response-header-schema": ("Documented headers fit their schemas.", ("judged",)),
    "valid-request-refused-400": ("A request that fits the spec is not refused as invalid.",
                                  ("judged",)),
    "auth-required-401": ("A request without valid credentials is refused with a 401.",
                          ("refused",)),
    "invalid-request-400": ("A request outside the spec is refused with a 400 in the check "
                            "order's place.", ("refused",)),
    "jwt-well-formed-hs256": ("Issued tokens are HS256 JWTs.", TOKEN_OPERATIONS),
    "jwt-signature": ("Issued tokens verify with the given secret.", ("secret",)),
    "jwt-claims-schema": ("Issued tokens' claims fit the claims schemas.", TOKEN_OPERATIONS),
    "jwt-iat-exp": ("iat comes before exp.", TOKEN_OPERATIONS),
    "jwt-exp-in-future": ("exp is in the future when the token is issued.", TOKEN_OPERATIONS),
    "connection-sub-is-caller": ("A bearer's connection tokens always name the same user.",
                                 ("getConnectionToken",)),
    "connection-channels-of-caller-org": ("Connection tokens grant only the caller's "
                                          "organisation's channels.", ("getConnectionToken",)),
    "subscription-channel-is-requested": ("A subscription token's channel is the one asked "
                                          "for.", ("getSubscriptionToken",)),
    "subscription-sub-is-caller": ("A subscription token names the caller.",
                                   ("getSubscriptionToken",)),
    "channel-foreign-org-403": ("No subscription token for another organisation's channel.",
                                ("getSubscriptionToken",)),
    "channel-ungranted-namespace-403": ("No subscription token for a namespace the caller "
                                        "was not granted.", ("getSubscriptionToken",)),
    "channel-foreign-user-403": ("No subscription token for another user's channel.",
                                 ("getSubscriptionToken",)),
}


def observed(report: ProxyReport) -> dict[str, dict[str, Any]]:
    """The contract suite's per-operation status coverage, from the upstream's answers."""
    return coverage(report.statuses_seen())


def _why_not_checked(needs: tuple[str, ...], report: ProxyReport,
                     seen: dict[str, dict[str, Any]]) -> str:
    if not report.judged:
        return "no request to the spec's operations went through the proxy"
    if "judged" in needs:
        return ""
    if "refused" in needs:
        return "" if report.request_problems.total else "no request outside the spec was sent"
    if "secret" in needs:
        if not report.signature_checked:
            return "no --jwt-secret"
        needs = TOKEN_OPERATIONS
    if any("200" in seen.get(op, {}).get("observed", {}) for op in needs):
        return ""
    return f"no token was issued ({' or '.join(needs)} never answered 200)"


def rule_rows(report: ProxyReport) -> list[tuple[str, str, str, str]]:
    """(rule, result, why not checked, promise) for every rule the proxy checks."""
    violated = {t.rule for t in report.violations.rules()}
    seen = observed(report)
    rows = []
    for rule, (promise, needs) in SERVER_RULES.items():
        why = "" if rule in violated else _why_not_checked(needs, report, seen)
        status = BROKEN if rule in violated else (UNCHECKED if why else HELD)
        rows.append((rule, status, why, cell(promise)))
    rows += [(rule, BROKEN, "", "") for rule in sorted(violated - SERVER_RULES.keys())]
    if report.differences is not None:
        from envoy_events_kit.parity.report import RULES

        differed = {t.rule for t in report.differences.rules()}
        for rule in [*RULES, *sorted(differed - RULES.keys())]:
            why = "" if report.compared or rule in differed else "no answer was compared"
            status = BROKEN if rule in differed else (UNCHECKED if why else HELD)
            rows.append((f"same as the mock: {rule}", status, why, cell(RULES.get(rule, ""))))
    return rows


def exit_status(report: ProxyReport) -> int:
    return BROKEN_EXIT if report.violations.total else KEPT


def closing_line(report: ProxyReport) -> str:
    status = exit_status(report)
    data = report.as_dict()
    parts = [f"{PREFIX} {WORDS[status]} (exit {status})", f"upstream {report.upstream}",
             f"{data['requests']} requests, {data['judged']} judged against the spec, "
             f"{data['not_in_spec']} outside its operations, {data['upstream_errors']} "
             "upstream errors"]
    if report.violations.total:
        parts.append("BROKEN: " + ", ".join(f"{t.rule} ({t.count})"
                                            for t in report.violations.rules()))
    if report.request_problems.total:
        parts.append(f"{report.request_problems.total} requests outside the spec (the "
                     "client's)")
    if report.differences is not None:
        parts.append(f"{report.differences.total} differences from the mirrored mock in "
                     f"{report.compared} compared")
    return "; ".join(parts)


def markdown(report: ProxyReport) -> str:
    """summary.md (the report endpoint's Markdown too); findings are already redacted."""
    status = exit_status(report)
    data = report.as_dict()
    lines = heading("proxy", WORDS[status], status, closing_line(report))
    lines += [f"Requests: {data['requests']}; {data['judged']} judged against "
              f"`openapi/events.yaml`; {data['not_in_spec']} outside its operations; "
              f"{data['streamed_unjudged_body']} streamed (status and headers judged); "
              f"{data['upstream_errors']} upstream errors.", ""]
    lines += rules_table(rule_rows(report))
    seen = observed(report)
    if any(entry["observed"] for entry in seen.values()):
        lines += ["", *coverage_table({"upstream": seen})]
    lines += ["", f"### Contract violations ({data['violation_count']})", ""]
    lines += markdown_table(report.violations.rules())
    lines += [f"### Requests outside the spec ({data['request_problem_count']})", ""]
    lines += markdown_table(report.request_problems.rules())
    if report.differences is not None:
        lines += [f"### Differences from the mirrored mock ({report.differences.total}; "
                  f"{report.compared} requests compared)", ""]
        lines += markdown_table(report.differences.rules())
    return "\n".join(lines).rstrip("\n") + "\n"


def _failed(classname: str, name: str, tally: RuleTally) -> Case:
    details = [f"{count} x {detail}" for detail, count in tally.details.items()]
    return Case(classname, name, failure=f"{tally.rule}: {tally.example_detail}; request "
                                         f"{tally.example_request}",
                details="\n".join([*details, f"e.g. {tally.example_request}"]))


def junit_cases(report: ProxyReport) -> list[Case]:
    """One test case per rule checked: failed when violated, skipped when not checked."""
    violated = {t.rule: t for t in report.violations.rules()}
    differed = {t.rule: t for t in (report.differences.rules()
                                    if report.differences is not None else [])}
    cases = []
    for rule, status, why, _ in rule_rows(report):
        mock_rule = rule.removeprefix("same as the mock: ")
        classname = f"proxy.{'mock-differences' if mock_rule != rule else 'violations'}"
        tally = differed.get(mock_rule) if mock_rule != rule else violated.get(rule)
        if status == BROKEN and tally is not None:
            cases.append(_failed(classname, rule, tally))
        elif status == UNCHECKED:
            cases.append(Case(classname, rule, skipped=why))
        else:
            cases.append(Case(classname, rule))
    return cases
