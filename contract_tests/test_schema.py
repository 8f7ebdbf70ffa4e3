"""Schema-driven: Schemathesis over the bundled spec, every operation, positive and negative
data, all built-in checks plus the contract's own rules (`checks.py`)."""

from __future__ import annotations

import pytest
from envoy_events_kit.contract_tests.checks import Context, schemathesis_checks
from envoy_events_kit.contract_tests.spec import load_schema
from envoy_events_kit.contract_tests.target import PROVISION, Target, bearer
from hypothesis import HealthCheck, settings

SCHEMA = load_schema()
ADMIN_OPERATIONS = ("provisionEvents", "deprovisionEvents")


@SCHEMA.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_operation(case, target: Target, rules: Context) -> None:
    """Each generated request gets an answer the spec allows, and every rule holds."""
    operation_id = case.operation.definition.raw.get("operationId")
    admin = operation_id in ADMIN_OPERATIONS
    if admin and not target.destructive:
        pytest.skip("not destructive: provision/deprovision need --events-allow-destructive "
                    "and an admin token")
    token = target.admin_token if admin else target.token
    try:
        case.call_and_validate(base_url=target.base_url, session=target.session,
                               headers=bearer(token), additional_checks=schemathesis_checks(rules))
    finally:
        if operation_id == "deprovisionEvents":
            target.get(PROVISION, target.admin_token)
