"""The bundled contract, loaded once for Schemathesis with an isolated configuration.

`schemathesis.Config()` keeps a host project's `schemathesis.toml` out; nothing is
registered globally (checks go through `additional_checks=`).
"""

from __future__ import annotations

import schemathesis
from envoy_events_kit.contract_tests.one_channel import align_channel
from envoy_events_kit.contract_tests.target import CONFIGURED
from schemathesis.config import CacheConfig

from envoy_events_kit import spec_path

OPERATION_PATHS = {
    "getConnectionToken": "/events/connection_token",
    "getSubscriptionToken": "/events/subscription_token",
    "provisionEvents": "/events/provision",
    "deprovisionEvents": "/events/deprovision",
}
#: No shrinking (see strategies.NO_SHRINK). No coverage phase: it spends ~17 s at collection
#: building boundary strings for the Channel pattern; the channel tests cover those
#: boundaries for a fraction of the cost.
PHASES = ["examples", "fuzzing"]


def load_schema(max_examples: int | None = None) -> schemathesis.BaseSchema:
    """The events spec as a Schemathesis schema, generating `max_examples` per operation."""
    schema = schemathesis.openapi.from_path(
        spec_path(), config=schemathesis.Config(cache=CacheConfig(enabled=False)))
    # No extra query parameters and no mutated security parameters in negative cases: the
    # API's docs do not say unknown parameters are refused (servers commonly ignore them),
    # and the suite sends its own `Authorization`, which would make a case Schemathesis
    # calls negative for a missing header a positive one (the 401s are test_auth's).
    schema.config.generation.update(max_examples=max_examples or CONFIGURED.max_examples,
                                    database="none", no_shrink=True,
                                    allow_extra_parameters=False,
                                    with_security_parameters=False)
    schema.config.phases.update(phases=PHASES)
    schema.hook("map_case")(align_channel)  # positive cases obey "one of the two, or equal"
    return schema
