"""Issue 17 finding 8: instants the control spec's `format: date-time` admits (calendar
edges, offsets that leave the calendar once in UTC, naive ones in a snapshot or a state file)
get a clear 400, change nothing, and never become 500s later. One parser for all of them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from envoy_events_kit.mock_server import create_app
from envoy_events_kit.mock_server.config import ConfigError
from envoy_events_kit.mock_server.state.fixtures import FixturesError

from envoy_events_kit.instants import InstantError, parse_instant
from tests.conftest import ACME, ADA, ADMIN, FROZEN_AT, bearer

ENVOY_EVENTS = Path(sys.executable).parent / "envoy-events"
#: RFC 3339 date-times whose UTC form does not exist, or that carry no offset.
NOT_IN_UTC = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
              "0001-01-01T00:30:00+23:59"]
NAIVE = ["2026-01-01T00:00:00", "2026-01-01 12:00:00", "2026-01-01"]
#: Valid instants outside the clock's window (event ids are KSUIDs: 2014-05-13 .. 2150-06-19).
OUTSIDE_CLOCK_WINDOW = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                        "2000-01-01T00:00:00Z", "2150-06-19T23:21:36Z"]
ORDER = {"type": "order.updated", "organisation": ACME,
         "data": {"id": "ord_2iHViqpO8v81j2e1nrpWkRuVfmo", "status": "created", "lines": 2}}


def fingerprint(client) -> str:
    """Everything a refused request must leave as it was."""
    parts = [client.get(path).get_json() for path in
             ("/__mock__/snapshot", "/__mock__/events", "/__mock__/deliveries")]
    return json.dumps(parts, sort_keys=True)


def assert_refused(response, *words: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request"
    for word in words:
        assert word in error["message"]


@pytest.mark.parametrize("instant", NOT_IN_UTC + NAIVE + OUTSIDE_CLOCK_WINDOW)
def test_a_clock_instant_it_cannot_keep_is_a_400_and_the_clock_does_not_move(client, instant):
    before = fingerprint(client)
    assert_refused(client.put("/__mock__/clock", json={"frozen_at": instant}), "frozen_at")
    assert fingerprint(client) == before
    assert client.get("/__mock__/clock").get_json() == {"mode": "frozen", "now": FROZEN_AT}


@pytest.mark.parametrize("edge", ["2014-05-13T16:53:20Z", "2150-06-19T23:21:35Z",
                                  "2150-06-20T00:21:35+01:00"])
def test_the_clock_window_edges_are_served_events_and_tokens_included(client, edge):
    assert client.put("/__mock__/clock", json={"frozen_at": edge}).status_code == 200
    published = client.post("/__mock__/events", json=ORDER)
    assert published.status_code == 201, published.get_data(as_text=True)
    assert parse_instant(published.get_json()["event"]["created_at"]) == parse_instant(edge)
    assert client.get("/events/connection_token", headers=bearer(ADMIN)).status_code == 200


@pytest.mark.parametrize(("frozen_at", "seconds"), [("2014-05-13T16:53:20Z", -1),
                                                    ("2150-06-19T23:21:35Z", 1),
                                                    ("2145-01-01T00:00:00Z", 315360000)])
def test_advancing_out_of_the_window_is_a_400_and_the_clock_does_not_move(client, frozen_at,
                                                                         seconds):
    client.put("/__mock__/clock", json={"frozen_at": frozen_at})
    before = client.get("/__mock__/clock").get_json()
    assert_refused(client.put("/__mock__/clock", json={"advance_seconds": seconds}),
                   "advance_seconds", "window")
    assert client.get("/__mock__/clock").get_json() == before


@pytest.mark.parametrize("instant", NOT_IN_UTC + NAIVE)
def test_a_principal_with_an_unusable_expiry_is_a_400_and_is_not_created(client, instant):
    before = fingerprint(client)
    response = client.post("/__mock__/principals",
                           json={"org_id": ACME, "user_id": ADA, "expires_at": instant})
    assert_refused(response, "expires_at")
    assert fingerprint(client) == before


@pytest.mark.parametrize(("instant", "status"), [("0001-01-01T00:00:00Z", 401),
                                                 ("9999-12-31T23:59:59Z", 200),
                                                 ("9999-12-31T23:59:59+01:00", 200)])
def test_expiries_at_the_calendar_edges_work(client, instant, status):
    created = client.post("/__mock__/principals",
                          json={"org_id": ACME, "user_id": ADA, "expires_at": instant})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert parse_instant(created.get_json()["expires_at"]) == parse_instant(instant)
    answer = client.get("/events/connection_token", headers=bearer(created.get_json()["token"]))
    assert answer.status_code == status


def _snapshot_with(client, *, expires_at=None, now=None) -> dict:
    snapshot = client.get("/__mock__/snapshot").get_json()
    if expires_at is not None:
        snapshot["state"]["principals"].append(
            {"token": "tok-from-snapshot", "user_id": ADA, "org_id": ACME, "scopes": [],
             "name": None, "expires_at": expires_at})
    if now is not None:
        snapshot["clock"] = {"mode": "frozen", "now": now}
    return snapshot


@pytest.mark.parametrize("instant", NAIVE[:1] + NOT_IN_UTC[:1])
def test_a_snapshot_with_an_unusable_expiry_is_a_400_and_changes_nothing(client, instant):
    before = fingerprint(client)
    response = client.put("/__mock__/snapshot", json=_snapshot_with(client, expires_at=instant))
    assert_refused(response, "principals/0/expires_at")
    assert fingerprint(client) == before
    # The token it carried is unknown (401), not a 500 on every use.
    answer = client.get("/events/connection_token", headers=bearer("tok-from-snapshot"))
    assert answer.status_code == 401


@pytest.mark.parametrize("instant", NAIVE[:1] + NOT_IN_UTC[:1] + OUTSIDE_CLOCK_WINDOW[:1])
def test_a_snapshot_with_an_unusable_clock_is_a_400_and_changes_nothing(client, instant):
    client.post("/__mock__/principals", json={"org_id": ACME, "user_id": ADA})
    taken = client.get("/__mock__/snapshot").get_json()
    client.post("/__mock__/reset")
    before = fingerprint(client)
    taken["clock"] = {"mode": "frozen", "now": instant}
    assert_refused(client.put("/__mock__/snapshot", json=taken), "clock/now")
    assert fingerprint(client) == before


def test_a_good_snapshot_with_an_expiry_round_trips(client):
    snapshot = _snapshot_with(client, expires_at="2100-01-01T01:00:00+01:00")
    assert client.put("/__mock__/snapshot", json=snapshot).status_code == 204
    [principal] = client.get("/__mock__/snapshot").get_json()["state"]["principals"]
    assert parse_instant(principal["expires_at"]) == parse_instant("2100-01-01T00:00:00Z")
    answer = client.get("/events/connection_token", headers=bearer("tok-from-snapshot"))
    assert answer.status_code == 200


def _state_file(tmp_path: Path, principal: dict) -> Path:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"format": "envoy-events-mock-state/1", "state": {
        "serial": 1, "organisations": [],
        "principals": [{"token": "tok-from-file", "user_id": ADA, "org_id": ACME,
                        "scopes": [], "name": None, **principal}]}}))
    return path


@pytest.mark.parametrize("principal", [{"expires_at": "2030-01-01T00:00:00"},
                                       {"expires_at": "0001-01-01T00:00:00+01:00"},
                                       {"scopes": "shipments:read"}])
def test_a_bad_state_file_stops_the_start_with_one_line(tmp_path, principal):
    path = _state_file(tmp_path, principal)
    with pytest.raises(ConfigError, match="not a mock state file") as caught:
        create_app({"state_file": path})
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_the_cli_refuses_a_bad_state_file_with_exit_2(tmp_path):
    path = _state_file(tmp_path, {"expires_at": "2030-01-01T00:00:00"})
    out = subprocess.run([str(ENVOY_EVENTS), "mock", "--port", "0", "--state-file", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "expires_at" in out.stderr and "no offset" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_cli_refuses_a_clock_outside_the_window_with_exit_2():
    out = subprocess.run([str(ENVOY_EVENTS), "mock", "--port", "0",
                          "--clock", "2000-01-01T00:00:00Z"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "--clock" in out.stderr and "out of range" in out.stderr


def test_a_fixtures_expiry_without_offset_is_refused(tmp_path):
    from envoy_events_kit import default_fixtures_path

    text = default_fixtures_path().read_text().replace('"2020-01-01T00:00:00Z"',
                                                       '"2020-01-01T00:00:00"')
    path = tmp_path / "fixtures.yaml"
    path.write_text(text)
    with pytest.raises(FixturesError, match="expires_at: .*no offset"):
        create_app({"fixtures_path": path})


@pytest.mark.parametrize(("text", "words"), [
    ("2026-01-01T00:00:00", "no offset"), ("0001-01-01T00:00:00+01:00", "out of range"),
    ("yesterday", "not an ISO-8601 instant"), (None, "not an ISO-8601 instant")])
def test_the_one_parser_says_why(text, words):
    with pytest.raises(InstantError, match=words):
        parse_instant(text)
    # The contract suite reads a mock's clock with the very same parser.
    from envoy_events_kit.contract_tests import target
    assert target.parse_instant is parse_instant
