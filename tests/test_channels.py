"""The pure channel rule, checked as properties with Hypothesis."""

from __future__ import annotations

import re
import string

import pytest
import yaml
from envoy_events_kit.mock_server.api import channels
from envoy_events_kit.mock_server.state.model import Principal
from hypothesis import given
from hypothesis import strategies as st

from envoy_events_kit import spec_path

NAMESPACES = {"shipments": "shipments:read", "orders": "orders:read"}
CHANNEL_PATTERN = re.compile(
    yaml.safe_load(spec_path().read_text())["components"]["schemas"]["Channel"]["pattern"]
    .replace("$", r"\Z")
)

ksuid = st.text(string.digits + string.ascii_letters, min_size=27, max_size=27)
org_ids = ksuid.map("org_".__add__)
user_ids = ksuid.map("usr_".__add__)
namespaces = st.from_regex(r"[a-z][a-z0-9_-]{1,31}", fullmatch=True)


def principal(org: str, user: str, scopes=("shipments:read", "orders:read")) -> Principal:
    return Principal("t", user, org, frozenset(scopes))


@given(namespaces, org_ids, st.none() | st.lists(user_ids, min_size=1, max_size=5))
def test_parse_inverts_formatting(namespace, org, users):
    text = f"{namespace}:{org}" + (f"#{','.join(users)}" if users else "")
    assert CHANNEL_PATTERN.search(text) or len(text) > 255
    assert channels.parse(text) == channels.Channel(namespace, org, tuple(users) if users else None)


@given(org_ids, user_ids, st.lists(user_ids, max_size=4), st.sampled_from(sorted(NAMESPACES)))
def test_own_user_in_list_of_own_org_is_allowed(org, user, others, namespace):
    channel = channels.Channel(namespace, org, (*others, user))
    assert channels.refusal(principal(org, user), channel, NAMESPACES) is None
    assert channels.refusal(principal(org, user), channels.Channel(namespace, org, None),
                            NAMESPACES) is None


@given(org_ids, org_ids, user_ids)
def test_other_org_is_refused(org, other, user):
    if org != other:
        channel = channels.Channel("shipments", other, (user,))
        assert channels.refusal(principal(org, user), channel, NAMESPACES)


@given(org_ids, user_ids, st.lists(user_ids, min_size=1, max_size=4))
def test_user_limited_channel_without_the_caller_is_refused(org, user, others):
    if user not in others:
        channel = channels.Channel("orders", org, tuple(others))
        assert "other users" in channels.refusal(principal(org, user), channel, NAMESPACES)


@given(org_ids, user_ids, namespaces)
def test_unknown_namespace_or_missing_scope_is_refused(org, user, namespace):
    channel = channels.Channel(namespace, org, None)
    refused = channels.refusal(principal(org, user, scopes=("orders:read",)), channel, NAMESPACES)
    assert (refused is None) == (namespace == "orders")


@given(org_ids, st.frozensets(st.sampled_from(["shipments:read", "orders:read", "x:read"])))
def test_connection_channels_are_sorted_granted_org_channels(org, scopes):
    granted = channels.connection_channels(principal(org, "usr_x", scopes), NAMESPACES)
    assert granted == sorted(granted)
    assert granted == sorted(f"{ns}:{org}" for ns, s in NAMESPACES.items() if s in scopes)


def test_parse_rejects_a_channel_without_namespace():
    with pytest.raises(ValueError):
        channels.parse("no-namespace")
