"""A parity run's results for a person and for CI: the summary, Markdown and JUnit."""

from __future__ import annotations

from pathlib import Path

from envoy_events_kit.proxy.report import junit, write_json

from .result import AGREE, DIFFER, UNCHECKED, ParityOptions, ParityResult


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
             f"{result.differences} differences, {len(result.unchecked)} not checked"]
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
    lines.append("x-assumed behaviours (does the target answer as the mock assumes?):")
    for key, verdict in result.assumptions().items():
        lines.append(f"  {key:<34} {verdict}")
    verdict = {AGREE: "the two agree", DIFFER: "they differ",
               UNCHECKED: "a side could not be checked"}[result.exit_code]
    lines.append(f"parity: {verdict} (exit {result.exit_code})")
    return "\n".join(lines)


def markdown(result: ParityResult, options: ParityOptions) -> str:
    lines = ["# envoy-events parity report", "", "```", summary(result, options), "```", ""]
    if result.stopped:
        return "\n".join(lines)
    lines += ["## Differences", ""]
    grouped = result.by_rule()
    if not grouped:
        lines.append("None: the target and the mirrored mock answered every request alike.")
    for rule, entries in grouped.items():
        lines += [f"### `{rule}`", "", "| request | difference | seen |", "|---|---|---:|"]
        for key, count, request in entries:
            probe, _, detail = key.partition(": ")
            lines.append(f"| `{request}` ({probe}) | {detail} | {count} |")
        lines.append("")
    lines += ["## x-assumed behaviours", "", "| assumption | verdict |", "|---|---|"]
    lines += [f"| {key} | {verdict} |" for key, verdict in result.assumptions().items()]
    return "\n".join(lines) + "\n"


def write_reports(result: ParityResult, options: ParityOptions, directory: Path) -> list[Path]:
    """parity-report.md, parity-report.json and parity-junit.xml (a test case per request)."""
    from envoy_events_kit.proxy.report import RuleTally

    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / "parity-report.md", directory / "parity-report.json",
             directory / "parity-junit.xml"]
    paths[0].write_text(markdown(result, options), encoding="utf-8")
    write_json(paths[1], {
        "base_url": options.base_url, "exit_code": result.exit_code, "stopped": result.stopped,
        "requests": len(result.outcomes), "difference_count": result.differences,
        "differences": {rule: [{"difference": key, "count": count, "request": request}
                               for key, count, request in entries]
                        for rule, entries in result.by_rule().items()},
        "not_checked": [{"probe": o.probe.name, "why": o.unchecked} for o in result.unchecked],
        "assumptions": result.assumptions()})
    cases: list[tuple[str, RuleTally | None]] = []
    for outcome in result.outcomes:
        tally = None
        if outcome.differences:
            first = outcome.differences[0]
            tally = RuleTally(first.rule, len(outcome.differences), outcome.request,
                              first.detail, {f"{d.rule}: {d.detail}": 1
                                             for d in outcome.differences})
        cases.append((outcome.probe.name, tally))
    if result.stopped:
        cases = [("reach the target", RuleTally("unreachable", 1, "", result.stopped))]
    junit("envoy-events-parity", cases, paths[2],
          {f"x-assumed {key}": value for key, value in result.assumptions().items()})
    return paths
