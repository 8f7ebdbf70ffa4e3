"""Tests of events_client against the envoy-events-kit mock, through its pytest fixtures only."""

from __future__ import annotations

import jwt
import pytest

from events_client import EventsError, subscription_token


@pytest.fixture
def acme(events_mock):
    """The organisation of the fixture principal `admin`."""
    return events_mock.principals["admin"].org_id


def test_own_channel_gives_a_token_for_exactly_that_channel(events_base_url, events_token, acme):
    token = subscription_token(events_base_url, events_token, f"shipments:{acme}")

    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["channel"] == f"shipments:{acme}"


def test_foreign_channel_is_refused_with_403(events_mock):
    globex = events_mock.principals["other-org"].org_id

    with pytest.raises(EventsError) as refused:
        subscription_token(events_mock.url, events_mock.tokens["admin"], f"shipments:{globex}")

    assert refused.value.status == 403
    events_mock.assert_called("getSubscriptionToken", times=1, status=403)


def test_deprovisioned_organisation_gets_409(events_mock, acme):
    events_mock.deprovision(acme)

    with pytest.raises(EventsError) as refused:
        subscription_token(events_mock.url, events_mock.tokens["admin"], f"orders:{acme}")

    assert (refused.value.status, refused.value.code) == (409, "not_provisioned")


def test_each_test_starts_from_the_fixtures(events_mock, acme):
    # runs after the deprovision test (and on any xdist worker): the mock was reset
    assert events_mock.organisation(acme)["provisioned"] is True
    assert events_mock.journal() == []


def test_a_server_error_is_retried_once(events_mock, acme):
    events_mock.inject_fault("getSubscriptionToken", 503, times=1)

    token = subscription_token(events_mock.url, events_mock.tokens["admin"], f"batches:{acme}")

    assert token
    events_mock.assert_called("getSubscriptionToken", times=2)
    events_mock.assert_called("getSubscriptionToken", times=1, status=503)


def test_persistent_server_errors_surface(events_mock, acme):
    events_mock.inject_fault("getSubscriptionToken", 503, times=5)

    with pytest.raises(EventsError) as failed:
        subscription_token(events_mock.url, events_mock.tokens["admin"], f"batches:{acme}")

    assert failed.value.status == 503
    events_mock.assert_called("getSubscriptionToken", times=2, status=503)


def test_a_principal_without_the_scope_is_refused(events_mock, acme):
    user = events_mock.principals["admin"].user_id
    orders_only = events_mock.create_token(acme, user, ["orders:read"])

    assert subscription_token(events_mock.url, orders_only, f"orders:{acme}")
    with pytest.raises(EventsError) as refused:
        subscription_token(events_mock.url, orders_only, f"inventory:{acme}")
    assert refused.value.status == 403


def test_tokens_are_byte_stable_under_the_frozen_clock(events_mock, acme):
    first = subscription_token(events_mock.url, events_mock.tokens["admin"], f"orders:{acme}")
    second = subscription_token(events_mock.url, events_mock.tokens["admin"], f"orders:{acme}")

    assert first == second
    assert jwt.decode(first, options={"verify_signature": False})["iat"] == 1767225600
