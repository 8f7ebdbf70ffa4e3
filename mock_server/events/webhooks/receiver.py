"""A webhook receiver for tests: a local HTTP server that verifies every delivery with
`standardwebhooks`, records it, and answers what the test scripted.

It verifies the way a careful receiver does, and answers 400 to a delivery that fails
verification, so a test sees the mock retry it, and sees that the mock's "bad signature" and
"old timestamp" faults really are wrong.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    error: str | None
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


class WebhookReceiver:
    """`start()`, `stop()`, `url`; `secret` must be set to the endpoint's to verify."""

    def __init__(self, secret: str | None = None, host: str = "127.0.0.1") -> None:
        self.secret = secret
        #: The mock's id for this endpoint, when registered through `EventsMock`.
        self.endpoint_id: str | None = None
        self.received: list[Received] = []
        self._script: deque[tuple[int, float]] = deque()
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                receiver._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/webhooks/envoy"

    def start(self) -> WebhookReceiver:
        """Serve in the background; once (`with mock.webhook_receiver() as r` enters a
        receiver that is already started)."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def respond_with(self, status: int, times: int = 1, delay_s: float = 0.0) -> None:
        """The next `times` verified deliveries get `status` (after `delay_s`); then 204."""
        with self._lock:
            self._script.extend([(status, delay_s)] * times)

    def deliveries(self, type: str | None = None, verified: bool | None = True) -> list[Received]:
        """What arrived (by default: only what verified), optionally of one event type."""
        with self._lock:
            rows = list(self.received)
        return [r for r in rows if (verified is None or r.verified is verified)
                and (type is None or r.event.get("type") == type)]

    def wait_for(self, count: int, timeout: float = 5.0, verified: bool | None = True,
                 ) -> list[Received]:
        """Block until `count` deliveries arrived (or the timeout); returns them all."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._matching(verified)) < count and time.monotonic() < deadline:
                self._lock.wait(timeout=max(0.0, deadline - time.monotonic()))
            return self._matching(verified)

    def assert_delivered(self, type: str | None = None, times: int | None = None,
                         timeout: float = 5.0, settle_s: float = 0.3) -> list[Received]:
        """In the style of `assert_called`: `type` arrived, verified, exactly `times` times
        (at least once when `times` is None), waiting up to `timeout` for it and `settle_s`
        more for any extra copy."""
        wanted = 1 if times is None else times
        deadline = time.monotonic() + timeout
        while len(self.deliveries(type)) < wanted and time.monotonic() < deadline:
            self.wait_for(len(self.received) + 1, timeout=deadline - time.monotonic(),
                          verified=None)
        if times is not None:
            time.sleep(settle_s)
        got = self.deliveries(type)
        if len(got) < wanted or (times is not None and len(got) != times):
            seen = [(r.event.get("type"), r.verified, r.error) for r in self.received]
            raise AssertionError(
                f"expected {type or 'any event'} delivered and verified "
                f"{'at least once' if times is None else f'{times} time(s)'}; got {len(got)} "
                f"(every request: {seen})")
        return got

    def _matching(self, verified: bool | None) -> list[Received]:
        return [r for r in self.received if verified is None or r.verified is verified]

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("content-length") or 0)
        body = request.rfile.read(length)
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified, error = False, None
        if self.secret is None:
            error = "no secret set on the receiver"
        else:
            try:
                Webhook(self.secret).verify(body, headers)
                verified = True
            except Exception as exc:  # standardwebhooks raises several kinds
                error = f"{type(exc).__name__}: {exc}"
        status, delay_s = 400, 0.0
        if verified:
            with self._lock:
                status, delay_s = self._script.popleft() if self._script else (204, 0.0)
        if delay_s:
            time.sleep(delay_s)
        with self._lock:
            self.received.append(Received(request.path, headers, body, verified, error, status))
            self._lock.notify_all()
        request.send_response(status)
        if status in (301, 302, 307, 308):
            request.send_header("Location", "/redirected")
        request.send_header("Content-Length", "0")
        request.end_headers()
