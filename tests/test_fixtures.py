"""Fixtures files: the default one loads; a user's own works; a broken one names file and field."""

from __future__ import annotations

import pytest
import yaml
from envoy_events_kit.mock_server import create_app
from envoy_events_kit.mock_server.spec import Spec
from envoy_events_kit.mock_server.state.fixtures import FixturesError, load

from envoy_events_kit import default_fixtures_path, spec_path
from tests.conftest import bearer

SPEC = Spec(spec_path())


def _default() -> dict:
    return yaml.safe_load(default_fixtures_path().read_text())


def test_default_fixtures_cover_the_principals_the_issue_asks_for():
    fixtures = load(default_fixtures_path(), SPEC)
    by_name = {p.name: p for p in fixtures.principals.values()}
    admin = by_name["admin"]
    assert fixtures.provisioning_scope in admin.scopes
    assert {f"{ns}:read" for ns in ("shipments", "orders", "batches", "inventory")} <= admin.scopes
    assert by_name["shipments-reader"].scopes == {"shipments:read"}
    assert by_name["no-scopes"].scopes == frozenset()
    assert by_name["other-org"].org_id != admin.org_id
    assert by_name["expired"].expires_at is not None
    provisioned = {o.provisioned for o in fixtures.organisations.values()}
    assert provisioned == {True, False}
    assert len({p.user_id for p in fixtures.principals.values()}) >= 3


def test_tokens_are_written_literally_next_to_their_scopes():
    for entry in _default()["tokens"].values():
        assert isinstance(entry["token"], str) and isinstance(entry["scopes"], list)


def _write(tmp_path, data) -> str:
    path = tmp_path / "mine.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.pop("namespaces"), "namespaces"),
    (lambda d: d["namespaces"].update({"Bad NS": {"scope": "x:read"}}), "namespaces/Bad NS"),
    (lambda d: d["organisations"].update({"org_bad": {}}), "organisations/org_bad"),
    (lambda d: d["users"].update({"usr_bad": {"organisation": "x"}}), "users/usr_bad"),
    (lambda d: d["users"]["usr_27owyeeNEYU0sTDZWYnFg5PCMDZ"].update({"organisation":
                                                                    "org_" + "1" * 27}),
     "users/usr_27owyeeNEYU0sTDZWYnFg5PCMDZ/organisation"),
    (lambda d: d["tokens"]["admin"].update({"user": "usr_" + "9" * 27}), "tokens/admin/user"),
    (lambda d: d["tokens"]["admin"].update({"scopes": "all"}), "tokens/admin/scopes"),
    (lambda d: d["tokens"]["admin"].update({"expires_at": "soon"}), "tokens/admin/expires_at"),
    (lambda d: d["tokens"]["admin"].pop("token"), "tokens/admin"),
    (lambda d: d["tokens"]["expired"].update({"token": d["tokens"]["admin"]["token"]}),
     "tokens/expired/token"),
    (lambda d: d.update({"surprise": 1}), "surprise"),
])
def test_malformed_fixtures_name_the_file_and_the_field(tmp_path, mutate, field):
    data = _default()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(FixturesError) as info:
        load(path, SPEC)
    assert str(path) in str(info.value)
    assert field in str(info.value)


@pytest.mark.parametrize("text", ["namespaces: [unclosed", "", "- a list"])
def test_unparseable_fixtures_name_the_file(tmp_path, text):
    path = _write(tmp_path, text)
    with pytest.raises(FixturesError, match=str(path)):
        load(path, SPEC)


def test_missing_fixtures_file_names_the_file(tmp_path):
    with pytest.raises(FixturesError, match="cannot read"):
        load(tmp_path / "absent.yaml", SPEC)


def test_own_fixtures_drive_the_mock(tmp_path):
    org, user = "org_" + "A" * 27, "usr_" + "B" * 27
    path = _write(tmp_path, {
        "provisioning_scope": "streaming:admin",
        "namespaces": {"parcels": {"scope": "parcels:view"}},
        "organisations": {org: {"provisioned": False}},
        "users": {user: {"organisation": org}},
        "tokens": {"me": {"token": "my-own-token-123", "user": user,
                          "scopes": ["parcels:view", "streaming:admin"]}},
    })
    client = create_app({"fixtures_path": path, "strict": True}).test_client()
    headers = bearer("my-own-token-123")
    assert client.get("/events/connection_token", headers=headers).status_code == 409
    assert client.get("/events/provision", headers=headers).status_code == 204
    channel = f"parcels:{org}#{user}"
    assert client.get("/events/subscription_token", headers=headers,
                      json={"channel": channel}).status_code == 200
    assert client.get("/events/subscription_token", headers=headers,
                      json={"channel": f"shipments:{org}"}).status_code == 403
