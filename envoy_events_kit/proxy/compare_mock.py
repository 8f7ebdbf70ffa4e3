"""`--compare-mock`: ask an in-process mock that mirrors each caller the same question the
upstream was asked, and compare the two answers as the parity run does (`parity.compare`).

The mirror learns callers from the traffic itself: the first connection token a bearer
gets through the proxy says who it is (user, organisation, granted namespaces, the token
lifetime); from then on that bearer's requests are replayed, with a mirror principal of the
same ids and grants, against the mock (through its control API and Flask test client, no
socket). A provision or deprovision the upstream accepted teaches the mirror that the bearer
may provision. Requests without credentials are replayed as they are; requests of bearers
not learned yet are not compared (counted as such).
"""

from __future__ import annotations

import tempfile
import threading
import time
from email.utils import parsedate_to_datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

import yaml

from envoy_events_kit.contract_tests.target import provisioning_scope
from envoy_events_kit.documents import spec_document
from envoy_events_kit.parity.compare import Answer, Difference, compare

from .validate import Caller, Exchange, _b64json

#: Operations whose success tells the mirror that the bearer may provision.
PROVISIONING = ("provisionEvents", "deprovisionEvents")


def _namespaces() -> list[str]:
    spec = spec_document()
    return sorted({op.get("x-namespace") for item in (spec.get("webhooks") or {}).values()
                   for op in item.values() if isinstance(op, dict) and op.get("x-namespace")})


class MockMirror:
    """One in-process mock that grows a principal per learned caller."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._learning = threading.Lock()
        self._app: Any = None
        self._dir = tempfile.TemporaryDirectory(prefix="envoy-events-proxy-mirror-")
        self._tokens: dict[str, str] = {}  # hash of the upstream bearer -> mirror token
        self._admins: set[str] = set()
        self._refused: set[str] = set()
        self.namespaces = _namespaces()
        self.not_compared = 0

    def close(self) -> None:
        self._dir.cleanup()

    # -- the mirror mock ---------------------------------------------------------------
    def _client(self, token_ttl: int = 3600) -> Any:
        with self._lock:
            if self._app is None:
                from envoy_events_kit.mock_server import create_app

                path = Path(self._dir.name) / "mirror.yaml"
                path.write_text(yaml.safe_dump({
                    "provisioning_scope": provisioning_scope(),
                    "namespaces": {ns: {"scope": f"{ns}:read"} for ns in self.namespaces},
                    "organisations": {}, "users": {}, "tokens": {}}), encoding="utf-8")
                self._app = create_app({"fixtures_path": path, "clock": "real",
                                        "token_ttl": max(1, token_ttl)})
            return self._app.test_client()

    def _register(self, key: str, caller: Caller, admin: bool, token_ttl: int) -> str | None:
        if not caller.org_id or not set(caller.namespaces) <= set(self.namespaces):
            self._refused.add(key)  # a namespace the mirror does not know: cannot mirror
            return None
        client = self._client(token_ttl)
        scopes = [f"{ns}:read" for ns in sorted(caller.namespaces)]
        if admin:
            scopes.append(provisioning_scope())
        known = {org["id"] for org in client.get("/__mock__/state").get_json()["organisations"]}
        if caller.org_id not in known:  # it issued a connection token: it is provisioned
            client.put(f"/__mock__/orgs/{caller.org_id}", json={"provisioned": True})
        answer = client.post("/__mock__/principals", json={
            "org_id": caller.org_id, "user_id": caller.user_id, "scopes": scopes,
            "name": "proxy-mirror"})
        token = answer.get_json()["token"] if answer.status_code == 201 else None
        if token:
            self._tokens[key] = token
        return token

    # -- comparing -----------------------------------------------------------------------
    def compare(self, operation_id: str, exchange: Exchange, caller: Caller | None
                ) -> list[Difference] | None:
        """The differences, or None when this exchange cannot be compared."""
        bearer = exchange.bearer
        headers = {}
        if exchange.authorization is not None:
            key = sha256((bearer or "").encode()).hexdigest()
            token = self._mirror_token(key, operation_id, exchange, caller)
            if token is None:
                self.not_compared += 1
                return None
            headers["Authorization"] = f"Bearer {token}"
        if exchange.request_content_type:
            headers["Content-Type"] = exchange.request_content_type
        answer = self._client().open(exchange.path, method=exchange.method,
                                     query_string=exchange.query, headers=headers,
                                     data=exchange.request_body)
        ours = Answer(answer.status_code, (answer.mimetype or "").lower(), answer.get_data(),
                      "WWW-Authenticate" in answer.headers, time.time())
        theirs = Answer(exchange.status, exchange.mimetype, exchange.body or b"",
                        "www-authenticate" in exchange.headers, _clock(exchange.headers))
        return compare(operation_id, theirs, ours)

    def _mirror_token(self, key: str, operation_id: str, exchange: Exchange,
                      caller: Caller | None) -> str | None:
        with self._learning:
            return self._learn(key, operation_id, exchange, caller)

    def _learn(self, key: str, operation_id: str, exchange: Exchange,
               caller: Caller | None) -> str | None:
        if key in self._refused or caller is None:
            return None
        admin = key in self._admins
        if operation_id in PROVISIONING and exchange.status == 204 and not admin:
            # The upstream let this bearer provision: so may its mirror (a new principal).
            self._admins.add(key)
            self._tokens.pop(key, None)
            admin = True
        token = self._tokens.get(key)
        if token is None:
            token = self._register(key, caller, admin, _lifetime(exchange))
        return token


def _clock(headers: Any) -> float:
    """The upstream's own "now" (its Date header), else ours."""
    try:
        return parsedate_to_datetime(headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError, IndexError):
        return time.time()


def _lifetime(exchange: Exchange) -> int:
    """`exp - iat` of a token this exchange issued (3600 when it issued none)."""
    try:
        token = exchange.response_json["token"]
        payload = _b64json(token.split(".")[1])
        return int(payload["exp"]) - int(payload["iat"])
    except (KeyError, TypeError, ValueError, IndexError):
        return 3600
