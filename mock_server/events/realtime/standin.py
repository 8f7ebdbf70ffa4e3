"""The realtime stand-in as the mock sees it: Centrifugo configured from the fixtures, plus
the publisher that feeds it. Started and stopped with the mock's server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from envoy_events_kit.instants import format_instant

from ...api.tokens import Clock
from .config import build_config, masked, new_api_key
from .install import CENTRIFUGO_VERSION, find_binary
from .process import Centrifugo, RealtimeError
from .publisher import RealtimePublisher


def check_clock(clock: Clock, token_ttl: int) -> None:
    """Centrifugo judges `exp` by the real time: a mock frozen so far in the past that its
    tokens are already expired would see every connection refused (109), silently, in the
    browser. Say so before starting."""
    if clock.mode != "frozen":
        return
    expires = clock.now() + timedelta(seconds=token_ttl)
    if expires <= datetime.now(UTC):
        raise RealtimeError(
            f"the clock is frozen at {format_instant(clock.now())}, so every token it issues "
            f"expired at {format_instant(expires)}; Centrifugo checks exp against the real "
            "time and would refuse them (error 109). Use --clock real (or an instant less than "
            "--token-ttl ago) with --realtime")


class RealtimeStandIn:
    """Centrifugo + its publisher, for one mock."""

    def __init__(self, *, secret: str, namespaces: list[str], binary: Path | None = None,
                 host: str = "127.0.0.1", port: int = 0,
                 on_exit: Callable[[str], None] | None = None,
                 origins: tuple[str, ...] = ()) -> None:
        self.api_key = new_api_key()
        self.namespaces = sorted(namespaces)
        self.process = Centrifugo(
            find_binary(binary),
            lambda p: build_config(secret=secret, namespaces=self.namespaces, port=p,
                                   api_key=self.api_key, host=host, origins=origins),
            host=host, port=port, on_exit=on_exit)
        self.publisher: RealtimePublisher | None = None

    def start(self) -> RealtimeStandIn:
        self.process.start()
        self.publisher = RealtimePublisher(self.process.api_url, self.api_key)
        return self

    def stop(self) -> None:
        self.process.stop()

    @property
    def websocket_url(self) -> str:
        return self.process.websocket_url

    def describe(self) -> dict[str, Any]:
        """What `/__mock__/state` shows (the API key only masked)."""
        return {"websocket_url": self.websocket_url, "api_url": self.process.api_url,
                "api_key": masked(self.api_key), "centrifugo_version": CENTRIFUGO_VERSION,
                "namespaces": self.namespaces, "running": self.process.answering()}
