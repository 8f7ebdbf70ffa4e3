"""Semantic: which channels the caller is granted or refused, both request forms of
`subscription_token`, and a 400 for anything that is not a channel request."""

from __future__ import annotations

import pytest
from envoy_events_kit.contract_tests import strategies
from envoy_events_kit.contract_tests.checks import Context, Exchange, RuleBroken, check_all
from envoy_events_kit.contract_tests.target import (
    CONFIGURED,
    CONNECTION,
    SUBSCRIPTION,
    Identity,
    Target,
    semantic_examples,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=semantic_examples(CONFIGURED), deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), phases=strategies.NO_SHRINK)


@pytest.fixture(scope="module")
def me(target: Target) -> Identity:
    """The caller, who must be granted at least one namespace for these tests to mean much."""
    if not target.identity or not target.identity.namespaces or not target.identity.org_id:
        pytest.skip("the connection token of --events-token grants no channel")
    return target.identity


def ask(target: Target, rules: Context, rule: str, expected: int, **request) -> Exchange:
    """Ask for a subscription token; the status must be `expected` and every rule hold."""
    response = target.get(SUBSCRIPTION, target.token, **request)
    exchange = Exchange.from_response(response)
    if response.status_code != expected:
        raise RuleBroken(rule, f"{_describe(request)} answered {response.status_code}, "
                               f"the contract says {expected}")
    check_all(exchange, rules)
    return exchange


def _describe(request: dict) -> str:
    parts = []
    if "json" in request:
        parts.append(f"body {request['json']!r}")
    if "data" in request:
        parts.append(f"raw body {request['data']!r}")
    if "params" in request:
        parts.append(f"query {request['params']!r}")
    return "a request with " + (" and ".join(parts) or "no channel")


@given(data=st.data())
@SETTINGS
def test_own_channel_is_granted(target: Target, rules: Context, me: Identity, data) -> None:
    channel = data.draw(strategies.own_channels(me), label="channel")
    ask(target, rules, "channel-own-granted", 200, json={"channel": channel})


@given(data=st.data())
@SETTINGS
def test_other_users_channel_is_refused(target: Target, rules: Context, me: Identity,
                                        data) -> None:
    channel = data.draw(strategies.foreign_user_channels(me), label="channel")
    ask(target, rules, "channel-foreign-user-403", 403, json={"channel": channel})


@given(data=st.data())
@SETTINGS
def test_other_orgs_channel_is_refused(target: Target, rules: Context, me: Identity,
                                       data) -> None:
    channel = data.draw(strategies.foreign_org_channels(me), label="channel")
    ask(target, rules, "channel-foreign-org-403", 403, json={"channel": channel})


@given(data=st.data())
@SETTINGS
def test_ungranted_namespace_is_refused(target: Target, rules: Context, me: Identity,
                                        data) -> None:
    channel = data.draw(strategies.ungranted_namespace_channels(me), label="channel")
    ask(target, rules, "channel-ungranted-namespace-403", 403, json={"channel": channel})


@pytest.mark.assumption("Channel", "InvalidRequest")
@given(data=st.data(), form=st.sampled_from(["json", "params"]))
@SETTINGS
def test_malformed_channel_is_400(target: Target, rules: Context, me: Identity, data,
                                  form: str) -> None:
    channel = data.draw(strategies.malformed_channels(me), label="channel")
    ask(target, rules, "channel-malformed-400", 400, **{form: {"channel": channel}})


def own_user_channel(me: Identity) -> str:
    return f"{me.namespaces[0]}:{me.org_id}#{me.user_id}"


@pytest.mark.assumption("getSubscriptionToken ?channel=")
def test_query_form_is_accepted(target: Target, rules: Context, me: Identity) -> None:
    ask(target, rules, "subscription-query-form", 200, params={"channel": own_user_channel(me)})


def test_json_body_form_is_accepted(target: Target, rules: Context, me: Identity) -> None:
    """The documented form: a JSON body on a GET."""
    ask(target, rules, "subscription-json-body-form", 200,
        json={"channel": own_user_channel(me)})


@pytest.mark.assumption("getSubscriptionToken ?channel=")
def test_body_and_equal_query_are_accepted(target: Target, rules: Context, me: Identity) -> None:
    channel = own_user_channel(me)
    ask(target, rules, "subscription-body-and-query", 200, json={"channel": channel},
        params={"channel": channel})


@pytest.mark.assumption("getSubscriptionToken ?channel=", "InvalidRequest")
def test_body_and_query_that_disagree_are_400(target: Target, rules: Context,
                                              me: Identity) -> None:
    ask(target, rules, "subscription-body-query-disagree-400", 400,
        json={"channel": own_user_channel(me)}, params={"channel": f"{me.namespaces[0]}:"
                                                                   f"{me.org_id}"})


@pytest.mark.assumption("InvalidRequest", "Error")
@pytest.mark.parametrize("body", [None, b"{}", b"[]", b'"x"', b"null", b"42", b"{not json",
                                  b'{"channel": 7}', b'{"channel": null}', b'{"chanel": "x"}',
                                  b"\xff\xfe"],
                         ids=lambda b: repr(b))
def test_no_channel_or_bad_body_is_400(target: Target, rules: Context,
                                       body: bytes | None) -> None:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    ask(target, rules, "subscription-bad-body-400", 400, data=body, headers=headers)


@pytest.mark.assumption("ConnectionTokenClaims", "SubscriptionTokenClaims")
def test_tokens_carry_the_claims_the_spec_defines(target: Target, rules: Context,
                                                   me: Identity) -> None:
    """Both token payloads conform to the spec's claims schemas (rule jwt-claims-schema)."""
    ask(target, rules, "jwt-claims-schema", 200, json={"channel": own_user_channel(me)})
    response = target.get(CONNECTION, target.token)
    if response.status_code != 200:
        raise RuleBroken("jwt-claims-schema",
                         f"connection_token answered {response.status_code}, expected 200")
    check_all(Exchange.from_response(response), rules)
