"""Semantic: bad credentials are a 401 with `WWW-Authenticate: Bearer` on all four endpoints,
and authentication comes first in the check order (401 before 400)."""

from __future__ import annotations

import pytest
from envoy_events_kit.contract_tests.checks import Context, Exchange, RuleBroken, check_all
from envoy_events_kit.contract_tests.target import (
    CONNECTION,
    DEPROVISION,
    PROVISION,
    SUBSCRIPTION,
    Target,
)

#: What a caller may send instead of valid credentials (None: no Authorization header).
BAD_CREDENTIALS = {
    "missing": None,
    "empty": "",
    "garbage-bearer": "Bearer not-a-real-token-7d1c0f",
    "bearer-without-token": "Bearer",
    "basic-scheme": "Basic ZGV2OmRldg==",
    "token-scheme": "Token not-a-real-token-7d1c0f",
}
DESTRUCTIVE = pytest.mark.destructive


def _endpoints() -> list:
    return [CONNECTION, SUBSCRIPTION, pytest.param(PROVISION, marks=DESTRUCTIVE),
            pytest.param(DEPROVISION, marks=DESTRUCTIVE)]


def _own_body(target: Target) -> dict:
    me = target.identity
    if me and me.namespaces:
        return {"channel": f"{me.namespaces[0]}:{me.org_id}#{me.user_id}"}
    return {"channel": "shipments:org_" + "A" * 27}


def expect_401(response, rules: Context, rule: str) -> None:
    if response.status_code != 401:
        raise RuleBroken(rule, f"expected 401, got {response.status_code}")
    check_all(Exchange.from_response(response), rules)


@pytest.mark.assumption("Unauthorized", "Error")
@pytest.mark.parametrize("credentials", list(BAD_CREDENTIALS))
@pytest.mark.parametrize("path", _endpoints())
def test_bad_credentials_are_401(target: Target, rules: Context, path: str,
                                 credentials: str) -> None:
    body = _own_body(target) if path == SUBSCRIPTION else None
    response = target.get(path, auth=BAD_CREDENTIALS[credentials], json=body)
    expect_401(response, rules, "auth-required-401")


@pytest.mark.assumption("Unauthorized")
@pytest.mark.parametrize("path", _endpoints())
def test_expired_token_is_401(target: Target, rules: Context, path: str) -> None:
    if not target.expired_token:
        pytest.skip("no expired token: give one with --events-expired-token")
    body = _own_body(target) if path == SUBSCRIPTION else None
    response = target.get(path, target.expired_token, json=body)
    expect_401(response, rules, "expired-token-401")


@pytest.mark.assumption("Unauthorized")
def test_401_comes_before_400(target: Target, rules: Context) -> None:
    """A bad token with a malformed channel is refused for the token, not the channel."""
    response = target.get(SUBSCRIPTION, auth="Bearer not-a-real-token-7d1c0f",
                          json={"channel": "not a channel"})
    expect_401(response, rules, "check-order-401-before-400")
