"""On stop, HTTP drains before the event sinks stop (issue 20): a request in flight when
`stop()` is called publishes into a live webhook dispatcher, whose stop then records the
delivery, and no worker thread outlives the mock."""

from __future__ import annotations

import threading
from typing import Any

import requests
from envoy_events_kit.mock_server import MockServer

from envoy_events_kit.net import free_port
from tests.conftest import ACME

SHIPMENT = {"id": "shp_2iFmwXASMpS3l4IZsauPs8I1eOv", "status": "in_transit"}


class Gate:
    """A sink ahead of the webhooks that holds the publishing request until released."""

    name = "gate"

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def publish(self, event: dict[str, Any], channel: str) -> dict[str, Any]:
        self.entered.set()
        assert self.release.wait(10)
        return {}

    def organisation_off(self, org_id: str, user_ids: list[str]) -> None:
        pass

    def reset(self) -> None:
        pass


def _workers(besides: set[threading.Thread]) -> list[str]:
    """Webhook worker threads alive now that were not there before (other tests' mocks)."""
    return [t.name for t in set(threading.enumerate()) - besides
            if t.name.startswith("webhook-worker") and t.is_alive()]


def test_a_request_in_flight_at_stop_publishes_into_a_live_dispatcher():
    before = set(threading.enumerate())
    server = MockServer({"clock": "real"}).start()
    state = server.state
    # a loopback endpoint nothing listens on: the first attempt fails, a retry stays queued
    target = f"http://127.0.0.1:{free_port()}/hook"
    created = requests.post(f"{server.url}/__mock__/orgs/{ACME}/webhook_endpoints",
                            json={"url": target}, timeout=5)
    assert created.status_code == 201, created.text
    gate = Gate()
    state.events.remove_sink(state.webhooks)
    state.events.add_sink(gate)
    state.events.add_sink(state.webhooks)
    answers: list[int] = []
    publisher = threading.Thread(target=lambda: answers.append(requests.post(
        f"{server.url}/__mock__/events", timeout=15,
        json={"type": "shipment.updated", "organisation": ACME, "data": SHIPMENT}).status_code))
    publisher.start()
    assert gate.entered.wait(10)
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(0.5)  # stop() is waiting for the request: the sinks are still live
    gate.release.set()
    publisher.join(15)
    stopper.join(15)
    assert answers == [201]
    assert not stopper.is_alive()
    assert _workers(before) == []  # no worker restarted by a publish into a stopped dispatcher
    endpoint = created.json()["id"]
    (delivery,) = [d for d in state.webhooks.deliveries() if d["endpoint_id"] == endpoint]
    assert delivery["status"] != "pending"  # recorded by the dispatcher's stop, not lost
