"""The real parts the realtime tests need (Centrifugo, the npm client, Chromium), or a skip
that says how to get them. Under CI (`CI` set) a missing part fails instead: a skip there
would prove nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from envoy_events_kit.mock_server.events.realtime import RealtimeUnavailable, find_binary

JS_DIR = Path(__file__).parent / "realtime_js"


def missing(reason: str) -> None:
    """Skip, saying how to get the part; under CI fail instead."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must install it: `make test` does)", pytrace=False)
    pytest.skip(reason)


def centrifugo_or_skip() -> Path:
    try:
        return find_binary()
    except RealtimeUnavailable as exc:
        missing(f"{exc} (or `make realtime`)")
        raise


def cached_centrifugo_or_skip() -> Path:
    """The binary in the kit's own cache (what `make realtime` installs), not another one."""
    from envoy_events_kit.mock_server.events.realtime.install import cached_binary

    cached = cached_binary()
    if not os.access(cached, os.X_OK):
        missing(f"no Centrifugo in the kit's cache ({cached}): run `make realtime`")
    return cached


def chromium_or_skip() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        missing("Chromium is not installed (Debian: apt-get install chromium; .ci/run "
                "installs it)")
    return found  # type: ignore[return-value]


def node_client_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        missing("Node.js is not installed")
    if not (JS_DIR / "node_modules" / "centrifuge").is_dir():
        missing("the npm centrifuge client is not installed: run `make realtime-js`")
    return node  # type: ignore[return-value]
