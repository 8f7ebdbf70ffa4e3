"""The control client behind `events_mock`: every call against a real mock over HTTP."""

from __future__ import annotations

import threading
import time

import jwt
import pytest
import requests
from envoy_events_kit.mock_server.control.client import ControlError, MockControl
from envoy_events_kit.mock_server.serving.handle import EventsMock

from tests.conftest import ACME, ADA, ADMIN, FROZEN_AT, GLOBEX, RITA, bearer


@pytest.fixture(scope="module")
def session_mock():
    with EventsMock.start({"clock": FROZEN_AT}) as mock:
        yield mock


@pytest.fixture
def mock(session_mock):
    session_mock.reset()
    return session_mock


def _get(mock, path, token=ADMIN, **params):
    return requests.get(mock.url + path, headers=bearer(token), params=params, timeout=5)


def test_handle_exposes_url_principals_and_tokens(mock):
    assert mock.tokens["admin"] == ADMIN
    assert mock.principals["admin"].org_id == ACME
    assert mock.headers("shipments-reader") == bearer(mock.tokens["shipments-reader"])
    assert _get(mock, "/events/connection_token").status_code == 200


def test_provision_and_deprovision(mock):
    globex = mock.tokens["other-org"]
    assert _get(mock, "/events/connection_token", globex).status_code == 409
    assert mock.provision(GLOBEX)["provisioned"] is True
    assert _get(mock, "/events/connection_token", globex).status_code == 200
    mock.add_webhook_endpoint(GLOBEX, "http://127.0.0.1:9/globex")
    assert mock.deprovision(GLOBEX) == {"id": GLOBEX, "provisioned": False,
                                        "webhook_endpoints": []}
    assert _get(mock, "/events/connection_token", globex).status_code == 409


def test_webhook_endpoints(mock):
    before = mock.webhook_endpoints(ACME)
    added = mock.add_webhook_endpoint(ACME, "http://localhost:9/acme/second")
    assert mock.webhook_endpoints(ACME) == [*before, added]
    mock.delete_webhook_endpoint(ACME, added["id"])
    assert mock.webhook_endpoints(ACME) == before
    assert mock.organisation(ACME)["webhook_endpoints"] == before


def test_create_principal_gives_a_working_token(mock):
    token = mock.create_token(ACME, RITA, ["orders:read"])
    assert _get(mock, "/events/subscription_token", token,
                channel=f"orders:{ACME}").status_code == 200
    assert _get(mock, "/events/subscription_token", token,
                channel=f"shipments:{ACME}").status_code == 403
    expired = mock.create_principal(ACME, ADA, ["orders:read"], name="old",
                                    expires_at="2025-01-01T00:00:00Z")
    assert expired["name"] == "old"
    assert _get(mock, "/events/connection_token", expired["token"]).status_code == 401


def test_clock(mock):
    assert mock.clock() == {"mode": "frozen", "now": FROZEN_AT}
    assert mock.advance_clock(60)["now"] == "2026-01-01T00:01:00Z"
    token = _get(mock, "/events/connection_token").json()["token"]
    assert jwt.decode(token, options={"verify_signature": False})["iat"] == 1767225660
    assert mock.freeze_clock("2027-03-04T05:06:07Z")["now"] == "2027-03-04T05:06:07Z"
    assert mock.real_clock()["mode"] == "real"


def test_faults(mock):
    mock.inject_fault("getConnectionToken", 503, times=2)
    assert [_get(mock, "/events/connection_token").status_code for _ in range(3)] == [503, 503,
                                                                                        200]
    mock.inject_fault("getConnectionToken", 500)
    mock.clear_faults()
    assert _get(mock, "/events/connection_token").status_code == 200


def test_journal_and_assert_called(mock):
    _get(mock, "/events/connection_token")
    _get(mock, "/events/subscription_token", channel=f"shipments:{GLOBEX}")
    _get(mock, "/events/subscription_token", channel=f"shipments:{GLOBEX}")

    assert [e["status"] for e in mock.journal()] == [200, 403, 403]
    assert len(mock.journal("getSubscriptionToken", status=403)) == 2
    assert len(mock.assert_called("getSubscriptionToken", times=2, status=403)) == 2
    mock.assert_called("getConnectionToken")
    mock.assert_not_called("provisionEvents")
    with pytest.raises(AssertionError) as failure:
        mock.assert_called("getSubscriptionToken", times=1, status=403)
    assert str(failure.value).splitlines() == [
        "expected getSubscriptionToken to be called 1 time(s) with status 403, matched 2; "
        "the journal has:",
        "  GET /events/connection_token -> 200 (getConnectionToken)",
        "  GET /events/subscription_token -> 403 (getSubscriptionToken)",
        "  GET /events/subscription_token -> 403 (getSubscriptionToken)",
    ]
    with pytest.raises(AssertionError, match="at least once"):
        mock.assert_called("deprovisionEvents")
    mock.clear_journal()
    assert mock.journal() == []


def test_reset_over_http_restores_the_fixtures(mock):
    mock.deprovision(ACME)
    MockControl(mock.url).reset()
    assert mock.organisation(ACME)["provisioned"] is True
    with pytest.raises(KeyError):
        mock.organisation("org_" + "9" * 27)


def test_refusals_carry_the_mocks_message(mock):
    with pytest.raises(ControlError, match=r"POST /__mock__/orgs/.*/webhook_endpoints: 400 .*url"):
        mock.add_webhook_endpoint(ACME, "ftp://nope")
    with pytest.raises(ControlError, match="404 No webhook endpoint ep_x"):
        mock.delete_webhook_endpoint(ACME, "ep_x")


def test_an_unreachable_mock_is_one_clear_error():
    with EventsMock.start() as gone:
        url = gone.url
    with pytest.raises(ControlError, match=f"cannot reach the mock at {url}"):
        MockControl(url, timeout=2).state()


def test_a_cors_preflight_is_not_a_call(mock):
    requests.options(mock.url + "/events/subscription_token", timeout=5, headers={
        "Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET"})
    assert [e["method"] for e in mock.journal()] == ["OPTIONS"]
    mock.assert_not_called("getSubscriptionToken")
    assert mock.journal("getSubscriptionToken") == []



def test_stop_finishes_an_in_flight_request_then_frees_port_and_threads():
    threads_before = set(threading.enumerate())
    mock = EventsMock.start()
    mock.inject_fault("getConnectionToken", latency_ms=300)
    answers: list[int] = []
    call = threading.Thread(target=lambda: answers.append(
        _get(mock, "/events/connection_token").status_code))
    call.start()
    deadline = time.monotonic() + 10
    while mock.server.state.faults._armed and time.monotonic() < deadline:
        time.sleep(0.005)  # until a worker took the fault: the request is in its latency
    mock.stop()
    call.join()
    assert answers == [200]
    assert set(threading.enumerate()) == threads_before
    with pytest.raises(requests.ConnectionError):
        requests.get(mock.url, timeout=2)
