"""Both sides asked alike: the one place a request goes to the target and to the mirror.

What is sent comes from the contract suite's own code, so a parity run asks what the suite
asks, only twice:
- the fixed probes (`probes.py`) and the channels its Hypothesis strategies draw
  (`generated.py`);
- Schemathesis cases of every operation, from the suite's schema, configuration and
  `map_case` hook (`contract_tests.spec.load_schema`), positive and negative, derandomized;
- with `--allow-destructive`, the suite's stateful walks
  (`contract_tests.organisation_model.OrganisationModel`): each step goes to both sides
  before Hypothesis draws the next.

Each request goes to the target first, then the same request to the mock, each with its own
side's token for the same role; the two answers are compared (`compare.compare`). Nothing
here judges either side against the spec: that is the contract suite's job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from envoy_events_kit.contract_tests.target import Target, bearer
from envoy_events_kit.proxy.report import describe_request

from .compare import Answer, compare
from .generated import draw
from .mirror import ADMIN, CALLER, Mirror
from .probes import Probe
from .result import OPERATIONS, Outcome

#: Operations that change the organisation: their cases go out only with --allow-destructive.
ADMIN_OPERATIONS = ("provisionEvents", "deprovisionEvents")
#: Sends one request to a side: (base URL, session, that side's tokens by role) -> answer.
Send = Callable[[str, requests.Session, dict[str, str]], requests.Response]


@dataclass(frozen=True)
class Asked:
    """A step that is not a fixed probe: a Schemathesis case or a step of a stateful walk."""

    rule: str
    variant: str
    assumptions: tuple[str, ...] = ()
    destructive: bool = False
    kind: str = "Schemathesis cases"

    @property
    def name(self) -> str:
        return f"{self.rule} [{self.variant}]"


@dataclass
class Sides:
    """The target and the mirrored mock, with each side's tokens for the same roles."""

    target: Target
    mock_url: str
    local: requests.Session
    target_tokens: dict[str, str]
    mock_tokens: dict[str, str]
    secrets: list[str]
    timeout: float

    def ask(self, step: Any, operation_id: str | None, send: Send) -> Outcome:
        """Send to the target, then to the mock; the outcome holds every difference."""
        outcome = Outcome(step, step.name)
        try:
            theirs = send(self.target.base_url, self.target.session, self.target_tokens)
        except requests.RequestException as exc:
            outcome.unchecked = f"the target did not answer ({type(exc).__name__})"
            return outcome
        outcome.request = self.describe(theirs.request)
        outcome.answered("target", theirs.status_code, theirs.request)
        try:
            ours = send(self.mock_url, self.local, self.mock_tokens)
        except requests.RequestException as exc:
            outcome.unchecked = f"the mock did not answer ({type(exc).__name__})"
            return outcome
        outcome.answered("mock", ours.status_code)
        outcome.differences = compare(operation_id, Answer.from_response(theirs),
                                      Answer.from_response(ours))
        return outcome

    def describe(self, sent: requests.PreparedRequest) -> str:
        """The request as it went to the target, credentials redacted."""
        parts = urlsplit(sent.url or "")
        body = sent.body or b""
        return describe_request(sent.method or "GET", parts.path, parts.query,
                                body.encode() if isinstance(body, str) else body,
                                sent.headers.get("Authorization"), self.secrets)

    def ask_probe(self, probe: Probe) -> Outcome:
        def send(base_url: str, session: requests.Session, tokens: dict[str, str]
                 ) -> requests.Response:
            return session.get(base_url + probe.path, params=list(probe.query) or None,
                               data=probe.body, headers=probe.headers(tokens),
                               timeout=self.timeout)

        return self.ask(probe, OPERATIONS.get(probe.path), send)

    def ask_case(self, step: Asked, operation_id: str, role: str, case: Any) -> Outcome:
        """A Schemathesis case, as `role` on each side."""
        def send(base_url: str, session: requests.Session, tokens: dict[str, str]
                 ) -> requests.Response:
            return case.call(base_url=base_url, session=session, headers=bearer(tokens[role]),
                             timeout=self.timeout)

        return self.ask(step, operation_id, send)


# -- Schemathesis cases ---------------------------------------------------------------------

def schemathesis_cases(examples: int, admin: bool) -> Iterator[tuple[Asked, str, Any]]:
    """(step, operationId, case): up to `examples` cases per operation and generation mode,
    of the read-only operations, or with `admin` of the provisioning ones."""
    from hypothesis.errors import Unsatisfiable

    from envoy_events_kit.contract_tests.spec import load_schema

    schema = load_schema(max_examples=max(examples, 1))
    for result in schema.get_all_operations():
        operation = result.ok()
        operation_id = operation.definition.raw.get("operationId", operation.path)
        if (operation_id in ADMIN_OPERATIONS) != admin:
            continue
        for mode in schema.config.generation.modes:
            strategy = operation.as_strategy(mode, hooks=schema.hooks)
            try:
                cases = draw(strategy, examples, unique=False)
            except Unsatisfiable:  # nothing to make negative (no parameters, no body)
                continue
            for index, case in enumerate(cases):
                yield (Asked("schemathesis", f"{operation_id}, {mode.value} {index + 1}",
                             destructive=admin), operation_id, case)


def ask_schemathesis(sides: Sides, examples: int, admin: bool = False) -> Iterator[Outcome]:
    """The suite's generated cases in lockstep. After a deprovision case both sides are
    provisioned again, as the suite does, so later steps find the organisation as before."""
    if examples <= 0:
        return
    from envoy_events_kit.contract_tests.organisation_model import new_case

    for step, operation_id, case in schemathesis_cases(examples, admin):
        yield sides.ask_case(step, operation_id, ADMIN if admin else CALLER, case)
        if operation_id == "deprovisionEvents":
            again = Asked("provision-204", f"after {step.variant}", destructive=True)
            yield sides.ask_case(again, "provisionEvents", ADMIN, new_case("provisionEvents",
                                                                           ""))


# -- the stateful walks ---------------------------------------------------------------------

def walk_actor(mirror: Mirror) -> tuple[str, Any] | None:
    """Who acts in the walks (the role and its identity), as the contract suite chooses: the
    caller when it belongs to the admin's organisation and is granted a channel, else the
    admin. None when neither is granted a channel."""
    if mirror.admin is None:
        return None
    me, admin = mirror.caller.identity, mirror.admin.identity
    if me.org_id == admin.org_id and me.namespaces:
        return CALLER, me
    return (ADMIN, admin) if admin.namespaces else None


def ask_walks(sides: Sides, mirror: Mirror, walks: int, steps: int) -> list[Outcome]:
    """The contract suite's scripted walk, then `walks` of Hypothesis' walks (derandomized:
    the same on every run) of its organisation model, every step to both sides. Each walk
    ends with the organisation provisioned (the model's teardown).

    Hypothesis starts from the simplest walks (one rule over and over), so a handful is
    not enough to mix deprovision with tokens: the default is ten."""
    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import run_state_machine_as_test

    from envoy_events_kit.contract_tests import organisation_model as model
    from envoy_events_kit.contract_tests.strategies import NO_SHRINK

    actor = walk_actor(mirror)
    if actor is None or walks <= 0:
        return []
    role, identity = actor
    outcomes: list[Outcome] = []

    walked = [0]

    class Lockstep(model.OrganisationModel):
        me = identity

        def __init__(self) -> None:
            super().__init__()
            walked[0] += 1
            self.walk = f"walk {walked[0] - 1}" if walked[0] > 1 else "scripted walk"

        @property
        def has_control(self) -> bool:
            return False  # a deployment has no control API

        def call(self, operation_id: str, who: str, rule_name: str, expected: int,
                 step: str, body: dict | None = None) -> None:
            self.history.append(step)
            asked = Asked(rule_name, f"{self.walk}, step {len(self.history)}: {step}",
                          destructive=True, kind="stateful walk steps")
            case = model.new_case(operation_id, "", body)
            outcomes.append(sides.ask_case(asked, operation_id,
                                           ADMIN if who == model.ADMIN else role, case))

        def teardown(self) -> None:
            self.call("provisionEvents", model.ADMIN, "provision-204", 204,
                      "provision (end of walk)")

    Lockstep().scripted_walk()
    run_state_machine_as_test(Lockstep, settings=settings(
        max_examples=walks, stateful_step_count=steps, derandomize=True, database=None,
        deadline=None, suppress_health_check=list(HealthCheck), phases=NO_SHRINK))
    return outcomes
