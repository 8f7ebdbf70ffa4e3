"""Events: the envelope the API delivers, and the one path that fans an event out.

The event types, their realtime namespace and their schemas come from the spec's top-level
`webhooks` section, so a new event type is a spec change, not a code change. Every event,
whether it comes from `POST /__mock__/events` or a scenario step, goes through `EventBus.publish`:
checked once, recorded once, then handed to each sink (the realtime publisher, the webhook
dispatcher) in the order they were added.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ksuid import Ksuid

from envoy_events_kit.instants import format_instant
from envoy_events_kit.names import hint

from ..api.channels import parse
from ..api.errors import ApiError, invalid_request
from ..api.tokens import Clock
from ..spec import Spec, first_error
from ..state.store import Store
from .log import EventLog


@dataclass(frozen=True)
class EventType:
    """One entry of the spec's `webhooks`: its name, namespace and envelope validator."""

    name: str
    namespace: str
    validator: Any
    summary: str | None = None
    data_schema: Any = None


def _data_schema(envelope: Any) -> dict[str, Any]:
    """The `data` schema of an inlined envelope schema: its own `properties.data` and its
    `allOf` members', merged (later members refine earlier ones)."""
    merged: dict[str, Any] = {}
    for part in [envelope, *(envelope.get("allOf") or [])] if isinstance(envelope, dict) else []:
        data = (part.get("properties") or {}).get("data") if isinstance(part, dict) else None
        if isinstance(data, dict):
            properties = {**merged.get("properties", {}), **data.get("properties", {})}
            merged.update(data)
            if properties:
                merged["properties"] = properties
    return merged or {"type": "object"}


class EventCatalogue:
    """The event types the spec declares, by name."""

    def __init__(self, spec: Spec) -> None:
        self.types: dict[str, EventType] = {}
        for name, item in (spec.document.get("webhooks") or {}).items():
            operation = item["post"]
            body = spec.resolve(operation["requestBody"])
            schema = body["content"]["application/json"]["schema"]
            self.types[name] = EventType(name, operation["x-namespace"], spec.validator(schema),
                                         operation.get("summary"),
                                         _data_schema(spec.inlined(schema)))

    def describe(self) -> list[dict[str, Any]]:
        """Each type with its namespace, data schema and the schema's first example."""
        rows = []
        for kind in self.types.values():
            examples = kind.data_schema.get("examples") or []
            rows.append({"type": kind.name, "namespace": kind.namespace, "summary": kind.summary,
                         "data_schema": kind.data_schema,
                         "example": examples[0] if examples else None})
        return rows

    def get(self, name: str) -> EventType:
        """The type called `name`; a 400 naming the closest known type otherwise."""
        try:
            return self.types[name]
        except KeyError:
            known = sorted(self.types)
            raise invalid_request(f"Unknown event type {name!r}.{hint(name, known)} "
                                  f"The spec declares: {', '.join(known)}.") from None


class Sink(Protocol):
    """Somewhere events go: realtime clients, webhook endpoints."""

    name: str

    def publish(self, event: dict[str, Any], channel: str) -> dict[str, Any]:
        """Hand the event over; return what happened, for the 201 answer."""

    def organisation_off(self, org_id: str, user_ids: list[str]) -> None:
        """The organisation was deprovisioned: stop everything that is still on its way."""

    def reset(self) -> None:
        """Back to the fixtures."""


@dataclass(frozen=True)
class Published:
    """An event and where it went."""

    event: dict[str, Any]
    channel: str
    outcomes: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"event": self.event, "channel": self.channel, **self.outcomes}


class EventBus:
    """Check an event against the spec and the state, record it, fan it out to the sinks."""

    def __init__(self, spec: Spec, store: Store, clock: Clock, seed: str,
                 log: EventLog | None = None) -> None:
        self.catalogue = EventCatalogue(spec)
        self._channel_grammar = spec.component("Channel")
        self._store = store
        self._clock = clock
        self._seed = seed
        self._sinks: list[Sink] = []
        self._lock = threading.Lock()
        self._serial = 0
        #: What was published, within its caps (`GET /__mock__/events`).
        self.log = log if log is not None else EventLog()

    def add_sink(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def remove_sink(self, sink: Sink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    def sink(self, name: str) -> Sink | None:
        return next((s for s in self._sinks if s.name == name), None)

    def publish(self, event_type: str, data: Any, *, channel: str | None = None,
                organisation: str | None = None, namespace: str | None = None) -> Published:
        """Validate, then deliver. 400 for a bad event or channel, 409 when the organisation
        is not provisioned; nothing is recorded or delivered unless every check passed, and a
        refused event takes no id either (the next one gets the id it would have had)."""
        kind, channel, org_id = self._checked(event_type, data, channel, organisation, namespace)
        if not self._store.is_provisioned(org_id):
            raise ApiError(409, "not_provisioned",
                           f"Organisation {org_id} is not provisioned for events.")
        event = self._envelope(kind, org_id, data)
        outcomes = {sink.name: sink.publish(event, channel) for sink in self._sinks}
        published = Published(event, channel, outcomes)
        self.log.append(published.as_json())
        return published

    def check(self, event_type: str, data: Any, *, channel: str | None = None,
              organisation: str | None = None, namespace: str | None = None) -> None:
        """The checks of `publish` that do not depend on the state (400s), publishing
        nothing: scenario files are checked this way when they are loaded."""
        self._checked(event_type, data, channel, organisation, namespace)

    def _checked(self, event_type: str, data: Any, channel: str | None,
                 organisation: str | None, namespace: str | None) -> tuple[EventType, str, str]:
        """The type, channel and organisation of a valid event (400 otherwise), checked on a
        stand-in id: the real one is only taken once the event is sure to go out."""
        kind = self.catalogue.get(event_type)
        channel, org_id = self._channel(kind, channel, organisation, namespace)
        self._validate(kind, {"id": "evt_" + "0" * 27, "type": kind.name,
                              "created_at": format_instant(self._clock.now()),
                              "organisation": org_id, "data": data})
        return kind, channel, org_id

    @staticmethod
    def _validate(kind: EventType, event: dict[str, Any]) -> None:
        problem = first_error(kind.validator, event)
        if problem:
            raise invalid_request(f"Invalid {kind.name} event: {problem}")

    def organisations_off(self, org_ids: Iterable[str]) -> None:
        """Tell every sink that these organisations were turned off (the store calls this
        for every change that turns one off: deprovision, snapshot, state file, reset)."""
        for org_id in org_ids:
            users = self._store.user_ids(org_id)
            for sink in self._sinks:
                sink.organisation_off(org_id, users)

    def reset(self) -> None:
        self.log.clear()
        with self._lock:
            self._serial = 0
        for sink in self._sinks:
            sink.reset()

    def _channel(self, kind: EventType, channel: str | None, organisation: str | None,
                 namespace: str | None) -> tuple[str, str]:
        """The channel the event goes to, and its organisation."""
        if channel is None:
            if organisation is None:
                raise invalid_request("Give either 'channel' or 'organisation' "
                                      "(and optionally 'namespace').")
            channel = f"{namespace or kind.namespace}:{organisation}"
        elif organisation is not None or namespace is not None:
            raise invalid_request("Give either 'channel' or 'organisation'/'namespace', "
                                  "not both.")
        problem = first_error(self._channel_grammar, channel)
        if problem:
            raise invalid_request(f"{channel!r} is not a channel: expected <namespace>:<org_id> "
                                  f"or <namespace>:<org_id>#<usr_id>[,...] ({problem}).")
        parsed = parse(channel)
        known = self._store.fixtures.namespaces
        if parsed.namespace not in known:
            raise invalid_request(f"Unknown namespace {parsed.namespace!r}."
                                  f"{hint(parsed.namespace, known)} "
                                  f"The fixtures define: {', '.join(sorted(known))}.")
        if parsed.namespace != kind.namespace:
            raise invalid_request(f"{kind.name} events belong to the {kind.namespace!r} "
                                  f"namespace, not {parsed.namespace!r}.")
        return channel, parsed.org_id

    def _envelope(self, kind: EventType, org_id: str, data: Any) -> dict[str, Any]:
        """A new event; its id is a KSUID of the mock's clock and a seeded counter, so a
        frozen-clock run makes the same ids every time."""
        with self._lock:
            self._serial += 1
            serial = self._serial
        now: datetime = self._clock.now()
        payload = hashlib.sha256(f"{self._seed}:event:{serial}".encode()).digest()[:16]
        return {"id": f"evt_{Ksuid(now, payload)}", "type": kind.name,
                "created_at": format_instant(now), "organisation": org_id, "data": data}
