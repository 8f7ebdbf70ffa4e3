"""What the mock was asked (the journal) and what it was told to get wrong (faults)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from envoy_events_kit.instants import format_instant


class Entry(NamedTuple):
    """One request: plain values only. The journal keeps them as bare tuples, which the
    garbage collector stops tracking, so a full journal adds nothing to each GC pass.
    """

    method: str
    path: str
    operation_id: str | None
    status: int
    time: datetime  # formatted when the journal is read, not on every request
    authorization: str | None  # scheme only: tokens never enter the journal
    principal: str | None = None  # the accepted token's principal (name or user id)


def redact(authorization: str | None) -> str | None:
    """Keep the scheme, drop the credential."""
    if not authorization:
        return None
    scheme = authorization.strip().split(" ", 1)[0]
    return f"{scheme[:20]} [redacted]"


#: Longest path a journal entry keeps: with at most `size` entries, the journal is bounded.
MAX_PATH = 2048


class Journal:
    """A bounded, thread-safe log of requests, oldest first: at most `size` entries, the
    oldest dropped first and counted in `dropped`."""

    def __init__(self, size: int) -> None:
        self._entries: deque[tuple] = deque(maxlen=size)
        self._lock = threading.Lock()
        #: Entries dropped to stay within `size` since the last `clear()`.
        self.dropped = 0

    def record(self, entry: Entry) -> None:
        if len(entry[1]) > MAX_PATH:
            entry = entry._replace(path=entry[1][:MAX_PATH] + "...")
        with self._lock:
            if len(self._entries) == self._entries.maxlen:
                self.dropped += 1
            self._entries.append(tuple(entry))

    def entries(self, operation_id: str | None = None, status: int | None = None,
                principal: str | None = None, limit: int | None = None) -> list[dict]:
        """Oldest first; only those that match every filter given, the newest `limit`
        (searched from the newest end: a page polling a full journal reads what it shows)."""
        filtered = operation_id is not None or status is not None or principal is not None
        entries: list[tuple] = []
        with self._lock:
            if not filtered and limit is None:
                entries = list(self._entries)
            else:
                for e in reversed(self._entries):
                    if ((operation_id is None or e[2] == operation_id)
                            and (status is None or e[3] == status)
                            and (principal is None or e[6] == principal)):
                        entries.append(e)
                        if limit is not None and len(entries) >= limit:
                            break
                entries.reverse()
        return [Entry(*entry)._replace(time=format_instant(entry[4]))._asdict()
                for entry in entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.dropped = 0


@dataclass
class Fault:
    status: int | None
    latency_ms: int
    remaining: int


class Faults:
    """Per-operation faults that fire for the next N calls, then disarm."""

    def __init__(self) -> None:
        self._armed: dict[str, Fault] = {}
        self._lock = threading.Lock()

    def arm(self, operation_id: str, status: int | None, latency_ms: int, times: int) -> None:
        with self._lock:
            self._armed[operation_id] = Fault(status, latency_ms, times)

    def armed(self) -> bool:
        """Whether any fault waits (a lock-free glance: the hot path's usual answer is no)."""
        return bool(self._armed)

    def take(self, operation_id: str) -> Fault | None:
        """The fault for this call, counting it down; None when nothing is armed."""
        if not self._armed:
            return None
        with self._lock:
            fault = self._armed.get(operation_id)
            if fault is None:
                return None
            fault.remaining -= 1
            if fault.remaining <= 0:
                del self._armed[operation_id]
            return Fault(fault.status, fault.latency_ms, fault.remaining)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def listing(self) -> list[dict]:
        """The faults still armed, by operation."""
        with self._lock:
            return [{"operation_id": op, "status": f.status, "latency_ms": f.latency_ms,
                     "remaining": f.remaining} for op, f in sorted(self._armed.items())]
