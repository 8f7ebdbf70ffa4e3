"""Schemathesis over the control API's own spec (`openapi/mock-control.yaml`), in-process:
every input the spec accepts gets a 2xx or a JSON 4xx, never a 5xx; every answer fits the
spec; and a 4xx changes nothing (the mock's whole visible state is compared before and
after each refused call). `make fuzz` runs the long version (benchmarks/fuzz.py --api control).
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from envoy_events_kit.mock_server import create_app
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.formats import get_default_format_strategies

from envoy_events_kit import control_spec_path
from tests.conftest import ACME, FROZEN_AT, GLOBEX

APP = create_app({"strict": True, "clock": FROZEN_AT})  # frozen: event ids are repeatable
APP.testing = True
STATE = APP.extensions["envoy_events_mock"]
CLIENT = APP.test_client()
#: Everything a refused call must leave as it was; each GET is itself part of the spec.
VISIBLE = ("/__mock__/snapshot", "/__mock__/events", "/__mock__/deliveries",
           "/__mock__/journal", "/__mock__/scenarios", "/__mock__/faults",
           "/__mock__/principals")
#: Not positive_data_acceptance: data the schema admits can still be refused with a 400 for
#: what a schema cannot say (an unknown event type, a webhook URL that is not loopback, an
#: instant out of the clock's window), and that check accepts no 400 at all.
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance,
          content_type_conformance, negative_data_rejection]

schema = schemathesis.openapi.from_path(control_spec_path(), config=schemathesis.Config())
schema.app = APP
schema.config.update(base_url="http://localhost")

#: RFC 3339 instants at the edges of the calendar and of the clock's window, mixed into the
#: generated date-times (Schemathesis draws any day of years 1..9999 with any offset, but
#: rarely the edges where the 500s were).
EDGE_INSTANTS = st.sampled_from([
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "0001-01-01T00:59:59+01:00",
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-01:00", "9999-12-31T23:00:00-23:59",
    "2014-05-13T16:53:19Z", "2014-05-13T16:53:20Z", "2150-06-19T23:21:35Z",
    "2150-06-19T23:21:36Z"])


@pytest.fixture(scope="module", autouse=True)
def _edge_instants():
    """Only while this module runs: the format registry is global."""
    schemathesis.openapi.format(
        "date-time", EDGE_INSTANTS | get_default_format_strategies()["date-time"])
    yield
    from schemathesis.specs.openapi.formats import unregister_string_format

    unregister_string_format("date-time")


SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck),
                    database=None)


#: An event the fixtures' organisation may publish: after a refused call, it must get the
#: id the first event after a reset gets (a refused publish takes no id).
PROBE = {"type": "order.updated", "organisation": ACME,
         "data": {"id": "ord_2iHViqpO8v81j2e1nrpWkRuVfmo", "status": "created", "lines": 2}}


def probe_id() -> str:
    answer = CLIENT.post("/__mock__/events", json=PROBE)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()["event"]["id"]


STATE.reset()
FIRST_ID = probe_id()


def visible_state() -> str:
    parts = {}
    for path in VISIBLE:
        answer = CLIENT.get(path)
        assert answer.status_code == 200, (path, answer.get_data(as_text=True))
        parts[path] = answer.get_json()
    parts["/__mock__/scenarios"] = parts["/__mock__/scenarios"]["playing"]
    if parts["/__mock__/snapshot"]["clock"]["mode"] == "real":
        del parts["/__mock__/snapshot"]["clock"]["now"]  # it moves by itself
    return json.dumps(parts, sort_keys=True)


@schema.parametrize()
@SETTINGS
def test_every_control_operation_keeps_its_spec_and_a_4xx_changes_nothing(case):
    STATE.reset()
    before = visible_state()
    response = case.call()
    case.validate_response(response, checks=CHECKS)
    if 400 <= response.status_code < 500:
        assert "error" in response.json()  # the project's one error shape, as JSON
        refused = f"{case.method} {case.formatted_path} answered {response.status_code}"
        assert visible_state() == before, f"{refused} but changed the mock"
        assert probe_id() == FIRST_ID, f"{refused} but took an event id"


@pytest.mark.parametrize("refused", [
    {**PROBE, "organisation": GLOBEX},  # 409: not provisioned
    {**PROBE, "data": {"id": "ord_2iHViqpO8v81j2e1nrpWkRuVfmo"}},  # 400: not an order
])
def test_a_refused_publish_takes_no_event_id(refused):
    STATE.reset()
    assert CLIENT.post("/__mock__/events", json=refused).status_code in (400, 409)
    assert probe_id() == FIRST_ID
