"""Serve a WSGI app on a free loopback port with the mock's own waitress engine, whose stop
closes every socket from the serving thread (no race with the select loop)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envoy_events_kit.mock_server.serving.engines import engine


@dataclass
class Served:
    url: str
    engine: Any

    def stop(self) -> None:
        self.engine.stop()


def serve(app: Any, threads: int = 4) -> Served:
    served = engine("waitress", app, "127.0.0.1", 0, threads, 1024 * 1024)
    served.bind()
    served.start()
    return Served(f"http://127.0.0.1:{served.port}", served)
