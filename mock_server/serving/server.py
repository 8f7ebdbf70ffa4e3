"""`MockServer`, the one public handle on a running mock: start, stop, reset, url.

It serves in the background (tests, the pytest plugin) or in the foreground until a signal
(the CLI), on one of two HTTP servers ("engines"): Granian (Rust, the CLI's default, fast)
or waitress (pure Python, the in-process default, JSON bodies even for malformed HTTP).
Whatever runs beside the app (realtime stand-in, scenario, webhook deliveries) starts once
the port is bound and stops with the server.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Any

from envoy_events_kit.stop_request import StopRequest

from ..config import Settings
from ..state.mock_state import MockState
from . import security
from .app import as_settings, create_app, guard
from .engines import DEFAULT_THREADS, Engine, engine


class MockServer:
    """A mock on a loopback port. `start()` binds (port 0: a free one), `stop()` frees all."""

    def __init__(self, settings: Settings | dict[str, Any] | None = None,
                 host: str = "127.0.0.1", port: int = 0, threads: int | None = None,
                 server: Engine = "waitress") -> None:
        # Off loopback: the development secret is refused, a control token made if none.
        settings, self.generated_control_token = security.exposed(as_settings(settings), host)
        self.app = create_app(settings)
        guard(self.app).trust_bound_host(host)
        self.host = host
        self.threads = threads or DEFAULT_THREADS.get(server, 1)
        self._engine = engine(server, self.app, host, port, self.threads,
                               self.state.settings.max_body_bytes)
        self._bound = False
        self._serving = False
        self._stop_requested = threading.Event()
        #: Why the mock stopped on its own (the realtime stand-in died), else None.
        self.failure: str | None = None
        #: Webhook deliveries still pending when it stopped (not sent, not kept).
        self.dropped_deliveries = 0

    @property
    def server(self) -> str:
        """Which HTTP server serves: "granian" or "waitress"."""
        return self._engine.name

    @property
    def state(self) -> MockState:
        return self.app.extensions["envoy_events_mock"]

    @property
    def url(self) -> str:
        if not self._bound:
            raise RuntimeError("the mock is not started")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self._engine.port}"

    def bind(self) -> MockServer:
        """Create the listening socket (raises OSError when the port is taken)."""
        self._engine.bind()
        self._bound = True
        self.state.webhooks.serving_at(self.host, self._engine.port)  # never a webhook target
        return self

    def start(self) -> MockServer:
        """Serve in the background; returns once the port accepts connections."""
        self._start_beside(on_exit=self._record_failure)
        self._engine.start()
        self._serving = True
        return self

    def serve_forever(self, on_ready: Callable[[MockServer], None] | None = None,
                      stop: StopRequest | None = None) -> None:
        """Serve until SIGTERM or Ctrl-C (or the realtime stand-in dies); in-flight
        requests finish first. `stop`: the CLI's, installed before anything was imported,
        so that a signal during start-up stops the mock as gracefully as one later."""
        stop = (stop or StopRequest()).install()
        self._stop_requested = stop.event
        try:
            if not stop.requested:
                self._start_beside(on_exit=self._fail_and_stop)
                self._engine.start()
                self._serving = True
            if on_ready and not stop.requested:
                on_ready(self)
            # Everything built so far (modules, spec, validators, app) lives as long as the
            # process: keep it out of every garbage-collector pass (shorter pauses under load).
            gc.collect()
            gc.freeze()
            while not stop.event.wait(0.5):
                pass
        finally:
            stop.restore()
            self.stop()

    def stop(self) -> None:
        """Stop serving, finish in-flight requests, close every socket and what runs beside.

        In that order: a scenario stops publishing, HTTP drains (a request in flight still
        publishes into live sinks), then the sinks stop (webhook workers record what they
        could not send, the realtime stand-in goes). `dropped_deliveries` then says how many
        webhook deliveries were still pending."""
        self.state.scenarios.stop_all()
        if self._bound or self._serving:
            self._engine.stop()
        self._bound = self._serving = False
        self.dropped_deliveries += self.state.close()

    def _start_beside(self, on_exit: Callable[[str], None]) -> None:
        """Bind, then start what runs beside the app (realtime stand-in, a scenario); on a
        failure nothing is left listening or running."""
        if not self._bound:
            self.bind()
        try:
            self.state.start_realtime(self.host, on_exit=on_exit)
        except Exception:
            self._engine.stop()
            self._bound = False
            raise
        self.state.start_scenario()

    def _record_failure(self, message: str) -> None:
        self.failure = message

    def _fail_and_stop(self, message: str) -> None:
        """In the foreground: a dead realtime stand-in stops the mock too (no half stand-in)."""
        self.failure = message
        self._stop_requested.set()

    def reset(self) -> None:
        """Back to the fixtures (state, clock, journal, faults)."""
        self.state.reset()

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
