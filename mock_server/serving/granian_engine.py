"""The mock on Granian (a Rust HTTP server with a WSGI interface): the CLI's default, about
three times waitress's throughput on this app.

Granian's own `Granian(...).serve()` runs the app in worker *processes*; the mock's state
(the store, the realtime stand-in, webhook deliveries) must stay in one process, with the
banner and the state file, so this engine drives Granian's WSGI worker the way its
threaded server does, in this process: the Rust runtime serves, Python threads run the
app. Granian's worker API is internal, hence the pinned minor version in pyproject.toml.

Differences from waitress, by design of Granian's HTTP engine (hyper): a request that is
not valid HTTP/1.1 (control characters in a header value, a header without a colon, a
non-numeric Content-Length, a garbage request line) is refused by hyper with a bodyless
`400` and a closed connection before any Python runs, so it cannot carry the JSON error
body; every request that *is* HTTP gets the API's JSON errors as on waitress.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from granian._futures import _new_cbscheduler
from granian._granian import SocketHolder, WorkerSignal, WSGIWorker
from granian.http import HTTP1Settings

BACKLOG = 1024
#: Rust I/O threads: one is plenty for a loopback mock, and leaves the other core to Python.
RUNTIME_THREADS = 1
#: How long `stop()` waits for in-flight requests (a fault's latency) before giving up.
DRAIN_SECONDS = 30.0


#: What PEP 3333 asks of every environ besides the request's own keys (Granian's own glue
#: also copies the whole process environment into each request's environ).
_WSGI_KEYS = {"GATEWAY_INTERFACE": "CGI/1.1", "SCRIPT_NAME": "", "SERVER_SOFTWARE": "Granian",
              "wsgi.errors": sys.stderr, "wsgi.input_terminated": True,
              "wsgi.multiprocess": False, "wsgi.multithread": True, "wsgi.run_once": False,
              "wsgi.version": (1, 0)}


def _wsgi_callback(app: Any) -> Callable[[Any, dict[str, Any]], int]:
    """Granian's WSGI glue, leaner: the mock's bodies are small JSON, so the whole answer
    goes back to Rust in one call instead of Rust iterating a Python iterator."""

    def call(proto: Any, scope: dict[str, Any]) -> int:
        answer: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> None:
            answer[:] = [int(status.split(" ", 1)[0]), headers]

        body = app(_WSGI_KEYS | scope, start_response)
        try:
            data = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        proto.response_bytes(answer[0], answer[1], data)
        return answer[0]

    return call


class GranianEngine:
    """Granian serving one WSGI app in this process; `threads` Python threads run it."""

    name = "granian"

    def __init__(self, app: Any, host: str, port: int, threads: int, max_body: int) -> None:
        del max_body  # the app judges bodies itself (Content-Length or chunked), see app.py
        self._app, self._host, self._port, self._threads = app, host, port, threads
        self._sock: socket.socket | None = None
        self._signal: Any = None
        self._drained = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port = 0

    def bind(self) -> None:
        """Create the listening socket (raises OSError when the port is taken)."""
        # Resolve first: an unknown host is then a socket.gaierror, as with waitress.
        family, *_, address = socket.getaddrinfo(self._host, self._port,
                                                 type=socket.SOCK_STREAM)[0]
        self._sock = socket.create_server(address[:2], family=family, backlog=BACKLOG)
        # Inherited by every accepted connection: no Nagle delay behind a delayed ACK.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.port = self._sock.getsockname()[1]

    def start(self) -> None:
        """Serve from Granian's own threads; returns at once (the port already listens)."""
        assert self._sock is not None, "bind() first"
        holder = SocketHolder(self._sock.detach(), False, BACKLOG)  # Granian closes it
        self._sock = None
        self._signal = WorkerSignal()
        self._signal.add_cb(self._drained.set)  # called once the last request has finished
        self._loop = asyncio.new_event_loop()  # unused by WSGI calls, required by the API
        # As granian/server/mt.py passes them: worker id, (listener spec, socket), IPC,
        # Rust I/O threads, Rust blocking threads, Python threads, their idle timeout (s),
        # backpressure (requests queued for Python), HTTP/1 only, HTTP/1 and /2 settings,
        # static files, then TLS and metrics.
        worker = WSGIWorker(
            1, (None, holder), None, RUNTIME_THREADS, 512, self._threads, 30, BACKLOG,
            "1", HTTP1Settings(), None, None,
            False, None, None, None, "tls1.3", None, [], False,  # no TLS
            (None, None),  # no metrics
        )
        callback = _wsgi_callback(self._app)
        worker.serve_mtr(_new_cbscheduler(self._loop, callback, impl_asyncio=True),
                         self._loop, self._signal)

    def stop(self) -> None:
        """Stop accepting, let in-flight requests finish, close every socket."""
        if self._sock is not None:  # bound, never started
            self._sock.close()
            self._sock = None
        if self._signal is None:
            return
        self._signal.set()
        self._drained.wait(DRAIN_SECONDS)
        self._signal = None
        if self._loop is not None:
            self._loop.close()
            self._loop = None
