"""Generated channel requests for the parity run, from the contract suite's Hypothesis
strategies (`contract_tests/strategies.py`): channels the caller must be granted and
refused, and malformed ones, drawn for this caller's identity.

Derandomized: the same identity and count give the same requests on every run, so two runs
of a CI job compare alike. Needs Hypothesis (the kit's `contract` extra); without it the
run says so and sends only the fixed probes.
"""

from __future__ import annotations

from typing import Any

from .mirror import Mirror
from .probes import Probe, _sub


def draw(strategy: Any, count: int, unique: bool = True) -> list[Any]:
    """Up to `count` values of `strategy`, the same ones on every run (derandomized)."""
    from hypothesis import HealthCheck, Phase, given, settings

    values: list[Any] = []

    @settings(max_examples=count * 3, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: Any) -> None:
        if not (unique and value in values) and len(values) < count:
            values.append(value)

    collect()
    return values


def generated_probes(mirror: Mirror, count: int) -> list[Probe] | None:
    """`count` channels per kind, alternating the body and the `?channel=` form; None when
    Hypothesis is not installed."""
    try:
        from envoy_events_kit.contract_tests import strategies
    except ImportError:
        return None
    me = mirror.caller.identity
    if count <= 0 or not me.org_id:
        return []
    kinds = [("channel-malformed-400", strategies.malformed_channels(me), ("Channel",))]
    if me.namespaces:
        kinds = [("channel-own-granted", strategies.own_channels(me),
                  ("SubscriptionTokenClaims",)),
                 ("channel-foreign-user-403", strategies.foreign_user_channels(me), ()),
                 ("channel-foreign-org-403", strategies.foreign_org_channels(me), ()),
                 ("channel-ungranted-namespace-403",
                  strategies.ungranted_namespace_channels(me), ()), *kinds]
    found = []
    for rule, strategy, assumptions in kinds:
        for index, channel in enumerate(draw(strategy, count)):
            found.append(_sub(rule, f"generated {index + 1}", channel,
                              form="body" if index % 2 == 0 else "query",
                              assumptions=assumptions))
    return found
