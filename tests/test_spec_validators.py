"""The mock inlines the spec's local `$ref`s for speed; its verdicts and messages must be
exactly those of jsonschema resolving the same refs through its registry."""

from __future__ import annotations

import pytest
from envoy_events_kit.mock_server.spec import Spec, first_error
from hypothesis import given, settings
from hypothesis import strategies as st

from envoy_events_kit import control_spec_path, spec_path

SPECS = [Spec(spec_path()), Spec(control_spec_path())]
SCHEMAS = [(spec, f"#/components/schemas/{name}")
           for spec in SPECS for name in spec.document["components"]["schemas"]]

ksuid = st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=26,
                max_size=28)
near_channels = st.builds(
    lambda ns, org, users, tail: f"{ns}:org_{org}" + (f"#{','.join(users)}" if users else "")
    + tail,
    st.from_regex(r"[a-z][a-z0-9_-]{0,33}", fullmatch=True), ksuid,
    st.lists(ksuid.map("usr_".__add__), max_size=9), st.sampled_from(["", "\n", "#", ","]))
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(
    max_size=20) | near_channels
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(["channel", "token", "error", "code", "message", "id", "url", "x"]) | st.text(
        max_size=5), inner, max_size=4), max_leaves=10)


@pytest.mark.parametrize("spec, pointer", SCHEMAS, ids=[p for _, p in SCHEMAS])
@settings(max_examples=150, deadline=None)
@given(instance=values)
def test_inlined_validator_agrees_with_the_registry(spec, pointer, instance):
    fast, reference = spec.validator(pointer), spec.validator(pointer, inline=False)
    assert first_error(fast, instance) == first_error(reference, instance)


@pytest.mark.parametrize("operation", [op for spec in SPECS for op in spec.operations.values()
                                       if op.body_validator], ids=lambda op: op.operation_id)
@settings(max_examples=150, deadline=None)
@given(instance=values | st.fixed_dictionaries({"channel": near_channels}))
def test_request_body_validators_agree_with_the_registry(operation, instance):
    spec = next(s for s in SPECS if operation.operation_id in s.operations)
    raw = spec.resolve(spec.document["paths"][operation.path][operation.method.lower()][
        "requestBody"])["content"]["application/json"]["schema"]
    reference = spec.validator(raw, inline=False)
    assert first_error(operation.body_validator, instance) == first_error(reference, instance)
