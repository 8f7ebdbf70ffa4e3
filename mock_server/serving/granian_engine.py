"""The mock on Granian (a Rust HTTP server): the CLI's default, about three times waitress's
throughput on this app.

Granian's own `Granian(...).serve()` runs the app in worker *processes*; the mock's state
(the store, the realtime stand-in, webhook deliveries) must stay in one process, with the
banner and the state file, so this engine drives one of Granian's workers the way its
threaded server does, in this process. Granian's worker API is internal, hence the pinned
minor version in pyproject.toml.

It is Granian's RSGI worker (its native asynchronous interface), not its WSGI one: there a
request body is read by blocking the app's thread until the client sends it, with no time
limit, and a read cannot be abandoned, so one client that sent its headers and stalled its
body held the mock (one app thread) for as long as it kept the connection. Here the body is
awaited on an event loop before the app runs: a stalled body holds nothing, and one that has
not arrived within `BODY_DEADLINE_S` is answered 408 in the API's error shape (the app never
sees the request, so it changes nothing). The app itself (WSGI: Flask) then runs on the
loop's thread, or on a pool of `threads` threads when more than one is asked for, with the
whole body in memory (bodies over the limit are not read: the app answers 413).

Differences from waitress, by design of Granian's HTTP engine (hyper): a request that is
not valid HTTP/1.1 (control characters in a header value, a header without a colon, a
non-numeric Content-Length, a garbage request line) is refused by hyper with a bodyless
`400` and a closed connection before any Python runs, so it cannot carry the JSON error
body; every request that *is* HTTP gets the API's JSON errors as on waitress.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import socket
import sys
import threading
import time
from asyncio.tasks import _enter_task, _leave_task
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
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
    """The WSGI environ of an RSGI request scope (the body is added by the caller)."""
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


async def _collect(proto: Any, chunked: bool, limit: int) -> bytes:
    """The whole body; a chunked one only up to one byte over the limit (the app then
    answers 413)."""
    if not chunked:
        return await proto()
    parts, size = [], 0
    async for chunk in proto:
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(parts)


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


class Handler:
    """Every request reaches `schedule` on Granian's Python thread. One without a body is
    answered there and then, as Granian's WSGI worker would (no event loop involved). One
    with a body is handed to the event loop, which awaits the body with its deadline and
    then calls the app. With one app thread (`threads=1`) a lock keeps the app to one call
    at a time, wherever it runs. At stop, every body still awaited is answered 503."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop, limit: int,
                 pool: ThreadPoolExecutor | None = None) -> None:
        self._run, self._loop, self._limit, self._pool = _runner(app), loop, limit, pool
        self._one_at_a_time = threading.Lock() if pool is None else contextlib.nullcontext()
        self._call_soon = loop.call_soon_threadsafe
        self._awaiting: set[asyncio.Task[None]] = set()
        self._stopping = False

    def schedule(self, watcher: Any) -> None:
        """Granian's callback. It must return None: Granian drops no reference to what it
        returns (a Handle would keep the watcher, its request and Granian's runtime alive)."""
        try:
            environ = environ_of(watcher.scope)
            chunked = self._announced_body(environ)
            if chunked is not None:
                self._call_soon(self._await_body, watcher, environ, chunked)
                return
            environ["wsgi.input"] = io.BytesIO()
            with self._one_at_a_time:
                answer = self._run(environ)
            watcher.proto.response_bytes(*answer)
        except BaseException as exc:  # Granian answers 500 and logs it
            watcher.err(exc)
            return
        watcher.done()

    def stop(self) -> None:
        """Answer every body still awaited (in the loop's thread)."""
        self._stopping = True
        for task in list(self._awaiting):
            task.cancel()

    def _announced_body(self, environ: dict[str, Any]) -> bool | None:
        """None: nothing to read first (no body, or one over the limit: the app answers
        413 without reading it); else whether the body is chunked."""
        length = environ.get("CONTENT_LENGTH")
        if length is None:
            return True if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() \
                else None
        return False if length.isdigit() and 0 < int(length) <= self._limit else None

    def _await_body(self, watcher: Any, environ: dict[str, Any], chunked: bool) -> None:
        watcher.taskref(self._loop.create_task(self._with_body(watcher, environ, chunked)))

    async def _with_body(self, watcher: Any, environ: dict[str, Any], chunked: bool) -> None:
        try:
            body = await self._body(watcher.proto, environ, chunked)
            if body is not None:
                environ["wsgi.input"] = io.BytesIO(body)
                if self._pool is None:
                    with self._one_at_a_time:
                        answer = self._run(environ)
                else:
                    answer = await self._loop.run_in_executor(self._pool, self._run, environ)
                watcher.proto.response_bytes(*answer)
        except BaseException as exc:
            watcher.err(exc)
            return
        watcher.done()

    async def _body(self, proto: Any, environ: dict[str, Any], chunked: bool) -> bytes | None:
        """The body, its length set in the environ; None once answered instead (408 late,
        503 at stop, 400 cut short)."""
        task = asyncio.current_task()
        assert task is not None
        timer = self._loop.call_later(BODY_DEADLINE_S, task.cancel)
        self._awaiting.add(task)
        try:
            body = await _collect(proto, chunked, self._limit)
        except asyncio.CancelledError:
            if self._stopping:
                error(proto, 503, "unavailable", "The mock is stopping.")
            else:
                error(proto, 408, "request_timeout",
                      f"The request body did not arrive within {BODY_DEADLINE_S:g} s.")
            return None
        except Exception:  # the client went away mid-body
            body = None
        finally:
            timer.cancel()
            self._awaiting.discard(task)
        if body is None or (not chunked and len(body) != int(environ["CONTENT_LENGTH"])):
            error(proto, 400, "invalid_request", "The request body ended before its announced "
                  "Content-Length.")
            return None
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return body


class _Scheduler(CallbackScheduler):
    """What Granian calls for each request, from its Python thread(s)."""

    __slots__ = ()

    def __init__(self, loop: asyncio.AbstractEventLoop, handler: Handler, *_: Any) -> None:
        super().__init__()
        self._schedule_fn = handler.schedule


def _scheduler(loop: asyncio.AbstractEventLoop, handler: Handler) -> _Scheduler:
    # As granian._futures._new_cbscheduler builds its own (no task of its own kind).
    return _Scheduler(loop, handler, None, partial(_enter_task, loop),
                      partial(_leave_task, loop))


class GranianEngine:
    """Granian serving one WSGI app in this process, from an event loop of its own."""

    name = "granian"

    def __init__(self, app: Any, host: str, port: int, threads: int, max_body: int) -> None:
        self._app, self._host, self._port, self._threads = app, host, port, threads
        self._max_body = max_body
        self._sock: socket.socket | None = None
        self._signal: Any = None
        self._drained = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
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
        """Serve from Granian's threads and a loop thread; returns once serving."""
        assert self._sock is not None, "bind() first"
        self._native_before = _native_threads()
        holder = SocketHolder(self._sock.detach(), False, BACKLOG)  # Granian closes it
        self._sock = None
        self._signal = WorkerSignal()
        self._signal.add_cb(self._drained.set)  # called once the last request has finished
        loop = self._loop = asyncio.new_event_loop()
        if self._threads > 1:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="envoy-events-app")
        handler = self._handler = Handler(self._app, loop, self._max_body, self._pool)
        # As granian/server/mt.py passes them: worker id, (listener spec, socket), IPC,
        # Rust I/O threads, Rust blocking threads, Python threads (they run the app for
        # requests without a body), their idle timeout (s), backpressure (requests queued
        # for Python), HTTP/1 only, HTTP/1 and /2 settings, no websockets, no static files,
        # then TLS and metrics.
        worker = RSGIWorker(
            1, (None, holder), None, RUNTIME_THREADS, 512, self._threads, 30, BACKLOG,
            "1", HTTP1Settings(), None, False, None,
            False, None, None, None, "tls1.3", None, [], False,  # no TLS
            (None, None),  # no metrics
        )
        worker.serve_mtr(_scheduler(loop, handler), loop, self._signal)
        serving = threading.Event()

        def run_loop() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(serving.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run_loop, name="envoy-events-loop", daemon=True)
        self._thread.start()
        serving.wait()

    def stop(self) -> None:
        """Stop accepting, let in-flight requests finish, close every socket."""
        if self._sock is not None:  # bound, never started
            self._sock.close()
            self._sock = None
        if self._signal is None:
            return
        self._signal.set()
        if self._loop is not None and self._handler is not None:  # no wait for late bodies
            self._loop.call_soon_threadsafe(self._handler.stop)
        self._drained.wait(DRAIN_SECONDS)
        self._signal = None
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            # Stopped, never closed: a connection still open (a body that never came) may
            # yet wake the loop from Granian's threads, which must not find it closed.
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            if not thread.is_alive():
                loop.close()
        self._loop = self._thread = self._handler = None
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
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
