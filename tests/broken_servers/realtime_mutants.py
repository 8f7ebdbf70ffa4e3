"""Broken realtime stand-ins: a real Centrifugo behind a proxy that breaks exactly one rule.

Each class names the rule it breaks (`breaks`); tests/test_contract_realtime.py runs the
contract suite against each and requires that rule, and no other, to read BROKEN.
"""

from __future__ import annotations

import time

import jwt

from broken_servers.base import DEV_SECRET
from broken_servers.realtime_proxy import Message, RealtimeProxy, Session, claims_of


def _users(channel: str) -> list[str] | None:
    """The users a `#` channel is limited to, or None."""
    return channel.rsplit("#", 1)[1].split(",") if "#" in channel else None


class OpensOtherUsersChannels(RealtimeProxy):
    """Answers "subscribed" to another user's `#` channel asked without a token."""

    breaks = "realtime-foreign-user-channel"

    def from_client(self, message: Message, session: Session) -> tuple[list[Message],
                                                                       list[Message]]:
        sub = message.get("subscribe")
        users = _users(sub["channel"]) if sub else None
        if sub and not sub.get("token") and users and session.claims.get("sub") not in users:
            return [], [{"id": message["id"], "subscribe": {}}]
        return [message], []


class TokenOpensAnyChannel(RealtimeProxy):
    """Answers "subscribed" when a subscription token names another channel than the one
    asked for (instead of closing with 3500 invalid token)."""

    breaks = "realtime-token-bound-to-channel"

    def from_client(self, message: Message, session: Session) -> tuple[list[Message],
                                                                       list[Message]]:
        sub = message.get("subscribe")
        if sub and sub.get("token") and claims_of(sub["token"]).get("channel") != sub["channel"]:
            return [], [{"id": message["id"], "subscribe": {}}]
        return [message], []


class AcceptsExpiredTokens(RealtimeProxy):
    """Lets an expired connection token in (re-signed with a future expiry), so the client
    is never told 109 and never calls getToken."""

    breaks = "realtime-expired-token"

    def from_client(self, message: Message, session: Session) -> tuple[list[Message],
                                                                       list[Message]]:
        connect = message.get("connect")
        if connect:
            claims, now = claims_of(connect.get("token", "")), time.time()
            if claims.get("exp", now) < now:
                claims["exp"] = int(now) + 600
                connect["token"] = jwt.encode(claims, DEV_SECRET, algorithm="HS256")
        return [message], []


class DropsPublications(RealtimeProxy):
    """Never delivers a publication."""

    breaks = "realtime-publication"

    def from_server(self, message: Message, session: Session) -> list[Message]:
        return [] if "pub" in message.get("push", {}) else [message]


class DeprovisionReconnects(RealtimeProxy):
    """Closes a deprovisioned organisation's connections with 3001 (shutdown), on which
    clients reconnect, instead of a terminal code."""

    breaks = "realtime-deprovision"
    says = "with code 3001 (shutdown), after which clients reconnect"

    def server_closed(self, code: int, reason: str, session: Session) -> tuple[int, str]:
        return (3001, "shutdown") if code >= 4500 else (code, reason)


PROXIES: dict[str, type[RealtimeProxy]] = {
    "opens-other-users-channels": OpensOtherUsersChannels,
    "token-opens-any-channel": TokenOpensAnyChannel,
    "accepts-expired-tokens": AcceptsExpiredTokens,
    "drops-publications": DropsPublications,
    "deprovision-reconnects": DeprovisionReconnects,
}



# -- silence or another code instead of the documented refusal (finding: silence is not a
#    refusal). Each maps to the rules it breaks and the words the suite must use.
class IgnoresSubscribesWithoutToken(RealtimeProxy):
    """Never answers a subscribe without a token: no refusal, just silence."""

    breaks = ("realtime-foreign-user-channel", "realtime-foreign-org-channel")
    says = "no answer within 5 s"

    def from_client(self, message: Message, session: Session) -> tuple[list[Message],
                                                                       list[Message]]:
        sub = message.get("subscribe")
        return ([], []) if sub and not sub.get("token") else ([message], [])


class IgnoresMismatchedTokens(TokenOpensAnyChannel):
    """Never answers a subscribe whose token names another channel."""

    breaks = ("realtime-token-bound-to-channel",)
    says = "no answer within 5 s"

    def from_client(self, message: Message, session: Session) -> tuple[list[Message],
                                                                       list[Message]]:
        sent, answered = super().from_client(message, session)
        return sent, []  # the faked "subscribed" is dropped too: silence


class RefusesWithUnknownChannel(RealtimeProxy):
    """Refuses a subscribe without a token with 102 (unknown channel) instead of 103."""

    breaks = ("realtime-foreign-user-channel", "realtime-foreign-org-channel")
    says = "refused 102, not error 103 (permission denied)"

    def from_server(self, message: Message, session: Session) -> list[Message]:
        if message.get("error", {}).get("code") == 103 and message.get("id") in \
                session.subscribes:
            message["error"] = {"code": 102, "message": "unknown channel"}
        return [message]


class RefusesExpiredWithUnauthorized(RealtimeProxy):
    """Answers an expired token with 101 (unauthorized) instead of 109: clients give up
    instead of calling getToken."""

    breaks = ("realtime-expired-token",)
    says = "not error 109 (token expired)"

    def from_server(self, message: Message, session: Session) -> list[Message]:
        if message.get("error", {}).get("code") == 109:
            message["error"] = {"code": 101, "message": "unauthorized"}
        return [message]


REFUSAL_PROXIES: dict[str, type[RealtimeProxy]] = {
    "ignores-subscribes-without-token": IgnoresSubscribesWithoutToken,
    "ignores-mismatched-tokens": IgnoresMismatchedTokens,
    "refuses-with-unknown-channel": RefusesWithUnknownChannel,
    "refuses-expired-with-unauthorized": RefusesExpiredWithUnauthorized,
}
