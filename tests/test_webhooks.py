"""Signed webhook delivery with a real receiver that verifies with `standardwebhooks`:
delivered once, retried with the same webhook-id, cancelled by deprovision, loopback only,
faults that a careful receiver really rejects, and every attempt recorded."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from envoy_events_kit.mock_server.events.webhooks.delivery import parse_schedule
from envoy_events_kit.mock_server.events.webhooks.receiver import WebhookReceiver
from envoy_events_kit.mock_server.serving.handle import EventsMock

from tests.conftest import ACME, ADMIN, GLOBEX, bearer

pytest_plugins = ["pytester"]

SHIPMENT = {"id": "shp_2iFmwXASMpS3l4IZsauPs8I1eOv", "status": "delivered"}
ORDER = {"id": "ord_2iFmwXASMpS3l4IZsauPs8I1eOv", "status": "packed"}
FAST = (0.0, 0.2, 0.4)


@pytest.fixture
def mock():
    with EventsMock.start({"webhook_retry_schedule": FAST, "webhook_timeout_s": 1.0}) as m:
        yield m


@pytest.fixture
def receiver(mock):
    r = mock.webhook_receiver("admin")
    yield r
    r.stop()


def delivery(mock, **filters: str) -> dict[str, Any]:
    (row,) = mock.deliveries(**filters)
    return row


def wait_status(mock, delivery_id: str, status: str, timeout: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        (row,) = [d for d in mock.deliveries() if d["id"] == delivery_id]
        if row["status"] == status or time.monotonic() > deadline:
            return row
        time.sleep(0.02)


def _wait(condition, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_published_event_is_delivered_once_signed(mock, receiver):
    answer = mock.publish("shipment.updated", SHIPMENT, organisation=ACME)

    (got,) = receiver.assert_delivered(type="shipment.updated", times=1)
    assert got.verified and got.error is None
    assert got.event == answer["event"] and got.webhook_id == answer["event"]["id"]
    assert got.headers["content-type"] == "application/json"
    (delivery_id,) = [d for d in answer["webhooks"]["deliveries"]
                      if delivery(mock, endpoint=receiver.endpoint_id)["id"] == d]
    row = wait_status(mock, delivery_id, "delivered")
    assert [a["status_code"] for a in row["attempts"]] == [204]
    assert row["webhook_id"] == answer["event"]["id"] and row["attempts"][0]["latency_ms"] > 0


def test_two_failures_then_delivered_on_the_third_attempt_with_the_same_id(mock, receiver):
    receiver.respond_with(500, times=2)
    answer = mock.publish("shipment.updated", SHIPMENT, organisation=ACME)

    receiver.assert_delivered(type="shipment.updated", times=3)
    assert [r.answered for r in receiver.received] == [500, 500, 204]
    assert {r.webhook_id for r in receiver.received} == {answer["event"]["id"]}
    row = wait_status(mock, delivery(mock, endpoint=receiver.endpoint_id)["id"], "delivered")
    assert [a["status_code"] for a in row["attempts"]] == [500, 500, 204]
    assert row["attempts"][0]["error"] == "the endpoint answered 500"


def test_a_receiver_that_keeps_failing_fails_the_delivery_and_marks_the_endpoint(mock, receiver):
    receiver.respond_with(503, times=10)
    mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
    row = wait_status(mock, delivery(mock, endpoint=receiver.endpoint_id)["id"], "failed")
    assert len(row["attempts"]) == len(FAST) and row["status"] == "failed"
    (endpoint,) = [e for e in mock.webhook_endpoints(ACME) if e["id"] == receiver.endpoint_id]
    assert endpoint["failing"] is True
    retried = mock.retry_delivery(row["id"])  # a manual retry: one more attempt, now
    assert retried["status"] == "pending"
    assert len(wait_status(mock, row["id"], "failed")["attempts"]) == len(FAST) + 1


def test_deprovision_cancels_pending_retries_and_nothing_more_arrives():
    # Retries run on the mock's clock: frozen, then moved past every retry the schedule had
    # left; a later event to another organisation, delivered, is the barrier (the workers
    # take what is due in order), so no fixed sleep stands in for "nothing more".
    settings = {"webhook_retry_schedule": (0.0, 1.0, 1.0), "clock": "2026-06-01T12:00:00Z"}
    with EventsMock.start(settings) as mock, \
            mock.webhook_receiver("admin") as receiver:
        receiver.respond_with(500, times=10)
        mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
        receiver.wait_for(1)
        row = delivery(mock, endpoint=receiver.endpoint_id)
        assert requests.get(f"{mock.url}/events/deprovision", headers=bearer(ADMIN),
                            timeout=5).status_code == 204
        mock.advance_clock(10)
        mock.provision(GLOBEX)
        with mock.webhook_receiver("other-org") as barrier:
            mock.publish("shipment.updated", SHIPMENT, organisation=GLOBEX)
            barrier.wait_for(1)
        assert len(receiver.received) == 1
        after = [d for d in mock.deliveries() if d["id"] == row["id"]][0]
        assert after["status"] == "cancelled" and after["next_attempt_at"] is None
        assert mock.deliveries(status="cancelled")
        mock.provision(ACME)
        assert mock.webhook_endpoints(ACME) == []  # no old endpoint comes back
        with pytest.raises(Exception, match="409"):
            mock.retry_delivery(row["id"])


@pytest.mark.parametrize("url", ["https://hooks.example.com/in", "http://10.0.0.1/in",
                                 "http://169.254.169.254/latest", "ftp://127.0.0.1/x"])
def test_only_loopback_urls_are_accepted(mock, url):
    response = requests.post(f"{mock.url}/__mock__/orgs/{ACME}/webhook_endpoints",
                             json={"url": url}, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_allow_webhook_host_widens_the_rule():
    with EventsMock.start({"allowed_webhook_hosts": ("hooks.example.com",)}) as mock:
        assert mock.add_webhook_endpoint(ACME, "https://hooks.example.com/in")["url"]


def test_a_host_that_is_not_allowed_is_never_contacted(mock):
    # The fixture endpoint of Acme is https://hooks.acme.example/envoy: recorded, not sent.
    answer = mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
    (row,) = mock.deliveries(status="blocked")
    assert row["id"] in answer["webhooks"]["deliveries"]
    assert row["attempts"][0]["status_code"] is None
    assert "not a loopback address" in row["attempts"][0]["error"]


def test_event_type_filters(mock):
    with WebhookReceiver() as orders_only:
        endpoint = mock.add_webhook_endpoint(ACME, orders_only.url,
                                             event_types=["order.updated"])
        orders_only.secret = endpoint["secret"]
        mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
        mock.publish("order.updated", ORDER, organisation=ACME)
        orders_only.assert_delivered(type="order.updated", times=1)
        assert orders_only.deliveries(type="shipment.updated") == []
    response = requests.post(f"{mock.url}/__mock__/orgs/{ACME}/webhook_endpoints",
                             json={"url": "http://127.0.0.1:9/x", "event_types": ["order.update"]},
                             timeout=5)
    assert response.status_code == 400 and "order.updated" in response.json()["error"]["message"]


def test_a_given_secret_is_used_and_a_derived_one_repeats_across_runs(mock):
    secret = "whsec_" + "A" * 43 + "="
    assert mock.add_webhook_endpoint(ACME, "http://127.0.0.1:9/a", secret=secret)["secret"] \
        == secret
    derived = mock.add_webhook_endpoint(ACME, "http://127.0.0.1:9/b")
    with EventsMock.start() as again:  # the same steps on a fresh mock: the same secret
        again.add_webhook_endpoint(ACME, "http://127.0.0.1:9/a", secret=secret)
        assert again.add_webhook_endpoint(ACME, "http://127.0.0.1:9/b")["secret"] \
            == derived["secret"]
    assert derived["secret"].startswith("whsec_") and derived["secret"] != secret


def test_bad_signature_fault_is_rejected_by_a_verifying_receiver_then_retried(mock, receiver):
    mock.inject_delivery_fault("bad_signature")
    mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
    receiver.assert_delivered(type="shipment.updated", times=1)
    (bad,) = receiver.deliveries(verified=False)
    assert bad.answered == 400 and "signature" in bad.error.lower()
    row = wait_status(mock, delivery(mock, endpoint=receiver.endpoint_id)["id"], "delivered")
    assert [a["fault"] for a in row["attempts"]] == ["bad_signature", None]


def test_old_timestamp_fault_is_rejected_by_a_verifying_receiver(mock, receiver):
    mock.inject_delivery_fault("old_timestamp")
    mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
    receiver.assert_delivered(type="shipment.updated", times=1)
    (old,) = receiver.deliveries(verified=False)
    assert "timestamp" in old.error.lower()
    assert int(old.headers["webhook-timestamp"]) < time.time() - 300


def test_duplicate_fault_sends_the_same_delivery_twice(mock, receiver):
    mock.inject_delivery_fault("duplicate")
    answer = mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
    got = receiver.assert_delivered(type="shipment.updated", times=2)
    assert {r.webhook_id for r in got} == {answer["event"]["id"]}


def test_delay_fault_delays_the_attempt(mock, receiver):
    mock.inject_delivery_fault("delay", delay_ms=600)
    began = time.monotonic()
    mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
    receiver.assert_delivered(type="shipment.updated", times=1)
    assert time.monotonic() - began >= 0.6


def test_the_api_answer_never_waits_on_a_receiver(mock, receiver):
    receiver.respond_with(204, delay_s=0.8)  # within the 1 s timeout
    began = time.monotonic()
    mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
    assert time.monotonic() - began < 0.5
    receiver.assert_delivered(type="shipment.updated", times=1, timeout=5)


def test_timeouts_and_redirects_are_failures(mock, receiver):
    receiver.respond_with(204, delay_s=1.5)  # over the 1 s timeout
    receiver.respond_with(302)  # a redirect: not followed
    mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
    row = wait_status(mock, delivery(mock, endpoint=receiver.endpoint_id)["id"], "delivered")
    assert row["attempts"][0]["error"] == "no answer within 1 s"
    assert row["attempts"][1]["status_code"] == 302
    assert [r.path for r in receiver.received] == ["/webhooks/envoy"] * 3  # never /redirected


def test_stopping_the_mock_records_every_pending_attempt():
    mock = EventsMock.start({"webhook_retry_schedule": (0.0, 30.0)})
    with mock.webhook_receiver("admin") as receiver:
        receiver.respond_with(500)
        mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
        receiver.wait_for(1)
        _wait(lambda: delivery(mock, endpoint=receiver.endpoint_id)["next_attempt_at"])
        state = mock.server.state
        mock.stop()
    (row,) = [d for d in state.webhooks.deliveries() if d["endpoint_id"] == receiver.endpoint_id]
    assert row["status"] == "abandoned"
    assert "mock stopped before this attempt" in row["attempts"][-1]["error"]


def test_reset_forgets_deliveries_and_delivery_faults(mock, receiver):
    mock.inject_delivery_fault("bad_signature", times=5)
    mock.reset()
    assert mock.deliveries() == []
    fresh = mock.webhook_receiver("admin")
    try:
        mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
        fresh.assert_delivered(type="shipment.updated", times=1)
        assert fresh.deliveries(verified=False) == []
    finally:
        fresh.stop()


def test_deliveries_filters_and_bad_filters(mock, receiver):
    answer = mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
    receiver.wait_for(1)
    assert {d["event_id"] for d in mock.deliveries(event=answer["event"]["id"])} == {
        answer["event"]["id"]}
    assert mock.deliveries(event_type="order.updated") == []
    assert len(mock.deliveries(organisation=ACME)) == 2  # the receiver and the blocked fixture
    (blocked,) = mock.deliveries(status="blocked")
    refused = requests.post(f"{mock.url}/__mock__/deliveries/{blocked['id']}/retry", timeout=5)
    assert refused.status_code == 409 and "not a loopback address" in refused.text
    assert mock.deliveries(status="blocked") == [blocked]  # still blocked, nothing sent
    bad = requests.get(f"{mock.url}/__mock__/deliveries?status=lost", timeout=5)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"
    unknown = requests.post(f"{mock.url}/__mock__/deliveries/dlv_99999999/retry", timeout=5)
    assert unknown.status_code == 404


def test_a_burst_is_fully_accounted_for():
    with EventsMock.start() as mock:
        receivers = [mock.webhook_receiver("admin") for _ in range(3)]
        try:
            for n in range(100):
                mock.publish("order.updated", {**ORDER, "lines": n}, organisation=ACME)
            for r in receivers:
                got = r.assert_delivered(type="order.updated", times=100, timeout=30)
                assert len({g.webhook_id for g in got}) == 100  # none twice
        finally:
            for r in receivers:
                r.stop()
        rows = mock.deliveries()
    assert len(rows) == 400  # 3 receivers + the blocked fixture endpoint, 100 events each
    assert {d["status"] for d in rows} == {"delivered", "blocked"}
    assert all(len(d["attempts"]) == 1 for d in rows)


def test_schedules():
    assert parse_schedule("0,1,5") == (0.0, 1.0, 5.0)
    # Svix's published schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    svix = (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
    assert parse_schedule("svix") == parse_schedule(" SVIX ") == svix
    for bad in ("", "1,-1", "x", "nan", "inf"):
        with pytest.raises(ValueError):
            parse_schedule(bad)


def test_endpoints_and_secrets_survive_a_restart(tmp_path):
    settings = {"state_file": tmp_path / "state.json"}
    with EventsMock.start(settings) as mock:
        made = mock.add_webhook_endpoint(ACME, "http://127.0.0.1:9/kept",
                                         event_types=["order.updated"])
    with EventsMock.start(settings) as again:
        (kept,) = [e for e in again.webhook_endpoints(ACME) if e["id"] == made["id"]]
    assert kept == made


PLUGIN_TESTS = """
def test_receiver_fixture(events_mock, events_webhook_receiver):
    org = events_mock.principals["admin"].org_id
    answer = events_mock.publish("batch.updated",
                                 {"id": "batch_2iFmwXASMpS3l4IZsauPs8I1eOv", "status": "open"},
                                 organisation=org)
    (got,) = events_webhook_receiver.assert_delivered(type="batch.updated", times=1)
    assert got.event == answer["event"] and got.verified
"""


def test_the_plugin_fixture(pytester):
    pytester.makepyfile(PLUGIN_TESTS)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
