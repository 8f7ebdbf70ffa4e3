"""The suite's HTTP client: a requests Session that keeps to a rate and a timeout.

Against a shared staging deployment the suite must not flood the service, and a request
that hangs must fail the test instead of the CI job.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import requests

DEFAULT_RATE = "10/s"
DEFAULT_TIMEOUT = 10.0
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(text: str) -> float:
    """Requests per second from `10/s`, `600/m`, `5` (per second); 0 means unlimited."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*([smh]))?\s*", text or "")
    if not match:
        raise ValueError(f"rate limit {text!r} is not like 10/s, 600/m or 5")
    return float(match.group(1)) / _UNITS[match.group(2) or "s"]


class ThrottledSession(requests.Session):
    """At most `rate` requests per second (0: no limit), each with a default timeout."""

    def __init__(self, rate: float = 0.0, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.timeout = timeout
        self._lock = threading.Lock()
        self._next = 0.0
        self.sent = 0
        #: (method, path, status) -> how many answers: which documented statuses were seen.
        self.observed: Counter[tuple[str, str, int]] = Counter()

    def pace(self) -> None:
        """Wait for the next turn and count it: every request of this session does, and so
        does a connection made outside it (a realtime WebSocket) to the same target."""
        with self._lock:
            self.sent += 1
            if not self.interval:
                return
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)

    def request(self, method: str | bytes, url: str | bytes, *args: Any,
                **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        if kwargs["timeout"] is None:
            kwargs["timeout"] = self.timeout
        self.pace()
        response = super().request(method, url, *args, **kwargs)
        if isinstance(response, requests.Response):
            self._observe(response)
        return response

    def _observe(self, response: requests.Response) -> None:
        with self._lock:
            self.observed[(str(response.request.method), urlsplit(response.url).path,
                           response.status_code)] += 1
