"""Who the caller is on the target, and a fixtures file that makes the mock answer the same
caller the same way.

Identity comes from the target's own tokens, read through the contract suite's
`contract_tests.target` (connection-token claims: user, organisation, granted channels);
the mirrored fixtures keep the ids, the granted namespaces, the provisioning state and
whether each token may provision. Fixture tokens are generated from the ids (the same file
on every run), never copied from the target.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from envoy_events_kit.contract_tests.target import Identity, provisioning_scope
from envoy_events_kit.documents import spec_document

#: The name the mirrored fixtures give each role.
CALLER, ADMIN, EXPIRED = "caller", "admin", "expired"
#: A namespace no one is granted, used when the spec's namespaces are all granted.
SPARE_NAMESPACE = "parityspare"


@dataclass
class Principal:
    """One role the parity run plays on both sides."""

    role: str
    identity: Identity
    #: May it provision? None: not learned (read-only run), assumed as `assumed_admin` says.
    may_provision: bool | None = None
    assumed_admin: bool = False

    @property
    def admin(self) -> bool:
        return self.may_provision if self.may_provision is not None else self.assumed_admin


@dataclass
class Mirror:
    """What was learned about the target, enough to write fixtures for it."""

    base_url: str
    caller: Principal
    admin: Principal | None = None
    #: The caller's organisation was provisioned when the run began.
    provisioned: bool = True
    #: Seconds from `iat` to `exp` of the target's connection tokens.
    token_ttl: int = 3600
    has_expired_token: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def principals(self) -> list[Principal]:
        return [self.caller, *([self.admin] if self.admin else [])]

    def namespaces(self) -> list[str]:
        """The spec's namespaces (`x-namespace` of its events) and every granted one."""
        spec = spec_document()
        declared = {op.get("x-namespace") for item in (spec.get("webhooks") or {}).values()
                    for op in item.values() if isinstance(op, dict)}
        granted = {ns for p in self.principals for ns in p.identity.namespaces}
        names = sorted(n for n in declared | granted if isinstance(n, str))
        if all(n in granted for n in names):
            names.append(SPARE_NAMESPACE)
        return names

    def ungranted_namespace(self) -> str:
        granted = set(self.caller.identity.namespaces)
        return next(n for n in self.namespaces() if n not in granted)

    def fixture_token(self, role: str) -> str:
        """The mirror's bearer token for `role`: from the ids, never from the target."""
        me = self.caller.identity
        seed = f"envoy-events-parity\0{role}\0{me.org_id}\0{me.user_id}".encode()
        return f"parity-{role}-{hashlib.sha256(seed).hexdigest()[:24]}"

    def fixtures(self) -> dict[str, Any]:
        """The fixtures document (see fixtures/default.yaml for the format)."""
        scope = provisioning_scope()
        namespaces = self.namespaces()
        organisations: dict[str, Any] = {}
        users: dict[str, Any] = {}
        tokens: dict[str, Any] = {}
        for principal in self.principals:
            me = principal.identity
            org = me.org_id or ""
            provisioned = self.provisioned if org == self.caller.identity.org_id else True
            organisations.setdefault(org, {"name": f"Mirrored {org}",
                                           "provisioned": provisioned,
                                           "webhook_endpoints": []})
            users.setdefault(me.user_id, {"name": f"Mirrored {principal.role}",
                                          "organisation": org})
            scopes = [f"{ns}:read" for ns in me.namespaces]
            if principal.admin:
                scopes.append(scope)
            tokens[principal.role] = {"token": self.fixture_token(principal.role),
                                      "user": me.user_id, "scopes": scopes}
        if self.has_expired_token:
            tokens[EXPIRED] = {**tokens[CALLER], "token": self.fixture_token(EXPIRED),
                               "expires_at": "2000-01-01T00:00:00Z"}
        return {"provisioning_scope": scope,
                "namespaces": {ns: {"scope": f"{ns}:read"} for ns in namespaces},
                "organisations": organisations, "users": users, "tokens": tokens}

    def header(self) -> str:
        when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines = [f"Fixtures mirroring {self.base_url} for the caller's organisation, written by",
                 f"`envoy-events parity --write-fixtures` on {when}.",
                 "Ids, granted namespaces and the provisioning state are the target's; the",
                 "bearer tokens are generated for the mock (never the target's).",
                 f"Serve them: envoy-events mock --fixtures FILE --token-ttl {self.token_ttl}",
                 *self.notes]
        return "".join(f"# {line}\n" for line in lines)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(self.fixtures(), sort_keys=False, default_flow_style=False)
        path.write_text(self.header() + "\n" + text, encoding="utf-8")
