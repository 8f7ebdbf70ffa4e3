"""The published-events list behind `GET /__mock__/events`: bounded, oldest dropped, counted.

A mock left running with a looping scenario, or fed big events, must not grow without
bound: the list keeps at most `max_events` events and `max_bytes` of their JSON. When either
is exceeded the oldest go first, and `dropped` says how many went since the last reset.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any

#: Defaults (Settings.events_log_size / events_log_bytes): 10,000 events, 16 MiB of JSON.
MAX_EVENTS = 10_000
MAX_BYTES = 16 * 1024 * 1024


class EventLog:
    """Thread-safe; each entry is kept with the size of its compact JSON."""

    def __init__(self, max_events: int = MAX_EVENTS, max_bytes: int = MAX_BYTES) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._entries: deque[tuple[dict[str, Any], int]] = deque()
        self._bytes = 0
        self._dropped = 0
        self._lock = threading.Lock()

    def append(self, entry: dict[str, Any]) -> None:
        """Keep `entry`; drop the oldest while over either cap (the newest always stays)."""
        size = len(json.dumps(entry, separators=(",", ":")))
        with self._lock:
            self._entries.append((entry, size))
            self._bytes += size
            while len(self._entries) > 1 and (len(self._entries) > self.max_events
                                              or self._bytes > self.max_bytes):
                _, gone = self._entries.popleft()
                self._bytes -= gone
                self._dropped += 1

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [entry for entry, _ in self._entries]

    @property
    def dropped(self) -> int:
        """Events dropped to stay within the caps since the last `clear()`."""
        return self._dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = self._dropped = 0
