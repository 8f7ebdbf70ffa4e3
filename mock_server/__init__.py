"""A stateful mock of the Envoy Event Streaming API, driven by `openapi/events.yaml`."""

from mock_server.app import create_app
from mock_server.config import Settings
from mock_server.server import MockServer

__all__ = ["create_app", "Settings", "MockServer"]
