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
    """Where an organisation's events are POSTed, signed with its own `whsec_` secret."""

    id: str
    url: str
    secret: str = ""
    #: Event types it wants; None: every type.
    event_types: tuple[str, ...] | None = None

    def wants(self, event_type: str) -> bool:
        return self.event_types is None or event_type in self.event_types


@dataclass
class Organisation:
    id: str
    provisioned: bool = False
    webhook_endpoints: list[WebhookEndpoint] = field(default_factory=list)
    name: str | None = None
