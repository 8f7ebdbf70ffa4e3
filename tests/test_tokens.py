"""Token claims (Centrifugo-compatible), signature, TTL and determinism under a frozen clock."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from envoy_events_kit.mock_server import create_app
from envoy_events_kit.mock_server.config import DEV_SECRET, ConfigError, Settings

from tests.conftest import ACME, ADA, ADMIN, FROZEN_AT, READER, RITA, bearer

FROZEN_TS = 1767225600  # 2026-01-01T00:00:00Z
OWN = f"shipments:{ACME}#{ADA}"


def _token(client, path="/events/connection_token", token=ADMIN, **kwargs) -> str:
    response = client.get(path, headers=bearer(token), **kwargs)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


def _header(token: str) -> bytes:
    segment = token.split(".")[0]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_connection_token_claims(client):
    token = _token(client)
    assert json.loads(_header(token)) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, DEV_SECRET, algorithms=["HS256"],
                        options={"verify_exp": False})
    assert claims == {
        "sub": ADA,
        "iat": FROZEN_TS,
        "exp": FROZEN_TS + 3600,
        "channels": [f"{ns}:{ACME}" for ns in ("batches", "inventory", "orders", "shipments")],
        "info": {"org": ACME},
    }
    assert "channel" not in claims


def test_connection_channels_follow_the_scopes(client):
    claims = jwt.decode(_token(client, token=READER), options={"verify_signature": False})
    assert claims["sub"] == RITA
    assert claims["channels"] == [f"shipments:{ACME}"]


def test_subscription_token_claims_name_exactly_the_channel(client):
    channel = f"orders:{ACME}#{RITA},{ADA}"
    token = _token(client, "/events/subscription_token", json={"channel": channel})
    claims = jwt.decode(token, DEV_SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims == {"sub": ADA, "channel": channel, "iat": FROZEN_TS, "exp": FROZEN_TS + 3600}


def test_frozen_clock_makes_tokens_byte_identical(client):
    assert _token(client) == _token(client)
    sub = {"json": {"channel": OWN}}
    assert (_token(client, "/events/subscription_token", **sub)
            == _token(client, "/events/subscription_token", **sub))


def test_moving_the_clock_changes_iat_and_exp(client):
    before = _token(client)
    client.put("/__mock__/clock", json={"advance_seconds": 90})
    claims = jwt.decode(_token(client), options={"verify_signature": False})
    assert claims["iat"] == FROZEN_TS + 90
    assert _token(client) != before


def test_real_clock_uses_the_current_time():
    app = create_app({"clock": "real"})
    claims = jwt.decode(_token(app.test_client()), DEV_SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 3600  # verify_exp passed: exp is in the future


def test_secret_and_ttl_are_configurable():
    secret = "s" * 40
    app = create_app({"secret": secret, "token_ttl": 60, "clock": FROZEN_AT})
    token = _token(app.test_client())
    claims = jwt.decode(token, secret, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["exp"] - claims["iat"] == 60
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, DEV_SECRET, algorithms=["HS256"], options={"verify_exp": False})


@pytest.mark.parametrize("kwargs", [{"secret": "short"}, {"token_ttl": 0}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ConfigError):
        Settings(**kwargs)


def test_token_expiry_of_bearer_follows_the_mock_clock(client):
    created = client.post("/__mock__/principals", json={
        "org_id": ACME, "user_id": ADA, "scopes": [], "expires_at": "2026-01-01T00:10:00Z",
    }).get_json()
    headers = bearer(created["token"])
    assert client.get("/events/connection_token", headers=headers).status_code == 200
    client.put("/__mock__/clock", json={"advance_seconds": 600})
    assert client.get("/events/connection_token", headers=headers).status_code == 401
