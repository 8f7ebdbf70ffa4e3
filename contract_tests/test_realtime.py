"""The tokens work on the target's realtime server, and open exactly what the contract says.

Run only with `--events-realtime-url` (`envoy-events contract --realtime-url`). Each failure
names its rule (`rule realtime-…`); the drift summary has a `realtime <rule>` row for each.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from envoy_events_kit.contract_tests import realtime_rules as rt
from envoy_events_kit.contract_tests.checks import RuleBroken
from envoy_events_kit.contract_tests.target import (
    CONNECTION,
    DEPROVISION,
    PROVISION,
    SUBSCRIPTION,
    Identity,
    Target,
)

from envoy_events_kit.documents import spec_document

#: Ids of nobody the target knows (valid KSUID form), for "someone else's" channels.
OTHER_USER = "usr_0ujtsYcgvSTl8PAuAdqWYSMnLOv"
OTHER_ORG = "org_0ujtsYcgvSTl8PAuAdqWYSMnLOv"


@pytest.fixture(scope="session")
def realtime_url(target: Target) -> str:
    url = target.options.realtime_url
    if not url and target.options.realtime_unavailable:
        pytest.skip(f"no Centrifugo binary: the built-in mock runs without its realtime "
                    f"server ({target.options.realtime_unavailable})")
    if not url:
        pytest.skip("no --realtime-url: give --events-realtime-url or "
                    "ENVOY_EVENTS_REALTIME_URL")
    return url


@pytest.fixture
def me(target: Target, realtime_url: str) -> Identity:
    if not target.identity or not target.identity.namespaces:
        pytest.skip("the connection token grants no channel: nothing to check on the server")
    return target.identity


def connection_token(target: Target, token: str | None = None) -> str:
    response = target.get(CONNECTION, token or target.token)
    if response.status_code != 200:
        pytest.fail(f"the API answered {response.status_code} for a connection token",
                    pytrace=False)
    return response.json()["token"]


def subscription_token(target: Target, channel: str) -> str:
    response = target.get(SUBSCRIPTION, target.token, json={"channel": channel})
    if response.status_code != 200:
        pytest.fail(f"the API answered {response.status_code} for a subscription token "
                    "of the caller's own channel", pytrace=False)
    return response.json()["token"]


async def connected(url: str, token: str, get_token: Any = None) -> tuple[Any, Any]:
    client, watcher, refusal = await rt.connect(url, token, get_token)
    if refusal is not None:
        raise RuleBroken("realtime-connect", f"the server refused a connection token from the "
                                             f"API: {_why(refusal)}")
    return client, watcher


def _why(refusal: Any) -> str:
    if isinstance(refusal, str):
        return refusal
    return f"code {refusal.code} ({refusal.reason})"


@dataclass
class FirstConnection:
    """The suite's first connection with the API's token: every other rule needs one."""

    refusal: str | None
    claimed: set[str]
    subscribed: set[str]


@pytest.fixture(scope="session")
def first_connection(target: Target, realtime_url: str) -> FirstConnection:
    token = connection_token(target)
    claimed = set(jwt.decode(token, options={"verify_signature": False}).get("channels") or [])

    async def scenario() -> FirstConnection:
        client, watcher, refusal = await rt.connect(realtime_url, token)
        if refusal is None:
            await client.disconnect()
            return FirstConnection(None, claimed, watcher.server_subscriptions)
        return FirstConnection(_why(refusal), claimed, set())

    return rt.run(scenario())


@pytest.fixture
def connects(first_connection: FirstConnection, me: Identity) -> FirstConnection:
    """One cause, one red row: without a connection, the other rules are not checked."""
    if first_connection.refusal is not None:
        pytest.skip(f"realtime-connect failed: {first_connection.refusal}")
    return first_connection


@pytest.mark.assumption("realtime-connect")
def test_a_connection_token_from_the_api_connects(first_connection: FirstConnection,
                                                  me: Identity) -> None:
    if first_connection.refusal is not None:
        raise RuleBroken("realtime-connect", "the server refused a connection token from the "
                                             f"API: {first_connection.refusal}")


@pytest.mark.assumption("realtime-subscriptions")
def test_server_side_subscriptions_equal_the_channels_claim(connects: FirstConnection) -> None:
    if connects.subscribed != connects.claimed:
        raise RuleBroken("realtime-subscriptions",
                         f"the server subscribed the connection to {sorted(connects.subscribed)}"
                         f", the channels claim says {sorted(connects.claimed)}")


def own_channel(me: Identity) -> str:
    return f"{me.namespaces[0]}:{me.org_id}#{me.user_id}"


@pytest.fixture(scope="session")
def own_channel_outcome(target: Target, realtime_url: str,
                        first_connection: FirstConnection) -> str:
    """How the caller's own `#` channel answered its subscription token from the API."""
    me = target.identity
    if not me or not me.namespaces:
        pytest.skip("the connection token grants no channel: nothing to check on the server")
    if first_connection.refusal is not None:
        pytest.skip(f"realtime-connect failed: {first_connection.refusal}")
    return subscribe_once(target, realtime_url, own_channel(me),
                          subscription_token(target, own_channel(me)))


@pytest.mark.assumption("realtime-own-user-channel")
def test_own_user_channel_opens_with_a_subscription_token(connects: FirstConnection,
                                                          own_channel_outcome: str) -> None:
    if own_channel_outcome == rt.NO_ANSWER:
        raise RuleBroken("realtime-own-user-channel",
                         f"no answer within {rt.STEP_TIMEOUT_S:g} s to subscribing to the "
                         "caller's own channel with the API's subscription token")
    if own_channel_outcome != "subscribed":
        raise RuleBroken("realtime-own-user-channel", "the caller's own channel with the "
                                                      f"API's subscription token: "
                                                      f"{own_channel_outcome}")


def subscribe_once(target: Target, realtime_url: str, channel: str, token: str = "") -> str:
    """Connect as the caller, subscribe to `channel` (with `token`, if any), disconnect:
    'subscribed' or how it was refused."""
    async def scenario() -> str:
        client, watcher = await connected(realtime_url, connection_token(target))
        outcome = await rt.subscribe_outcome(client, watcher, channel, token)
        await client.disconnect()
        return outcome

    return rt.run(scenario())


def expect_refusal(rule: str, outcome: str, expected: str, what: str) -> None:
    """The refusal the realtime server documents, nothing else: silence, another code or a
    subscription each break the rule, with their own message."""
    if outcome == expected:
        return
    documented = rt.DOCUMENTED[expected]
    if outcome == "subscribed":
        raise RuleBroken(rule, f"{what} opened; it must be refused with {documented}")
    if outcome == rt.NO_ANSWER:
        raise RuleBroken(rule, f"no answer within {rt.STEP_TIMEOUT_S:g} s to {what}: a "
                               f"refusal is {documented}, silence is not")
    raise RuleBroken(rule, f"{what}: {outcome}, not {documented}")


def _refused_without_token(target: Target, realtime_url: str, channel: str, name: str) -> None:
    expect_refusal(name, subscribe_once(target, realtime_url, channel), rt.PERMISSION_DENIED,
                   f"subscribing to {channel} without a subscription token")


@pytest.mark.assumption("realtime-foreign-user-channel")
def test_another_users_channel_is_refused_without_a_token(target: Target, realtime_url: str,
                                                          me: Identity,
                                                          connects: FirstConnection) -> None:
    _refused_without_token(target, realtime_url,
                           f"{me.namespaces[0]}:{me.org_id}#{OTHER_USER}",
                           "realtime-foreign-user-channel")


@pytest.mark.assumption("realtime-foreign-org-channel")
def test_another_orgs_channel_is_refused_without_a_token(target: Target, realtime_url: str,
                                                         me: Identity,
                                                         connects: FirstConnection) -> None:
    # Also the other organisation's channel limited to the caller: a server that opens
    # user-limited channels to the users they list (allow_user_limited_channels) lets
    # anyone into any organisation that way.
    for channel in (f"{me.namespaces[0]}:{OTHER_ORG}",
                    f"{me.namespaces[0]}:{OTHER_ORG}#{me.user_id}"):
        _refused_without_token(target, realtime_url, channel, "realtime-foreign-org-channel")


@pytest.mark.assumption("realtime-token-bound-to-channel")
def test_a_subscription_token_opens_only_its_channel(target: Target, realtime_url: str,
                                                     me: Identity, connects: FirstConnection,
                                                     own_channel_outcome: str) -> None:
    if own_channel_outcome != "subscribed":  # the token does not even open its own channel
        pytest.skip(f"realtime-own-user-channel failed: {own_channel_outcome}")
    own = own_channel(me)
    other = f"{own},{OTHER_USER}"
    expect_refusal("realtime-token-bound-to-channel",
                   subscribe_once(target, realtime_url, other, subscription_token(target, own)),
                   rt.INVALID_TOKEN, f"subscribing to {other} with a subscription token for "
                                     f"{own}")


@pytest.fixture
def expired_connection_token(target: Target, me: Identity) -> Iterator[str]:
    """An expired connection token: from the mock (its clock moved back, then restored as it
    was), or minted from a fresh token's claims with --events-jwt-secret."""
    if target.is_mock:
        before = target.control("GET", "/clock").json()
        target.control("PUT", "/clock", json={"advance_seconds": -86_400}).raise_for_status()
        try:
            token = connection_token(target)
        finally:
            restore = ({"mode": "real"} if before["mode"] == "real"
                       else {"frozen_at": before["now"]})
            target.control("PUT", "/clock", json=restore).raise_for_status()
        yield token
    elif target.secret:
        claims = jwt.decode(connection_token(target), options={"verify_signature": False})
        now = int(time.time())
        claims.update(iat=now - 7200, exp=now - 3600)
        yield jwt.encode(claims, target.secret, algorithm="HS256")
    else:
        pytest.skip("no --jwt-secret: an expired connection token needs a mock's clock or "
                    "--events-jwt-secret")


@pytest.mark.assumption("realtime-expired-token")
def test_an_expired_token_is_refused_and_get_token_recovers(target: Target, realtime_url: str,
                                                           connects: FirstConnection,
                                                           expired_connection_token: str) -> None:
    fetched: list[int] = []

    async def fresh() -> str:
        fetched.append(1)
        return connection_token(target)

    async def scenario() -> tuple[Any, list[int]]:
        client, watcher, refusal = await rt.connect(realtime_url, expired_connection_token,
                                                    fresh)
        await client.disconnect()
        return refusal, watcher.errors

    refusal, errors = rt.run(scenario())
    rule = "realtime-expired-token"
    if rt.TOKEN_EXPIRED not in errors:
        if refusal is None and not fetched:
            raise RuleBroken(rule, "the server accepted an expired token")
        if refusal == rt.NO_ANSWER:
            raise RuleBroken(rule, f"no answer within {rt.STEP_TIMEOUT_S:g} s to an expired "
                                   f"token: a refusal is {rt.DOCUMENTED[rt.TOKEN_EXPIRED]}")
        seen = _why(refusal) if refusal is not None else f"errors {errors}"
        raise RuleBroken(rule, f"an expired token was refused with {seen}, not "
                               f"{rt.DOCUMENTED[rt.TOKEN_EXPIRED]} (clients call getToken "
                               "only then)")
    if not fetched:
        raise RuleBroken(rule, "after error 109 the client never called getToken")
    if refusal is not None:
        raise RuleBroken(rule, f"after getToken the client still did not connect: "
                               f"{_why(refusal)}")


def _skip_unless_the_mock_feeds(target: Target, realtime_url: str) -> None:
    """A mock publishes to, and disconnects users of, its own realtime server only."""
    realtime = target.control("GET", "/state").json().get("realtime")
    if not realtime or not rt.same_server(realtime["websocket_url"], realtime_url):
        pytest.skip(f"{rt.NOT_THE_MOCKS}: the mock publishes to and disconnects users of its "
                    "own realtime server only")


def _example_event(namespace: str) -> tuple[str, dict[str, Any]] | None:
    """An event type of the namespace and its data example, both from the spec."""
    spec = spec_document()
    for name, item in (spec.get("webhooks") or {}).items():
        post = item["post"]
        if post.get("x-namespace") != namespace:
            continue
        schema = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        envelope = spec["components"]["schemas"][schema.rsplit("/", 1)[-1]]
        data_ref = envelope["allOf"][1]["properties"]["data"]["$ref"]
        data = spec["components"]["schemas"][data_ref.rsplit("/", 1)[-1]]["examples"][0]
        return name, data
    return None


@pytest.mark.mock_only
@pytest.mark.assumption("realtime-publication")
def test_a_published_event_arrives_on_its_channel_only(target: Target, realtime_url: str,
                                                       me: Identity,
                                                       connects: FirstConnection) -> None:
    _skip_unless_the_mock_feeds(target, realtime_url)
    namespace = me.namespaces[0]
    example = _example_event(namespace)
    if example is None:
        pytest.skip(f"the spec declares no event for the {namespace!r} namespace")
    event_type, data = example
    mine = f"{namespace}:{me.org_id}"

    async def scenario() -> tuple[list[Any], dict[str, Any]]:
        client, watcher = await connected(realtime_url, connection_token(target))
        elsewhere = target.control("POST", "/events", json={
            "type": event_type, "data": data, "channel": f"{mine}#{OTHER_USER}"})
        answer = target.control("POST", "/events", json={"type": event_type, "data": data,
                                                         "channel": mine})
        if answer.status_code != 201 or elsewhere.status_code != 201:
            pytest.fail(f"the mock refused to publish: {answer.text}", pytrace=False)
        got = []
        try:
            got.append(await watcher.next_publication(rt.STEP_TIMEOUT_S))
            got.append(await watcher.next_publication(0.5))
        except TimeoutError:
            pass
        await client.disconnect()
        return got, answer.json()["event"]

    got, event = rt.run(scenario())
    if not got:
        raise RuleBroken("realtime-publication", f"the event published on {mine} never arrived")
    if [(p.channel, p.data) for p in got] != [(mine, event)]:
        raise RuleBroken("realtime-publication",
                         f"expected the envelope once on {mine}, got "
                         f"{[(p.channel, p.data == event) for p in got]}")


@pytest.mark.destructive
@pytest.mark.assumption("realtime-deprovision", "deprovisionEvents x-realtime")
def test_deprovision_closes_the_connection(target: Target, realtime_url: str,
                                           me: Identity, connects: FirstConnection) -> None:
    if target.is_mock:
        _skip_unless_the_mock_feeds(target, realtime_url)

    async def scenario() -> tuple[Any, list[tuple[int, str]]]:
        client, watcher = await connected(realtime_url, connection_token(target))
        before = len(watcher.reconnects)
        try:
            if target.get(DEPROVISION, target.admin_token).status_code != 204:
                pytest.fail("deprovision was refused", pytrace=False)
            try:
                return await watcher.next_disconnect(rt.STEP_TIMEOUT_S), []
            except TimeoutError:  # not closed for good: open, or closed and reconnecting
                return None, watcher.reconnects[before:]
        finally:
            await client.disconnect()
            target.get(PROVISION, target.admin_token)

    closed, reconnects = rt.run(scenario())
    if closed is None and reconnects:
        code, reason = reconnects[0]
        raise RuleBroken("realtime-deprovision",
                         f"deprovision closed the connection with code {code} ({reason}), "
                         "after which clients reconnect: it must be a terminal code "
                         "(3500-3999, 4500-4999; the mock sends 4501)")
    if closed is None:
        raise RuleBroken("realtime-deprovision",
                         f"the organisation's connection stayed open after deprovision "
                         f"(waited {rt.STEP_TIMEOUT_S:g} s)")
    if not rt.terminal(closed.code):
        raise RuleBroken("realtime-deprovision",
                         f"deprovision closed the connection with code {closed.code} "
                         f"({closed.reason}), after which clients reconnect: it must be a "
                         "terminal code (3500-3999, 4500-4999; the mock sends 4501)")
