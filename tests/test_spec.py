"""The contract documents themselves: valid OpenAPI 3.1, complete, and honest about assumptions."""

from __future__ import annotations

import pytest
import yaml
from openapi_spec_validator import validate

from envoy_events_kit import control_spec_path, spec_path

OPERATIONS = {"getConnectionToken", "getSubscriptionToken", "provisionEvents", "deprovisionEvents"}


@pytest.fixture(scope="module")
def spec():
    return yaml.safe_load(spec_path().read_text())


@pytest.mark.parametrize("path", [spec_path(), control_spec_path()], ids=["events", "control"])
def test_specs_are_valid_openapi_31(path):
    document = yaml.safe_load(path.read_text())
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_operations_and_security(spec):
    ops = {op["operationId"]: op for item in spec["paths"].values() for op in item.values()}
    assert set(ops) == OPERATIONS
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        **spec["components"]["securitySchemes"]["bearerAuth"],
        "type": "http", "scheme": "bearer", "bearerFormat": "opaque",
    }
    admin = {"provisionEvents", "deprovisionEvents"}
    for name, op in ops.items():
        scopes = ["events:admin"] if name in admin else []
        assert op["security"] == [{"bearerAuth": scopes}]


def test_reusable_components_exist(spec):
    assert {"TokenResponse", "Error", "Channel", "OrganisationId", "UserId"} <= set(
        spec["components"]["schemas"])


def _responses(spec):
    for item in spec["paths"].values():
        for op in item.values():
            for status, response in op["responses"].items():
                while "$ref" in response:
                    response = spec["components"]["responses"][response["$ref"].split("/")[-1]]
                yield op["operationId"], status, response


def test_every_response_with_a_body_has_an_example(spec):
    for op_id, status, response in _responses(spec):
        for media in response.get("content", {}).values():
            assert media.get("examples") or media.get("example"), f"{op_id} {status}"


def test_links_describe_the_provisioning_flow(spec):
    provision = spec["paths"]["/events/provision"]["get"]["responses"]["204"]["links"]
    targets = {link["operationId"] for link in provision.values()}
    assert {"getConnectionToken", "getSubscriptionToken", "deprovisionEvents"} <= targets


def test_undocumented_behaviour_is_marked_assumed(spec):
    """401s, 400s, 409s, 204s and the error shape are not in the docs: each says so."""
    marked = [node for node in _walk(spec) if node.get("x-assumed") is True]
    assert marked
    assert all(isinstance(n.get("x-assumption"), str) and n["x-assumption"] for n in marked)
    responses = spec["components"]["responses"]
    for name in ("Unauthorized", "InvalidRequest", "NotProvisioned", "MissingAdminScope"):
        assert responses[name]["x-assumed"] is True
    assert spec["components"]["schemas"]["Error"]["x-assumed"] is True
    for path in ("/events/provision", "/events/deprovision"):
        assert spec["paths"][path]["get"]["responses"]["204"]["x-assumed"] is True


def _walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)
