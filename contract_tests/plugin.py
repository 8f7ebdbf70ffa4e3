"""pytest11 entry point of envoy-events-kit: the options shared by the plugin and the suite."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("envoy-events", "Envoy Event Streaming API (envoy-events-kit)")
    group.addoption("--events-base-url", default=None,
                    help="Base URL of a deployment to test (default: an in-process mock). "
                         "Env: ENVOY_EVENTS_BASE_URL.")
    group.addoption("--events-token", default=None,
                    help="Bearer token for --events-base-url. Env: ENVOY_EVENTS_TOKEN.")
