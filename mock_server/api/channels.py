"""The "may this principal join this channel" rule. Pure functions, no Flask.

The grammar itself lives in the spec's `Channel` schema; requests are validated against it
before they get here, so this module only splits a valid channel into its parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..state.model import Principal


@dataclass(frozen=True)
class Channel:
    namespace: str
    org_id: str
    users: tuple[str, ...] | None  # None: not user-limited


def parse(channel: str) -> Channel:
    """Split `ns:org[#usr,...]` at the first `:` and the last `#`, as Centrifugo does."""
    namespace, sep, rest = channel.partition(":")
    if not sep:
        raise ValueError(f"channel {channel!r} has no namespace")
    body, hash_, users = rest.rpartition("#")
    if not hash_:
        return Channel(namespace, rest, None)
    return Channel(namespace, body, tuple(users.split(",")))


def granted_namespaces(scopes: frozenset[str], namespaces: Mapping[str, str]) -> list[str]:
    """Namespaces whose scope the principal holds, sorted."""
    return sorted(name for name, scope in namespaces.items() if scope in scopes)


def connection_channels(principal: Principal, namespaces: Mapping[str, str]) -> list[str]:
    """The server-side subscriptions of a connection token: one org channel per namespace."""
    return sorted(
        f"{name}:{principal.org_id}"
        for name in granted_namespaces(principal.scopes, namespaces)
    )


def refusal(principal: Principal, channel: Channel, namespaces: Mapping[str, str]) -> str | None:
    """Why the principal may not join the channel, or None when it may."""
    if channel.namespace not in namespaces:
        return f"namespace {channel.namespace!r} does not exist"
    if channel.org_id != principal.org_id:
        return "the channel belongs to another organisation"
    if namespaces[channel.namespace] not in principal.scopes:
        return f"the token lacks the scope {namespaces[channel.namespace]!r}"
    if channel.users is not None and principal.user_id not in channel.users:
        return "the channel is limited to other users"
    return None
