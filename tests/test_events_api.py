"""Every row of the behaviour table, in the contract's check order (401, 400, 403, 409, 2xx)."""

from __future__ import annotations

import pytest

from tests.conftest import (
    ACME,
    ADA,
    ADMIN,
    EXPIRED,
    GLOBEX,
    GRACE,
    NO_SCOPES,
    OTHER_ORG,
    READER,
    RITA,
    bearer,
)

PATHS = ["/events/connection_token", "/events/subscription_token",
         "/events/provision", "/events/deprovision"]
OWN = f"shipments:{ACME}#{ADA}"


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body


# -- 401 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
def test_missing_authorization_is_401_without_error_param(client, path):
    response = client.get(path, json={"channel": OWN})
    _error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="envoy-events"'


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("header", [f"Basic {ADMIN}", ADMIN, "Bearer", "Bearer "])
def test_not_a_bearer_token_is_401(client, path, header):
    response = client.get(path, headers={"Authorization": header}, json={"channel": OWN})
    _error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("token", ["garbage-token-0000", EXPIRED])
def test_unknown_or_expired_token_is_401_invalid_token(client, path, token):
    response = client.get(path, headers=bearer(token), json={"channel": OWN})
    _error(response, 401, "unauthorized")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_401_comes_before_400(client):
    response = client.get("/events/subscription_token", headers=bearer("nope-nope-nope"),
                          data="not json", content_type="application/json")
    _error(response, 401, "unauthorized")


def test_bearer_scheme_is_case_insensitive(client):
    response = client.get("/events/connection_token", headers={"Authorization": f"bearer {ADMIN}"})
    assert response.status_code == 200


# -- connection_token -----------------------------------------------------------------------
def test_connection_token_when_provisioned(client):
    response = client.get("/events/connection_token", headers=bearer(ADMIN))
    assert response.status_code == 200
    assert set(response.get_json()) == {"token"}


def test_connection_token_when_not_provisioned_is_409(client):
    _error(client.get("/events/connection_token", headers=bearer(OTHER_ORG)), 409,
           "not_provisioned")


# -- subscription_token: 400 ----------------------------------------------------------------
def _sub(client, token=ADMIN, **kwargs):
    return client.get("/events/subscription_token", headers=bearer(token), **kwargs)


@pytest.mark.parametrize("kwargs", [
    {},
    {"data": b"{not json", "content_type": "application/json"},
    {"data": b"\xff\xfe", "content_type": "application/json"},
    {"data": b"[" * 5000, "content_type": "application/json"},
    {"json": ["shipments"]},
    {"json": "shipments:x"},
    {"json": None},
    {"json": {}},
    {"json": {"channel": 42}},
    {"json": {"channel": None}},
    {"json": {"channel": ""}},
    {"json": {"channel": "shipments"}},
    {"json": {"channel": f"Shipments:{ACME}"}},
    {"json": {"channel": f"s:{ACME}"}},
    {"json": {"channel": f"shipments:{ACME}\n"}},
    {"json": {"channel": f"shipments:{ACME}#"}},
    {"json": {"channel": f"shipments:{ACME}#{ADA},"}},
    {"json": {"channel": f"shipments:org_short#{ADA}"}},
    {"json": {"channel": f"shipments:{ACME}#{ADA}," + ",".join([RITA] * 8)}},  # > 255 chars
    {"query_string": {"channel": "nope"}},
    {"query_string": [("channel", OWN), ("channel", OWN)]},
], ids=lambda kw: repr(kw)[:60])
def test_malformed_or_missing_channel_is_400(client, kwargs):
    _error(_sub(client, **kwargs), 400, "invalid_request")


def test_body_and_query_that_disagree_are_400(client):
    other = f"orders:{ACME}#{ADA}"
    _error(_sub(client, json={"channel": OWN}, query_string={"channel": other}), 400,
           "invalid_request")


def test_body_and_query_that_agree_are_fine(client):
    assert _sub(client, json={"channel": OWN}, query_string={"channel": OWN}).status_code == 200


def test_400_comes_before_403_and_409(client):
    # other-org's org is not provisioned and the channel is foreign; the malformed body wins.
    _error(_sub(client, OTHER_ORG, json={"channel": "bad"}), 400, "invalid_request")


# -- subscription_token: 403 ----------------------------------------------------------------
@pytest.mark.parametrize("token, channel", [
    (ADMIN, f"unknownns:{ACME}"),                       # namespace unknown
    (ADMIN, f"shipments:{GLOBEX}"),                     # another org
    (ADMIN, f"shipments:{GLOBEX}#{ADA}"),               # another org, own user
    (READER, f"orders:{ACME}"),                         # lacks the namespace's scope
    (READER, f"orders:{ACME}#{RITA}"),
    (NO_SCOPES, f"shipments:{ACME}"),
    (ADMIN, f"shipments:{ACME}#{RITA}"),                # user-limited to someone else
    (ADMIN, f"shipments:{ACME}#{RITA},{GRACE}"),
], ids=["unknown-namespace", "other-org", "other-org-own-user", "no-scope", "no-scope-own-user",
        "no-scopes", "other-user", "other-users"])
def test_channel_the_caller_may_not_join_is_403(client, token, channel):
    _error(_sub(client, token, json={"channel": channel}), 403, "forbidden")


def test_403_comes_before_409(client):
    # Globex is not provisioned, but asking for Acme's channel is refused first.
    _error(_sub(client, OTHER_ORG, json={"channel": f"shipments:{ACME}"}), 403, "forbidden")


# -- subscription_token: 409 and 200 --------------------------------------------------------
def test_own_channel_of_unprovisioned_org_is_409(client):
    _error(_sub(client, OTHER_ORG, json={"channel": f"shipments:{GLOBEX}#{GRACE}"}), 409,
           "not_provisioned")


@pytest.mark.parametrize("token, channel", [
    (ADMIN, OWN),
    (ADMIN, f"orders:{ACME}"),
    (ADMIN, f"inventory:{ACME}#{RITA},{ADA}"),
    (READER, f"shipments:{ACME}#{RITA}"),
])
def test_channel_the_caller_may_join_gets_a_token(client, token, channel):
    for kwargs in ({"json": {"channel": channel}}, {"query_string": {"channel": channel}}):
        response = _sub(client, token, **kwargs)
        assert response.status_code == 200, response.get_json()
        assert set(response.get_json()) == {"token"}


def test_body_is_read_whatever_the_content_type(client):
    response = _sub(client, data=f'{{"channel": "{OWN}"}}', content_type="text/plain")
    assert response.status_code == 200


# -- provision / deprovision ----------------------------------------------------------------
@pytest.mark.parametrize("path", ["/events/provision", "/events/deprovision"])
@pytest.mark.parametrize("token", [READER, NO_SCOPES])
def test_provisioning_needs_the_admin_scope(client, path, token):
    _error(client.get(path, headers=bearer(token)), 403, "forbidden")


def _state(client) -> dict:
    return {o["id"]: o for o in client.get("/__mock__/state").get_json()["organisations"]}


def test_provision_is_idempotent_and_enables_tokens(client):
    for _ in range(2):
        response = client.get("/events/provision", headers=bearer(OTHER_ORG))
        assert response.status_code == 204
        assert response.get_data() == b""
        assert "Content-Type" not in response.headers
    assert _state(client)[GLOBEX]["provisioned"] is True
    assert client.get("/events/connection_token", headers=bearer(OTHER_ORG)).status_code == 200


def test_deprovision_unprovisions_and_deletes_webhook_endpoints(client):
    assert _state(client)[ACME]["webhook_endpoints"], "fixture org starts with an endpoint"
    for _ in range(2):
        response = client.get("/events/deprovision", headers=bearer(ADMIN))
        assert response.status_code == 204
        assert response.get_data() == b""
    org = _state(client)[ACME]
    assert org["provisioned"] is False
    assert org["webhook_endpoints"] == []
    _error(client.get("/events/connection_token", headers=bearer(ADMIN)), 409, "not_provisioned")
    _error(_sub(client, json={"channel": OWN}), 409, "not_provisioned")
    assert client.get("/events/provision", headers=bearer(ADMIN)).status_code == 204
    assert client.get("/events/connection_token", headers=bearer(ADMIN)).status_code == 200


def test_deprovision_touches_only_the_callers_org(client):
    client.put(f"/__mock__/orgs/{GLOBEX}", json={"provisioned": True})
    client.post(f"/__mock__/orgs/{GLOBEX}/webhook_endpoints", json={"url": "http://127.0.0.1:9/h"})
    client.get("/events/deprovision", headers=bearer(ADMIN))
    assert _state(client)[GLOBEX]["provisioned"] is True
    assert len(_state(client)[GLOBEX]["webhook_endpoints"]) == 1


# -- unknown paths, wrong methods, big bodies -----------------------------------------------
def test_unknown_path_is_404_json(client):
    _error(client.get("/events/nope", headers=bearer(ADMIN)), 404, "not_found")


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_wrong_method_is_405_json_with_allow(client, method):
    response = getattr(client, method)("/events/connection_token", headers=bearer(ADMIN))
    _error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_body_over_64_kib_is_413_json(client):
    response = _sub(client, data=b"x" * (64 * 1024 + 1), content_type="application/json")
    _error(response, 413, "payload_too_large")


def test_duplicate_authorization_headers_are_401(client):
    # A WSGI server hands repeated headers to the app joined by ", ".
    headers = {"Authorization": f"Bearer {ADMIN}, Bearer {READER}"}
    _error(client.get("/events/connection_token", headers=headers), 401, "unauthorized")
