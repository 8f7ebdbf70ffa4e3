"""`envoy-events parity`: the same requests to a deployment and to a mock that mirrors it.

1. Learn who the token is on the target (the contract suite's `open_target`: connection
   token claims), whether its organisation is provisioned, its tokens' lifetime and, with
   `--allow-destructive`, whether each token may provision (an idempotent provision of a
   provisioned organisation).
2. Start the built-in mock with fixtures that mirror it (`mirror.Mirror`).
3. Send every probe (`probes.probes`) to the target, then the same to the mock, and compare
   the answers (`compare.compare`).
4. Report each difference once, by rule, with the request that shows it (tokens redacted);
   exit 0 when the two agree, 1 when they differ, 3 when a side could not be checked.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from envoy_events_kit.contract_tests.drift import assumptions as spec_assumptions
from envoy_events_kit.contract_tests.runner import cli_words
from envoy_events_kit.contract_tests.target import (
    CONNECTION,
    DEPROVISION,
    PROVISION,
    Options,
    Target,
    TargetError,
    open_target,
    unverified_claims,
)
from envoy_events_kit.proxy.report import describe_request, junit, redact, write_json

from .compare import Answer, Difference, compare
from .generated import generated_probes
from .mirror import ADMIN, CALLER, EXPIRED, Mirror, Principal
from .probes import Probe, probes

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


@dataclass
class Outcome:
    """One probe's result: its differences, or why a side could not be asked."""

    probe: Probe
    request: str
    differences: list[Difference] = field(default_factory=list)
    unchecked: str | None = None


@dataclass
class ParityResult:
    mirror: Mirror | None
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: str | None = None  # why the run could not start

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
        return UNCHECKED if self.unchecked else AGREE

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


# -- learning the target --------------------------------------------------------------------

def _lifetime(target: Target) -> int | None:
    answer = target.get(CONNECTION, target.token)
    try:
        payload = unverified_claims(answer.json()["token"])
        return int(payload["exp"]) - int(payload["iat"])
    except (ValueError, KeyError, TypeError):
        return None


def _may_provision(target: Target, token: str) -> bool | None:
    """Provision a provisioned organisation (idempotent): 204 yes, 403 no."""
    status = target.get(PROVISION, token).status_code
    return {204: True, 403: False}.get(status)


def learn(options: ParityOptions, target: Target, provisioned: bool,
          lifetime: int | None = None) -> Mirror:
    assert target.identity is not None
    caller = Principal(CALLER, target.identity,
                       assumed_admin=bool(options.admin_token) and
                       options.admin_token == options.token)
    admin = (Principal(ADMIN, target.admin_identity or target.identity, assumed_admin=True)
             if options.admin_token else None)
    mirror = Mirror(options.base_url, caller, admin, provisioned=provisioned,
                    has_expired_token=bool(options.expired_token))
    if lifetime is not None and lifetime > 0:
        mirror.token_ttl = lifetime
    elif lifetime is not None:
        mirror.notes.append(f"The target's tokens live {lifetime} s (exp - iat); the mock "
                            f"cannot, so it uses {mirror.token_ttl} s.")
    if options.allow_destructive and provisioned:
        caller.may_provision = _may_provision(target, options.token)
        if admin is not None and options.admin_token:
            admin.may_provision = _may_provision(target, options.admin_token)
    elif caller.may_provision is None:
        mirror.notes.append("Whether the caller may provision was not checked (read-only run): "
                            f"assumed {'yes' if caller.admin else 'no'}.")
    return mirror


def _open(options: ParityOptions) -> tuple[Target, bool, int | None]:
    """The target, whether the caller's organisation was provisioned when we came, and the
    lifetime of its connection tokens."""
    contract_options = Options(base_url=options.base_url.rstrip("/"), token=options.token,
                               admin_token=options.admin_token,
                               expired_token=options.expired_token,
                               allow_destructive=options.allow_destructive,
                               rate_limit=options.rate_limit, timeout=options.timeout)
    try:
        first = requests.get(contract_options.base_url + CONNECTION, timeout=options.timeout,
                             headers={"Authorization": f"Bearer {options.token}"})
        provisioned = first.status_code != 409
    except requests.RequestException:
        provisioned = True  # open_target says what is wrong
    target = open_target(contract_options)
    lifetime = _lifetime(target)
    if not provisioned and options.admin_token:
        # open_target provisioned it to learn who the token is: put it back as we found it,
        # so both sides are compared in that state.
        target.get(DEPROVISION, options.admin_token)
    return target, provisioned, lifetime


# -- the run ------------------------------------------------------------------------------

def _send(session: requests.Session, base_url: str, probe: Probe, tokens: dict[str, str],
          timeout: float) -> Answer:
    response = session.get(base_url + probe.path, params=list(probe.query) or None,
                           data=probe.body, headers=probe.headers(tokens), timeout=timeout)
    return Answer.from_response(response)


def run(options: ParityOptions, echo: Callable[[str], None] = print) -> ParityResult:
    """The whole parity run; never raises for a target problem (see `stopped`)."""
    secrets = [options.token, options.admin_token or "", options.expired_token or ""]
    try:
        target, provisioned, lifetime = _open(options)
    except TargetError as exc:
        return ParityResult(None, stopped=redact(cli_words(str(exc)), secrets))
    try:
        mirror = learn(options, target, provisioned, lifetime)
        if options.write_fixtures is not None:
            mirror.write(options.write_fixtures)
            echo(f"wrote the mirrored fixtures to {options.write_fixtures}")
        return _compare_all(options, target, mirror, secrets, echo)
    except requests.RequestException as exc:
        return ParityResult(None, stopped=f"{options.base_url} stopped answering "
                                          f"({type(exc).__name__})")
    finally:
        _leave_as_found(options, target, provisioned)


def _compare_all(options: ParityOptions, target: Target, mirror: Mirror, secrets: list[str],
                 echo: Callable[[str], None]) -> ParityResult:
    from envoy_events_kit.mock_server import MockServer

    with tempfile.TemporaryDirectory(prefix="envoy-events-parity-") as tmp:
        fixtures = Path(tmp) / "mirror.yaml"
        mirror.write(fixtures)
        try:
            mock = MockServer({"fixtures_path": fixtures, "clock": "real",
                               "token_ttl": mirror.token_ttl}).start()
        except Exception as exc:  # noqa: BLE001 - one sentence, exit 3
            return ParityResult(mirror, stopped=f"the mirrored mock did not start: {exc}")
        target_tokens = {CALLER: options.token, ADMIN: options.admin_token or "",
                         EXPIRED: options.expired_token or ""}
        mock_tokens = {role: mirror.fixture_token(role) for role in (CALLER, ADMIN, EXPIRED)}
        result = ParityResult(mirror)
        local = requests.Session()
        fixed = probes(mirror, options.allow_destructive)
        generated = generated_probes(mirror, options.examples)
        if generated is None:
            echo("parity: generated requests skipped (Hypothesis is not installed: install "
                 "the kit's contract extra)")
        # Generated ones go before the provisioning probes, while the org is as found.
        split = next((i for i, p in enumerate(fixed) if p.destructive), len(fixed))
        try:
            for probe in [*fixed[:split], *(generated or []), *fixed[split:]]:
                result.outcomes.append(_one(probe, target, mock.url, local, target_tokens,
                                            mock_tokens, secrets, options.timeout))
        finally:
            local.close()
            mock.stop()
    return result


def _one(probe: Probe, target: Target, mock_url: str, local: requests.Session,
         target_tokens: dict[str, str], mock_tokens: dict[str, str], secrets: list[str],
         timeout: float) -> Outcome:
    query = "&".join(f"{k}={v}" for k, v in probe.query)
    request = describe_request("GET", probe.path, query, probe.body or b"",
                               probe.headers(target_tokens).get("Authorization"), secrets)
    outcome = Outcome(probe, request)
    try:
        theirs = _send(target.session, target.base_url, probe, target_tokens, timeout)
    except requests.RequestException as exc:
        outcome.unchecked = f"the target did not answer ({type(exc).__name__})"
        return outcome
    try:
        ours = _send(local, mock_url, probe, mock_tokens, timeout)
    except requests.RequestException as exc:
        outcome.unchecked = f"the mock did not answer ({type(exc).__name__})"
        return outcome
    outcome.differences = compare(OPERATIONS.get(probe.path), theirs, ours)
    return outcome


def _leave_as_found(options: ParityOptions, target: Target, provisioned: bool) -> None:
    """Deprovision again an organisation we provisioned; a mock target gets its snapshot."""
    try:
        if not provisioned and options.allow_destructive and options.admin_token:
            target.get(DEPROVISION, options.admin_token)
        target.restore(target.initial_state)
    except requests.RequestException:
        pass
    finally:
        target.stop()


# -- reporting ----------------------------------------------------------------------------

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
    for outcome in result.unchecked:
        lines.append(f"  not checked: {outcome.probe.name}: {outcome.unchecked}")
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
