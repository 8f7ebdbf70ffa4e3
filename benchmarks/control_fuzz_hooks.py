"""Hooks for a stock `schemathesis run` of the control spec against a live mock
(`SCHEMATHESIS_HOOKS=control_fuzz_hooks`, set by benchmarks/fuzz.py --api control).

Before each call the mock is reset and its visible state taken; a custom check then says a
4xx changed nothing (state, published events, deliveries, journal, playing scenarios,
armed faults, principals, and the id the next event gets). Every status is counted into
$CONTROL_FUZZ_REPORT at exit, the witness fuzz.py prints. Run with one worker: the state is
compared across the whole mock.
"""

from __future__ import annotations

import atexit
import collections
import json
import os

import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.specs.openapi.formats import get_default_format_strategies

URL = os.environ["CONTROL_FUZZ_URL"]
REPORT = os.environ.get("CONTROL_FUZZ_REPORT")
VISIBLE = ("/__mock__/snapshot", "/__mock__/events", "/__mock__/deliveries",
           "/__mock__/journal", "/__mock__/scenarios", "/__mock__/faults",
           "/__mock__/principals")
PROBE = {"type": "order.updated", "organisation": "org_26ZZVNs2QURl4yY6owPARekUbMa",
         "data": {"id": "ord_2iHViqpO8v81j2e1nrpWkRuVfmo", "status": "created", "lines": 2}}

#: Instants at the edges of the calendar and of the clock's window, mixed into generated
#: date-times (Schemathesis rarely draws the edges where the mock used to answer 500).
EDGE_INSTANTS = st.sampled_from([
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "0001-01-01T00:59:59+01:00",
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-01:00", "9999-12-31T23:00:00-23:59",
    "2014-05-13T16:53:19Z", "2014-05-13T16:53:20Z", "2150-06-19T23:21:35Z",
    "2150-06-19T23:21:36Z"])
schemathesis.openapi.format("date-time",
                            EDGE_INSTANTS | get_default_format_strategies()["date-time"])

_session = requests.Session()
_statuses: collections.Counter[int] = collections.Counter()
_before: dict[str, str] = {}


def _visible() -> str:
    parts = {}
    for path in VISIBLE:
        answer = _session.get(URL + path, timeout=30)
        answer.raise_for_status()
        parts[path] = answer.json()
    parts["/__mock__/scenarios"] = parts["/__mock__/scenarios"]["playing"]
    if parts["/__mock__/snapshot"]["clock"]["mode"] == "real":
        del parts["/__mock__/snapshot"]["clock"]["now"]
    return json.dumps(parts, sort_keys=True)


def _probe_id() -> str:
    answer = _session.post(URL + "/__mock__/events", json=PROBE, timeout=30)
    answer.raise_for_status()
    return answer.json()["event"]["id"]


def _fresh() -> None:
    _session.post(URL + "/__mock__/reset", timeout=30).raise_for_status()


_fresh()
FIRST_ID = _probe_id()


@schemathesis.hook
def before_call(context, case, **kwargs) -> None:
    _fresh()
    _before["state"] = _visible()


@schemathesis.hook
def after_call(context, case, response) -> None:
    _statuses[response.status_code] += 1


@schemathesis.check
def a_4xx_changes_nothing(ctx, response, case) -> bool | None:
    """A refused call leaves the mock exactly as it was."""
    if not 400 <= response.status_code < 500 or "state" not in _before:
        return None
    if _visible() != _before["state"]:
        raise AssertionError(f"answered {response.status_code} but changed the mock's state")
    if _probe_id() != FIRST_ID:
        raise AssertionError(f"answered {response.status_code} but took an event id")
    return True


@atexit.register
def _write_report() -> None:
    if REPORT:
        with open(REPORT, "w", encoding="utf-8") as handle:
            json.dump({str(k): v for k, v in sorted(_statuses.items())}, handle)
