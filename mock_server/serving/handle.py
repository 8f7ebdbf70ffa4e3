"""What the `events_mock` pytest fixture hands a test: a running mock, its fixture
principals and tokens, and the control client (`MockControl`) bound to it.
"""

from __future__ import annotations

from typing import Any

from envoy_events_kit import names

from ..config import Settings
from ..control.client import MockControl
from ..events.webhooks.receiver import WebhookReceiver
from ..state.model import Principal
from . import waitress_engine  # noqa: F401 - the fixtures' server, loaded with the handle
from .server import Engine, MockServer


class EventsMock(MockControl):
    """A mock on a free loopback port, driven through its control API.

    `tokens["admin"]` is the bearer token of the fixture principal named `admin`;
    `principals["admin"]` tells its organisation, user and scopes.
    """

    def __init__(self, server: MockServer) -> None:
        super().__init__(server.url, control_token=server.state.settings.control_token)
        self.server = server
        self.url = server.url
        named = (p for p in server.state.fixtures.principals.values() if p.name)
        self.principals: dict[str, Principal] = {p.name: p for p in named}  # type: ignore[misc]
        self.tokens: dict[str, str] = {name: p.token for name, p in self.principals.items()}

    @classmethod
    def start(cls, settings: Settings | dict[str, Any] | None = None,
              server: Engine = "waitress") -> EventsMock:
        """Create the app, bind a free loopback port and serve it in a background thread
        (on waitress, or on Granian as `envoy-events mock` does)."""
        return cls(MockServer(settings, server=server).start())

    def headers(self, name: str = "admin") -> dict[str, str]:
        """`Authorization` header of a fixture principal (a typo says which one was meant)."""
        token = self.tokens[names.check("fixture principal", name, self.tokens)]
        return {"Authorization": f"Bearer {token}"}

    def webhook_receiver(self, name: str = "admin",
                         event_types: list[str] | None = None) -> WebhookReceiver:
        """A started receiver that verifies signatures, registered as a webhook endpoint of
        the fixture principal's organisation. Stop it when done (the fixture does)."""
        receiver = WebhookReceiver().start()
        endpoint = self.add_webhook_endpoint(self.principals[name].org_id, receiver.url,
                                             event_types=event_types)
        receiver.secret = endpoint["secret"]
        receiver.endpoint_id = endpoint["id"]
        return receiver

    def reset(self) -> None:
        """Back to the fixtures, in-process (no HTTP round trip)."""
        self.server.reset()

    def stop(self) -> None:
        """Close the client's connections, then the server's port and threads."""
        self.close()
        self.server.stop()

    def __enter__(self) -> EventsMock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class EventsRealtime(EventsMock):
    """An `EventsMock` with the realtime stand-in (a real Centrifugo) next to it.

    `await connect("admin")` gives a connected `centrifuge-python` client of that fixture
    principal (fresh tokens from the mock through `get_token`) and a watcher of what it sees.
    """

    @property
    def websocket_url(self) -> str:
        return self.server.state.realtime.websocket_url

    def token(self, name: str = "admin", channel: str | None = None) -> str:
        """A connection token (or, with `channel`, a subscription token) of a principal."""
        path = "/events/subscription_token" if channel else "/events/connection_token"
        response = self._session.get(self.url + path, headers=self.headers(name),
                                    params={"channel": channel} if channel else None,
                                    timeout=10)
        response.raise_for_status()
        return response.json()["token"]

    async def connect(self, name: str = "admin") -> tuple[Any, Any]:
        """(client, watcher): connected, its server-side subscriptions in
        `watcher.server_subscriptions`, publications awaited with `watcher.next_publication()`."""
        import asyncio

        from envoy_events_kit import realtime_client

        async def get_token() -> str:
            return await asyncio.to_thread(self.token, name)

        return await realtime_client.connect(self.websocket_url, get_token=get_token)

    async def subscribe(self, client: Any, channel: str, name: str = "admin") -> tuple[Any, Any]:
        """Subscribe client-side with the mock's subscription token (for `#` channels:
        organisation channels are server-side subscriptions already)."""
        import asyncio

        from envoy_events_kit import realtime_client

        async def get_token(ch: str) -> str:
            return await asyncio.to_thread(self.token, name, ch)

        return await realtime_client.subscribe(client, channel, get_token=get_token)
