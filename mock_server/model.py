"""Plain records the mock keeps: who is calling, and what an organisation has."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Principal:
    """A bearer token and what it stands for."""

    token: str
    user_id: str
    org_id: str
    scopes: frozenset[str]
    expires_at: datetime | None = None
    name: str | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    url: str


@dataclass
class Organisation:
    id: str
    provisioned: bool = False
    webhook_endpoints: list[WebhookEndpoint] = field(default_factory=list)
    name: str | None = None
