"""Mock-only: the events the mock publishes, and what deprovision does to their deliveries.

A deployment publishes nothing on the suite's request, so these rows (the event types, their
envelope, the cancelled deliveries) only a mock can show: its table marks them `mock only`,
a deployment's leaves them out.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml
from envoy_events_kit.contract_tests.checks import RuleBroken
from envoy_events_kit.contract_tests.target import DEPROVISION, PROVISION, Identity, Target

from envoy_events_kit import spec_path

pytestmark = pytest.mark.mock_only
#: A loopback port nothing listens on: deliveries there fail and stay pending for a retry.
NOWHERE = "http://127.0.0.1:9/envoy-events-contract"


def _spec() -> dict[str, Any]:
    return yaml.safe_load(spec_path().read_text())


def _event(spec: dict[str, Any], operation_id: str) -> tuple[str, dict, dict]:
    """(type, data example, envelope schema) of the spec's event `operation_id`."""
    for name, item in spec["webhooks"].items():
        post = item["post"]
        if post["operationId"] == operation_id:
            ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            envelope = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
            data_ref = envelope["allOf"][1]["properties"]["data"]["$ref"]
            data = spec["components"]["schemas"][data_ref.rsplit("/", 1)[-1]]["examples"][0]
            return name, data, {"$ref": ref, "components": spec["components"]}
    raise LookupError(operation_id)


@pytest.fixture
def me(target: Target) -> Identity:
    if not target.identity or not target.identity.org_id:
        pytest.skip("the connection token of --events-token names no organisation")
    return target.identity


@pytest.mark.parametrize("operation_id", [
    pytest.param("shipmentUpdated", marks=pytest.mark.assumption("shipmentUpdated",
                                                                 "EventEnvelope")),
    pytest.param("orderUpdated", marks=pytest.mark.assumption("orderUpdated", "EventEnvelope")),
    pytest.param("batchUpdated", marks=pytest.mark.assumption("batchUpdated", "EventEnvelope")),
    pytest.param("inventoryUpdated", marks=pytest.mark.assumption("inventoryUpdated",
                                                                  "EventEnvelope")),
])
def test_each_event_type_is_published_as_its_envelope(target: Target, me: Identity,
                                                      operation_id: str) -> None:
    spec = _spec()
    event_type, data, schema = _event(spec, operation_id)
    answer = target.control("POST", "/events", json={"type": event_type, "data": data,
                                                     "organisation": me.org_id})
    if answer.status_code != 201:
        raise RuleBroken("mock-publishes-event-types",
                         f"the mock refused to publish {event_type} ({answer.status_code})")
    event = answer.json()["event"]
    problems = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(event)]
    if problems:
        raise RuleBroken("event-envelope", f"{event_type}: {'; '.join(problems[:3])}")
    if event["type"] != event_type or event["data"] != data:
        raise RuleBroken("event-envelope", f"{event_type}: the envelope does not carry the "
                                           "published type and data")


def _deliveries(target: Target, event_id: str) -> list[dict[str, Any]]:
    answer = target.control("GET", f"/deliveries?event={event_id}")
    answer.raise_for_status()
    return answer.json()["deliveries"]


@pytest.mark.destructive
@pytest.mark.assumption("deprovisionEvents x-webhooks")
def test_deprovision_cancels_pending_webhook_deliveries(target: Target, me: Identity) -> None:
    endpoint = target.control("POST", f"/orgs/{me.org_id}/webhook_endpoints",
                              json={"url": NOWHERE})
    endpoint.raise_for_status()
    event_type, data, _ = _event(_spec(), "shipmentUpdated")
    try:
        answer = target.control("POST", "/events", json={"type": event_type, "data": data,
                                                         "organisation": me.org_id})
        answer.raise_for_status()
        event_id = answer.json()["event"]["id"]
        mine = [d for d in _deliveries(target, event_id) if d["url"] == NOWHERE]
        if not mine or mine[0]["status"] != "pending":
            pytest.skip(f"the mock's retry schedule left no delivery pending "
                        f"({[d['status'] for d in mine]}): nothing to cancel")
        if target.get(DEPROVISION, target.admin_token).status_code != 204:
            pytest.fail("deprovision was refused", pytrace=False)
        # Cancelled by the deprovision itself: read at once, no waiting.
        statuses = [d["status"] for d in _deliveries(target, event_id) if d["url"] == NOWHERE]
    finally:
        target.get(PROVISION, target.admin_token)
    if statuses != ["cancelled"]:
        raise RuleBroken("deprovision-cancels-deliveries",
                         f"after deprovision the pending delivery is {statuses}, not cancelled")

