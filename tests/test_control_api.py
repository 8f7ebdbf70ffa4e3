"""The control API: reset, state, orgs, webhook endpoints, principals, clock, journal, faults."""

from __future__ import annotations

import time

import pytest

from tests.conftest import ACME, ADA, ADMIN, FROZEN_AT, GLOBEX, bearer

NEW_ORG = "org_2YBXZP5EMzwCXo0yvodxbAUiZEY"
NEW_USER = "usr_2SuceQlax5OJBkQSJ8UDvVX0eeZ"


def _orgs(client) -> dict:
    return {o["id"]: o for o in client.get("/__mock__/state").get_json()["organisations"]}


def test_state_and_reset(client):
    client.get("/events/deprovision", headers=bearer(ADMIN))
    client.put("/__mock__/clock", json={"advance_seconds": 5})
    assert _orgs(client)[ACME]["provisioned"] is False
    assert client.post("/__mock__/reset").status_code == 204
    state = client.get("/__mock__/state").get_json()
    assert {o["id"]: o["provisioned"] for o in state["organisations"]} == {ACME: True,
                                                                           GLOBEX: False}
    assert state["clock"] == {"mode": "frozen", "now": FROZEN_AT}
    assert client.get("/__mock__/journal").get_json()["entries"] == []


def test_put_organisation_creates_and_provisions(client):
    body = client.put(f"/__mock__/orgs/{NEW_ORG}", json={"provisioned": True}).get_json()
    assert body == {"id": NEW_ORG, "provisioned": True, "webhook_endpoints": []}
    assert _orgs(client)[NEW_ORG]["provisioned"] is True


def test_webhook_endpoints_lifecycle(client):
    url = f"/__mock__/orgs/{ACME}/webhook_endpoints"
    created = client.post(url, json={"url": "http://127.0.0.1:9/hook"})
    assert created.status_code == 201
    endpoint = created.get_json()
    listed = client.get(url).get_json()["webhook_endpoints"]
    assert endpoint in listed and len(listed) == 2
    assert client.delete(f"{url}/{endpoint['id']}").status_code == 204
    assert client.delete(f"{url}/{endpoint['id']}").status_code == 404
    assert endpoint not in client.get(url).get_json()["webhook_endpoints"]


def test_principal_creation_gives_a_working_token(client):
    response = client.post("/__mock__/principals", json={
        "org_id": NEW_ORG, "user_id": NEW_USER, "scopes": ["orders:read", "events:admin"],
        "name": "made-in-test"})
    assert response.status_code == 201
    principal = response.get_json()
    assert principal["scopes"] == ["events:admin", "orders:read"]
    headers = bearer(principal["token"])
    assert client.get("/events/connection_token", headers=headers).status_code == 409
    assert client.get("/events/provision", headers=headers).status_code == 204
    channel = f"orders:{NEW_ORG}#{NEW_USER}"
    assert client.get("/events/subscription_token", headers=headers,
                      json={"channel": channel}).status_code == 200


def test_principal_tokens_are_predictable_after_reset(client):
    body = {"org_id": ACME, "user_id": ADA, "scopes": []}
    first = client.post("/__mock__/principals", json=body).get_json()["token"]
    client.post("/__mock__/reset")
    assert client.post("/__mock__/principals", json=body).get_json()["token"] == first
    client.post("/__mock__/reset")
    assert client.get("/events/connection_token", headers=bearer(first)).status_code == 401


def test_clock_freeze_advance_and_real(client):
    assert client.get("/__mock__/clock").get_json() == {"mode": "frozen", "now": FROZEN_AT}
    moved = client.put("/__mock__/clock", json={"frozen_at": "2030-05-01T12:00:00+02:00"})
    assert moved.get_json() == {"mode": "frozen", "now": "2030-05-01T10:00:00Z"}
    advanced = client.put("/__mock__/clock", json={"advance_seconds": 60}).get_json()
    assert advanced["now"] == "2030-05-01T10:01:00Z"
    real = client.put("/__mock__/clock", json={"mode": "real"}).get_json()
    assert real["mode"] == "real"
    assert real["now"][:4] == time.strftime("%Y", time.gmtime())


def test_journal_records_requests_with_tokens_redacted(client):
    client.get("/events/connection_token", headers=bearer(ADMIN))
    client.get("/events/subscription_token", headers=bearer(ADMIN),
               json={"channel": f"shipments:{GLOBEX}"})
    client.get("/nowhere")
    entries = client.get("/__mock__/journal").get_json()["entries"]
    assert [(e["operation_id"], e["status"]) for e in entries] == [
        ("getConnectionToken", 200), ("getSubscriptionToken", 403), (None, 404)]
    assert entries[0]["authorization"] == "Bearer [redacted]"
    assert entries[0]["time"] == FROZEN_AT
    assert ADMIN not in str(entries)
    assert client.delete("/__mock__/journal").status_code == 204
    assert client.get("/__mock__/journal").get_json()["entries"] == []


def test_fault_with_status_fires_for_n_calls(client):
    assert client.put("/__mock__/faults/getConnectionToken",
                      json={"status": 503, "times": 2}).status_code == 204
    statuses = [client.get("/events/connection_token", headers=bearer(ADMIN)).status_code
                for _ in range(3)]
    assert statuses == [503, 503, 200]
    # other operations are untouched
    assert client.get("/events/provision", headers=bearer(ADMIN)).status_code == 204


def test_fault_with_latency_delays_then_answers(client):
    client.put("/__mock__/faults/provisionEvents", json={"latency_ms": 150})
    started = time.monotonic()
    assert client.get("/events/provision", headers=bearer(ADMIN)).status_code == 204
    assert time.monotonic() - started >= 0.15


def test_clear_faults(client):
    client.put("/__mock__/faults/getConnectionToken", json={"status": 500, "times": 5})
    assert client.delete("/__mock__/faults").status_code == 204
    assert client.get("/events/connection_token", headers=bearer(ADMIN)).status_code == 200


@pytest.mark.parametrize("method, path, body", [
    ("put", "/__mock__/orgs/org_bad", {"provisioned": True}),
    ("put", f"/__mock__/orgs/{ACME}", {"provisioned": "yes"}),
    ("put", f"/__mock__/orgs/{ACME}", None),
    ("post", f"/__mock__/orgs/{ACME}/webhook_endpoints", {"url": "ftp://x"}),
    ("post", "/__mock__/principals", {"org_id": ACME}),
    ("post", "/__mock__/principals", {"org_id": ACME, "user_id": ADA, "expires_at": "never"}),
    ("put", "/__mock__/clock", {"frozen_at": "yesterday"}),
    ("put", "/__mock__/clock", {}),
    ("put", "/__mock__/clock", {"advance_seconds": 1, "mode": "real"}),
    ("put", "/__mock__/faults/noSuchOperation", {"status": 500}),
    ("put", "/__mock__/faults/getConnectionToken", {"status": 200}),
    ("put", "/__mock__/faults/getConnectionToken", {"times": 3}),
])
def test_bad_control_requests_are_400_json(client, method, path, body):
    response = getattr(client, method)(path, json=body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == "invalid_request"


def test_unknown_org_webhooks_are_404(client):
    response = client.get(f"/__mock__/orgs/{NEW_ORG}/webhook_endpoints")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_snapshot_round_trip_and_bad_snapshots(client):
    before = client.get("/__mock__/snapshot").get_json()
    client.get("/events/deprovision", headers=bearer(ADMIN))
    client.post("/__mock__/principals", json={"org_id": NEW_ORG, "user_id": NEW_USER})
    client.put("/__mock__/clock", json={"advance_seconds": 60})
    assert client.get("/__mock__/snapshot").get_json() != before
    assert client.put("/__mock__/snapshot", json=before).status_code == 204
    assert client.get("/__mock__/snapshot").get_json() == before
    for bad in ({}, {"state": {}, "clock": {"mode": "real", "now": "x"}},
                {**before, "clock": {"mode": "frozen", "now": "yesterday"}}):
        answer = client.put("/__mock__/snapshot", json=bad)
        assert answer.status_code == 400 and answer.get_json()["error"]["code"] == \
            "invalid_request"
    assert client.get("/__mock__/snapshot").get_json() == before  # nothing half-applied
