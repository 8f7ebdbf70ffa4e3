"""`envoy-events parity`: the same requests to a deployment and to a mock that mirrors it.

1. Learn who the token is on the target (the contract suite's `open_target`: connection
   token claims), whether its organisation is provisioned, its tokens' lifetime and, with
   `--allow-destructive`, whether each token may provision (an idempotent provision of a
   provisioned organisation).
2. Start the built-in mock with fixtures that mirror it (`mirror.Mirror`).
3. Send every step to the target, then the same to the mock, and compare the answers
   (`lockstep.py`): the fixed probes, the channels the contract suite's strategies draw, its
   Schemathesis cases and, with `--allow-destructive`, its stateful walks.
4. Report each difference once, by rule, with the request that shows it (tokens redacted;
   `report.py`): exit 0 when the two agree, 1 when they differ, 3 when a side could not be
   checked.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import requests

from envoy_events_kit.contract_tests.runner import cli_words
from envoy_events_kit.contract_tests.target import (
    CONNECTION,
    DEPROVISION,
    PROVISION,
    STATEFUL_STEPS,
    Options,
    Target,
    TargetError,
    open_target,
    unverified_claims,
)
from envoy_events_kit.proxy.report import redact

from .generated import generated_probes
from .lockstep import Sides, ask_schemathesis, ask_walks
from .mirror import ADMIN, CALLER, EXPIRED, Mirror, Principal
from .probes import probes
from .result import Outcome, ParityOptions, ParityResult

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
        return _compare_all(options, target, mirror, secrets)
    except requests.RequestException as exc:
        return ParityResult(None, stopped=f"{options.base_url} stopped answering "
                                          f"({type(exc).__name__})")
    finally:
        _leave_as_found(options, target, provisioned)


def _compare_all(options: ParityOptions, target: Target, mirror: Mirror, secrets: list[str]
                 ) -> ParityResult:
    from . import realtime

    with tempfile.TemporaryDirectory(prefix="envoy-events-parity-") as tmp:
        fixtures = Path(tmp) / "mirror.yaml"
        mirror.write(fixtures)
        try:
            mock, realtime_problem = realtime.start_mock(
                {"fixtures_path": fixtures, "clock": "real", "token_ttl": mirror.token_ttl},
                realtime=bool(options.realtime_url))
        except Exception as exc:  # noqa: BLE001 - one sentence, exit 3
            return ParityResult(mirror, stopped=f"the mirrored mock did not start: {exc}")
        sides = Sides(target, mock.url, requests.Session(),
                      {CALLER: options.token, ADMIN: options.admin_token or "",
                       EXPIRED: options.expired_token or ""},
                      {role: mirror.fixture_token(role) for role in (CALLER, ADMIN, EXPIRED)},
                      secrets, options.timeout)
        result = ParityResult(mirror)
        try:
            for outcome in _lockstep(options, sides, mirror, result):
                result.outcomes.append(outcome)
            if options.realtime_url:  # the realtime questions, with each side's own tokens
                result.outcomes += realtime.compare(options, target, mirror, mock,
                                                    realtime_problem, secrets)
        finally:
            sides.local.close()
            mock.stop()
    return result


def _lockstep(options: ParityOptions, sides: Sides, mirror: Mirror,
              result: ParityResult) -> Iterator[Outcome]:
    """Every step, in order: read-only ones while the organisation is as found, then (with
    --allow-destructive) provisioning, the suite's provisioning cases and its walks."""
    fixed = probes(mirror, options.allow_destructive)
    split = next((i for i, p in enumerate(fixed) if p.destructive), len(fixed))
    generated = generated_probes(mirror, options.examples)
    if generated is None and (options.examples or options.allow_destructive and options.walks):
        result.not_asked.append(
            "the contract suite's generated channels, Schemathesis cases and stateful walks: "
            "Hypothesis and Schemathesis are not installed (install envoy-events-kit[contract], "
            "or ask for none with --examples 0 --walks 0)")
    for probe in [*fixed[:split], *(generated or [])]:
        yield sides.ask_probe(probe)
    if generated is not None:
        yield from ask_schemathesis(sides, options.examples)
    for probe in fixed[split:]:
        yield sides.ask_probe(probe)
    if generated is not None and options.allow_destructive:
        yield from ask_schemathesis(sides, options.examples, admin=True)
        yield from ask_walks(sides, mirror, options.walks, STATEFUL_STEPS)


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
