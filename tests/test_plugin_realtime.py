"""The `events_realtime` fixture as a host project uses it: a real Centrifugo per session,
reset per test, a connected `centrifuge-python` client in one line; skipped (with the install
command) where no binary can be had, never failed and never silently passed."""

from __future__ import annotations

import os

from envoy_events_kit.mock_server.events.realtime import RealtimeUnavailable, find_binary

from tests.conftest import ACME
from tests.realtime_parts import missing

pytest_plugins = ["pytester"]

HOST_TESTS = f"""
import asyncio

ACME = {ACME!r}
SHIPMENT = {{"id": "shp_2iFmwXASMpS3l4IZsauPs8I1eOv", "status": "delivered"}}

def test_an_event_reaches_a_connected_client(events_realtime):
    async def scenario():
        client, watcher = await events_realtime.connect("shipments-reader")
        answer = events_realtime.publish("shipment.updated", SHIPMENT, organisation=ACME)
        got = await watcher.next_publication()
        await client.disconnect()
        return answer, got, watcher.server_subscriptions

    answer, got, subscriptions = asyncio.run(scenario())
    assert subscriptions == {{"shipments:" + ACME}}
    assert got.channel == answer["channel"] and got.data == answer["event"]

def test_own_user_channel_through_the_mocks_subscription_token(events_realtime):
    user = events_realtime.principals["admin"].user_id
    async def scenario():
        client, _ = await events_realtime.connect("admin")
        _, sub = await events_realtime.subscribe(client, f"orders:{{ACME}}#{{user}}")
        outcome = await sub.result()
        await client.disconnect()
        return outcome
    assert asyncio.run(scenario()) == ("subscribed", 0)

def test_reset_between_tests(events_realtime):
    assert events_realtime.events() == []
"""


def _binary() -> tuple[str, str | None]:
    """(binary, why there is none), looked up at import: pytester gives each run its own
    HOME, which hides the cache."""
    try:
        return str(find_binary()), None
    except RealtimeUnavailable as exc:
        return "", f"{exc} (or `make realtime`)"


BINARY, NO_BINARY = _binary()


def test_the_fixture_connects_real_clients(pytester, monkeypatch):
    if NO_BINARY:
        missing(NO_BINARY)  # a skip, but a failure under CI
    monkeypatch.setenv("ENVOY_EVENTS_CENTRIFUGO", BINARY)
    pytester.makepyfile(HOST_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_without_a_binary_the_tests_are_skipped_with_the_install_command(pytester, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("ENVOY_EVENTS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", os.path.dirname(os.__file__) + ":/usr/bin:/bin")
    monkeypatch.delenv("ENVOY_EVENTS_CENTRIFUGO", raising=False)
    pytester.makepyfile(HOST_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*envoy-events realtime install*"])
    # What works from pytest: the install command, make realtime, the environment variable;
    # not the CLI's --centrifugo flag, which pytest does not have.
    skipped = "\n".join(line for line in result.outlines if "SKIPPED" in line)
    assert "make realtime" in skipped and "ENVOY_EVENTS_CENTRIFUGO=" in skipped
    assert "--centrifugo" not in skipped
