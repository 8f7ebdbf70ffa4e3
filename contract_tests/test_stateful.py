"""Stateful: a model of the organisation ({provisioned, webhook endpoints}) and a Hypothesis
state machine whose every step must get the status the model predicts.

Schemathesis' link-driven machine cannot say "after deprovision, expect the refusal", so the
model is explicit here; requests are still built from the spec's operations (`Case`) and
validated against it. Against a deployment this runs only with --events-allow-destructive,
and the organisation is always provisioned again at the end.
"""

from __future__ import annotations

import pytest
from envoy_events_kit.contract_tests import strategies
from envoy_events_kit.contract_tests.checks import Context, Exchange, RuleBroken, check_all
from envoy_events_kit.contract_tests.spec import OPERATION_PATHS, load_schema
from envoy_events_kit.contract_tests.target import (
    CONFIGURED,
    STATEFUL_STEPS,
    Identity,
    Target,
    bearer,
    stateful_examples,
)
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

SCHEMA = load_schema()
SPEC_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
               response_schema_conformance, response_headers_conformance]
#: Channel kinds and the status each must get from a provisioned organisation.
CHANNEL_KINDS = {
    "own": (strategies.own_channels, 200),
    "foreign-user": (strategies.foreign_user_channels, 403),
    "foreign-org": (strategies.foreign_org_channels, 403),
    "ungranted-namespace": (strategies.ungranted_namespace_channels, 403),
    "malformed": (strategies.malformed_channels, 400),
}


class OrganisationModel(RuleBasedStateMachine):
    """The org of the admin token; `target`, `actor`, `me`, `rules` are set before a run."""

    target: Target
    actor: str
    me: Identity
    rules_ctx: Context

    def __init__(self) -> None:
        super().__init__()
        self.provisioned = True
        self.endpoints: int | None = None
        self.history: list[str] = []

    # -- plumbing -------------------------------------------------------------------------
    def call(self, operation_id: str, token: str, rule_name: str, expected: int,
             step: str, body: dict | None = None) -> Exchange:
        self.history.append(step)
        operation = SCHEMA[OPERATION_PATHS[operation_id]]["GET"]
        case = operation.Case(headers=bearer(token), **({"body": body} if body else {}))
        response = case.call(base_url=self.target.base_url, session=self.target.session)
        exchange = Exchange.from_prepared(response.request, response.status_code,
                                          response.headers, response.content)
        if response.status_code != expected:
            raise RuleBroken(rule_name, f"{step} answered {response.status_code}; the model "
                                        f"expects {expected} after: {' -> '.join(self.history)}")
        case.validate_response(response, checks=SPEC_CHECKS)
        check_all(exchange, self.rules_ctx)
        return exchange

    def control(self, method: str, path: str, json: dict | None = None):
        response = self.target.control(method, path, json=json)
        response.raise_for_status()
        return response.json() if response.content else None

    @property
    def has_control(self) -> bool:
        return self.target.is_mock and bool(self.me.org_id)

    def _count_endpoints(self) -> int:
        body = self.control("GET", f"/orgs/{self.me.org_id}/webhook_endpoints")
        return len(body["webhook_endpoints"])

    # -- steps ----------------------------------------------------------------------------
    @initialize()
    def start_provisioned(self) -> None:
        self.call("provisionEvents", self.target.admin_token, "provision-204", 204, "provision")
        if self.has_control:
            self.endpoints = self._count_endpoints()

    @rule()
    def provision(self) -> None:
        self.call("provisionEvents", self.target.admin_token, "provision-204", 204, "provision")
        self.provisioned = True

    @rule()
    def deprovision(self) -> None:
        self.call("deprovisionEvents", self.target.admin_token, "deprovision-204", 204,
                  "deprovision")
        self.provisioned = False
        if self.endpoints is not None:
            self.endpoints = 0

    @precondition(lambda self: self.has_control)
    @rule()
    def add_webhook_endpoint(self) -> None:
        self.history.append("add webhook endpoint (control API)")
        self.control("POST", f"/orgs/{self.me.org_id}/webhook_endpoints",
                     json={"url": "http://127.0.0.1:9/contract-suite"})
        self.endpoints = (self.endpoints or 0) + 1

    @rule()
    def connection_token(self) -> None:
        if self.provisioned:
            self.call("getConnectionToken", self.actor, "connection-token-200", 200,
                      "connection_token")
        else:
            self.call("getConnectionToken", self.actor, "not-provisioned-409", 409,
                      "connection_token")

    @rule(kind=st.sampled_from(sorted(CHANNEL_KINDS)), data=st.data())
    def subscription_token(self, kind: str, data: st.DataObject) -> None:
        strategy, expected = CHANNEL_KINDS[kind]
        channel = data.draw(strategy(self.me), label=f"{kind} channel")
        name = {200: "channel-own-granted", 403: f"channel-{kind}-403",
                400: "channel-malformed-400"}[expected]
        if expected == 200 and not self.provisioned:
            expected, name = 409, "not-provisioned-409"
        self.call("getSubscriptionToken", self.actor, name, expected,
                  f"subscription_token({kind} {channel!r})", body={"channel": channel})

    @invariant()
    def webhook_endpoints_match(self) -> None:
        if self.endpoints is None:
            return
        found = self._count_endpoints()
        if found != self.endpoints:
            raise RuleBroken("deprovision-deletes-webhook-endpoints",
                             f"the org has {found} webhook endpoints, the model expects "
                             f"{self.endpoints} after: {' -> '.join(self.history)}")

    def teardown(self) -> None:
        self.target.get(OPERATION_PATHS["provisionEvents"], self.target.admin_token)


@pytest.fixture
def model(target: Target, rules: Context) -> type[OrganisationModel]:
    """The model class bound to the target, acting as a token of the admin's organisation."""
    me, actor = target.identity, target.token
    admin = target.admin_identity
    if not (me and admin and me.org_id == admin.org_id and me.namespaces):
        me, actor = admin, target.admin_token
    if not me or not me.namespaces:
        pytest.skip("neither token's connection token grants a channel")
    OrganisationModel.target, OrganisationModel.actor = target, actor
    OrganisationModel.me, OrganisationModel.rules_ctx = me, rules
    return OrganisationModel


@pytest.mark.destructive
@pytest.mark.assumption("provisionEvents 204", "deprovisionEvents 204", "NotProvisioned")
def test_deprovision_then_provision(model: type[OrganisationModel]) -> None:
    """The scenario every server must get right, step by step, before the random walks."""
    machine = model()
    me = machine.me
    try:
        machine.start_provisioned()
        if machine.has_control:
            machine.add_webhook_endpoint()
        machine.deprovision()
        machine.webhook_endpoints_match()
        machine.connection_token()
        machine.call("getSubscriptionToken", machine.actor, "not-provisioned-409", 409,
                     "subscription_token(own channel)",
                     body={"channel": f"{me.namespaces[0]}:{me.org_id}#{me.user_id}"})
        machine.call("getSubscriptionToken", machine.actor, "check-order-403-before-409", 403,
                     "subscription_token(another org's channel)",
                     body={"channel": f"{me.namespaces[0]}:org_{'Z' * 27}"})
        machine.provision()
        machine.connection_token()
    finally:
        machine.teardown()


@pytest.mark.destructive
@pytest.mark.assumption("provisionEvents 204", "deprovisionEvents 204", "NotProvisioned")
def test_organisation_model(model: type[OrganisationModel]) -> None:
    run_state_machine_as_test(model, settings=settings(
        max_examples=stateful_examples(CONFIGURED), stateful_step_count=STATEFUL_STEPS,
        deadline=None, database=None, suppress_health_check=list(HealthCheck),
        phases=strategies.NO_SHRINK))
