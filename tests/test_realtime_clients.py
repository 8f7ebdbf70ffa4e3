"""The realtime stand-in with a real client: `centrifuge-python` against the kit's own
Centrifugo, fed by the mock. Every row of the issue's proof, on the real server."""

from __future__ import annotations

import asyncio
import base64
import json

import jwt
import pytest
import requests
from envoy_events_kit.mock_server import MockServer
from envoy_events_kit.mock_server.events.realtime.publisher import DEPROVISIONED_CODE

from envoy_events_kit import realtime_client as testing
from tests.conftest import ACME, ADA, ADMIN, GLOBEX, GRACE, OTHER_ORG, READER, RITA, bearer
from tests.realtime_parts import centrifugo_or_skip

SHIPMENT = {"id": "shp_2iFmwXASMpS3l4IZsauPs8I1eOv", "status": "out_for_delivery"}


@pytest.fixture(scope="module")
def standin():
    centrifugo_or_skip()
    with MockServer({"realtime": True, "token_ttl": 600}) as server:
        yield server


@pytest.fixture
def mock(standin):
    standin.reset()
    return standin


def ws(mock) -> str:
    return mock.state.realtime.websocket_url


def connection_token(mock, token: str = ADMIN) -> str:
    response = requests.get(f"{mock.url}/events/connection_token", headers=bearer(token),
                            timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def subscription_token(mock, channel: str, token: str = ADMIN) -> str:
    response = requests.get(f"{mock.url}/events/subscription_token", headers=bearer(token),
                            params={"channel": channel}, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["token"]


async def publish(mock, **body) -> dict:
    response = await asyncio.to_thread(
        requests.post, f"{mock.url}/__mock__/events",
        json={"type": "shipment.updated", "data": SHIPMENT, **body}, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_server_side_subscriptions_equal_the_channels_claim(mock):
    for who in (ADMIN, READER):
        token = connection_token(mock, who)

        async def scenario(token=token):
            # connect() returns once connected: server-side subscriptions come first.
            client, watcher = await testing.connect(ws(mock), token)
            await client.disconnect()
            return watcher.server_subscriptions

        assert run(scenario()) == set(claims(token)["channels"])
    assert run(scenario()) != set()  # the reader has one; the admin four


def test_a_published_event_arrives_as_the_envelope_on_its_channel_only(mock):
    async def scenario():
        admin, seen = await testing.connect(ws(mock), connection_token(mock))
        globex_mock_org = requests.put(f"{mock.url}/__mock__/orgs/{GLOBEX}",
                                       json={"provisioned": True}, timeout=5)
        assert globex_mock_org.status_code == 200
        await publish(mock, organisation=GLOBEX)  # another org's: must not arrive
        answer = await publish(mock, organisation=ACME)
        got = await seen.next_publication()
        # Anything wrongly delivered would come before this second event of our own (one
        # channel, one connection: publications arrive in order).
        marker = await publish(mock, organisation=ACME)
        after = await seen.next_publication()
        await admin.disconnect()
        return answer, got, marker, after

    answer, got, marker, after = run(scenario())
    assert got.channel == f"shipments:{ACME}" == answer["channel"]
    assert got.data == answer["event"] and answer["realtime"]["published"] is True
    assert after.data == marker["event"]  # nothing from Globex in between


def test_own_user_channel_opens_with_a_subscription_token_only(mock):
    own = f"shipments:{ACME}#{ADA}"

    async def scenario():
        client, _ = await testing.connect(ws(mock), connection_token(mock))
        _, without = await testing.subscribe(client, own)
        refused = await without.result()
        sub, with_token = await testing.subscribe(client, own + "," + RITA,
                                                  token=subscription_token(mock, own + "," + RITA))
        opened = await with_token.result()
        await publish(mock, channel=own + "," + RITA)
        got = await asyncio.wait_for(with_token.publications.get(), 5)
        await client.disconnect()
        return refused, opened, got

    refused, opened, got = run(scenario())
    assert refused == ("unsubscribed", 103)  # allow_user_limited_channels is off
    assert opened == ("subscribed", 0)
    assert got.data["data"] == SHIPMENT


@pytest.mark.parametrize("channel", [f"shipments:{ACME}#{RITA}", f"shipments:{GLOBEX}",
                                     f"shipments:{GLOBEX}#{ADA}"],
                         ids=["other-user", "other-org", "other-org-own-user"])
def test_channels_the_token_does_not_grant_are_refused_without_a_subscription_token(mock,
                                                                                     channel):
    async def scenario():
        client, _ = await testing.connect(ws(mock), connection_token(mock))
        _, watcher = await testing.subscribe(client, channel)
        outcome = await watcher.result()
        await client.disconnect()
        return outcome

    assert run(scenario()) == ("unsubscribed", 103)


def test_a_subscription_token_for_one_channel_does_not_open_another(mock):
    own = f"shipments:{ACME}#{ADA}"

    async def scenario():
        client, watcher = await testing.connect(ws(mock), connection_token(mock))
        _, sub = await testing.subscribe(client, f"orders:{ACME}#{ADA}",
                                         token=subscription_token(mock, own))
        outcome = asyncio.ensure_future(sub.result())
        closed = asyncio.ensure_future(watcher.next_disconnect())
        done, pending = await asyncio.wait({outcome, closed}, timeout=5,
                                           return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await client.disconnect()
        return (outcome.result() if outcome in done else None,
                closed.result().code if closed in done else None)

    outcome, disconnect_code = run(scenario())
    # Centrifugo closes the connection with 3500 "invalid token" for a channel mismatch.
    assert outcome is None and disconnect_code == 3500


def test_an_expired_token_is_refused_with_109_and_get_token_recovers(mock):
    requests.put(f"{mock.url}/__mock__/clock", json={"advance_seconds": -7200}, timeout=5)
    stale = connection_token(mock)
    requests.put(f"{mock.url}/__mock__/clock", json={"mode": "real"}, timeout=5)
    asked = []

    async def fresh() -> str:
        asked.append(1)
        return await asyncio.to_thread(connection_token, mock)

    async def scenario():
        client, watcher = await testing.connect(ws(mock), stale, get_token=fresh)
        await client.disconnect()
        return watcher.server_subscriptions, watcher.errors

    subscriptions, errors = run(scenario())
    assert errors == [109], errors  # token expired: the one refusal, then getToken
    assert subscriptions == set(claims(connection_token(mock))["channels"])
    assert asked == [1], "the client never had to fetch a fresh token"


def test_an_expired_token_without_get_token_never_connects(mock):
    requests.put(f"{mock.url}/__mock__/clock", json={"advance_seconds": -7200}, timeout=5)
    stale = connection_token(mock)
    requests.put(f"{mock.url}/__mock__/clock", json={"mode": "real"}, timeout=5)

    async def scenario():
        client, watcher = await testing.connect(ws(mock), stale, wait=False)
        connected = True
        try:
            await watcher.next_connect(timeout=1.5)
        except TimeoutError:
            connected = False
        await client.disconnect()
        return connected

    assert run(scenario()) is False


def test_a_token_signed_with_another_secret_is_refused(mock):
    forged = jwt.encode({**claims(connection_token(mock))},
                        "another-secret-that-is-long-enough-for-hs256", algorithm="HS256")

    async def scenario():
        client, watcher = await testing.connect(ws(mock), forged, wait=False)
        ctx = await watcher.next_disconnect()
        await client.disconnect()
        return ctx.code

    assert run(scenario()) == 3500


def test_short_lived_tokens_refresh_through_get_token_and_the_stream_goes_on():
    centrifugo_or_skip()
    with MockServer({"realtime": True, "token_ttl": 2}) as short:
        asked = []
        refreshed = asyncio.Event()

        async def fresh() -> str:
            asked.append(1)
            if len(asked) >= 3:  # the first token, then two refreshes (TTL 2 s each)
                refreshed.set()
            return await asyncio.to_thread(connection_token, short)

        async def scenario():
            client, watcher = await testing.connect(short.state.realtime.websocket_url,
                                                    get_token=fresh)
            await asyncio.wait_for(refreshed.wait(), 20)  # past two TTLs, refreshed twice
            answer = await publish(short, organisation=ACME)
            got = await watcher.next_publication()
            codes = []
            while not watcher.disconnects.empty():
                ctx = watcher.disconnects.get_nowait()
                codes.append((ctx.code, ctx.reason))
            await client.disconnect()
            return answer, got, codes

        answer, got, disconnects = run(scenario())
    assert got.data == answer["event"]
    assert len(asked) >= 3 and disconnects == [], disconnects


def test_deprovision_disconnects_the_organisations_users(mock):
    requests.put(f"{mock.url}/__mock__/orgs/{GLOBEX}", json={"provisioned": True}, timeout=5)

    async def scenario():
        client, watcher = await testing.connect(ws(mock), connection_token(mock))
        reader, reader_watcher = await testing.connect(ws(mock), connection_token(mock, READER))
        other, other_watcher = await testing.connect(ws(mock), connection_token(mock, OTHER_ORG))
        gone = await asyncio.to_thread(requests.get, f"{mock.url}/events/deprovision",
                                       headers=bearer(ADMIN), timeout=5)
        assert gone.status_code == 204
        ctx = await watcher.next_disconnect()
        reader_ctx = await reader_watcher.next_disconnect()
        # Grace (Globex) is still connected: an event of her organisation reaches her.
        answer = await publish(mock, organisation=GLOBEX)
        got = await other_watcher.next_publication()
        still = other_watcher.disconnects.empty()
        for c in (client, reader, other):
            await c.disconnect()
        return ctx, reader_ctx, still, answer, got

    ctx, reader_ctx, other_still_connected, answer, got = run(scenario())
    assert (ctx.code, reader_ctx.code) == (DEPROVISIONED_CODE, DEPROVISIONED_CODE)
    assert other_still_connected and got.data == answer["event"]
    assert claims(connection_token(mock, OTHER_ORG))["sub"] == GRACE  # whose client it was


def test_state_shows_the_websocket_url_and_masks_the_api_key(mock):
    realtime = requests.get(f"{mock.url}/__mock__/state", timeout=5).json()["realtime"]
    assert realtime["websocket_url"] == ws(mock)
    assert realtime["websocket_url"].startswith("ws://127.0.0.1:")
    assert realtime["running"] is True and realtime["centrifugo_version"] == "6.9.1"
    assert mock.state.realtime.api_key not in json.dumps(realtime)
    assert len(realtime["api_key"]) <= 5


def test_the_server_api_refuses_another_key(mock):
    response = requests.post(mock.state.realtime.process.api_url + "/publish",
                             headers={"X-API-Key": base64.b64encode(b"guess").decode()},
                             json={"channel": f"shipments:{ACME}", "data": {}}, timeout=5)
    assert response.status_code == 401
