"""Events: `POST /__mock__/events` checks an event against the spec's `webhooks` and the
state, wraps it in the envelope, records it and hands it to every sink exactly once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from envoy_events_kit.mock_server import create_app
from envoy_events_kit.mock_server.events.bus import EventCatalogue
from jsonschema import Draft202012Validator
from ksuid import Ksuid

from tests.conftest import ACME, ADA, ADMIN, FROZEN_AT, GLOBEX, RITA, bearer

SHIPMENT = {"id": "shp_2iFmwXASMpS3l4IZsauPs8I1eOv", "status": "in_transit"}


def publish(client, **body: Any):
    return client.post("/__mock__/events", json={"type": "shipment.updated", "data": SHIPMENT,
                                                 **body})


class RecordingSink:
    """Stands in for the realtime publisher / webhook dispatcher: remembers what it got."""

    name = "recording"

    def __init__(self) -> None:
        self.published: list[tuple[dict[str, Any], str]] = []
        self.off: list[tuple[str, list[str]]] = []
        self.resets = 0

    def publish(self, event: dict[str, Any], channel: str) -> dict[str, Any]:
        self.published.append((event, channel))
        return {"seen": len(self.published)}

    def organisation_off(self, org_id: str, user_ids: list[str]) -> None:
        self.off.append((org_id, user_ids))

    def reset(self) -> None:
        self.resets += 1


@pytest.fixture
def sink(app) -> RecordingSink:
    recording = RecordingSink()
    app.extensions["envoy_events_mock"].events.add_sink(recording)
    return recording


def test_catalogue_is_the_specs_webhooks(app):
    spec = app.extensions["envoy_events_mock"].spec
    catalogue = EventCatalogue(spec)
    assert {t: k.namespace for t, k in catalogue.types.items()} == {
        name: item["post"]["x-namespace"] for name, item in spec.document["webhooks"].items()}
    assert set(catalogue.types) >= {"shipment.updated", "order.updated", "batch.updated",
                                    "inventory.updated"}


def test_publish_wraps_checks_and_fans_out_once(client, app, sink):
    response = publish(client, organisation=ACME)

    assert response.status_code == 201
    body = response.get_json()
    event = body["event"]
    assert body["channel"] == f"shipments:{ACME}" and body["recording"] == {"seen": 1}
    assert (event["type"], event["organisation"], event["data"]) == ("shipment.updated", ACME,
                                                                     SHIPMENT)
    assert event["created_at"] == FROZEN_AT
    spec = app.extensions["envoy_events_mock"].spec
    schema = spec.resolve(spec.document["webhooks"]["shipment.updated"]["post"]["requestBody"])
    assert not list(spec.validator(schema["content"]["application/json"]["schema"])
                    .iter_errors(event))
    assert sink.published == [(event, f"shipments:{ACME}")]
    assert client.get("/__mock__/events").get_json()["events"] == [body]


def test_event_ids_are_ksuids_of_the_mock_clock_and_repeat_with_a_frozen_clock():
    def ids() -> list[str]:
        client = create_app({"clock": FROZEN_AT}).test_client()
        return [publish(client, organisation=ACME).get_json()["event"]["id"] for _ in range(3)]

    first, again = ids(), ids()
    assert first == again and len(set(first)) == 3
    stamp = Ksuid.from_base62(first[0].removeprefix("evt_")).datetime
    assert stamp == datetime(2026, 1, 1, tzinfo=UTC)
    Draft202012Validator({"pattern": "^evt_[0-9A-Za-z]{27}$"}).validate(first[0])


def test_a_user_limited_channel_may_carry_an_event(client, sink):
    channel = f"shipments:{ACME}#{ADA},{RITA}"
    assert publish(client, channel=channel).status_code == 201
    assert sink.published[0][1] == channel


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"type": "shipment.update"}, 400, "Did you mean 'shipment.updated'"),
    ({"organisation": ACME, "data": {"id": "shp_x", "status": "in_transit"}}, 400, "data/id"),
    ({"organisation": ACME, "data": {**SHIPMENT, "status": "lost"}}, 400, "'lost' is not one"),
    ({"channel": "shipments"}, 400, "is not a channel"),
    ({"channel": f"shipment:{ACME}"}, 400, "Did you mean 'shipments'"),
    ({"channel": f"orders:{ACME}"}, 400, "belong to the 'shipments' namespace"),
    ({"organisation": ACME, "namespace": "orders"}, 400, "belong to the 'shipments' namespace"),
    ({"channel": f"shipments:{ACME}", "organisation": ACME}, 400, "not both"),
    ({}, 400, "Give either 'channel' or 'organisation'"),
    ({"organisation": "acme"}, 400, "is not a channel"),
    ({"organisation": GLOBEX}, 409, "not provisioned"),
    ({"organisation": "org_2YBXZP5EMzwCXo0yvodxbAUiZEY"}, 409, "not provisioned"),
], ids=["unknown-type", "bad-data-id", "bad-status", "no-namespace", "unknown-namespace",
        "other-namespace", "other-namespace-by-name", "channel-and-org", "neither",
        "bad-org", "unprovisioned", "unknown-org"])
def test_bad_events_are_refused_and_nothing_is_delivered(client, sink, body, status, words):
    response = publish(client, **body)

    assert response.status_code == status
    assert words in response.get_json()["error"]["message"]
    assert sink.published == []
    assert client.get("/__mock__/events").get_json()["events"] == []


@pytest.mark.parametrize("raw", [b"{", b"[]", b'{"type": "shipment.updated"}',
                                 b'{"type": 1, "data": {}}', b'{"type": "x", "data": {}, "z": 1}'])
def test_malformed_bodies_are_a_json_400(client, sink, raw):
    response = client.post("/__mock__/events", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"
    assert sink.published == []


def test_deprovision_tells_the_sinks_with_the_orgs_users(client, sink):
    assert client.get("/events/deprovision", headers=bearer(ADMIN)).status_code == 204
    (org_id, users), = sink.off
    assert org_id == ACME and {ADA, RITA} <= set(users)
    assert GLOBEX not in users and all(u.startswith("usr_") for u in users)
    assert publish(client, organisation=ACME).status_code == 409


def test_control_api_deprovision_tells_the_sinks_too(client, sink):
    client.put(f"/__mock__/orgs/{ACME}", json={"provisioned": False})
    assert [org for org, _ in sink.off] == [ACME]
    client.put(f"/__mock__/orgs/{ACME}", json={"provisioned": True})
    assert len(sink.off) == 1  # provisioning is not an "off"


def test_a_snapshot_that_turns_an_org_off_tells_the_sinks(client, sink):
    """Issue 20: restoring a snapshot disconnects realtime users and cancels deliveries of
    the organisations it turns off, like a deprovision does."""
    saved = client.get("/__mock__/snapshot").get_json()
    off = {**saved["state"], "organisations": [
        {**org, "provisioned": False} if org["id"] == ACME else org
        for org in saved["state"]["organisations"]]}
    assert client.put("/__mock__/snapshot", json={**saved, "state": off}).status_code == 204
    assert [org for org, _ in sink.off] == [ACME]
    assert client.put("/__mock__/snapshot", json=saved).status_code == 204
    assert len(sink.off) == 1  # turning it back on is not an "off"


def test_a_reset_that_turns_an_org_off_tells_the_sinks(client, sink):
    client.put(f"/__mock__/orgs/{GLOBEX}", json={"provisioned": True})
    assert client.post("/__mock__/reset").status_code == 204
    assert [org for org, _ in sink.off] == [GLOBEX]  # the fixtures have Globex off


def test_the_store_is_the_one_path_for_deprovisioning(app, sink):
    """Issue 20: the store's own set_provisioned tells the sinks (it used to skip them)."""
    app.extensions["envoy_events_mock"].store.set_provisioned(ACME, False)
    assert [org for org, _ in sink.off] == [ACME]


def test_reset_forgets_published_events_and_resets_the_sinks(client, sink):
    publish(client, organisation=ACME)
    assert client.post("/__mock__/reset").status_code == 204
    assert client.get("/__mock__/events").get_json()["events"] == []
    assert sink.resets == 1
    first_after_reset = publish(client, organisation=ACME).get_json()["event"]["id"]
    fresh = create_app({"clock": FROZEN_AT}).test_client()
    assert first_after_reset == publish(fresh, organisation=ACME).get_json()["event"]["id"]


def test_state_says_realtime_is_off(client):
    assert client.get("/__mock__/state").get_json()["realtime"] is None
