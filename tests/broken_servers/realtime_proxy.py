"""A thin WebSocket proxy in front of a real Centrifugo that breaks one realtime rule.

It speaks nothing of its own: every frame of Centrifugo's JSON client protocol (one or more
newline-separated messages) goes through, message by message, except where a subclass
drops, rewrites or answers one itself, or changes how the server closes the connection.
Broken realtime stand-ins are a real Centrifugo plus one such proxy, so killing them proves
the contract suite's realtime rules, not a fake server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import jwt
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

Message = dict[str, Any]


@dataclass
class Session:
    """One client connection: what the proxy learnt from its commands."""

    claims: dict[str, Any] = field(default_factory=dict)
    #: command id -> the subscribe command (channel, token) it carried.
    subscribes: dict[int, Message] = field(default_factory=dict)


def claims_of(token: str) -> dict[str, Any]:
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}


class RealtimeProxy:
    """Forwards a client's WebSocket to `upstream`; subclasses override the three hooks."""

    #: The rule(s) a broken proxy breaks, and words the suite's message must hold (if any).
    breaks: Any = ""
    says = ""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="realtime-proxy")

    # -- hooks ----------------------------------------------------------------------------
    def from_client(self, message: Message, session: Session) -> tuple[list[Message],
                                                                       list[Message]]:
        """(messages to send on to the server, answers to send back to the client)."""
        return [message], []

    def from_server(self, message: Message, session: Session) -> list[Message]:
        """The messages the client gets for one the server sent."""
        return [message]

    def server_closed(self, code: int, reason: str, session: Session) -> tuple[int, str] | None:
        """How the client's connection closes when the server closed its side; None keeps
        it open (the client is not told)."""
        return code, reason

    # -- plumbing -------------------------------------------------------------------------
    def start(self) -> RealtimeProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the realtime proxy did not start")
        return self

    def stop(self) -> None:
        if self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout=10)

    def __enter__(self) -> RealtimeProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        async with serve(self._handle, "127.0.0.1", 0, compression=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}/connection/websocket"
            self._ready.set()
            await self._stopped.wait()
            server.close()

    async def _handle(self, client: ServerConnection) -> None:
        session = Session()
        try:
            upstream = await connect(self.upstream, compression=None, proxy=None)
        except OSError:
            await client.close(1011, "upstream unreachable")
            return
        async with upstream:
            to_server = asyncio.ensure_future(self._client_to_server(client, upstream,
                                                                     session))
            to_client = asyncio.ensure_future(self._server_to_client(upstream, client,
                                                                     session))
            done, pending = await asyncio.wait({to_server, to_client},
                                               return_when=asyncio.FIRST_COMPLETED)
            if to_client in done and to_client.result() == "keep open":
                await client.wait_closed()  # the broken server never tells the client
            for task in pending:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task

    async def _client_to_server(self, client: ServerConnection, upstream: Any,
                                session: Session) -> None:
        try:
            async for frame in client:
                forward, answers = [], []
                for message in _messages(frame):
                    if "id" in message and "connect" in message:
                        session.claims = claims_of(message["connect"].get("token", ""))
                    if "id" in message and "subscribe" in message:
                        session.subscribes[message["id"]] = message["subscribe"]
                    sent, answered = self.from_client(message, session)
                    forward += sent
                    answers += answered
                if forward:
                    await upstream.send(_frame(forward))
                if answers:
                    await client.send(_frame(answers))
        except ConnectionClosed:
            pass
        await upstream.close()

    async def _server_to_client(self, upstream: Any, client: ServerConnection,
                                session: Session) -> str:
        try:
            async for frame in upstream:
                out = [m for message in _messages(frame)
                       for m in self.from_server(message, session)]
                if out:
                    await client.send(_frame(out))
        except ConnectionClosed:
            pass
        closed = upstream.protocol.close_rcvd
        code, reason = (closed.code, closed.reason) if closed else (1006, "")
        verdict = self.server_closed(code, reason, session)
        if verdict is None:
            return "keep open"
        await client.close(*verdict)
        return "closed"


def _messages(frame: str | bytes) -> list[Message]:
    text = frame if isinstance(frame, str) else frame.decode()
    return [json.loads(line) for line in text.strip().split("\n") if line.strip()]


def _frame(messages: list[Message]) -> str:
    return "\n".join(json.dumps(m, separators=(",", ":")) for m in messages)


class Silent:
    """A WebSocket server that accepts connections and never answers: it does not speak
    Centrifugo's protocol."""

    def __init__(self) -> None:
        self.proxy = RealtimeProxy("ws://unused")
        self.proxy._handle = self._handle  # type: ignore[method-assign]

    @staticmethod
    async def _handle(client: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in client:
                pass

    def __enter__(self) -> str:
        return self.proxy.start().url

    def __exit__(self, *exc: object) -> None:
        self.proxy.stop()
