"""Serve the proxy on the mock's HTTP engines, in the background (tests) or the foreground
(the CLI, until Ctrl-C or SIGTERM, then the report)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

from envoy_events_kit.mock_server.serving.engines import Engine, engine

from .app import MAX_REQUEST_BODY, ProxyApp

#: Python threads running the proxy: each waits on the upstream while it answers.
DEFAULT_THREADS = 8


class ProxyServer:
    """A `ProxyApp` on a loopback port (port 0: a free one). waitress streams answers that
    are not buffered; granian hands each answer over whole (no event streams)."""

    def __init__(self, app: ProxyApp, host: str = "127.0.0.1", port: int = 0,
                 server: Engine = "waitress", threads: int | None = None) -> None:
        self.app = app
        self.host = host
        self._engine = engine(server, app, host, port, threads or DEFAULT_THREADS,
                              MAX_REQUEST_BODY)
        self._bound = self._serving = False
        self._stop_requested = threading.Event()

    @property
    def server(self) -> str:
        return self._engine.name

    @property
    def url(self) -> str:
        if not self._bound:
            raise RuntimeError("the proxy is not started")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self._engine.port}"

    def bind(self) -> ProxyServer:
        self._engine.bind()
        self._bound = True
        return self

    def start(self) -> ProxyServer:
        if not self._bound:
            self.bind()
        self._engine.start()
        self._serving = True
        return self

    def serve_forever(self, on_ready: Callable[[ProxyServer], None] | None = None) -> None:
        """Serve until SIGTERM or Ctrl-C; in-flight requests finish first."""
        self.start()
        if on_ready:
            on_ready(self)

        def _graceful(signum: int, frame: Any) -> None:
            self._stop_requested.set()

        previous = {sig: signal.signal(sig, _graceful) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not self._stop_requested.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()

    def stop(self) -> None:
        if self._bound or self._serving:
            self._engine.stop()
        self._bound = self._serving = False
        self.app.close()

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
