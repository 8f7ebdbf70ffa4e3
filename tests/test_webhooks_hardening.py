"""Webhook delivery that holds up against bad input and hostile receivers (issues 17 and 20):
targets checked where the connection is made, secrets checked where they come in, a worker
that survives any one delivery, a total deadline and a body cap per attempt, a bounded
delivery log, and state changes (delete, snapshot, restart, clock) that deliveries follow."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
from envoy_events_kit.mock_server.serving.handle import EventsMock

from tests.conftest import ACME

SHIPMENT = {"id": "shp_2iFmwXASMpS3l4IZsauPs8I1eOv", "status": "delivered"}
ORDER = {"id": "ord_2iFmwXASMpS3l4IZsauPs8I1eOv", "status": "packed"}
FAST = (0.0, 0.2, 0.4)


def wait_until(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll `condition` until it is truthy (returned) or the timeout passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {condition}")
        time.sleep(0.02)


def control(mock: EventsMock, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{mock.url}/__mock__{path}", timeout=10, **kwargs)


# -- issue 20: an endpoint that wants no event type keeps wanting none ----------------------

def test_an_empty_event_types_list_survives_a_snapshot_round_trip():
    with EventsMock.start({"webhook_retry_schedule": FAST}) as mock, \
            mock.webhook_receiver("admin") as everything:
        nothing = mock.add_webhook_endpoint(ACME, "http://127.0.0.1:9/none", event_types=[])
        assert nothing["event_types"] == []
        snapshot = control(mock, "GET", "/snapshot").json()
        assert control(mock, "PUT", "/snapshot", json=snapshot).status_code == 204
        (after,) = [e for e in mock.webhook_endpoints(ACME) if e["id"] == nothing["id"]]
        assert after["event_types"] == []
        mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
        everything.assert_delivered(type="shipment.updated", times=1)
        assert mock.deliveries(endpoint=nothing["id"]) == []  # made at publish time, or never


def test_an_empty_event_types_list_survives_a_restart_with_a_state_file(tmp_path):
    settings = {"state_file": tmp_path / "state.json"}
    with EventsMock.start(settings) as mock:
        nothing = mock.add_webhook_endpoint(ACME, "http://127.0.0.1:9/none", event_types=[])
    with EventsMock.start(settings) as again:
        (after,) = [e for e in again.webhook_endpoints(ACME) if e["id"] == nothing["id"]]
        assert after["event_types"] == []
        again.publish("order.updated", ORDER, organisation=ACME)
        assert again.deliveries(endpoint=nothing["id"]) == []


# -- issue 20: a deleted endpoint gets nothing more -----------------------------------------

def test_deleting_an_endpoint_cancels_its_queued_retries():
    with EventsMock.start({"webhook_retry_schedule": (0.0, 0.3, 0.3)}) as mock, \
            mock.webhook_receiver("admin") as deleted, mock.webhook_receiver("admin") as kept:
        deleted.respond_with(500, times=5)
        kept.respond_with(500, times=1)
        mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
        deleted.wait_for(1)
        (row,) = mock.deliveries(endpoint=deleted.endpoint_id)
        wait_until(lambda: mock.deliveries(endpoint=deleted.endpoint_id)[0]["attempts"])
        mock.delete_webhook_endpoint(ACME, deleted.endpoint_id)
        (after,) = mock.deliveries(endpoint=deleted.endpoint_id)
        assert after["status"] == "cancelled" and after["next_attempt_at"] is None
        # The kept endpoint's retry was due after the deleted one's: once it is recorded,
        # the deleted endpoint's retry would have been sent too.
        wait_until(lambda: mock.deliveries(endpoint=kept.endpoint_id)[0]["status"] == "delivered")
        assert len(deleted.received) == 1
        assert len(mock.deliveries(endpoint=deleted.endpoint_id)[0]["attempts"]) == 1


def test_a_queued_delivery_whose_endpoint_went_away_by_a_snapshot_is_not_sent():
    with EventsMock.start({"webhook_retry_schedule": (0.0, 0.3)}) as mock:
        before = control(mock, "GET", "/snapshot").json()  # without the receiver's endpoint
        with mock.webhook_receiver("admin") as receiver:
            receiver.respond_with(500)
            mock.publish("shipment.updated", SHIPMENT, organisation=ACME)
            receiver.wait_for(1)
            assert control(mock, "PUT", "/snapshot", json=before).status_code == 204
            row = wait_until(lambda: [d for d in mock.deliveries(endpoint=receiver.endpoint_id)
                                      if d["status"] != "pending"])[0]
            assert row["status"] == "cancelled" and len(receiver.received) == 1
