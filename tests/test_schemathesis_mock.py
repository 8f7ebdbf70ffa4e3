"""Schemathesis over the spec against the strict mock in-process: every built-in check,
positive and negative data, examples/coverage/fuzzing phases, and the link-driven state
machine. Strict mode makes the mock raise if it ever answers outside its own spec.
"""

from __future__ import annotations

import schemathesis
from envoy_events_kit.contract_tests.one_channel import align_channel
from envoy_events_kit.mock_server import create_app
from hypothesis import HealthCheck, settings

from envoy_events_kit import spec_path
from tests.conftest import ADMIN

APP = create_app({"strict": True, "clock": "real"})  # real clock: `exp` is in the future
APP.testing = True

schema = schemathesis.openapi.from_path(spec_path(), config=schemathesis.Config())
schema.app = APP
schema.hook("map_case")(align_channel)
schema.config.update(base_url="http://localhost", headers={"Authorization": f"Bearer {ADMIN}"})

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def _restore() -> None:
    APP.extensions["envoy_events_mock"].reset()


@schema.parametrize()
@SETTINGS
def test_every_operation_keeps_the_contract(case):
    _restore()
    case.call_and_validate()


class Stateful(schema.as_state_machine()):
    def setup(self) -> None:
        _restore()


Stateful.TestCase.settings = settings(max_examples=25, stateful_step_count=6, deadline=None,
                                      suppress_health_check=list(HealthCheck))
TestLinkedFlow = Stateful.TestCase
