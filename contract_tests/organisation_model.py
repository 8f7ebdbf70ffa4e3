"""The organisation model of the stateful contract tests: {provisioned, webhook endpoints},
and a Hypothesis state machine whose every step must get the status the model predicts.

Schemathesis' link-driven machine cannot say "after deprovision, expect the refusal", so the
model is explicit here; requests are still built from the spec's operations (`Case`) and
validated against it. `test_stateful.py` runs it against the target; the parity run
(`envoy_events_kit.parity.lockstep`) replays the same walks against a deployment and its
mirror at once.
"""

from __future__ import annotations

from typing import Any

from envoy_events_kit.contract_tests import strategies
from envoy_events_kit.contract_tests.checks import Context, Exchange, RuleBroken, check_all
from envoy_events_kit.contract_tests.spec import OPERATION_PATHS, load_schema
from envoy_events_kit.contract_tests.target import Identity, Target, bearer
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

#: Who sends a step: the admin token, or the actor (a token of the admin's organisation).
ADMIN, ACTOR = "admin", "actor"
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


def new_case(operation_id: str, token: str, body: dict | None = None) -> Any:
    """A Schemathesis `Case` of one of the spec's operations, as `token`."""
    operation = SCHEMA[OPERATION_PATHS[operation_id]]["GET"]
    return operation.Case(headers=bearer(token), **({"body": body} if body else {}))


class OrganisationModel(RuleBasedStateMachine):
    """The org of the admin token; `target`, `actor`, `me`, `rules` are set before a run.

    Steps name who sends them (ADMIN or ACTOR), not a token, so a subclass can send the
    same walk elsewhere: the parity run sends it to a deployment and its mirror alike."""

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
    def token_of(self, who: str) -> str:
        return self.target.admin_token if who == ADMIN else self.actor

    def call(self, operation_id: str, who: str, rule_name: str, expected: int,
             step: str, body: dict | None = None) -> Exchange | None:
        """Send one step as `who` (ADMIN or ACTOR) and hold the answer to the model."""
        self.history.append(step)
        case = new_case(operation_id, self.token_of(who), body)
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
        self.call("provisionEvents", ADMIN, "provision-204", 204, "provision")
        if self.has_control:
            self.endpoints = self._count_endpoints()

    @rule()
    def provision(self) -> None:
        self.call("provisionEvents", ADMIN, "provision-204", 204, "provision")
        self.provisioned = True

    @rule()
    def deprovision(self) -> None:
        self.call("deprovisionEvents", ADMIN, "deprovision-204", 204,
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
            self.call("getConnectionToken", ACTOR, "connection-token-200", 200,
                      "connection_token")
        else:
            self.call("getConnectionToken", ACTOR, "not-provisioned-409", 409,
                      "connection_token")

    @rule(kind=st.sampled_from(sorted(CHANNEL_KINDS)), data=st.data())
    def subscription_token(self, kind: str, data: st.DataObject) -> None:
        strategy, expected = CHANNEL_KINDS[kind]
        channel = data.draw(strategy(self.me), label=f"{kind} channel")
        name = {200: "channel-own-granted", 403: f"channel-{kind}-403",
                400: "channel-malformed-400"}[expected]
        if expected == 200 and not self.provisioned:
            expected, name = 409, "not-provisioned-409"
        self.call("getSubscriptionToken", ACTOR, name, expected,
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

    def scripted_walk(self) -> None:
        """The scenario every server must get right, step by step, before the random walks:
        deprovision refuses tokens (409, but 403 comes first), provision brings them back."""
        me = self.me
        try:
            self.start_provisioned()
            if self.has_control:
                self.add_webhook_endpoint()
            self.deprovision()
            self.webhook_endpoints_match()
            self.connection_token()
            self.call("getSubscriptionToken", ACTOR, "not-provisioned-409", 409,
                      "subscription_token(own channel)",
                      body={"channel": f"{me.namespaces[0]}:{me.org_id}#{me.user_id}"})
            self.call("getSubscriptionToken", ACTOR, "check-order-403-before-409", 403,
                      "subscription_token(another org's channel)",
                      body={"channel": f"{me.namespaces[0]}:org_{'Z' * 27}"})
            self.provision()
            self.connection_token()
        finally:
            self.teardown()
