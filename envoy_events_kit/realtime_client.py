"""Connect a real `centrifuge-python` client and watch what it goes through.

Shared by the mock's `events_realtime` fixture, the kit's tests and the contract suite's
realtime rules; it knows nothing of the mock, only a WebSocket URL and tokens. A `Watcher`
records the client's connection, server-side subscriptions, publications and subscription
outcomes in asyncio queues, so a test awaits exactly the thing it expects, with a timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from centrifuge import (
    Client,
    ClientEventHandler,
    ConnectedContext,
    ConnectingContext,
    DisconnectedContext,
    ErrorContext,
    PublicationContext,
    ServerPublicationContext,
    ServerSubscribedContext,
    SubscribedContext,
    Subscription,
    SubscriptionErrorContext,
    SubscriptionEventHandler,
    UnsubscribedContext,
)
from centrifuge.exceptions import ReplyError

STEP_TIMEOUT_S = 5.0


@dataclass
class Publication:
    channel: str
    data: Any


@dataclass
class Watcher(ClientEventHandler):
    """What one client saw, in the order it saw it."""

    server_subscriptions: set[str] = field(default_factory=set)
    publications: asyncio.Queue[Publication] = field(default_factory=asyncio.Queue)
    connects: asyncio.Queue[ConnectedContext] = field(default_factory=asyncio.Queue)
    disconnects: asyncio.Queue[DisconnectedContext] = field(default_factory=asyncio.Queue)
    #: Error codes the server answered with, in order: a reply's error code (109 token
    #: expired, ...) when there is one, else the client's own code for the error.
    errors: list[int] = field(default_factory=list)
    #: (code, reason) of each move to "connecting": the first connect (code 0), then each
    #: time the connection was lost and the client reconnects (e.g. 3001 shutdown).
    reconnects: list[tuple[int, str]] = field(default_factory=list)

    async def on_connected(self, ctx: ConnectedContext) -> None:
        await self.connects.put(ctx)

    async def on_connecting(self, ctx: ConnectingContext) -> None:
        self.reconnects.append((ctx.code, ctx.reason))

    async def on_error(self, ctx: ErrorContext) -> None:
        self.errors.append(ctx.error.code if isinstance(ctx.error, ReplyError) else ctx.code)

    async def on_disconnected(self, ctx: DisconnectedContext) -> None:
        await self.disconnects.put(ctx)

    async def on_subscribed(self, ctx: ServerSubscribedContext) -> None:
        self.server_subscriptions.add(ctx.channel)

    async def on_publication(self, ctx: ServerPublicationContext) -> None:
        await self.publications.put(Publication(ctx.channel, ctx.pub.data))

    async def next_publication(self, timeout: float = STEP_TIMEOUT_S) -> Publication:
        return await asyncio.wait_for(self.publications.get(), timeout)

    async def next_disconnect(self, timeout: float = STEP_TIMEOUT_S) -> DisconnectedContext:
        return await asyncio.wait_for(self.disconnects.get(), timeout)

    async def next_connect(self, timeout: float = STEP_TIMEOUT_S) -> ConnectedContext:
        return await asyncio.wait_for(self.connects.get(), timeout)


@dataclass
class SubscriptionWatcher(SubscriptionEventHandler):
    """What one client-side subscription went through."""

    channel: str
    outcome: asyncio.Queue[tuple[str, int]] = field(default_factory=asyncio.Queue)
    publications: asyncio.Queue[Publication] = field(default_factory=asyncio.Queue)

    async def on_subscribed(self, ctx: SubscribedContext) -> None:
        await self.outcome.put(("subscribed", 0))

    async def on_unsubscribed(self, ctx: UnsubscribedContext) -> None:
        await self.outcome.put(("unsubscribed", ctx.code))

    async def on_error(self, ctx: SubscriptionErrorContext) -> None:
        await self.outcome.put(("error", ctx.code))

    async def on_publication(self, ctx: PublicationContext) -> None:
        await self.publications.put(Publication(self.channel, ctx.pub.data))

    async def result(self, timeout: float = STEP_TIMEOUT_S) -> tuple[str, int]:
        """('subscribed', 0), or how it failed: ('unsubscribed' | 'error', code)."""
        return await asyncio.wait_for(self.outcome.get(), timeout)


async def connect(websocket_url: str, token: str = "",
                  get_token: Callable[[], Awaitable[str]] | None = None,
                  wait: bool = True) -> tuple[Client, Watcher]:
    """A connected client (when `wait`) and its watcher; server-side subscriptions are in
    `watcher.server_subscriptions` once connected (they arrive before `on_connected`)."""
    watcher = Watcher()
    client = Client(websocket_url, events=watcher, token=token, get_token=get_token,
                    timeout=STEP_TIMEOUT_S, max_reconnect_delay=1.0, proxy=None)
    await client.connect()
    if wait:
        await client.ready(timeout=STEP_TIMEOUT_S)
    return client, watcher


async def subscribe(client: Client, channel: str, token: str = "",
                    get_token: Callable[[str], Awaitable[str]] | None = None,
                    ) -> tuple[Subscription, SubscriptionWatcher]:
    """Subscribe client-side; await `watcher.result()` for the outcome."""
    watcher = SubscriptionWatcher(channel)
    sub = client.new_subscription(channel, events=watcher, token=token, get_token=get_token)
    await sub.subscribe()
    return sub, watcher
