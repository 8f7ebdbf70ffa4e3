"""The mock on waitress (pure Python): the in-process default of `MockServer` and the pytest
plugin. Requests waitress refuses before the app sees them (bad framing, oversize headers or
bodies) are answered in the API's one error shape instead of waitress's plain-text page."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import ErrorTask

from ..api.errors import _HTTP_CODES

#: waitress's own ceiling. Bodies between the API limit (64 KiB) and this are read in full,
#: so the app answers its JSON 413 on a connection still in step with the client; only
#: bodies beyond it are cut short by waitress (answered by `JsonErrorTask`, then closed).
WAITRESS_BODY_CEILING = 1024 * 1024

#: waitress's own default: past it, waitress stops accepting until a connection closes, and
#: it closes idle ones only after 120 s. `_make_room_then` closes the longest-idle instead.
CONNECTION_LIMIT = 100


class JsonErrorTask(ErrorTask):
    """waitress's error response, as `{"error": {"code", "message"}}`."""

    def execute(self) -> None:
        error = self.request.error
        status = int(error.code)
        code = _HTTP_CODES.get(status, "internal_error" if status >= 500 else "invalid_request")
        message = ("The request body is too large." if status == 413
                   else f"{error.reason}: {error.body}.")
        body = json.dumps({"error": {"code": code, "message": message}},
                          separators=(",", ":")).encode()
        self.status = f"{status} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


class WaitressEngine:
    """waitress serving one WSGI app from a background thread."""

    name = "waitress"

    def __init__(self, app: Any, host: str, port: int, threads: int, max_body: int) -> None:
        self._options = {"host": host, "port": port, "threads": threads,
                         "max_request_body_size": max(WAITRESS_BODY_CEILING, max_body + 1),
                         "connection_limit": CONNECTION_LIMIT,
                         # poll, not select: select() fails past file descriptor 1023.
                         "asyncore_use_poll": True}
        self._app = app
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.effective_port

    def bind(self) -> None:
        """Create the listening socket (raises OSError when the port is taken)."""
        logging.getLogger("waitress").setLevel(logging.ERROR)
        self._server = create_server(self._app, ident="envoy-events-mock",
                                     clear_untrusted_proxy_headers=True, **self._options)
        self._server.channel_class = JsonErrorChannel
        self._server.readable = partial(_make_room_then, self._server,
                                        self._server.readable)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.run, name="envoy-events-mock",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, let in-flight requests finish, close every socket."""
        server, thread = self._server, self._thread
        if server is None:
            return
        if thread is None or not thread.is_alive():
            self._close()
            return
        # The serving thread owns the sockets: ask it (through waitress's trigger) to stop
        # accepting, let the workers finish while it still flushes, then close the rest.
        _in_loop(server, partial(wasyncore.dispatcher.close, server))
        server.task_dispatcher.shutdown(cancel_pending=False)
        _in_loop(server, self._close)
        thread.join(timeout=5)
        self._thread = None
        self._close()  # no-op unless the loop had already closed its trigger

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.task_dispatcher.shutdown(cancel_pending=False)
        for dispatcher in list(server._map.values()):
            dispatcher.handle_close()


def _make_room_then(server: Any, readable: Callable[[], bool]) -> bool:
    """Run in the serving loop before it asks whether to accept. At the connection limit,
    waitress would stop accepting until some connection closes on its own, so a hundred
    silent sockets (or stalled bodies) would lock every client out for two minutes. Instead
    the longest-idle connections with no request in a worker are closed, keeping one slot
    free; a client they belonged to reconnects as after any keep-alive close."""
    if len(server._map) < server.adj.connection_limit - 1:
        return readable()  # the common case, checked on every pass of the loop
    closing = [channel for channel in server.active_channels.values() if channel.will_close]
    excess = len(server._map) - len(closing) - server.adj.connection_limit + 1
    if excess > 0:
        idle = [channel for channel in server.active_channels.values()
                if not channel.requests and not channel.will_close]
        for channel in sorted(idle, key=lambda channel: channel.last_activity)[:excess]:
            channel.will_close = True  # closed by the loop in this pass (see writable())
    return readable()


def _in_loop(server: Any, action: Callable[[], object]) -> None:
    """Run `action` in the serving thread; skip it if that loop already closed its trigger."""
    with contextlib.suppress(OSError):
        server.trigger.pull_trigger(action)
