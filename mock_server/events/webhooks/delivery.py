"""The webhook sink of the event bus: queue, deliver, retry, record.

Every published event of a provisioned organisation becomes one `Delivery` per endpoint that
wants its type. Worker threads send them (the API answer never waits on a receiver), signed
with `standardwebhooks`; a non-2xx answer, a timeout or a refused connection is retried on
the configured schedule, with the same `webhook-id` each time. Every attempt is recorded.

Retries are due on the mock's clock: frozen, it holds them until the clock is moved
(`PUT /__mock__/clock`), so a test sees a 5-minute retry by moving time 5 minutes. Whatever
one delivery does (a secret that cannot sign, a receiver that misbehaves), the worker records
the attempt as failed and carries on. The log is bounded: the oldest completed deliveries
make room; pending ones are never dropped.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ...api.tokens import Clock
from ...state.store import Store
from . import transport
from .endpoints import derived_secret
from .targets import Blocked, Policy, parse

#: Delays before each attempt, in seconds: short enough for tests by default.
DEFAULT_SCHEDULE = (0.0, 1.0, 5.0)
#: Svix's real schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
SVIX_SCHEDULE = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
#: Delivery threads. They share the interpreter with the API: two keep up with a 1,000-event
#: burst to 3 endpoints while the API's p99 stays within ~1.5x (benchmarks/webhooks_burst.py).
WORKERS = 2
FAULT_KINDS = ("bad_signature", "old_timestamp", "duplicate", "delay")
OLD_TIMESTAMP_S = 600  # outside the ±5 minutes a Standard Webhooks verifier accepts
#: The delivery log's bounds: deliveries, and bytes of their bodies (a body shared by the
#: deliveries of one event counts once per delivery). The oldest completed ones make room.
LOG_SIZE = 10_000
LOG_BYTES = 64 * 1024 * 1024
STATUSES = ("pending", "delivered", "failed", "cancelled", "blocked", "abandoned")


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
    #: Bytes of the answer's body read (at most `transport.MAX_ANSWER_BYTES`), and whether
    #: there was more; None when there was no answer.
    response_bytes: int | None = None
    response_truncated: bool = False


@dataclass
class Delivery:
    id: str
    event_id: str
    event_type: str
    organisation: str
    body: bytes = field(repr=False)  # the event, as sent (shared by its deliveries)
    endpoint_id: str
    url: str
    secret: str = field(repr=False)
    status: str = "pending"
    attempts: list[Attempt] = field(default_factory=list)
    next_attempt_at: str | None = None
    scheduled: int = 0  # attempts of the schedule used so far

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "webhook_id": self.event_id, "event_id": self.event_id,
                "event_type": self.event_type, "organisation": self.organisation,
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
                 allowed_hosts: tuple[str, ...] = (), timeout_s: float = 5.0,
                 clock: Clock | None = None, log_size: int = LOG_SIZE,
                 log_bytes: int = LOG_BYTES) -> None:
        self._store = store
        self._seed = seed
        self.schedule = schedule
        self.policy = Policy(allowed_hosts)
        self.timeout_s = timeout_s
        self.log_size = log_size
        self.log_bytes = log_bytes
        self._clock = clock if clock is not None else Clock()
        self._lock = threading.Condition()
        self._clock.add_listener(self._clock_moved)
        self._deliveries: dict[str, Delivery] = {}
        self._completed: OrderedDict[str, None] = OrderedDict()  # oldest completed first
        self._body_bytes = 0
        self._dropped = 0
        self._refused = 0
        self._errors = 0
        self._restarts = 0
        self._queue: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._serial = 0
        self._faults: list[Fault] = []
        self._failing: set[str] = set()
        self._threads: list[threading.Thread] = []
        self._in_flight: dict[threading.Thread, Delivery] = {}
        self._stopping = False

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        return self.policy.allowed_hosts

    def serving_at(self, host: str, port: int) -> None:
        """The mock listens there: no delivery may go to it."""
        self.policy.serving_at(host, port)

    # -- the sink -----------------------------------------------------------------------
    def publish(self, event: dict[str, Any], channel: str) -> dict[str, Any]:
        org = self._store.organisation(event["organisation"])
        endpoints = [e for e in (org.webhook_endpoints if org else []) if e.wants(event["type"])]
        ids: list[str] = []
        if not endpoints:
            return {"deliveries": ids}
        body = json.dumps(event, separators=(",", ":")).encode()
        refused = 0
        with self._lock:
            for endpoint in endpoints:
                if not self._make_room(len(body)):
                    refused += 1
                    continue
                self._serial += 1
                delivery = Delivery(f"dlv_{self._serial:08d}", event["id"], event["type"],
                                    event["organisation"], body, endpoint.id, endpoint.url,
                                    endpoint.secret or derived_secret(self._seed, endpoint.id))
                self._deliveries[delivery.id] = delivery
                self._body_bytes += len(body)
                ids.append(delivery.id)
                problem = self.policy.problem(endpoint.url)
                if problem:
                    delivery.attempts.append(Attempt(0, _now(), None, 0.0, problem))
                    self._finish(delivery, "blocked")
                    continue
                self._schedule(delivery)
            self._refused += refused
            self._start_workers()
        answer: dict[str, Any] = {"deliveries": ids}
        if refused:
            answer["refused"] = refused
        return answer

    def organisation_off(self, org_id: str, user_ids: list[str]) -> None:
        """Deprovisioned: every pending delivery of the organisation is cancelled."""
        self._cancel(lambda d: d.organisation == org_id)

    def endpoints_off(self, endpoint_ids: Iterable[str]) -> None:
        """The endpoints were deleted: their pending deliveries (queued retries) are
        cancelled."""
        gone = set(endpoint_ids)
        self._cancel(lambda d: d.endpoint_id in gone)

    def _cancel(self, which: Callable[[Delivery], bool]) -> None:
        with self._lock:
            for delivery in list(self._deliveries.values()):
                if delivery.status == "pending" and which(delivery):
                    self._finish(delivery, "cancelled")

    def reset(self) -> None:
        with self._lock:
            self._deliveries.clear()
            self._completed.clear()
            self._queue.clear()
            self._faults.clear()
            self._failing.clear()
            self._serial = self._body_bytes = 0
            self._dropped = self._refused = self._errors = 0

    # -- control API ----------------------------------------------------------------------
    def deliveries(self, limit: int | None = None, **filters: str | None) -> list[dict[str, Any]]:
        """Oldest first; those matching every filter given, only the newest `limit` (found
        from the newest end, so a page polling a long log reads only what it shows)."""
        fields = {"organisation": lambda d: d.organisation, "endpoint": lambda d: d.endpoint_id,
                  "event": lambda d: d.event_id, "status": lambda d: d.status,
                  "event_type": lambda d: d.event_type}
        wanted = [(fields[name], value) for name, value in filters.items() if value is not None]
        rows: list[dict[str, Any]] = []
        with self._lock:
            for delivery in reversed(self._deliveries.values()):
                if all(field(delivery) == value for field, value in wanted):
                    rows.append(delivery.as_json())
                    if limit is not None and len(rows) >= limit:
                        break
        rows.reverse()
        return rows

    def describe(self) -> dict[str, Any]:
        """Health and bounds, for `GET /__mock__/state`."""
        with self._lock:
            pending = sum(1 for d in self._deliveries.values() if d.status == "pending")
            return {
                "workers": WORKERS,
                "workers_alive": sum(1 for t in self._threads if t.is_alive()),
                "worker_restarts": self._restarts,
                "internal_errors": self._errors,
                "pending": pending,
                "schedule": list(self.schedule),
                "attempt_timeout_s": self.timeout_s,
                "max_answer_bytes": transport.MAX_ANSWER_BYTES,
                "log": {"deliveries": len(self._deliveries), "max_deliveries": self.log_size,
                        "body_bytes": self._body_bytes, "max_body_bytes": self.log_bytes,
                        "dropped": self._dropped, "refused": self._refused},
            }

    def retry(self, delivery_id: str) -> dict[str, Any] | None:
        """Send one delivery again now (same webhook-id); None when there is no such one,
        ValueError when its endpoint is gone."""
        with self._lock:
            delivery = self._deliveries.get(delivery_id)
            if delivery is None:
                return None
            if not self._endpoint_exists(delivery):
                raise ValueError(f"the endpoint {delivery.endpoint_id} of {delivery_id} is gone "
                                 "(deleted, or the organisation was deprovisioned)")
            problem = self.policy.problem(delivery.url)
            if problem:
                raise ValueError(f"{delivery_id} is not sent: {problem}")
            self._completed.pop(delivery.id, None)
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

    def armed_faults(self) -> list[dict[str, Any]]:
        """The delivery faults still waiting, in the order they fire."""
        with self._lock:
            return [{"kind": f.kind, "remaining": f.times, "delay_ms": f.delay_ms,
                     "event_type": f.event_type} for f in self._faults]

    def failing(self, endpoint_id: str) -> bool:
        return endpoint_id in self._failing

    def pending_count(self) -> int:
        """Deliveries still pending: waiting for an attempt, or with one in flight."""
        with self._lock:
            return sum(1 for d in self._deliveries.values() if d.status == "pending")

    def stop(self, wait_s: float | None = None) -> int:
        """Let in-flight attempts finish (each ends by its deadline), record every attempt
        still scheduled as abandoned; returns how many deliveries were abandoned."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout=self.timeout_s + 1.0 if wait_s is None else wait_s)
        abandoned = 0
        with self._lock:
            for _, _, delivery_id in self._queue:
                delivery = self._deliveries.get(delivery_id)
                if delivery is not None and delivery.status == "pending":
                    delivery.attempts.append(Attempt(
                        len(delivery.attempts) + 1, _now(), None, 0.0,
                        f"the mock stopped before this attempt (due {delivery.next_attempt_at})"))
                    self._finish(delivery, "abandoned")
                    abandoned += 1
            self._queue.clear()
            self._threads.clear()
            self._stopping = False
        return abandoned

    # -- the log (lock held) --------------------------------------------------------------
    def _make_room(self, size: int) -> bool:
        """Drop the oldest completed deliveries until one more of `size` bytes fits; False
        when only pending ones are left (they are never dropped)."""
        while self._deliveries and (len(self._deliveries) >= self.log_size
                                    or self._body_bytes + size > self.log_bytes):
            if not self._completed:
                return False
            victim_id, _ = self._completed.popitem(last=False)
            victim = self._deliveries.pop(victim_id, None)
            if victim is not None:
                self._body_bytes -= len(victim.body)
                self._dropped += 1
        return True

    def _finish(self, delivery: Delivery, status: str) -> None:
        delivery.status = status
        delivery.next_attempt_at = None
        self._completed[delivery.id] = None
        self._completed.move_to_end(delivery.id)

    # -- the queue (lock held) ------------------------------------------------------------
    def _schedule(self, delivery: Delivery) -> None:
        """Queue the next attempt of the schedule, or mark the delivery failed."""
        if delivery.scheduled >= len(self.schedule):
            self._finish(delivery, "failed")
            self._failing.add(delivery.endpoint_id)
            return
        self._push(delivery, self.schedule[delivery.scheduled])
        delivery.scheduled += 1

    def _push(self, delivery: Delivery, delay_s: float) -> None:
        """Due `delay_s` from now on the mock's clock."""
        due = self._clock.now().timestamp() + delay_s
        delivery.next_attempt_at = _instant(due)
        heapq.heappush(self._queue, (due, next(self._order), delivery.id))
        self._lock.notify()

    def _clock_moved(self) -> None:
        with self._lock:
            self._lock.notify_all()

    def _start_workers(self) -> None:
        """Start the workers, or replace any that died (counted in `worker_restarts`)."""
        alive = [t for t in self._threads if t.is_alive()]
        for dead in set(self._threads) - set(alive):
            self._restarts += 1
            delivery = self._in_flight.pop(dead, None)
            if delivery is not None and delivery.status == "pending":  # its attempt ended
                delivery.attempts.append(Attempt(len(delivery.attempts) + 1, _now(), None, 0.0,
                                                 "the delivery worker stopped during this "
                                                 "attempt"))
                self._schedule(delivery)
        self._threads = alive
        while len(self._threads) < WORKERS:
            thread = threading.Thread(target=self._work, daemon=True,
                                      name=f"webhook-worker-{next(self._order)}")
            thread.start()
            self._threads.append(thread)

    def _next(self) -> tuple[Delivery, Fault | None] | None:
        """The next due delivery (waiting for it), or None when stopping."""
        with self._lock:
            while not self._stopping:
                now = self._clock.now().timestamp()
                if self._queue and self._queue[0][0] <= now:
                    _, _, delivery_id = heapq.heappop(self._queue)
                    delivery = self._deliveries.get(delivery_id)
                    if delivery is None or delivery.status != "pending":
                        continue  # cancelled, or forgotten by a reset
                    delivery.next_attempt_at = None
                    self._in_flight[threading.current_thread()] = delivery
                    return delivery, self._take_fault(delivery)
                if self._queue and self._clock.mode == "real":
                    self._lock.wait(timeout=self._queue[0][0] - now)
                else:  # nothing queued, or a frozen clock: a new delivery or a clock move
                    self._lock.wait()
            return None

    def _take_fault(self, delivery: Delivery) -> Fault | None:
        for fault in self._faults:
            if fault.event_type in (None, delivery.event_type):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # -- the workers ----------------------------------------------------------------------
    def _work(self) -> None:
        while (job := self._next()) is not None:
            delivery, fault = job
            try:
                self._attempt(delivery, fault)
            except Exception as exc:  # one delivery, whatever it does, must not stop the worker
                with self._lock:
                    self._errors += 1
                self._record(delivery, [Attempt(0, _now(), None, 0.0,
                                                _internal_error(delivery, exc))])
            with self._lock:
                self._in_flight.pop(threading.current_thread(), None)

    def _attempt(self, delivery: Delivery, fault: Fault | None) -> None:
        if not self._endpoint_exists(delivery):
            with self._lock:  # gone since it was queued (a snapshot put back, ...)
                if delivery.status == "pending":
                    self._finish(delivery, "cancelled")
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay_ms / 1000)
        try:
            attempts = [self._send(delivery, fault)]
            if fault is not None and fault.kind == "duplicate":
                attempts.append(self._send(delivery, fault))
        except Blocked as exc:  # resolved, at this attempt, to somewhere it may not go
            with self._lock:
                delivery.attempts.append(Attempt(len(delivery.attempts) + 1, _now(), None,
                                                 0.0, str(exc)))
                if delivery.status == "pending":
                    self._finish(delivery, "blocked")
            return
        self._record(delivery, attempts)

    def _record(self, delivery: Delivery, attempts: list[Attempt]) -> None:
        with self._lock:
            for attempt in attempts:
                attempt.number = len(delivery.attempts) + 1
                delivery.attempts.append(attempt)
            if delivery.status != "pending" or self._deliveries.get(delivery.id) is not delivery:
                return  # cancelled while in flight, or forgotten by a reset: recorded only
            status = attempts[0].status_code
            if status is not None and 200 <= status < 300:
                self._finish(delivery, "delivered")
                self._failing.discard(delivery.endpoint_id)
            else:
                self._schedule(delivery)

    def _endpoint_exists(self, delivery: Delivery) -> bool:
        org = self._store.organisation(delivery.organisation)
        return org is not None and any(e.id == delivery.endpoint_id and e.url == delivery.url
                                       for e in org.webhook_endpoints)

    def _send(self, delivery: Delivery, fault: Fault | None) -> Attempt:
        """One POST; its number is set when it is recorded. Blocked when the URL resolves,
        now, to an address the mock may not send to."""
        # Imported by the first delivery, not at start: most runs of the mock deliver none.
        from standardwebhooks import Webhook

        sent_at = datetime.now(UTC)  # receivers check it against their real clock
        if fault is not None and fault.kind == "old_timestamp":
            sent_at -= timedelta(seconds=OLD_TIMESTAMP_S)
        secret = delivery.secret
        if fault is not None and fault.kind == "bad_signature":
            secret = derived_secret(self._seed + ":wrong", delivery.endpoint_id)
        headers = {
            "content-type": "application/json",
            "user-agent": "envoy-events-kit-mock",
            "webhook-id": delivery.event_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Webhook(secret).sign(delivery.event_id, sent_at,
                                                      delivery.body.decode()),
        }
        target = parse(delivery.url)
        began = time.perf_counter()
        kind = fault.kind if fault else None
        try:
            addresses = self.policy.resolve(target)
        except OSError as exc:
            return Attempt(0, _now(), None, _ms(began),
                           f"cannot resolve {target.host!r}: {type(exc).__name__}", kind)
        try:
            answer = transport.post(target, addresses, delivery.body, headers, self.timeout_s)
        except TimeoutError:
            return Attempt(0, _now(), None, _ms(began), f"no answer within {self.timeout_s:g} s",
                           kind)
        except http.client.HTTPException as exc:
            return Attempt(0, _now(), None, _ms(began),
                           f"the endpoint's answer is not HTTP/1.x ({type(exc).__name__})", kind)
        except OSError as exc:
            return Attempt(0, _now(), None, _ms(began),
                           f"connection failed: {type(exc).__name__}", kind)
        error = None if 200 <= answer.status < 300 else f"the endpoint answered {answer.status}"
        return Attempt(0, _now(), answer.status, _ms(began), error, kind, answer.body_bytes,
                       answer.truncated)


def _internal_error(delivery: Delivery, exc: Exception) -> str:
    """What went wrong inside the mock, without the secret even if the message holds it."""
    message = str(exc)
    for secret in (delivery.secret, delivery.secret.removeprefix("whsec_")):
        if secret:
            message = message.replace(secret, "[redacted]")
    return f"the mock could not send it: {type(exc).__name__}: {message}"[:500]


def _ms(began: float) -> float:
    return round((time.perf_counter() - began) * 1000, 2)


def _now() -> str:
    return _format(datetime.now(UTC))


def _instant(timestamp: float) -> str | None:
    """A POSIX time on the mock's clock as ISO-8601 (None past the calendar's end)."""
    try:
        return _format(datetime.fromtimestamp(timestamp, UTC))
    except (OverflowError, ValueError, OSError):
        return None


def _format(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
