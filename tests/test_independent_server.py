"""Parity and the proxy against an implementation that is not the mock (its own ids,
namespaces, secret, token lifetime, messages): where it conforms, nothing is reported."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from envoy_events_kit.parity import ParityOptions, run
from envoy_events_kit.parity.report import summary
from envoy_events_kit.proxy import ProxyApp, ProxyServer, Validator
from tests.independent_server import BOSS, CALLER, ORG, SECRET, TOKENS, IndependentServer
from tests.served import serve

CALLER_TOKEN, BOSS_TOKEN, EXPIRED_TOKEN = TOKENS


@pytest.fixture
def independent():
    served = serve(IndependentServer())
    try:
        yield served
    finally:
        served.stop()


def test_parity_with_an_independent_conforming_server_finds_nothing(independent) -> None:
    options = ParityOptions(base_url=independent.url, token=CALLER_TOKEN,
                            admin_token=BOSS_TOKEN, expired_token=EXPIRED_TOKEN,
                            allow_destructive=True)
    result = run(options, echo=lambda _: None)
    assert result.exit_code == 0, summary(result, options)
    mirror = result.mirror
    assert mirror is not None and mirror.token_ttl == 900  # its lifetime, not the mock's
    assert mirror.caller.identity.user_id == CALLER and mirror.caller.identity.org_id == ORG
    assert set(mirror.caller.identity.namespaces) == {"fleet", "shipments"}
    assert mirror.caller.may_provision is False and mirror.admin is not None
    assert mirror.admin.identity.user_id == BOSS and mirror.admin.may_provision is True
    assert any(o.probe.rule == "not-provisioned-409" for o in result.outcomes)
    # Left as found: provisioned.
    answer = requests.get(f"{independent.url}/events/connection_token", timeout=10,
                          headers={"Authorization": f"Bearer {CALLER_TOKEN}"})
    assert answer.status_code == 200


def _traffic(url: str) -> list[requests.Response]:
    me = {"Authorization": f"Bearer {CALLER_TOKEN}"}
    own = f"fleet:{ORG}#{CALLER}"
    calls: list[tuple[str, dict[str, Any]]] = [
        ("/events/connection_token", {"headers": me}),
        ("/events/subscription_token", {"headers": me, "json": {"channel": own}}),
        ("/events/subscription_token", {"headers": me, "params": {"channel": own}}),
        ("/events/subscription_token", {"headers": me, "params": {"channel": f"orders:{ORG}"}}),
        ("/events/subscription_token", {"headers": me, "params": {"channel": "nope"}}),
        ("/events/connection_token", {}),
        ("/events/provision", {"headers": me}),
        ("/events/provision", {"headers": {"Authorization": f"Bearer {BOSS_TOKEN}"}}),
    ]
    return [requests.get(url + path, timeout=10, **kwargs) for path, kwargs in calls]


def test_the_proxy_in_front_of_an_independent_conforming_server_finds_nothing(
        independent) -> None:
    proxy = ProxyServer(ProxyApp(independent.url, validator=Validator(secret=SECRET))).start()
    try:
        answers = _traffic(proxy.url)
        assert [a.status_code for a in answers] == [200, 200, 200, 403, 400, 401, 403, 204]
        data = requests.get(f"{proxy.url}/__proxy__/report", timeout=10).json()
    finally:
        proxy.stop()
    assert data["judged"] == 8 and data["violation_count"] == 0, data["violations"]
