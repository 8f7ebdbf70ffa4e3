"""The mock on Granian (a Rust HTTP server): the CLI's default, about three times waitress's
throughput on this app.

Granian's own `Granian(...).serve()` runs the app in worker *processes*; the mock's state
(the store, the realtime stand-in, webhook deliveries) must stay in one process, with the
banner and the state file, so this engine drives one of Granian's workers the way its
threaded server does, in this process: the Rust runtime serves, `threads` Python threads
run the app. Granian's worker API is internal, hence the pinned minor version in
pyproject.toml.

It drives Granian's RSGI worker, not its WSGI one, for the sake of request bodies: a WSGI
app reads its body by blocking its thread until the client sends it, with no time limit and
no way to give up, so one client that sent its headers and stalled its body held the mock
(one app thread) for as long as it kept the connection. Through RSGI the body is a future:
the app thread asks for it and goes on with other requests; when it has arrived, Granian
hands it back to a Python thread, which then runs the app (WSGI: Flask) with the whole body
in memory. A body that has not arrived within `BODY_DEADLINE_S` is answered 408 in the API's
error shape and its connection closed; the app never sees that request, so it changes
nothing. A request without a body runs the app at once, as the WSGI worker did. Bodies over
the limit are not read at all (the app answers 413).

Differences from waitress, by design of Granian's HTTP engine (hyper): a request that is
not valid HTTP/1.1 (control characters in a header value, a header without a colon, a
non-numeric Content-Length, a garbage request line) is refused by hyper with a bodyless
`400` and a closed connection before any Python runs, so it cannot carry the JSON error
body; every request that *is* HTTP gets the API's JSON errors as on waitress.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from granian._granian import CallbackScheduler, RSGIWorker, SocketHolder, WorkerSignal
from granian.http import HTTP1Settings

BACKLOG = 1024
#: Rust I/O threads: one is plenty for a loopback mock, and leaves the other core to Python.
RUNTIME_THREADS = 1
#: How long `stop()` waits for in-flight requests (a fault's latency) before giving up.
DRAIN_SECONDS = 30.0
#: Seconds a client has to send the whole body it announced, counted from its headers.
BODY_DEADLINE_S = 2.0

#: What PEP 3333 asks of every environ besides the request's own keys.
_WSGI_KEYS = {"GATEWAY_INTERFACE": "CGI/1.1", "SCRIPT_NAME": "", "SERVER_SOFTWARE": "Granian",
              "wsgi.errors": sys.stderr, "wsgi.input_terminated": True,
              "wsgi.multiprocess": False, "wsgi.multithread": True, "wsgi.run_once": False,
              "wsgi.version": (1, 0), "wsgi.url_scheme": "http"}
_PROTOCOLS = {"1.1": "HTTP/1.1", "1": "HTTP/1.0", "1.0": "HTTP/1.0", "2": "HTTP/2"}
_SPECIAL = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


def _wsgi_text(text: str) -> str:
    """Granian decodes paths as UTF-8; WSGI wants the bytes as Latin-1 (PEP 3333)."""
    return text if text.isascii() else text.encode("utf-8", "replace").decode("latin-1")


def _address(address: str) -> tuple[str, str]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), port


def environ_of(scope: Any) -> dict[str, Any]:
    """The WSGI environ of an RSGI request scope (the caller adds `wsgi.input`)."""
    environ = _WSGI_KEYS.copy()
    environ["REQUEST_METHOD"] = scope.method
    environ["PATH_INFO"] = _wsgi_text(scope.path)
    environ["QUERY_STRING"] = _wsgi_text(scope.query_string)
    environ["SERVER_PROTOCOL"] = _PROTOCOLS.get(scope.http_version, "HTTP/1.1")
    environ["wsgi.url_scheme"] = scope.scheme
    environ["SERVER_NAME"], environ["SERVER_PORT"] = _address(scope.server)
    environ["REMOTE_ADDR"] = _address(scope.client)[0]
    for name, value in scope.headers.items():
        key = _SPECIAL.get(name) or "HTTP_" + name.upper().replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    if "HTTP_HOST" not in environ and scope.authority:
        environ["HTTP_HOST"] = scope.authority
    return environ


def error(proto: Any, status: int, code: str, message: str) -> None:
    """Answer in the API's one error shape on a connection that then closes (the rest of
    the body may still come: the connection is out of step with the client)."""
    body = json.dumps({"error": {"code": code, "message": message}},
                      separators=(",", ":")).encode() + b"\n"
    proto.response_bytes(status, [("content-type", "application/json"),
                                  ("connection", "close")], body)


def _runner(app: Any) -> Callable[[dict[str, Any]], tuple[int, list[Any], bytes]]:
    """Run the app for one environ; the whole answer at once (the mock's bodies are small)."""

    def run(environ: dict[str, Any]) -> tuple[int, list[Any], bytes]:
        answer: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]],
                           exc_info: Any = None) -> None:
            answer[:] = [int(status.split(" ", 1)[0]), headers]

        body = app(environ, start_response)
        try:
            data = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        return answer[0], answer[1], data

    return run


class _InlineLoop:
    """What Granian asks of an event loop: a place to run the callbacks of the futures it
    hands out (a request body). The mock has no loop to spare; the callbacks run at once,
    on the thread that completes the future (one of Granian's Python threads) or cancels
    it (the deadline watcher)."""

    @staticmethod
    def call_soon_threadsafe(callback: Callable[..., object], *args: Any,
                             context: Any = None) -> None:
        callback(*args)

    call_soon = call_soon_threadsafe


class _Deadlines:
    """Bodies being awaited, oldest first, and the thread that answers the late ones (408),
    or all of them at stop (503). Whoever takes a body out first answers its request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._waiting: dict[int, _Body] = {}  # insertion order = deadline order
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._watch, name="envoy-events-deadlines",
                                        daemon=True)
        self._thread.start()

    def add(self, body: _Body) -> bool:
        """Start the clock of a body; False once the mock is stopping."""
        with self._lock:
            if self._stopped:
                return False
            first = not self._waiting
            self._waiting[body.key] = body
        if first:
            self._wake.set()
        return True

    def take(self, body: _Body) -> bool:
        """True for the one caller that may now answer this request."""
        with self._lock:
            return self._waiting.pop(body.key, None) is not None

    def waiting(self, body: _Body) -> bool:
        return body.key in self._waiting

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            left = list(self._waiting.values())
            self._waiting.clear()
        self._wake.set()
        for body in left:
            body.abandon(503, "unavailable", "The mock is stopping.")

    def _watch(self) -> None:
        while True:
            with self._lock:
                if self._stopped:
                    return
                oldest = next(iter(self._waiting.values()), None)
            if oldest is None:
                self._wake.wait()
                self._wake.clear()
                continue
            delay = oldest.deadline - time.monotonic()
            if delay > 0:
                self._wake.wait(delay)  # later bodies expire later; stop() wakes it
                self._wake.clear()
            elif self.take(oldest):
                oldest.abandon(408, "request_timeout", "The request body did not arrive "
                               f"within {self.seconds:g} s.")


class _Body:
    """One request whose body is on its way: the future that brings it (a chunked body
    comes chunk by chunk, up to one byte over the limit), then the app."""

    __slots__ = ("handler", "watcher", "proto", "environ", "chunked", "key", "deadline",
                 "future", "parts", "size")

    def __init__(self, handler: Handler, watcher: Any, environ: dict[str, Any],
                 chunked: bool, key: int) -> None:
        self.handler, self.watcher, self.environ, self.chunked = handler, watcher, environ, chunked
        self.proto = watcher.proto
        self.key, self.deadline = key, time.monotonic() + handler.deadlines.seconds
        self.future: Any = None
        self.parts: list[bytes] = []
        self.size = 0

    def start(self) -> None:
        if not self.handler.deadlines.add(self):
            self.abandon(503, "unavailable", "The mock is stopping.")
            return
        if self.chunked:
            self.proto.__aiter__()
            self._ask(self.proto.__anext__())
        else:
            self._ask(self.proto())

    def _ask(self, future: Any) -> None:
        self.future = future
        future.add_done_callback(self)  # runs now if it is done already

    def __call__(self, future: Any) -> None:
        """The body (or a chunk of it) has arrived, or the wait was cancelled."""
        self.future = None  # the future keeps this callback: no cycle once it is done
        try:
            if future.cancelled():
                return
            try:
                data = future.result()
            except Exception as exc:  # the client went away mid-body
                # Granian keeps the exception: it must not keep this frame (and so this
                # body and its future) alive in its traceback.
                exc.__traceback__ = None
                data = None
            if data is not None and self.chunked:
                if data and self.handler.deadlines.waiting(self):
                    self.parts.append(data)
                    self.size += len(data)
                    if self.size <= self.handler.limit:  # the next chunk
                        following = self.proto.__anext__()
                        self._ask(following)
                        if not self.handler.deadlines.waiting(self):  # abandoned meanwhile
                            following.cancel()
                        return
                data = b"".join(self.parts)
            if not self.handler.deadlines.take(self):
                return  # answered already: late, or the mock is stopping
            self.handler.with_body(self, data)
        except BaseException as exc:
            self.watcher.err(exc)

    def abandon(self, status: int, code: str, message: str) -> None:
        """Answer without the body, and stop waiting for it (its connection closes)."""
        future, self.future = self.future, None
        try:
            error(self.proto, status, code, message)
            if future is not None:
                future.cancel()
        finally:
            self.watcher.done()


class Handler:
    """Each request, on one of Granian's Python threads: without a body, the app runs at
    once; with one, the app runs when the body has arrived (see `_Body`)."""

    def __init__(self, app: Any, limit: int, deadline: float = BODY_DEADLINE_S) -> None:
        self._run, self.limit = _runner(app), limit
        self.deadlines = _Deadlines(deadline)
        self._keys = itertools.count()

    def schedule(self, watcher: Any) -> None:
        """Granian's callback. It must return None: Granian drops no reference to what it
        returns (a value would keep the watcher, its request and Granian's runtime alive)."""
        try:
            environ = environ_of(watcher.scope)
            chunked = self._announced_body(environ)
            if chunked is not None:
                _Body(self, watcher, environ, chunked, next(self._keys)).start()
                return
            environ["wsgi.input"] = io.BytesIO()
            watcher.proto.response_bytes(*self._run(environ))
        except BaseException as exc:  # Granian answers 500 and logs it
            watcher.err(exc)
            return
        watcher.done()

    def with_body(self, body: _Body, data: bytes | None) -> None:
        """Run the app with the body now in memory (400 if it was cut short)."""
        environ = body.environ
        if data is None or (not body.chunked and len(data) != int(environ["CONTENT_LENGTH"])):
            error(body.proto, 400, "invalid_request", "The request body ended before its "
                  "announced Content-Length.")
        else:
            environ["wsgi.input"] = io.BytesIO(data)
            environ["CONTENT_LENGTH"] = str(len(data))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            body.proto.response_bytes(*self._run(environ))
        body.watcher.done()

    def _announced_body(self, environ: dict[str, Any]) -> bool | None:
        """None: nothing to read first (no body, or one over the limit: the app answers
        413 without reading it); else whether the body is chunked."""
        length = environ.get("CONTENT_LENGTH")
        if length is None:
            return True if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() \
                else None
        return False if length.isdigit() and 0 < int(length) <= self.limit else None


class _Scheduler(CallbackScheduler):
    """What Granian calls for each request, from its Python thread(s)."""

    __slots__ = ()

    def __init__(self, loop: Any, handler: Handler, *_: Any) -> None:
        super().__init__()
        self._schedule_fn = handler.schedule


def _unused(*_: Any) -> None:
    """Granian's own coroutine driver would call these; the mock's handler is no coroutine."""


class GranianEngine:
    """Granian serving one WSGI app in this process; `threads` Python threads run it."""

    name = "granian"

    def __init__(self, app: Any, host: str, port: int, threads: int, max_body: int) -> None:
        self._app, self._host, self._port, self._threads = app, host, port, threads
        self._max_body = max_body
        self._sock: socket.socket | None = None
        self._signal: Any = None
        self._drained = threading.Event()
        self._handler: Handler | None = None
        self._native_before: set[int] | None = None
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
        self._native_before = _native_threads()
        holder = SocketHolder(self._sock.detach(), False, BACKLOG)  # Granian closes it
        self._sock = None
        self._signal = WorkerSignal()
        self._signal.add_cb(self._drained.set)  # called once the last request has finished
        handler = self._handler = Handler(self._app, self._max_body)
        loop = _InlineLoop()
        # As granian/server/mt.py passes them: worker id, (listener spec, socket), IPC,
        # Rust I/O threads, Rust blocking threads, Python threads, their idle timeout (s),
        # backpressure (requests queued for Python), HTTP/1 only, HTTP/1 and /2 settings,
        # no websockets, no static files, then TLS and metrics.
        worker = RSGIWorker(
            1, (None, holder), None, RUNTIME_THREADS, 512, self._threads, 30, BACKLOG,
            "1", HTTP1Settings(), None, False, None,
            False, None, None, None, "tls1.3", None, [], False,  # no TLS
            (None, None),  # no metrics
        )
        worker.serve_mtr(_Scheduler(loop, handler, None, _unused, _unused), loop, self._signal)

    def stop(self) -> None:
        """Stop accepting, answer bodies still awaited (503), let in-flight requests finish,
        close every socket."""
        if self._sock is not None:  # bound, never started
            self._sock.close()
            self._sock = None
        if self._signal is None:
            return
        self._signal.set()
        if self._handler is not None:
            self._handler.deadlines.stop()
            self._handler = None
        self._drained.wait(DRAIN_SECONDS)
        self._signal = None
        _await_native_exit(self._native_before)


def _native_threads() -> set[int] | None:
    """This process's OS threads (Linux), or None where they cannot be listed."""
    try:
        return {int(tid) for tid in os.listdir("/proc/self/task")}
    except OSError:
        return None


def _await_native_exit(before: set[int] | None, timeout: float = 1.0) -> None:
    """Wait (briefly) until the threads Granian started have ended: one still ending when
    the interpreter shuts down aborts the process (a Rust panic that cannot unwind)."""
    if before is None:
        time.sleep(0.05)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        python = {t.native_id for t in threading.enumerate()}
        if not (_native_threads() or set()) - before - python:
            return
        time.sleep(0.001)
