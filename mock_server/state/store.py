"""The mock's state: organisations, principals and webhook endpoints, behind one lock.

Every method is one atomic step, so concurrent requests see a consistent state. It is also
the one path for every change of state (events API, control API, snapshot, state file,
reset): whatever turns an organisation off tells `on_organisations_off`, so the event sinks
disconnect its realtime users and cancel its deliveries whichever door the change came in by.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from envoy_events_kit.instants import InstantError, parse_instant

from ..events.webhooks.endpoints import derived_secret, secret_problem
from .fixtures import Fixtures
from .model import Organisation, Principal, WebhookEndpoint


class Store:
    """In-memory state seeded from fixtures; `reset()` restores them."""

    def __init__(self, fixtures: Fixtures, seed: str = "envoy-events-kit") -> None:
        self.fixtures = fixtures
        self._seed = seed
        self._lock = threading.RLock()
        #: Called with the store's lock held after every change (see `persistence`).
        self.on_change: Callable[[Store], None] | None = None
        #: Called, outside the lock, with the organisations a change turned off.
        self.on_organisations_off: Callable[[list[str]], None] | None = None
        #: Called, outside the lock, with the webhook endpoints a change deleted (or pointed
        #: elsewhere), so that what is queued for them is cancelled.
        self.on_endpoints_off: Callable[[list[str]], None] | None = None
        self._orgs: dict[str, Organisation] = {}
        self.reset()

    def reset(self) -> None:
        """Back to the fixtures (organisations the fixtures have off are turned off)."""
        with self._lock:
            before = self._provisioned()
            self._orgs = self._with_secrets(self.fixtures.fresh_organisations())
            self._principals = dict(self.fixtures.principals)
            self._serial = 0
            self._changed()
            turned_off = before - self._provisioned()
        self._turned_off(turned_off)

    def _with_secrets(self, orgs: dict[str, Organisation]) -> dict[str, Organisation]:
        """Endpoints without a secret (fixtures, old state files) get the derived one."""
        for org in orgs.values():
            org.webhook_endpoints[:] = [
                e if e.secret else replace(e, secret=derived_secret(self._seed, e.id))
                for e in org.webhook_endpoints]
        return orgs

    def _next_id(self) -> int:
        self._serial += 1
        return self._serial

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    def _provisioned(self) -> set[str]:
        return {org.id for org in self._orgs.values() if org.provisioned}

    def _turned_off(self, org_ids: Iterable[str]) -> None:
        if org_ids and self.on_organisations_off is not None:
            self.on_organisations_off(sorted(org_ids))

    def _endpoints(self) -> set[tuple[str, str]]:
        return {(e.id, e.url) for org in self._orgs.values() for e in org.webhook_endpoints}

    def _endpoints_gone(self, before: set[tuple[str, str]]) -> None:
        gone = {endpoint_id for endpoint_id, _ in before - self._endpoints()}
        if gone and self.on_endpoints_off is not None:
            self.on_endpoints_off(sorted(gone))

    # -- persistence --------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """What a restart must keep: organisations, created principals, the id counter."""
        with self._lock:
            return {
                "serial": self._serial,
                "organisations": [
                    {"id": org.id, "name": org.name, "provisioned": org.provisioned,
                     "webhook_endpoints": [
                         {"id": e.id, "url": e.url, "secret": e.secret,
                          # [] (wants nothing) and None (wants every type) stay apart
                          "event_types": (list(e.event_types)
                                          if e.event_types is not None else None)}
                         for e in org.webhook_endpoints]}
                    for org in sorted(self._orgs.values(), key=lambda o: o.id)
                ],
                "principals": [
                    {"token": p.token, "user_id": p.user_id, "org_id": p.org_id,
                     "scopes": sorted(p.scopes), "name": p.name,
                     "expires_at": p.expires_at.isoformat() if p.expires_at else None}
                    for token, p in sorted(self._principals.items())
                    if token not in self.fixtures.principals
                ],
            }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Replace organisations and created principals with a `snapshot()`'s (fixture
        principals stay as the fixtures file says). Everything is checked before anything
        changes: ValueError (KeyError, TypeError) leaves the store as it was."""
        orgs = {
            o["id"]: Organisation(o["id"], o["provisioned"],
                                  [_endpoint(e, f"organisations/{i}/webhook_endpoints/{j}")
                                   for j, e in enumerate(o["webhook_endpoints"])], o.get("name"))
            for i, o in enumerate(snapshot["organisations"])
        }
        principals = dict(self.fixtures.principals)
        for number, p in enumerate(snapshot["principals"]):
            try:  # the one parser: a naive or out-of-range instant is refused here
                expires_at = parse_instant(p["expires_at"]) if p.get("expires_at") else None
            except InstantError as exc:
                raise ValueError(f"principals/{number}/expires_at: {exc}") from None
            principals[p["token"]] = Principal(p["token"], p["user_id"], p["org_id"],
                                               frozenset(p["scopes"]), expires_at, p.get("name"))
        with self._lock:
            before, endpoints = self._provisioned(), self._endpoints()
            self._orgs, self._principals = self._with_secrets(orgs), principals
            self._serial = int(snapshot["serial"])
            self._changed()
            turned_off = before - self._provisioned()
        self._turned_off(turned_off)
        self._endpoints_gone(endpoints)

    def adopt_fixture_organisations(self) -> list[str]:
        """Add the fixtures' organisations the state lacks (added to the fixtures file after
        the state was saved), as the fixtures have them; their ids."""
        with self._lock:
            fresh = self._with_secrets(self.fixtures.fresh_organisations())
            added = sorted(set(fresh) - set(self._orgs))
            for org_id in added:
                self._orgs[org_id] = fresh[org_id]
            if added:
                self._changed()
            return added

    # -- principals -------------------------------------------------------------------
    def principal(self, token: str) -> Principal | None:
        return self._principals.get(token)

    def principals(self) -> list[Principal]:
        """Fixture principals (by name), then created ones (in creation order)."""
        with self._lock:
            every = list(self._principals.values())
        fixture = sorted((p for p in every if p.token in self.fixtures.principals),
                         key=lambda p: p.name or "")
        return fixture + [p for p in every if p.token not in self.fixtures.principals]

    def user_ids(self, org_id: str) -> list[str]:
        """Every user of the organisation the mock knows (fixtures and created principals)."""
        with self._lock:
            users = {p.user_id for p in self._principals.values() if p.org_id == org_id}
        users |= {u for u, org in self.fixtures.users.items() if org == org_id}
        return sorted(users)

    def add_principal(self, org_id: str, user_id: str, scopes: Iterable[str],
                      expires_at: datetime | None = None, name: str | None = None) -> Principal:
        """Create a principal (and its organisation if new) with a predictable token."""
        with self._lock:
            serial = self._next_id()
            digest = hashlib.sha256(f"{serial}:{org_id}:{user_id}".encode()).hexdigest()[:16]
            principal = Principal(f"mock-{serial}-{digest}", user_id, org_id,
                                  frozenset(scopes), expires_at, name)
            self._principals[principal.token] = principal
            self._orgs.setdefault(org_id, Organisation(org_id))
            self._changed()
            return principal

    # -- organisations ----------------------------------------------------------------
    def is_provisioned(self, org_id: str) -> bool:
        org = self._orgs.get(org_id)
        return bool(org and org.provisioned)

    def set_provisioned(self, org_id: str, provisioned: bool) -> Organisation:
        """Provision, or deprovision and delete every webhook endpoint; idempotent (a
        repeated deprovision tells the sinks again: nothing of the organisation stays)."""
        with self._lock:
            org = self._orgs.setdefault(org_id, Organisation(org_id))
            org.provisioned = provisioned
            if not provisioned:
                org.webhook_endpoints.clear()
            self._changed()
            copy = self._copy(org)
        if not provisioned:
            self._turned_off([org_id])
        return copy

    def organisation(self, org_id: str) -> Organisation | None:
        with self._lock:
            org = self._orgs.get(org_id)
            return self._copy(org) if org else None

    def organisations(self) -> list[Organisation]:
        with self._lock:
            return [self._copy(org) for org in sorted(self._orgs.values(), key=lambda o: o.id)]

    # -- webhook endpoints ------------------------------------------------------------
    def add_endpoint(self, org_id: str, url: str, secret: str | None = None,
                     event_types: Iterable[str] | None = None) -> WebhookEndpoint | None:
        """A new endpoint with the given secret, or one derived from the seed; ValueError
        (naming the field) for a secret the signing library cannot use."""
        problem = secret and secret_problem(secret)
        if problem:
            raise ValueError(f"secret: {problem}")
        with self._lock:
            org = self._orgs.get(org_id)
            if org is None:
                return None
            serial = self._next_id()
            endpoint_id = f"ep_mock{serial:022d}"
            endpoint = WebhookEndpoint(endpoint_id, url,
                                       secret or derived_secret(self._seed, endpoint_id),
                                       tuple(event_types) if event_types is not None else None)
            org.webhook_endpoints.append(endpoint)
            self._changed()
            return endpoint

    def delete_endpoint(self, org_id: str, endpoint_id: str) -> bool:
        """Delete one endpoint; what is queued for it is cancelled (`on_endpoints_off`)."""
        with self._lock:
            org = self._orgs.get(org_id)
            if org is None:
                return False
            kept = [e for e in org.webhook_endpoints if e.id != endpoint_id]
            found = len(kept) != len(org.webhook_endpoints)
            org.webhook_endpoints[:] = kept
            if found:
                self._changed()
        if found and self.on_endpoints_off is not None:
            self.on_endpoints_off([endpoint_id])
        return found

    @staticmethod
    def _copy(org: Organisation) -> Organisation:
        return Organisation(org.id, org.provisioned, list(org.webhook_endpoints), org.name)


def _endpoint(saved: dict[str, Any], where: str) -> WebhookEndpoint:
    """An endpoint from a snapshot (files written before secrets existed have none); a
    secret the signing library cannot use is a ValueError naming the field."""
    types = saved.get("event_types")
    secret = saved.get("secret") or ""
    problem = secret and secret_problem(secret)
    if problem:
        raise ValueError(f"{where}/secret: {problem}")
    return WebhookEndpoint(saved["id"], saved["url"], secret,
                           tuple(types) if types is not None else None)
