"""The webhook sink of the event bus: queue, deliver, retry, record.

Every published event of a provisioned organisation becomes one `Delivery` per endpoint that
wants its type. Worker threads send them (the API answer never waits on a receiver), signed
with `standardwebhooks`; a non-2xx answer, a timeout or a refused connection is retried on
the configured schedule, with the same `webhook-id` each time. Every attempt is recorded.
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ...state.store import Store
from .endpoints import derived_secret, url_problem

#: Delays before each attempt, in seconds: short enough for tests by default.
DEFAULT_SCHEDULE = (0.0, 1.0, 5.0)
#: Svix's real schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
SVIX_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
#: Delivery threads. They share the interpreter with the API: two keep up with a 1,000-event
#: burst to 3 endpoints while the API's p99 stays within ~1.5x (benchmarks/webhooks_burst.py).
WORKERS = 2
FAULT_KINDS = ("bad_signature", "old_timestamp", "duplicate", "delay")
OLD_TIMESTAMP_S = 600  # outside the ±5 minutes a Standard Webhooks verifier accepts


def parse_schedule(text: str) -> tuple[float, ...]:
    """`0,1,5` (seconds before each attempt) or `svix`; ValueError for anything else."""
    if text.strip().lower() == "svix":
        return SVIX_SCHEDULE
    delays = tuple(float(part) for part in text.split(","))
    if not delays or any(not 0 <= d < float("inf") for d in delays):
        raise ValueError("the schedule must be comma-separated seconds >= 0, e.g. 0,1,5")
    return delays


@dataclass
class Attempt:
    number: int
    time: str
    status_code: int | None
    latency_ms: float
    error: str | None = None
    fault: str | None = None


@dataclass
class Delivery:
    id: str
    event: dict[str, Any]
    endpoint_id: str
    url: str
    secret: str = field(repr=False)
    status: str = "pending"  # pending, delivered, failed, cancelled, blocked, abandoned
    attempts: list[Attempt] = field(default_factory=list)
    next_attempt_at: str | None = None
    scheduled: int = 0  # attempts of the schedule used so far

    @property
    def organisation(self) -> str:
        return self.event["organisation"]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "webhook_id": self.event["id"], "event_id": self.event["id"],
                "event_type": self.event["type"], "organisation": self.organisation,
                "endpoint_id": self.endpoint_id, "url": self.url, "status": self.status,
                "next_attempt_at": self.next_attempt_at,
                "attempts": [vars(a) for a in self.attempts]}


@dataclass
class Fault:
    kind: str
    times: int
    delay_ms: int = 0
    event_type: str | None = None


class WebhookDispatcher:
    """Sink of the event bus; owns the delivery log and the worker threads."""

    name = "webhooks"

    def __init__(self, store: Store, seed: str, schedule: tuple[float, ...] = DEFAULT_SCHEDULE,
                 allowed_hosts: tuple[str, ...] = (), timeout_s: float = 5.0) -> None:
        self._store = store
        self._seed = seed
        self.schedule = schedule
        self.allowed_hosts = allowed_hosts
        self.timeout_s = timeout_s
        self._lock = threading.Condition()
        self._deliveries: dict[str, Delivery] = {}
        self._queue: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._serial = 0
        self._faults: list[Fault] = []
        self._failing: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._http: Any = None  # a requests.Session, made by the first delivery

    # -- the sink -----------------------------------------------------------------------
    def publish(self, event: dict[str, Any], channel: str) -> dict[str, Any]:
        org = self._store.organisation(event["organisation"])
        endpoints = [e for e in (org.webhook_endpoints if org else []) if e.wants(event["type"])]
        ids = []
        with self._lock:
            for endpoint in endpoints:
                self._serial += 1
                delivery = Delivery(f"dlv_{self._serial:08d}", event, endpoint.id, endpoint.url,
                                    endpoint.secret or derived_secret(self._seed, endpoint.id))
                self._deliveries[delivery.id] = delivery
                ids.append(delivery.id)
                problem = url_problem(endpoint.url, self.allowed_hosts)
                if problem:
                    delivery.status = "blocked"
                    delivery.attempts.append(Attempt(0, _now(), None, 0.0, problem))
                    continue
                self._schedule(delivery)
            self._start_workers()
        return {"deliveries": ids}

    def organisation_off(self, org_id: str, user_ids: list[str]) -> None:
        """Deprovisioned: every pending delivery of the organisation is cancelled."""
        self._cancel(lambda d: d.organisation == org_id)

    def endpoint_off(self, endpoint_id: str) -> None:
        """The endpoint was deleted: its pending deliveries (queued retries) are cancelled."""
        self._cancel(lambda d: d.endpoint_id == endpoint_id)

    def _cancel(self, which: Callable[[Delivery], bool]) -> None:
        with self._lock:
            for delivery in self._deliveries.values():
                if delivery.status == "pending" and which(delivery):
                    delivery.status = "cancelled"
                    delivery.next_attempt_at = None

    def reset(self) -> None:
        with self._lock:
            self._deliveries.clear()
            self._queue.clear()
            self._faults.clear()
            self._failing.clear()
            self._serial = 0

    # -- control API ----------------------------------------------------------------------
    def deliveries(self, **filters: str | None) -> list[dict[str, Any]]:
        keys = {"organisation": "organisation", "endpoint": "endpoint_id", "event": "event_id",
                "status": "status", "event_type": "event_type"}
        with self._lock:
            rows = [d.as_json() for d in self._deliveries.values()]
        return [row for row in rows
                if all(value is None or row[keys[name]] == value
                       for name, value in filters.items())]

    def retry(self, delivery_id: str) -> dict[str, Any] | None:
        """Send one delivery again now (same webhook-id); None when there is no such one,
        ValueError when its endpoint is gone."""
        with self._lock:
            delivery = self._deliveries.get(delivery_id)
            if delivery is None:
                return None
            org = self._store.organisation(delivery.organisation)
            if org is None or not any(e.id == delivery.endpoint_id for e in org.webhook_endpoints):
                raise ValueError(f"the endpoint {delivery.endpoint_id} of {delivery_id} is gone "
                                 "(deleted, or the organisation was deprovisioned)")
            problem = url_problem(delivery.url, self.allowed_hosts)
            if problem:
                raise ValueError(f"{delivery_id} is not sent: {problem}")
            delivery.status = "pending"
            delivery.scheduled = len(self.schedule)  # one more attempt, now, and no retries
            self._push(delivery, 0.0)
            self._start_workers()
            return delivery.as_json()

    def arm(self, kind: str, times: int = 1, delay_ms: int = 0,
            event_type: str | None = None) -> None:
        with self._lock:
            self._faults.append(Fault(kind, times, delay_ms, event_type))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def failing(self, endpoint_id: str) -> bool:
        return endpoint_id in self._failing

    def stop(self, wait_s: float = 5.0) -> None:
        """Let in-flight attempts finish, record every attempt still scheduled as abandoned."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout=wait_s)
        with self._lock:
            for _, _, delivery_id in self._queue:
                delivery = self._deliveries[delivery_id]
                if delivery.status == "pending":
                    delivery.status = "abandoned"
                    delivery.attempts.append(Attempt(
                        delivery.scheduled + 1, _now(), None, 0.0,
                        f"the mock stopped before this attempt (due {delivery.next_attempt_at})"))
            self._queue.clear()
            self._threads.clear()
            self._stopping = False

    # -- inside ---------------------------------------------------------------------------
    def _schedule(self, delivery: Delivery) -> None:
        """Queue the next attempt of the schedule, or mark the delivery failed (lock held)."""
        if delivery.scheduled >= len(self.schedule):
            delivery.status = "failed"
            delivery.next_attempt_at = None
            self._failing.add(delivery.endpoint_id)
            return
        self._push(delivery, self.schedule[delivery.scheduled])
        delivery.scheduled += 1

    def _push(self, delivery: Delivery, delay_s: float) -> None:
        due = time.monotonic() + delay_s
        delivery.next_attempt_at = _now(delay_s)
        heapq.heappush(self._queue, (due, next(self._order), delivery.id))
        self._lock.notify()

    def _start_workers(self) -> None:
        if self._threads:
            return
        for n in range(WORKERS):
            thread = threading.Thread(target=self._work, name=f"webhook-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _next(self) -> tuple[Delivery, Fault | None] | None:
        """The next due delivery (waiting for it), or None when stopping."""
        with self._lock:
            while not self._stopping:
                if self._queue and self._queue[0][0] <= time.monotonic():
                    _, _, delivery_id = heapq.heappop(self._queue)
                    delivery = self._deliveries.get(delivery_id)
                    if delivery is None or delivery.status != "pending":
                        continue  # cancelled or forgotten by a reset
                    delivery.next_attempt_at = None
                    return delivery, self._take_fault(delivery)
                wait = self._queue[0][0] - time.monotonic() if self._queue else None
                self._lock.wait(timeout=wait)
            return None

    def _take_fault(self, delivery: Delivery) -> Fault | None:
        for fault in self._faults:
            if fault.event_type in (None, delivery.event["type"]):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _work(self) -> None:
        while (job := self._next()) is not None:
            delivery, fault = job
            if not self._endpoint_exists(delivery):
                with self._lock:  # gone since it was queued (a snapshot put back, ...)
                    delivery.status = "cancelled"
                continue
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.delay_ms / 1000)
            attempt = self._send(delivery, fault)
            copies = [attempt]
            if fault is not None and fault.kind == "duplicate":
                copies.append(self._send(delivery, fault))
            with self._lock:
                for copy in copies:
                    copy.number = len(delivery.attempts) + 1
                    delivery.attempts.append(copy)
                if delivery.status != "pending":
                    continue  # cancelled while in flight: recorded, nothing more
                if attempt.status_code is not None and 200 <= attempt.status_code < 300:
                    delivery.status = "delivered"
                    self._failing.discard(delivery.endpoint_id)
                else:
                    self._schedule(delivery)

    def _endpoint_exists(self, delivery: Delivery) -> bool:
        org = self._store.organisation(delivery.organisation)
        return org is not None and any(e.id == delivery.endpoint_id and e.url == delivery.url
                                       for e in org.webhook_endpoints)

    def _send(self, delivery: Delivery, fault: Fault | None) -> Attempt:
        """One POST; its number is set when it is recorded."""
        # Imported by the first delivery, not at start: most runs of the mock deliver none.
        import requests
        from standardwebhooks import Webhook

        with self._lock:
            if self._http is None:
                self._http = requests.Session()
        body = json.dumps(delivery.event, separators=(",", ":"))
        sent_at = datetime.now(UTC)  # receivers check it against their real clock
        if fault is not None and fault.kind == "old_timestamp":
            sent_at -= timedelta(seconds=OLD_TIMESTAMP_S)
        secret = delivery.secret
        if fault is not None and fault.kind == "bad_signature":
            secret = derived_secret(self._seed + ":wrong", delivery.endpoint_id)
        msg_id = delivery.event["id"]
        headers = {
            "content-type": "application/json",
            "user-agent": "envoy-events-kit-mock",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, sent_at, body),
        }
        began = time.perf_counter()
        status, error = None, None
        try:
            response = self._http.post(delivery.url, data=body.encode(), headers=headers,
                                       timeout=self.timeout_s, allow_redirects=False)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"the endpoint answered {status}"
        except requests.Timeout:
            error = f"no answer within {self.timeout_s:g} s"
        except requests.ConnectionError as exc:
            error = f"connection failed: {type(exc).__name__}"
        latency = round((time.perf_counter() - began) * 1000, 2)
        return Attempt(0, _now(), status, latency, error, fault.kind if fault else None)


def _now(plus_s: float = 0.0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=plus_s)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
