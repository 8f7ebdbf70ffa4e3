"""SIGTERM and Ctrl-C caught from the first moment `envoy-events mock` runs, not only once it
serves: a stop asked for while it imports, builds the app, binds or starts Centrifugo is
honoured as soon as that step ends, and the process still exits 0 with its one-line goodbye.

Kept out of `mock_server` on purpose: importing that package loads Flask, the specs and
the engines (most of the start-up time), and the handlers must be in place before.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
    """An event set by the first SIGTERM or SIGINT once `install()`ed; `restore()` puts the
    previous handlers back, so a second Ctrl-C while stopping interrupts (KeyboardInterrupt)
    and a second SIGTERM kills, as people expect of a stop that takes too long."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous: dict[int, Any] = {}

    def install(self) -> StopRequest:
        """Catch the stop signals (main thread only; a second call does nothing)."""
        if not self._previous:
            self._previous = {sig: signal.signal(sig, self._caught) for sig in SIGNALS}
        return self

    def restore(self) -> None:
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def _caught(self, signum: int, frame: Any) -> None:
        self.event.set()
