"""A stateful mock of the Envoy Event Streaming API, driven by `openapi/events.yaml`.

The public names live here; the rooms behind them (serving/, state/, api/, control/,
events/) may move. The test-suite helpers load on first use, so `import` stays cheap.
"""

from typing import Any

from .config import Settings
from .serving.app import create_app
from .serving.server import MockServer

__all__ = [
    "create_app", "Settings", "MockServer",
    "EventsMock", "EventsRealtime", "MockControl", "ControlError", "WebhookReceiver",
]

_LAZY = {
    "EventsMock": ".serving.handle",
    "EventsRealtime": ".serving.handle",
    "MockControl": ".control.client",
    "ControlError": ".control.client",
    "WebhookReceiver": ".events.webhooks.receiver",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
