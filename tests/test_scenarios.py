"""Scenarios: timed events replayed through the one event path, checked whole at load with
errors naming the file, the step and the field."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml
from envoy_events_kit.mock_server import MockServer, create_app
from envoy_events_kit.mock_server.events.scenarios import ScenarioError, bundled_path, load

from tests.cli_mock import ENVOY_EVENTS
from tests.conftest import ACME, GLOBEX

SHIPMENT = "shp_2iHViqpO8v81j2e1nrpWkRuVfmo"


def write(tmp_path: Path, steps: list[dict], name: str = "quick") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "steps": steps}))
    return path


def step(status: str, after: float = 0.05, org: str = ACME) -> dict:
    return {"after": after, "type": "shipment.updated", "organisation": org,
            "data": {"id": SHIPMENT, "status": status}}


def wait_events(url: str, count: int, timeout: float = 5) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        events = requests.get(f"{url}/__mock__/events", timeout=5).json()["events"]
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.02)


def test_the_bundled_scenario_is_valid_and_realistic():
    state = create_app().extensions["envoy_events_mock"]
    scenario = load("shipment-journey", state.events)
    statuses = [s["data"]["status"] for s in scenario.steps if s["type"] == "shipment.updated"]
    assert statuses == ["booked", "label_created", "collected", "in_transit",
                        "out_for_delivery", "delivered"]
    assert {s["type"] for s in scenario.steps} >= {"order.updated", "inventory.updated"}
    assert scenario.path == bundled_path("shipment-journey")


def test_a_scenario_plays_its_events_in_order_through_the_event_path(tmp_path):
    path = write(tmp_path, [step("booked"), step("in_transit"), step("delivered")])
    with MockServer({"scenario": str(path)}) as mock:
        events = wait_events(mock.url, 3)
        playing = requests.get(f"{mock.url}/__mock__/scenarios", timeout=5).json()["playing"]
    assert [e["event"]["data"]["status"] for e in events] == ["booked", "in_transit", "delivered"]
    assert all(e["event"]["id"].startswith("evt_") and e["channel"] == f"shipments:{ACME}"
               for e in events)
    assert playing[0]["name"] == "quick" and playing[0]["published"] == 3


def _new_players(before: set[threading.Thread]) -> list[str]:
    """Scenario threads alive now that were not before the test (other tests' mocks)."""
    return [t.name for t in set(threading.enumerate()) - before
            if t.name.startswith("scenario-") and t.is_alive()]


def test_play_on_request_on_a_loop_and_stop(tmp_path):
    before = set(threading.enumerate())
    with MockServer() as mock:
        answer = requests.post(f"{mock.url}/__mock__/scenarios/shipment-journey",
                               json={"loop": True}, timeout=5)
        assert answer.status_code == 202 and answer.json()["loop"] is True
        assert wait_events(mock.url, 1)  # the first step publishes at once
        assert requests.delete(f"{mock.url}/__mock__/scenarios", timeout=5).status_code == 204
        # The stop answers once the player's thread has ended: nothing plays, nothing more.
        assert requests.get(f"{mock.url}/__mock__/scenarios", timeout=5).json()["playing"] == []
        assert not _new_players(before)
        typo = requests.post(f"{mock.url}/__mock__/scenarios/shipment-journy", timeout=5)
        assert typo.status_code == 404 and "shipment-journey" in typo.json()["error"]["message"]


def test_a_loop_starts_again(tmp_path):
    path = write(tmp_path, [step("booked", 0.02), step("delivered", 0.02)])
    with MockServer({"scenario": str(path), "scenario_loop": True}) as mock:
        assert len(wait_events(mock.url, 6)) >= 6


def test_reset_stops_a_scenario(tmp_path):
    path = write(tmp_path, [step("booked", 0.0), step("delivered", 1.0)])
    before = set(threading.enumerate())
    with MockServer({"scenario": str(path)}) as mock:
        wait_events(mock.url, 1)
        requests.post(f"{mock.url}/__mock__/reset", timeout=5)
        assert requests.get(f"{mock.url}/__mock__/scenarios", timeout=5).json()["playing"] == []
        assert not _new_players(before)
        assert wait_events(mock.url, 0) == []


def test_refused_steps_are_recorded_not_fatal(tmp_path):
    path = write(tmp_path, [step("booked", org=GLOBEX), step("delivered")])  # Globex is off
    with MockServer({"scenario": str(path)}) as mock:
        events = wait_events(mock.url, 1)
        deadline = time.monotonic() + 5
        while not (playing := requests.get(f"{mock.url}/__mock__/scenarios",
                                           timeout=5).json()["playing"][0])["published"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert [e["event"]["data"]["status"] for e in events] == ["delivered"]
    assert playing["published"] == 1 and "409" in playing["errors"][0]


@pytest.mark.parametrize(("content", "words"), [
    ({"name": "x", "steps": [step("lost")]}, "steps/0 (shipment.updated)"),
    ({"name": "x", "steps": [{**step("booked"), "type": "shipment.update"}]}, "Did you mean"),
    ({"name": "x", "steps": [{**step("booked"), "after": -1}]}, "steps/0/after"),
    ({"name": "x", "steps": [{"type": "shipment.updated"}]}, "'data' is a required property"),
    ({"name": "x", "steps": [{**step("booked"), "organisation": "acme"}]}, "not a channel"),
    ({"steps": []}, "'name' is a required property"),
], ids=["bad-data", "unknown-type", "negative-after", "no-data", "bad-org", "no-name"])
def test_bad_files_are_refused_naming_file_step_and_field(tmp_path, content, words):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(content))
    state = create_app().extensions["envoy_events_mock"]
    with pytest.raises(ScenarioError) as caught:
        load(path, state.events)
    assert str(caught.value).startswith(str(path)) and words in str(caught.value)


def test_the_cli_says_it_in_one_line(tmp_path):
    bad = write(tmp_path, [step("lost")], name="bad")
    for source in (str(bad), "no-such-scenario", str(tmp_path / "missing.yaml")):
        done = subprocess.run([str(ENVOY_EVENTS), "mock", "--port", "0", "--scenario", source],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and done.stderr.startswith("error: ")
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
