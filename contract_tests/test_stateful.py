"""Stateful: the organisation model (`organisation_model.py`) walked against the target, one
scripted walk first, then Hypothesis' random ones; every step must get the status the model
predicts. Against a deployment this runs only with --events-allow-destructive,
and the organisation is always provisioned again at the end.
"""

from __future__ import annotations

import pytest
from envoy_events_kit.contract_tests import strategies
from envoy_events_kit.contract_tests.checks import Context
from envoy_events_kit.contract_tests.organisation_model import OrganisationModel
from envoy_events_kit.contract_tests.target import (
    CONFIGURED,
    STATEFUL_STEPS,
    Target,
    stateful_examples,
)
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test


@pytest.fixture
def model(target: Target, rules: Context) -> type[OrganisationModel]:
    """The model class bound to the target, acting as a token of the admin's organisation."""
    me, actor = target.identity, target.token
    admin = target.admin_identity
    if not (me and admin and me.org_id == admin.org_id and me.namespaces):
        me, actor = admin, target.admin_token
    if not me or not me.namespaces:
        pytest.skip("neither token's connection token grants a channel")
    OrganisationModel.target, OrganisationModel.actor = target, actor
    OrganisationModel.me, OrganisationModel.rules_ctx = me, rules
    return OrganisationModel


@pytest.mark.destructive
@pytest.mark.assumption("provisionEvents 204", "deprovisionEvents 204", "NotProvisioned")
def test_deprovision_then_provision(model: type[OrganisationModel]) -> None:
    """The scenario every server must get right, step by step, before the random walks."""
    model().scripted_walk()


@pytest.mark.destructive
@pytest.mark.assumption("provisionEvents 204", "deprovisionEvents 204", "NotProvisioned")
def test_organisation_model(model: type[OrganisationModel]) -> None:
    run_state_machine_as_test(model, settings=settings(
        max_examples=stateful_examples(CONFIGURED), stateful_step_count=STATEFUL_STEPS,
        deadline=None, database=None, suppress_health_check=list(HealthCheck),
        phases=strategies.NO_SHRINK))
