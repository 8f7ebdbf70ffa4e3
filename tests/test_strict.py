"""Strict mode catches the mock breaking its own contract, loudly."""

from __future__ import annotations

import pytest
from envoy_events_kit.mock_server import create_app
from envoy_events_kit.mock_server.api import routes as events_api
from envoy_events_kit.mock_server.api.errors import ApiError
from envoy_events_kit.mock_server.api.strict import ContractViolation
from flask import Response

from tests.conftest import ADMIN, bearer


@pytest.fixture
def strict_app():
    app = create_app({"strict": True})
    app.testing = True
    return app


def _state(app):
    return app.extensions["envoy_events_mock"]


def test_a_token_that_is_not_a_jwt_is_caught(strict_app, monkeypatch):
    monkeypatch.setattr(_state(strict_app).minter, "connection", lambda *a: "not a jwt")
    with pytest.raises(ContractViolation, match="getConnectionToken 200"):
        strict_app.test_client().get("/events/connection_token", headers=bearer(ADMIN))


def test_an_undeclared_status_is_caught(strict_app, monkeypatch):
    def refuse(*args):
        raise ApiError(409, "not_provisioned", "provision has no 409 in the spec")

    monkeypatch.setattr(_state(strict_app).store, "set_provisioned", refuse)
    with pytest.raises(ContractViolation, match="status 409 is not in the spec"):
        strict_app.test_client().get("/events/provision", headers=bearer(ADMIN))


def test_a_body_on_204_is_caught(strict_app, monkeypatch):
    monkeypatch.setattr(events_api, "no_content", lambda: Response("oops", status=204))
    with pytest.raises(ContractViolation, match="unexpected body"):
        strict_app.test_client().get("/events/provision", headers=bearer(ADMIN))


def test_without_strict_mode_nothing_is_checked(monkeypatch):
    app = create_app({"strict": False})
    monkeypatch.setattr(_state(app).minter, "connection", lambda *a: "not a jwt")
    response = app.test_client().get("/events/connection_token", headers=bearer(ADMIN))
    assert response.get_json() == {"token": "not a jwt"}
