"""8 threads provisioning, deprovisioning and issuing tokens at once over real HTTP.

Threads 0-3 each own an organisation, so a sequential model predicts every status and the
final state exactly; threads 4-7 share one organisation, where every answer must still be
one the contract allows. No 5xx anywhere.
"""

from __future__ import annotations

import random
import threading

import pytest
import requests
from envoy_events_kit.mock_server import MockServer

from tests.conftest import ACME, ADA, ADMIN, bearer

ROUNDS = 60
SHARED_ALLOWED = {
    "connection_token": {200, 409},
    "subscription_token": {200, 409},
    "provision": {204},
    "deprovision": {204},
}


@pytest.fixture(scope="module")
def server():
    with MockServer({"strict": True}, threads=8) as server:
        yield server


def _org(i: int) -> tuple[str, str]:
    return f"org_{'C' * 26}{i}", f"usr_{'D' * 26}{i}"


def _call(session, base, token, op, channel):
    path = f"{base}/events/{op}"
    kwargs = {"json": {"channel": channel}} if op == "subscription_token" else {}
    return session.get(path, headers=bearer(token), timeout=10, **kwargs).status_code


def _owner(base, i, errors):
    """Own org: every status predicted by a sequential model."""
    org, user = _org(i)
    session = requests.Session()
    token = session.post(f"{base}/__mock__/principals", timeout=10, json={
        "org_id": org, "user_id": user, "scopes": ["orders:read", "events:admin"]}).json()["token"]
    provisioned, endpoints, rng = False, 0, random.Random(i)
    for _ in range(ROUNDS):
        op = rng.choice(["connection_token", "subscription_token", "provision", "deprovision",
                         "webhook"])
        if op == "webhook":
            status = session.post(f"{base}/__mock__/orgs/{org}/webhook_endpoints", timeout=10,
                                  json={"url": "http://127.0.0.1:9/x"}).status_code
            expected, endpoints = 201, endpoints + 1
        else:
            status = _call(session, base, token, op, f"orders:{org}#{user}")
            if op in ("provision", "deprovision"):
                expected, provisioned = 204, op == "provision"
                endpoints = endpoints if provisioned else 0
            else:
                expected = 200 if provisioned else 409
        if status != expected:
            errors.append(f"thread {i} {op}: {status} != {expected}")
    return provisioned, endpoints


def _sharer(base, i, errors):
    session, rng = requests.Session(), random.Random(100 + i)
    for _ in range(ROUNDS):
        op = rng.choice(sorted(SHARED_ALLOWED))
        status = _call(session, base, ADMIN, op, f"shipments:{ACME}#{ADA}")
        if status not in SHARED_ALLOWED[op]:
            errors.append(f"shared thread {i} {op}: {status}")


def test_concurrent_clients_leave_a_consistent_state(server):
    errors: list[str] = []
    results: dict[int, tuple[bool, int]] = {}

    def run(i):
        if i < 4:
            results[i] = _owner(server.url, i, errors)
        else:
            _sharer(server.url, i, errors)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[:10]
    assert len(results) == 4
    state = {o["id"]: o for o in requests.get(f"{server.url}/__mock__/state").json()[
        "organisations"]}
    for i, (provisioned, endpoints) in results.items():
        org = state[_org(i)[0]]
        assert org["provisioned"] is provisioned
        assert len(org["webhook_endpoints"]) == endpoints
    acme = state[ACME]
    assert acme["webhook_endpoints"] == [] or acme["provisioned"]
    journal = requests.get(f"{server.url}/__mock__/journal").json()["entries"]
    assert journal and all(entry["status"] < 500 for entry in journal)
