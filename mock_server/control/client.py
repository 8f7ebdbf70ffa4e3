"""A small HTTP client for the mock's control API (`openapi/mock-control.yaml`).

It drives a mock that runs anywhere (in this process, another process, a container), so
tests talk to the mock only through HTTP, the way they talk to the events API. The
`assert_called` helper is WireMock's `verify` over the mock's request journal.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any
from urllib.parse import quote

import requests

from envoy_events_kit import names
from envoy_events_kit.documents import spec_document

PREFIX = "/__mock__"
#: Where `MockControl` finds the mock's control token when none is passed.
CONTROL_TOKEN_ENV = "ENVOY_EVENTS_CONTROL_TOKEN"


def _matches(entry: dict[str, Any], operation_id: str | None, status: int | None) -> bool:
    return ((operation_id is None or (entry["operation_id"] == operation_id
                                       and entry["method"] != "OPTIONS"))
            and (status is None or entry["status"] == status))


@cache
def operation_ids() -> frozenset[str]:
    """The events API's operations, from the bundled spec: a typo must not pass silently."""
    document = spec_document()
    return frozenset(op["operationId"] for item in document["paths"].values()
                     for op in item.values() if isinstance(op, dict) and "operationId" in op)


def _operation(operation_id: str) -> str:
    return names.check("operation", operation_id, operation_ids())


class ControlError(RuntimeError):
    """The control API refused a request; the message carries the mock's own explanation."""


class MockControl:
    """Provision orgs, add webhook endpoints and principals, move the clock, inject faults,
    read the journal of a running mock at `base_url`.

    `control_token` is the mock's `--control-token` (default: ENVOY_EVENTS_CONTROL_TOKEN);
    it goes only to `/__mock__/` calls, as `Authorization: Bearer …`."""

    def __init__(self, base_url: str, *, session: requests.Session | None = None,
                 timeout: float = 10.0, control_token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = session or requests.Session()
        token = control_token or os.environ.get(CONTROL_TOKEN_ENV) or None
        self._control_headers = {"Authorization": f"Bearer {token}"} if token else {}

    def __repr__(self) -> str:  # never the token
        return f"{type(self).__name__}({self.base_url!r})"

    # -- transport --------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.base_url}{PREFIX}{path}"
        try:
            response = self._session.request(method, url, json=body, timeout=self.timeout,
                                             headers=self._control_headers)
        except requests.ConnectionError as exc:
            raise ControlError(f"cannot reach the mock at {self.base_url} ({exc})") from exc
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise ControlError(f"{method} {PREFIX}{path}: {response.status_code} {message}")
        return response.json() if response.content else None

    def close(self) -> None:
        self._session.close()

    # -- state ------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to the fixtures: state, principals, clock, journal and faults."""
        self._call("POST", "/reset")

    def state(self) -> dict[str, Any]:
        """Organisations (provisioned flag, webhook endpoints) and the clock."""
        return self._call("GET", "/state")

    def organisation(self, org_id: str) -> dict[str, Any]:
        """One organisation from `state()`; KeyError when the mock does not know it."""
        for org in self.state()["organisations"]:
            if org["id"] == org_id:
                return org
        raise KeyError(org_id)

    def provision(self, org_id: str) -> dict[str, Any]:
        return self._call("PUT", f"/orgs/{quote(org_id)}", {"provisioned": True})

    def deprovision(self, org_id: str) -> dict[str, Any]:
        """Deprovision (the org's webhook endpoints are deleted, as the real API does)."""
        return self._call("PUT", f"/orgs/{quote(org_id)}", {"provisioned": False})

    # -- webhook endpoints ------------------------------------------------------------
    def webhook_endpoints(self, org_id: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/orgs/{quote(org_id)}/webhook_endpoints")["webhook_endpoints"]

    def add_webhook_endpoint(self, org_id: str, url: str, *, secret: str | None = None,
                             event_types: list[str] | None = None) -> dict[str, Any]:
        """A new endpoint (loopback URLs unless the mock allows more hosts); the answer holds
        its `whsec_` secret, given or derived from the mock's seed."""
        body: dict[str, Any] = {"url": url}
        if secret is not None:
            body["secret"] = secret
        if event_types is not None:
            body["event_types"] = event_types
        return self._call("POST", f"/orgs/{quote(org_id)}/webhook_endpoints", body)

    def delete_webhook_endpoint(self, org_id: str, endpoint_id: str) -> None:
        self._call("DELETE", f"/orgs/{quote(org_id)}/webhook_endpoints/{quote(endpoint_id)}")

    # -- principals -------------------------------------------------------------------
    def create_principal(self, org_id: str, user_id: str, scopes: list[str] | tuple[str, ...] = (),
                         *, expires_at: str | None = None,
                         name: str | None = None) -> dict[str, Any]:
        """A new principal; its bearer token is `result["token"]`."""
        body: dict[str, Any] = {"org_id": org_id, "user_id": user_id, "scopes": list(scopes)}
        if expires_at is not None:
            body["expires_at"] = expires_at
        if name is not None:
            body["name"] = name
        return self._call("POST", "/principals", body)

    def create_token(self, org_id: str, user_id: str,
                     scopes: list[str] | tuple[str, ...] = (), **kwargs: Any) -> str:
        """Shortcut: just the bearer token of a new principal."""
        return self.create_principal(org_id, user_id, scopes, **kwargs)["token"]

    # -- clock ------------------------------------------------------------------------
    def clock(self) -> dict[str, str]:
        return self._call("GET", "/clock")

    def freeze_clock(self, at: str) -> dict[str, str]:
        """Freeze at an ISO-8601 instant, e.g. "2026-01-01T00:00:00Z"."""
        return self._call("PUT", "/clock", {"frozen_at": at})

    def advance_clock(self, seconds: int) -> dict[str, str]:
        return self._call("PUT", "/clock", {"advance_seconds": seconds})

    def real_clock(self) -> dict[str, str]:
        return self._call("PUT", "/clock", {"mode": "real"})

    # -- events -----------------------------------------------------------------------
    def publish(self, type: str, data: dict[str, Any], *, channel: str | None = None,
                organisation: str | None = None, namespace: str | None = None,
                ) -> dict[str, Any]:
        """Publish an event (realtime clients and webhook endpoints get it); returns the
        event and where it went. Give `channel`, or `organisation` (+ `namespace`)."""
        body: dict[str, Any] = {"type": type, "data": data}
        for key, value in (("channel", channel), ("organisation", organisation),
                           ("namespace", namespace)):
            if value is not None:
                body[key] = value
        return self._call("POST", "/events", body)

    def events(self) -> list[dict[str, Any]]:
        """Every event published since the last reset, oldest first."""
        return self._call("GET", "/events")["events"]

    # -- webhook deliveries -----------------------------------------------------------
    def deliveries(self, **filters: str) -> list[dict[str, Any]]:
        """Deliveries and their attempts; filters: organisation, endpoint, event, event_type,
        status."""
        query = "&".join(f"{k}={quote(v)}" for k, v in filters.items())
        return self._call("GET", "/deliveries" + (f"?{query}" if query else ""))["deliveries"]

    def retry_delivery(self, delivery_id: str) -> dict[str, Any]:
        return self._call("POST", f"/deliveries/{quote(delivery_id)}/retry")

    def inject_delivery_fault(self, kind: str, *, times: int = 1, delay_ms: int | None = None,
                              event_type: str | None = None) -> None:
        """The next `times` deliveries: bad_signature, old_timestamp, duplicate or delay."""
        body: dict[str, Any] = {"kind": kind, "times": times}
        if delay_ms is not None:
            body["delay_ms"] = delay_ms
        if event_type is not None:
            body["event_type"] = event_type
        self._call("PUT", "/delivery_faults", body)

    # -- faults -----------------------------------------------------------------------
    def inject_fault(self, operation_id: str, status: int | None = None, *,
                     latency_ms: int | None = None, times: int = 1) -> None:
        """The next `times` calls of the operation answer `status` and/or wait first."""
        _operation(operation_id)
        body: dict[str, Any] = {"times": times}
        if status is not None:
            body["status"] = status
        if latency_ms is not None:
            body["latency_ms"] = latency_ms
        self._call("PUT", f"/faults/{quote(operation_id)}", body)

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    # -- journal ----------------------------------------------------------------------
    def journal(self, operation_id: str | None = None,
                status: int | None = None) -> list[dict[str, Any]]:
        """Requests to the events API, oldest first (tokens redacted). Filtered by operation,
        only calls count: a browser's CORS preflight (OPTIONS) is not a call."""
        if operation_id is not None:
            _operation(operation_id)
        entries = self._call("GET", "/journal")["entries"]
        return [e for e in entries if _matches(e, operation_id, status)] \
            if operation_id is not None or status is not None else entries

    def clear_journal(self) -> None:
        self._call("DELETE", "/journal")

    def assert_called(self, operation_id: str, times: int | None = None,
                      status: int | None = None) -> list[dict[str, Any]]:
        """Fail unless the operation was called (exactly `times` times, if given; with that
        `status`, if given). Returns the matching journal entries."""
        _operation(operation_id)
        entries = self.journal()
        matching = [e for e in entries if _matches(e, operation_id, status)]
        if (len(matching) == times) if times is not None else matching:
            return matching
        wanted = f"{times} time(s)" if times is not None else "at least once"
        with_status = f" with status {status}" if status is not None else ""
        seen = "\n".join(f"  {e['method']} {e['path']} -> {e['status']} ({e['operation_id']})"
                         for e in entries) or "  (no requests)"
        raise AssertionError(
            f"expected {operation_id} to be called {wanted}{with_status}, "
            f"matched {len(matching)}; the journal has:\n{seen}")

    def assert_not_called(self, operation_id: str, status: int | None = None) -> None:
        self.assert_called(operation_id, times=0, status=status)
