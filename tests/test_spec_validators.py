"""The mock inlines the spec's local `$ref`s for speed; its verdicts and messages must be
exactly those of jsonschema resolving the same refs through its registry."""

from __future__ import annotations

import subprocess
import sys

import pytest
from envoy_events_kit.mock_server import spec as spec_module
from envoy_events_kit.mock_server.spec import Spec, first_error
from hypothesis import given, settings
from hypothesis import strategies as st

from envoy_events_kit import control_spec_path, spec_path

SPECS = [Spec(spec_path()), Spec(control_spec_path())]


@pytest.fixture(scope="module", autouse=True)
def hot_validators():
    """Every call takes the compiled path (not only those after the 64th)."""
    before, spec_module.HOT_AFTER = spec_module.HOT_AFTER, 1
    yield
    spec_module.HOT_AFTER = before
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


SUBSCRIBE = SPECS[0].operations["getSubscriptionToken"]
CHANNEL = "shipments:org_26ZZVNs2QURl4yY6owPARekUbMa"


@pytest.mark.parametrize("instance", [
    {"channel": CHANNEL}, {"channel": CHANNEL + "\n"}, {"channel": "shipments:\ud800"},
    {"channel": 2 ** 70}, {"channel": float("inf")}, {"channel": [[[[CHANNEL]]]]},
    {"channel": CHANNEL, "extra": 1}, {"\ud800": CHANNEL}, {}, [], None, "x" * 10_000,
], ids=["valid", "newline", "lone-surrogate", "big-int", "infinity", "nested", "extra-key",
        "surrogate-key", "empty", "list", "null", "long-string"])
def test_the_compiled_fast_path_agrees_on_what_it_cannot_take(instance):
    reference = SPECS[0].validator(SUBSCRIBE.body_validator.schema, inline=False)
    assert first_error(SUBSCRIBE.body_validator, instance) == first_error(reference, instance)


def test_a_fitting_body_is_passed_by_the_compiled_validator_alone(monkeypatch):
    """The fast path is taken (jsonschema is not asked) for a valid body, and only then."""
    validator = SUBSCRIBE.body_validator
    asked: list[object] = []
    reference = validator.reference

    class Spy:
        def iter_errors(self, instance):
            asked.append(instance)
            return reference.iter_errors(instance)

    monkeypatch.setattr(validator, "reference", Spy())
    assert first_error(validator, {"channel": CHANNEL}) is None
    assert asked == []
    assert first_error(validator, {"channel": CHANNEL + "\n"})
    assert asked == [{"channel": CHANNEL + "\n"}]


def test_a_mock_that_validates_little_never_loads_the_compiled_validator():
    """Start-up checks and rare calls stay on jsonschema: jsonschema-rs costs ~10 MB."""
    code = ("import sys; from envoy_events_kit.mock_server.app import create_app; "
            "create_app(); assert 'jsonschema_rs' not in sys.modules, 'loaded'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
