"""Issue 17 finding 7 (the lists the control API shows): the published-events list and the
request journal are bounded (oldest dropped first, and counted in `dropped`), and a scenario
file whose aliases expand past its bounds is refused at load with one line."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest
from envoy_events_kit.mock_server import create_app
from envoy_events_kit.mock_server.events.scenarios import ScenarioError

from envoy_events_kit.instants import parse_instant
from tests.conftest import ACME, ADMIN, FROZEN_AT, bearer

ORDER_ID = "ord_2iHViqpO8v81j2e1nrpWkRuVfmo"
STEP_HEAD = f"""name: bomb
steps:
  - type: order.updated
    organisation: {ACME}
    data:
      id: {ORDER_ID}
      status: created
"""
#: Six levels of nine aliases: 9**6 = 531,441 copies of "lol", about 3 MB of JSON per event.
BOMB = STEP_HEAD + """      a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]
      b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
      c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
      d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
      e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
      f: [*e,*e,*e,*e,*e,*e,*e,*e,*e]
"""


def _app(**settings):
    app = create_app({"strict": True, "clock": FROZEN_AT, **settings})
    app.testing = True
    return app.test_client()


def _scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def test_an_anchor_bomb_scenario_is_refused_at_load(tmp_path):
    path = _scenario(tmp_path, BOMB)
    assert path.stat().st_size < 600
    with pytest.raises(ScenarioError, match="once its aliases are expanded") as caught:
        create_app({"scenario": str(path)})
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_a_step_whose_data_expands_past_its_bound_is_refused_naming_it(tmp_path):
    big = "x" * 1000
    text = STEP_HEAD + f"      a: &a ['{big}', '{big}', '{big}', '{big}', '{big}', '{big}', " \
                       f"'{big}', '{big}']\n      b: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    with pytest.raises(ScenarioError, match="steps/0/data: .* a step's data may hold"):
        create_app({"scenario": str(_scenario(tmp_path, text))})


def test_many_steps_sharing_data_through_an_alias_past_the_total_bound_are_refused(tmp_path):
    data = "{id: " + ORDER_ID + ", status: created, pad: &pad '" + "y" * 30_000 + "'}"
    steps = [f"  - {{type: order.updated, organisation: {ACME}, data: "
             f"{{id: {ORDER_ID}, status: created, pad: *pad}}}}"] * 400
    text = "name: wide\nsteps:\n" + f"  - {{type: order.updated, organisation: {ACME}, " \
                                    f"data: {data}}}\n" + "\n".join(steps) + "\n"
    assert len(text) < 100_000  # 12 MB of JSON once expanded
    with pytest.raises(ScenarioError, match="a scenario may hold"):
        create_app({"scenario": str(_scenario(tmp_path, text))})


def test_a_recursive_alias_is_refused(tmp_path):
    text = STEP_HEAD + "      loop: &loop [1, *loop]\n"
    with pytest.raises(ScenarioError, match="contains it"):
        create_app({"scenario": str(_scenario(tmp_path, text))})


def test_aliases_within_the_bounds_still_work(tmp_path):
    text = STEP_HEAD.replace("data:\n", "data: &order\n") + \
        f"  - {{type: order.updated, organisation: {ACME}, data: *order}}\n"
    client = _app(scenario=str(_scenario(tmp_path, text)))
    rows = {row["name"]: row for row in client.get("/__mock__/scenarios").get_json()["scenarios"]}
    assert rows["bomb"]["steps"] == 2


ORDER = {"type": "order.updated", "organisation": ACME,
         "data": {"id": ORDER_ID, "status": "created", "lines": 2}}


def test_the_events_list_keeps_the_newest_and_counts_what_it_dropped():
    client = _app(events_log_size=5)
    ids = [client.post("/__mock__/events", json=ORDER).get_json()["event"]["id"]
           for _ in range(8)]
    listed = client.get("/__mock__/events").get_json()
    assert [e["event"]["id"] for e in listed["events"]] == ids[-5:]
    assert listed["dropped"] == 3
    client.post("/__mock__/reset")
    assert client.get("/__mock__/events").get_json() == {"events": [], "dropped": 0}


def test_the_events_list_is_bounded_in_bytes_too():
    client = _app(events_log_bytes=8 * 1024)
    padded = {**ORDER, "data": {**ORDER["data"], "note": "z" * 1000}}
    for _ in range(30):
        assert client.post("/__mock__/events", json=padded).status_code == 201
    answer = client.get("/__mock__/events")
    listed = answer.get_json()
    assert len(answer.get_data()) < 9 * 1024
    assert listed["dropped"] == 30 - len(listed["events"]) and listed["dropped"] > 20


def test_the_journal_keeps_the_newest_counts_what_it_dropped_and_cuts_long_paths():
    client = _app(journal_size=3)
    for _ in range(4):
        client.get("/events/connection_token", headers=bearer(ADMIN))
    client.get("/events/" + "p" * 100_000)
    journal = client.get("/__mock__/journal").get_json()
    assert len(journal["entries"]) == 3 and journal["dropped"] == 2
    assert len(journal["entries"][-1]["path"]) <= 2048 + 3
    assert len(json.dumps(journal)) < 4096
    client.delete("/__mock__/journal")
    assert client.get("/__mock__/journal").get_json() == {"entries": [], "dropped": 0}


def test_a_looping_scenario_of_zero_waits_starts_a_round_at_most_once_a_second(tmp_path):
    """Issue 20: it used to publish as fast as a CPU allows (a core at 100 %)."""
    text = f"name: spin\nsteps:\n  - {{after: 0, type: order.updated, organisation: {ACME}, " \
           f"data: {{id: {ORDER_ID}, status: created}}}}\n"
    client = _app(scenario=str(_scenario(tmp_path, text)), clock="real")
    assert client.post("/__mock__/scenarios/spin", json={"loop": True}).status_code == 202
    deadline = time.monotonic() + 30
    events: list = []
    while len(events) < 3 and time.monotonic() < deadline:  # wait for the third round
        time.sleep(0.05)
        events = client.get("/__mock__/events").get_json()["events"]
    client.delete("/__mock__/scenarios")
    assert len(events) >= 3, "the loop did not go round three times in 30 s"
    stamps = [parse_instant(e["event"]["created_at"]) for e in events[:3]]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.99, gaps
    assert len(events) <= 4  # rounds seen while waiting for the third: no burst
