"""The requests a parity run sends to both sides, derived from the spec and the identity.

Deterministic: the same identity gives the same list, in the same order. Each probe is
labelled with the contract rule it exercises (the contract suite's names) and the `x-assumed`
behaviours of the spec it relies on, so a difference names both. Read-only probes never
call provisioning; the destructive ones (with `--allow-destructive`) leave the organisation
provisioned, as they found it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from envoy_events_kit.contract_tests.target import (
    CONNECTION,
    DEPROVISION,
    PROVISION,
    SUBSCRIPTION,
)

from .mirror import ADMIN, CALLER, EXPIRED, Mirror

#: Who sends a probe: a role of the mirror, or one of these credentials (same on both sides).
NO_AUTH = "none"
GARBAGE = "garbage"
BASIC = "basic"
EMPTY_BEARER = "empty-bearer"
RAW_AUTH = {GARBAGE: "Bearer parity-not-a-token-4f1c2a9e", BASIC: "Basic cGFyaXR5OnBhcml0eQ==",
            EMPTY_BEARER: "Bearer "}
#: Another user and another organisation: valid ids (a prefix and 27 base62 characters,
#: like a KSUID) that are nobody's.
OTHER_USER = "usr_" + "2PARITYotherUSER".ljust(27, "z")
OTHER_ORG = "org_" + "2PARITYotherORG".ljust(27, "z")


@dataclass(frozen=True)
class Probe:
    """One request, as sent to both sides."""

    rule: str
    variant: str
    path: str
    who: str = CALLER
    query: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    assumptions: tuple[str, ...] = ()
    #: Sent only with --allow-destructive (provisioning).
    destructive: bool = False

    @property
    def name(self) -> str:
        return f"{self.rule} [{self.variant}]" if self.variant else self.rule

    @property
    def kind(self) -> str:
        """What sort of step, for the summary's count of what was asked."""
        return "generated channels" if self.variant.startswith("generated") else "fixed requests"

    def headers(self, tokens: dict[str, str]) -> dict[str, str]:
        headers = {}
        if self.who in RAW_AUTH:
            headers["Authorization"] = RAW_AUTH[self.who]
        elif self.who != NO_AUTH:
            headers["Authorization"] = f"Bearer {tokens[self.who]}"
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        return headers


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _sub(rule: str, variant: str, channel: str | None = None, *, form: str = "body",
         who: str = CALLER, assumptions: tuple[str, ...] = (), body: bytes | None = None,
         query: tuple[tuple[str, str], ...] = ()) -> Probe:
    if channel is not None and form in ("body", "both"):
        body = _json({"channel": channel})
    if channel is not None and form in ("query", "both"):
        query = (("channel", channel),)
        assumptions = (*assumptions, "getSubscriptionToken ?channel=")
    return Probe(rule, variant, SUBSCRIPTION, who, query, body, assumptions)


def probes(mirror: Mirror, destructive: bool) -> list[Probe]:
    """Every probe for this identity; destructive ones only when allowed."""
    found = list(_read_only(mirror))
    if destructive and mirror.admin is not None:
        found += list(_provisioning(mirror))
    return found


def _read_only(mirror: Mirror) -> Iterator[Probe]:
    me = mirror.caller.identity
    org, user = me.org_id or OTHER_ORG, me.user_id
    namespaces = list(me.namespaces)
    ns = namespaces[0] if namespaces else mirror.ungranted_namespace()
    own = f"{ns}:{org}#{user}"
    claims = ("ConnectionTokenClaims",)
    yield Probe("connection-token-200", "caller", CONNECTION, assumptions=claims)
    if mirror.admin is not None and mirror.admin.identity != me:
        yield Probe("connection-token-200", "admin", CONNECTION, ADMIN, assumptions=claims)
    unauthorized = ("Unauthorized", "Error")
    for who in (NO_AUTH, GARBAGE, BASIC, EMPTY_BEARER):
        yield Probe("auth-required-401", who, CONNECTION, who, assumptions=unauthorized)
    yield _sub("auth-required-401", "subscription, none", own, form="query", who=NO_AUTH,
               assumptions=unauthorized)
    yield _sub("auth-required-401", "subscription, garbage", own, who=GARBAGE,
               assumptions=unauthorized)
    if mirror.has_expired_token:
        yield Probe("expired-token-401", "", CONNECTION, EXPIRED, assumptions=unauthorized)
    granted = ("SubscriptionTokenClaims",)
    for namespace in namespaces:
        yield _sub("channel-own-granted", f"{namespace} org channel", f"{namespace}:{org}",
                   assumptions=granted)
    yield _sub("channel-own-granted", "own user channel, body", own, assumptions=granted)
    yield _sub("channel-own-granted", "own user channel, ?channel=", own, form="query",
               assumptions=granted)
    yield _sub("channel-own-granted", "own user channel, body and equal ?channel=", own,
               form="both", assumptions=granted)
    yield _sub("channel-own-granted", "among other users", f"{ns}:{org}#{OTHER_USER},{user}",
               assumptions=granted)
    forbidden = ("Error",)
    yield _sub("channel-foreign-user-403", "body", f"{ns}:{org}#{OTHER_USER}",
               assumptions=forbidden)
    yield _sub("channel-foreign-user-403", "?channel=", f"{ns}:{org}#{OTHER_USER}",
               form="query", assumptions=forbidden)
    yield _sub("channel-foreign-org-403", "org channel", f"{ns}:{OTHER_ORG}",
               assumptions=forbidden)
    yield _sub("channel-foreign-org-403", "listing the caller", f"{ns}:{OTHER_ORG}#{user}",
               assumptions=forbidden)
    other_ns = mirror.ungranted_namespace()
    yield _sub("channel-ungranted-namespace-403", other_ns, f"{other_ns}:{org}",
               assumptions=forbidden)
    yield _sub("channel-ungranted-namespace-403", f"{other_ns}, own user",
               f"{other_ns}:{org}#{user}", assumptions=forbidden)
    invalid = ("InvalidRequest", "Channel", "Error")
    for variant, channel in (("empty", ""), ("no org", "nope"), ("upper case", own.upper()),
                             ("trailing #", f"{ns}:{org}#"), ("trailing newline", own + "\n"),
                             ("short org id", f"{ns}:{org[:-1]}"),
                             ("over 255 characters", f"{ns}:{org}#"
                              + ",".join([user] * 9))):
        yield _sub("channel-malformed-400", variant, channel, assumptions=invalid)
    yield _sub("channel-malformed-400", "no org, ?channel=", "nope", form="query",
               assumptions=invalid)
    bad_body = ("InvalidRequest", "Error")
    for variant, body in (("not JSON", b"{not json"), ("a JSON array", b"[]"),
                          ("channel not a string", _json({"channel": 5})),
                          ("no channel", b"{}")):
        yield _sub("subscription-bad-body-400", variant, body=body, assumptions=bad_body)
    yield _sub("subscription-bad-body-400", "neither body nor ?channel=", assumptions=bad_body)
    yield _sub("subscription-body-query-disagree-400", "", body=_json({"channel": own}),
               query=(("channel", f"{ns}:{org}"),),
               assumptions=("getSubscriptionToken ?channel=",))
    yield _sub("subscription-body-query-disagree-400", "?channel= twice",
               query=(("channel", own), ("channel", own)),
               assumptions=("getSubscriptionToken ?channel=",))


def _provisioning(mirror: Mirror) -> Iterator[Probe]:
    """Provision (idempotent), the caller's own right to, deprovision and what it refuses
    meanwhile, provision again: the organisation ends provisioned."""
    me = mirror.caller.identity
    org, user = me.org_id or OTHER_ORG, me.user_id
    ns = (list(me.namespaces) or [mirror.ungranted_namespace()])[0]
    admin_scope = ("MissingAdminScope", "Error")
    for who in (NO_AUTH, GARBAGE):
        for path, rule in ((PROVISION, "auth-required-401"), (DEPROVISION, "auth-required-401")):
            yield Probe(rule, f"{path.rsplit('/', 1)[1]}, {who}", path, who,
                        assumptions=("Unauthorized",), destructive=True)
    yield Probe("provision-204", "admin", PROVISION, ADMIN,
                assumptions=("provisionEvents 204",), destructive=True)
    rule = ("provision-204" if mirror.caller.admin else "provisioning-needs-admin-scope-403")
    yield Probe(rule, "caller", PROVISION, CALLER, assumptions=admin_scope, destructive=True)
    if mirror.admin is not None and mirror.admin.identity.org_id != org:
        return  # the admin cannot turn the caller's organisation off
    yield Probe("deprovision-204", "admin", DEPROVISION, ADMIN,
                assumptions=("deprovisionEvents 204",), destructive=True)
    not_provisioned = ("NotProvisioned", "Error")
    yield Probe("not-provisioned-409", "connection", CONNECTION, CALLER,
                assumptions=not_provisioned, destructive=True)
    own = _sub("not-provisioned-409", "own user channel", f"{ns}:{org}#{user}",
               assumptions=not_provisioned)
    yield Probe(**{**own.__dict__, "destructive": True})
    foreign = _sub("check-order-403-before-409", "", f"{ns}:{org}#{OTHER_USER}")
    yield Probe(**{**foreign.__dict__, "destructive": True})
    malformed = _sub("check-order-400-before-409", "", "nope")
    yield Probe(**{**malformed.__dict__, "destructive": True})
    yield Probe("deprovision-204", "again (idempotent)", DEPROVISION, ADMIN,
                assumptions=("deprovisionEvents 204",), destructive=True)
    yield Probe("provision-204", "after deprovision", PROVISION, ADMIN,
                assumptions=("provisionEvents 204",), destructive=True)
    yield Probe("connection-token-200", "after provision", CONNECTION, CALLER,
                destructive=True)
