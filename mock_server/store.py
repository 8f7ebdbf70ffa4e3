"""The mock's state: organisations, principals and webhook endpoints, behind one lock.

Every method is one atomic step, so concurrent requests see a consistent state.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Iterable
from datetime import datetime

from mock_server.fixtures import Fixtures
from mock_server.model import Organisation, Principal, WebhookEndpoint


class Store:
    """In-memory state seeded from fixtures; `reset()` restores them."""

    def __init__(self, fixtures: Fixtures) -> None:
        self.fixtures = fixtures
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._orgs = self.fixtures.fresh_organisations()
            self._principals = dict(self.fixtures.principals)
            self._ids = itertools.count(1)

    # -- principals -------------------------------------------------------------------
    def principal(self, token: str) -> Principal | None:
        return self._principals.get(token)

    def add_principal(self, org_id: str, user_id: str, scopes: Iterable[str],
                      expires_at: datetime | None = None, name: str | None = None) -> Principal:
        """Create a principal (and its organisation if new) with a predictable token."""
        with self._lock:
            serial = next(self._ids)
            digest = hashlib.sha256(f"{serial}:{org_id}:{user_id}".encode()).hexdigest()[:16]
            principal = Principal(f"mock-{serial}-{digest}", user_id, org_id,
                                  frozenset(scopes), expires_at, name)
            self._principals[principal.token] = principal
            self._orgs.setdefault(org_id, Organisation(org_id))
            return principal

    # -- organisations ----------------------------------------------------------------
    def is_provisioned(self, org_id: str) -> bool:
        org = self._orgs.get(org_id)
        return bool(org and org.provisioned)

    def set_provisioned(self, org_id: str, provisioned: bool) -> Organisation:
        """Provision, or deprovision and delete every webhook endpoint; idempotent."""
        with self._lock:
            org = self._orgs.setdefault(org_id, Organisation(org_id))
            org.provisioned = provisioned
            if not provisioned:
                org.webhook_endpoints.clear()
            return self._copy(org)

    def organisation(self, org_id: str) -> Organisation | None:
        with self._lock:
            org = self._orgs.get(org_id)
            return self._copy(org) if org else None

    def organisations(self) -> list[Organisation]:
        with self._lock:
            return [self._copy(org) for org in sorted(self._orgs.values(), key=lambda o: o.id)]

    # -- webhook endpoints ------------------------------------------------------------
    def add_endpoint(self, org_id: str, url: str) -> WebhookEndpoint | None:
        with self._lock:
            org = self._orgs.get(org_id)
            if org is None:
                return None
            serial = next(self._ids)
            endpoint = WebhookEndpoint(f"ep_mock{serial:022d}", url)
            org.webhook_endpoints.append(endpoint)
            return endpoint

    def delete_endpoint(self, org_id: str, endpoint_id: str) -> bool:
        with self._lock:
            org = self._orgs.get(org_id)
            if org is None:
                return False
            kept = [e for e in org.webhook_endpoints if e.id != endpoint_id]
            found = len(kept) != len(org.webhook_endpoints)
            org.webhook_endpoints[:] = kept
            return found

    @staticmethod
    def _copy(org: Organisation) -> Organisation:
        return Organisation(org.id, org.provisioned, list(org.webhook_endpoints), org.name)
