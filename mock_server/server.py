"""Run the mock with waitress: in a background thread (tests, the pytest plugin) or in the
foreground (the CLI). `MockServer` is the one public handle: start, stop, reset, url.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from envoy_events_kit.mock_server import waitress_errors
from envoy_events_kit.mock_server.app import create_app
from envoy_events_kit.mock_server.config import Settings
from envoy_events_kit.mock_server.state import MockState
from waitress import wasyncore
from waitress.server import create_server

DEFAULT_THREADS = 8


class MockServer:
    """A mock on a loopback port. `start()` binds (port 0: a free one), `stop()` frees all."""

    def __init__(self, settings: Settings | dict[str, Any] | None = None,
                 host: str = "127.0.0.1", port: int = 0, threads: int = DEFAULT_THREADS) -> None:
        self.app = create_app(settings)
        self.host = host
        self.port = port
        self.threads = threads
        self._server: Any = None
        self._thread: threading.Thread | None = None
        #: Why the mock stopped on its own (the realtime stand-in died), else None.
        self.failure: str | None = None

    @property
    def state(self) -> MockState:
        return self.app.extensions["envoy_events_mock"]

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the mock is not started")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self._server.effective_port}"

    def bind(self) -> MockServer:
        """Create the listening socket (raises OSError when the port is taken)."""
        logging.getLogger("waitress").setLevel(logging.ERROR)
        self._server = create_server(
            self.app, host=self.host, port=self.port, threads=self.threads,
            max_request_body_size=max(waitress_errors.WAITRESS_BODY_CEILING,
                                      self.state.settings.max_body_bytes + 1),
            ident="envoy-events-mock", clear_untrusted_proxy_headers=True,
        )
        waitress_errors.install(self._server)
        return self

    def start(self) -> MockServer:
        """Serve in a daemon thread; returns once the port accepts connections."""
        self._start_beside(on_exit=self._record_failure)
        self._thread = threading.Thread(target=self._server.run, name="envoy-events-mock",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self, on_ready: Callable[[MockServer], None] | None = None) -> None:
        """Serve in this thread until SIGTERM or Ctrl-C; in-flight requests finish first."""
        self._start_beside(on_exit=self._fail_and_stop)
        if on_ready:
            on_ready(self)
        # Everything built so far (modules, spec, validators, app) lives as long as the
        # process: keep it out of every garbage-collector pass (shorter pauses under load).
        gc.collect()
        gc.freeze()

        def _graceful(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        previous = {sig: signal.signal(sig, _graceful) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._server.run()
        except KeyboardInterrupt:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._shutdown()
            self.state.close()

    def stop(self) -> None:
        """Stop serving, finish in-flight requests, close every socket, join the thread."""
        server, thread = self._server, self._thread
        self.state.close()
        if server is None:
            return
        if thread is None or not thread.is_alive():
            self._shutdown()
            return
        # The serving thread owns the sockets: ask it (through waitress's trigger) to stop
        # accepting, let the workers finish while it still flushes, then close the rest.
        _in_loop(server, partial(wasyncore.dispatcher.close, server))
        server.task_dispatcher.shutdown(cancel_pending=False)
        _in_loop(server, self._shutdown)
        thread.join(timeout=5)
        self._thread = None
        self._shutdown()  # no-op unless the loop had already closed its trigger

    def _start_beside(self, on_exit: Callable[[str], None]) -> None:
        """Bind, then start what runs beside the app (realtime stand-in, a scenario); on a
        failure nothing is left listening or running."""
        if self._server is None:
            self.bind()
        try:
            self.state.start_realtime(self.host, on_exit=on_exit)
        except Exception:
            self._shutdown()
            raise
        self.state.start_scenario()

    def _record_failure(self, message: str) -> None:
        self.failure = message

    def _fail_and_stop(self, message: str) -> None:
        """In the foreground: a dead realtime stand-in stops the mock too (no half stand-in)."""
        self.failure = message
        os.kill(os.getpid(), signal.SIGTERM)

    def reset(self) -> None:
        """Back to the fixtures (state, clock, journal, faults)."""
        self.state.reset()

    def _shutdown(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.task_dispatcher.shutdown(cancel_pending=False)
        for dispatcher in list(server._map.values()):
            dispatcher.handle_close()

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _in_loop(server: Any, action: Callable[[], object]) -> None:
    """Run `action` in the serving thread; skip it if that loop already closed its trigger."""
    with contextlib.suppress(OSError):
        server.trigger.pull_trigger(action)
