"""What the contract promises about the realtime server, and how the suite talks to it.

The tokens exist to be used there: the suite connects a real `centrifuge-python` client with
the target's own tokens and checks each rule below. Every step has a timeout, every test
opens at most three connections and closes them, and nothing is published unless the target
is a mock (whose control API publishes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar
from urllib.parse import urlsplit

#: rule -> the sentence the drift summary shows (rows `realtime <rule>`).
RULES = {
    "realtime-connect": "A connection token from the API connects to the realtime server.",
    "realtime-subscriptions": "The server-side subscriptions equal the token's channels claim.",
    "realtime-own-user-channel": "A subscription token for one's own # channel subscribes.",
    "realtime-foreign-user-channel": "Another user's # channel is refused without a "
                                     "subscription token.",
    "realtime-foreign-org-channel": "Another organisation's channel is refused without a "
                                    "subscription token.",
    "realtime-token-bound-to-channel": "A subscription token for one channel does not open "
                                       "another.",
    "realtime-expired-token": "An expired connection token is refused and getToken recovers.",
    "realtime-publication": "A published event arrives as the envelope, on its channel only.",
    "realtime-deprovision": "After deprovision the organisation's connection is closed.",
}
#: The spec's x-assumed rows a rule checks too: its failure breaks them as well.
SPEC_ROWS = {"realtime-deprovision": ("deprovisionEvents x-realtime",)}
STEP_TIMEOUT_S = 5.0
TEST_TIMEOUT_S = 30.0
T = TypeVar("T")

#: Why a mock's publication and deprovision rules are not checked on another realtime server.
NOT_THE_MOCKS = "not the mock's realtime server"
#: What `subscribe_outcome` and `connect` say when the server said nothing in time.
NO_ANSWER = "no answer within the step timeout"
#: The refusals Centrifugo documents (client protocol error codes, disconnect codes).
PERMISSION_DENIED = "refused 103"
INVALID_TOKEN = "connection closed 3500"
TOKEN_EXPIRED = 109
DOCUMENTED = {
    PERMISSION_DENIED: "error 103 (permission denied)",
    INVALID_TOKEN: "the connection closed with 3500 (invalid token)",
    TOKEN_EXPIRED: "error 109 (token expired)",
}


def terminal(code: int) -> bool:
    """A disconnect code after which clients do not reconnect (Centrifugo: 3500-3999 and
    4500-4999; the SDKs reconnect on 3000-3499, 4000-4499 and from 5000)."""
    return 3500 <= code <= 3999 or 4500 <= code <= 4999


def run(coro: Awaitable[T]) -> T:
    """Run one test's scenario with an overall timeout."""
    return asyncio.run(asyncio.wait_for(coro, TEST_TIMEOUT_S))  # type: ignore[arg-type]


async def connect(url: str, token: str = "", get_token: Any = None,
                  ) -> tuple[Any, Any, Any]:
    """(client, watcher, refusal): refusal is None once connected, else the disconnect
    context (code, reason) the server answered with."""
    from envoy_events_kit import realtime_client

    client, watcher = await realtime_client.connect(url, token, get_token, wait=False)
    connected = asyncio.ensure_future(watcher.next_connect(STEP_TIMEOUT_S))
    refused = asyncio.ensure_future(watcher.next_disconnect(STEP_TIMEOUT_S))
    done, pending = await asyncio.wait({connected, refused},
                                       return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    if connected in done and not connected.exception():
        # Server-side subscriptions are applied from the connect reply before on_connected.
        return client, watcher, None
    await client.disconnect()
    failure = refused.result() if refused in done and not refused.exception() else None
    return client, watcher, failure or NO_ANSWER


async def subscribe_outcome(client: Any, watcher: Any, channel: str, token: str = "") -> str:
    """'subscribed', or how it was refused ('refused 103', 'connection closed 3500', ...)."""
    from envoy_events_kit import realtime_client

    _, sub = await realtime_client.subscribe(client, channel, token=token)
    result = asyncio.ensure_future(sub.result(STEP_TIMEOUT_S))
    closed = asyncio.ensure_future(watcher.next_disconnect(STEP_TIMEOUT_S))
    done, pending = await asyncio.wait({result, closed}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    if result in done and not result.exception():
        kind, code = result.result()
        return "subscribed" if kind == "subscribed" else f"refused {code}"
    if closed in done and not closed.exception():
        return f"connection closed {closed.result().code}"
    return NO_ANSWER


def same_server(a: str, b: str) -> bool:
    """Do two WebSocket URLs name the same server (localhost and 127.0.0.1 alike)?"""
    pa, pb = urlsplit(a), urlsplit(b)
    loopback = {"localhost", "127.0.0.1", "::1"}
    hosts_equal = pa.hostname == pb.hostname or {pa.hostname, pb.hostname} <= loopback
    return hosts_equal and pa.port == pb.port and pa.path == pb.path


def describe(url: str) -> str:
    """The host (and port) of the realtime URL, for the closing line: never a token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
