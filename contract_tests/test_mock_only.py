"""Mock-only properties: signatures, determinism under a frozen clock, the journal, the
control API's provisioning switch and scope checks. Skipped against a deployment."""

from __future__ import annotations

import jwt
import pytest
from envoy_events_kit.contract_tests.checks import Context, Exchange, RuleBroken, check_all
from envoy_events_kit.contract_tests.target import (
    CONNECTION,
    DEPROVISION,
    PROVISION,
    SUBSCRIPTION,
    Identity,
    Target,
    provisioning_scope,
)

from envoy_events_kit.claims import CONNECTION as CONNECTION_CLAIMS
from envoy_events_kit.claims import SUBSCRIPTION as SUBSCRIPTION_CLAIMS
from envoy_events_kit.claims import claims

pytestmark = pytest.mark.mock_only
FROZEN_AT, FROZEN_TS = "2030-01-02T03:04:05Z", 1893553445


def _token(response) -> str:
    return response.json()["token"]


@pytest.fixture
def me(target: Target) -> Identity:
    if not target.identity or not target.identity.namespaces:
        pytest.skip("the connection token of --events-token grants no channel")
    return target.identity


@pytest.fixture
def frozen_clock(target: Target):
    before = target.control("GET", "/clock").json()
    target.control("PUT", "/clock", json={"frozen_at": FROZEN_AT}).raise_for_status()
    try:
        yield FROZEN_TS
    finally:  # back as it was, frozen or not
        restore = {"mode": "real"} if before["mode"] == "real" else {"frozen_at": before["now"]}
        target.control("PUT", "/clock", json=restore).raise_for_status()


@pytest.fixture
def unprovisioned(target: Target, me: Identity):
    """The caller's organisation switched off through the control API, and back on after."""
    target.control("PUT", f"/orgs/{me.org_id}", json={"provisioned": False}).raise_for_status()
    try:
        yield
    finally:
        target.control("PUT", f"/orgs/{me.org_id}", json={"provisioned": True})


def test_tokens_verify_with_the_secret(target: Target, me: Identity) -> None:
    if not target.secret:
        pytest.skip("no --jwt-secret: the mock's signing secret is unknown (see "
                    "--events-jwt-secret)")
    channel = f"{me.namespaces[0]}:{me.org_id}#{me.user_id}"
    for response in (target.get(CONNECTION, target.token),
                     target.get(SUBSCRIPTION, target.token, json={"channel": channel})):
        try:
            # The signature only: expiry has its own rule, judged by the target's own clock.
            jwt.decode(_token(response), target.secret, algorithms=["HS256"],
                       options={"verify_exp": False, "verify_iat": False})
        except jwt.PyJWTError as exc:
            raise RuleBroken("jwt-signature", f"token does not verify: {exc}") from exc


def test_frozen_clock_gives_identical_tokens(target: Target, rules: Context, me: Identity,
                                            frozen_clock: int) -> None:
    channel = f"{me.namespaces[0]}:{me.org_id}"
    for path, body in ((CONNECTION, None), (SUBSCRIPTION, {"channel": channel})):
        first, second = (target.get(path, target.token, json=body) for _ in range(2))
        if _token(first) != _token(second):
            raise RuleBroken("mock-deterministic-tokens",
                             f"{path} gave two different tokens under a frozen clock")
        payload = jwt.decode(_token(first), options={"verify_signature": False})
        kind = claims(CONNECTION_CLAIMS if path == CONNECTION else SUBSCRIPTION_CLAIMS)
        issued_at = kind.get(payload, "issued_at")
        if issued_at != frozen_clock:
            raise RuleBroken("mock-deterministic-tokens",
                             f"issued at {issued_at}, not the frozen instant {frozen_clock}")


def test_journal_records_requests_without_tokens(target: Target) -> None:
    target.control("DELETE", "/journal").raise_for_status()
    target.get(CONNECTION, target.token)
    response = target.control("GET", "/journal")
    entries = response.json()["entries"]
    if not any(e["path"] == CONNECTION and e["status"] == 200 for e in entries):
        raise RuleBroken("mock-journal", f"the journal has no 200 for {CONNECTION}")
    if target.token in response.text:
        raise RuleBroken("mock-journal", "the journal holds a bearer token")


@pytest.mark.assumption("NotProvisioned", "Error")
@pytest.mark.parametrize("path", [CONNECTION, SUBSCRIPTION])
def test_unprovisioned_org_gets_409(target: Target, rules: Context, me: Identity,
                                    unprovisioned: None, path: str) -> None:
    body = {"channel": f"{me.namespaces[0]}:{me.org_id}#{me.user_id}"}
    response = target.get(path, target.token, json=body if path == SUBSCRIPTION else None)
    if response.status_code != 409:
        raise RuleBroken("not-provisioned-409",
                         f"{path} answered {response.status_code} for an unprovisioned org")
    check_all(Exchange.from_response(response), rules)
    if response.json()["error"]["code"] != "not_provisioned":
        raise RuleBroken("not-provisioned-409", "the error code is not not_provisioned")


def test_403_comes_before_409(target: Target, rules: Context, me: Identity,
                              unprovisioned: None) -> None:
    channel = f"{me.namespaces[0]}:org_{'Z' * 27}"
    response = target.get(SUBSCRIPTION, target.token, json={"channel": channel})
    if response.status_code != 403:
        raise RuleBroken("check-order-403-before-409",
                         f"a foreign channel of an unprovisioned org got {response.status_code}")
    check_all(Exchange.from_response(response), rules)


@pytest.mark.assumption("MissingAdminScope", "Error")
@pytest.mark.parametrize("path", [PROVISION, DEPROVISION])
def test_provisioning_needs_the_admin_scope(target: Target, rules: Context, me: Identity,
                                            path: str) -> None:
    scopes = [f"{ns}:read" for ns in me.namespaces]
    created = target.control("POST", "/principals", json={
        "org_id": me.org_id, "user_id": me.user_id, "scopes": scopes, "name": "no-admin"})
    created.raise_for_status()
    token = created.json()["token"]
    target.remember(token)
    if provisioning_scope() in created.json()["scopes"]:
        pytest.skip("the minted principal unexpectedly holds the provisioning scope")
    try:
        response = target.get(path, token)
        if response.status_code != 403:
            raise RuleBroken("provisioning-needs-admin-scope-403",
                             f"{path} without {provisioning_scope()} got {response.status_code}")
        check_all(Exchange.from_response(response), rules)
    finally:
        target.get(PROVISION, target.admin_token)
