"""A stateful mock of the Envoy Event Streaming API, driven by `openapi/events.yaml`."""

from envoy_events_kit.mock_server.app import create_app
from envoy_events_kit.mock_server.config import Settings
from envoy_events_kit.mock_server.server import MockServer

__all__ = ["create_app", "Settings", "MockServer"]
