"""What the `events_mock` pytest fixture hands a test: a running mock, its fixture
principals and tokens, and the control client (`MockControl`) bound to it.
"""

from __future__ import annotations

from typing import Any

from envoy_events_kit.mock_server.config import Settings
from envoy_events_kit.mock_server.control_client import MockControl
from envoy_events_kit.mock_server.model import Principal
from envoy_events_kit.mock_server.server import MockServer


class EventsMock(MockControl):
    """A mock on a free loopback port, driven through its control API.

    `tokens["admin"]` is the bearer token of the fixture principal named `admin`;
    `principals["admin"]` tells its organisation, user and scopes.
    """

    def __init__(self, server: MockServer) -> None:
        super().__init__(server.url)
        self.server = server
        self.url = server.url
        named = (p for p in server.state.fixtures.principals.values() if p.name)
        self.principals: dict[str, Principal] = {p.name: p for p in named}  # type: ignore[misc]
        self.tokens: dict[str, str] = {name: p.token for name, p in self.principals.items()}

    @classmethod
    def start(cls, settings: Settings | dict[str, Any] | None = None) -> EventsMock:
        """Create the app, bind a free loopback port and serve it in a background thread."""
        return cls(MockServer(settings).start())

    def headers(self, name: str = "admin") -> dict[str, str]:
        """`Authorization` header of a fixture principal."""
        return {"Authorization": f"Bearer {self.tokens[name]}"}

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
