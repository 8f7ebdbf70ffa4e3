"""openapi-core, the second validator, both catches a spec-breaking exchange and judges the
mock's error statuses that used to be undeclared (404/405 are unrouted, 413 is declared)."""

from __future__ import annotations

import pytest
from flask import Flask, jsonify

from tests.conftest import ADMIN
from tests.second_validator import SecondValidatorError, attach


def test_a_401_with_another_code_is_caught() -> None:
    broken = Flask(__name__)

    @broken.get("/events/connection_token")
    def _token():
        response = jsonify(error={"code": "forbidden", "message": "no"})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    broken.testing = True
    with pytest.raises(SecondValidatorError, match="401"):
        attach(broken).test_client().get("/events/connection_token")


def test_error_statuses_are_judged(app) -> None:
    seen: list[tuple[str, str, int]] = []
    attach(app, seen)
    client = app.test_client()
    assert client.get("/events/subscription_token", data=b"x" * 70_000,
                      headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 413
    assert client.get("/events/nowhere").status_code == 404
    assert client.post("/events/provision").status_code == 405
    assert client.get("/events/subscription_token", query_string={"channel": "bad"},
                      headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 400
    assert seen == [("GET", "/events/subscription_token", 413),
                    ("GET", "/events/subscription_token", 400)]
