"""The real parts the realtime tests need (Centrifugo, the npm client), or a skip that says
how to get them. Under CI (`CI` set) a missing part fails instead: a skip there would prove
nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from envoy_events_kit.mock_server.events.realtime import RealtimeUnavailable, find_binary

JS_DIR = Path(__file__).parent / "realtime_js"


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must install it: `make test` does)", pytrace=False)
    pytest.skip(reason)


def centrifugo_or_skip() -> Path:
    try:
        return find_binary()
    except RealtimeUnavailable as exc:
        _missing(f"{exc} (or `make realtime`)")
        raise


def node_client_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        _missing("Node.js is not installed")
    if not (JS_DIR / "node_modules" / "centrifuge").is_dir():
        _missing("the npm centrifuge client is not installed: run `make realtime-js`")
    return node  # type: ignore[return-value]
