"""Fixtures of the contract suite: the target, who the suite is, the rules' context.

The options themselves are defined once in `envoy_events_kit/pytest_plugin.py` (the
pytest11 entry point, already loaded: it must not be listed in `pytest_plugins` again).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from envoy_events_kit.contract_tests import target as target_module
from envoy_events_kit.contract_tests.checks import Context
from envoy_events_kit.contract_tests.drift import DriftRecorder
from envoy_events_kit.contract_tests.realtime_rules import describe as describe_realtime
from envoy_events_kit.contract_tests.runner import cli_words
from envoy_events_kit.contract_tests.target import (
    PROVISION,
    Options,
    Target,
    TargetError,
    open_target,
)

#: Exit status of a run that could not reach a usable API (not "tests failed").
UNREACHABLE_EXIT = 3
_OPTIONS_KEY = pytest.StashKey[Options]()
_DRIFT_KEY = pytest.StashKey[DriftRecorder]()
_SECRETS: set[str] = set()
_REACHED: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "assumption(key): exercises an x-assumed behaviour")
    config.addinivalue_line("markers", "mock_only: needs the mock's control API or secret")
    config.addinivalue_line("markers", "destructive: provisions or deprovisions the org")
    options = target_module.read_options(config)
    config.stash[_OPTIONS_KEY] = options
    target_module.CONFIGURED = options
    _SECRETS.update(t for t in (options.token, options.admin_token, options.expired_token,
                                options.jwt_secret) if t)
    recorder = DriftRecorder()
    config.stash[_DRIFT_KEY] = recorder
    config.pluginmanager.register(recorder, "envoy-events-drift")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Before the JUnit file is written: drop the base64 statistics Hypothesis' plugin adds
    as report-wide properties for every test (noise in a CI's report)."""
    from _pytest.junitxml import xml_key

    xml = session.config.stash.get(xml_key, None)
    if xml is not None:
        xml.global_properties = [(name, value) for name, value in xml.global_properties
                                 if not str(name).startswith("hypothesis-statistics")]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Schemathesis' items share one node id (`test_schema.py::test_operation`), so a JUnit
    report showed four identical test cases: give each its operation, as its name has."""
    for item in items:
        suffix = item.name[len(getattr(item, "originalname", item.name)):]
        if not suffix.startswith("[") or item.nodeid.endswith(suffix):
            continue
        node_id = getattr(item, "_id", None)
        if hasattr(node_id, "with_params"):  # pytest >= 9.2 keeps a NodeId object
            item._id = node_id.with_params(suffix[1:-1])
        else:
            item._nodeid = item.nodeid + suffix


def pytest_collection_finish(session: pytest.Session) -> None:
    options = session.config.stash[_OPTIONS_KEY]
    where = options.base_url or "an in-process mock"
    line = (f"envoy-events contract suite: target {where}; {options.max_examples} examples per "
            f"generated test (--events-max-examples); stateful: "
            f"{target_module.stateful_examples(options)} runs of up to "
            f"{target_module.STATEFUL_STEPS} steps")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Iterator[Target]:
    """The API under test, reached and identified, or the run stops with one sentence."""
    try:
        opened = open_target(pytestconfig.stash[_OPTIONS_KEY])
    except (TargetError, ValueError) as exc:
        pytest.exit(f"envoy-events contract suite: {exc}.", returncode=UNREACHABLE_EXIT)
    _SECRETS.update(opened.secrets)
    try:
        yield opened
    finally:
        if opened.initial_state is not None:  # a mock: exactly as the suite found it
            opened.restore(opened.initial_state)
        elif opened.destructive:  # a deployment: the organisation provisioned, as promised
            opened.get(PROVISION, opened.admin_token)
        opened.stop()
        _REACHED.append(_describe(opened))


def _describe(target: Target) -> str:
    me = target.identity
    who = f"as {me.user_id} of {me.org_id}" if me else "anonymously"
    rate = (f"{1 / target.session.interval:g} requests/s at most" if target.session.interval
            else "no rate limit")
    realtime = (f"realtime server {describe_realtime(target.options.realtime_url)}"
                if target.options.realtime_url else "realtime not checked (no --realtime-url)")
    return (f"target {target.description} {who}; {target.session.sent} requests sent, "
            f"{rate}; provisioning {'allowed' if target.destructive else 'not allowed'}; "
            f"signatures {'verified' if target.secret else 'not verified (no secret)'}; "
            f"{realtime}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _REACHED:
        terminalreporter.write_line(f"envoy-events contract suite: {line}")


@pytest.fixture(autouse=True)
def _applicable(request: pytest.FixtureRequest) -> None:
    """Skip mock-only tests elsewhere, and destructive ones unless they are allowed."""
    node = request.node
    if node.get_closest_marker("mock_only") or node.get_closest_marker("destructive"):
        found: Target = request.getfixturevalue("target")
        if node.get_closest_marker("mock_only") and not found.is_mock:
            pytest.skip("mock only: the target does not serve the mock's control API")
        if node.get_closest_marker("destructive") and not found.destructive:
            pytest.skip("provisioning needs --events-allow-destructive and "
                        "--events-admin-token against a deployment")


@pytest.fixture(scope="session")
def rules(target: Target) -> Context:
    """What the response rules need: who each token is, and the secret when known."""
    identities = {}
    if target.identity:
        identities[target.token] = target.identity
    if target.admin_token and target.admin_identity:
        identities[target.admin_token] = target.admin_identity
    return Context(identities=identities, secret=target.secret, now=target.now)


@pytest.fixture(scope="session", autouse=True)
def _drift_properties(pytestconfig: pytest.Config,
                      record_testsuite_property: Any) -> Iterator[None]:
    """Write the drift summary into the JUnit XML report's properties."""
    yield
    for name, value in pytestconfig.stash[_DRIFT_KEY].properties():
        record_testsuite_property(name, value)


def redact(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """No bearer token in failure reports or captured output, whatever printed it."""
    report = yield
    if report.skipped and os.environ.get("ENVOY_EVENTS_FROM_CLI") and isinstance(
            report.longrepr, tuple):
        # Run by `envoy-events contract`: name its own options (--token, not --events-token).
        where, line, why = report.longrepr
        report.longrepr = (where, line, cli_words(why))
    if report.longrepr is not None and _SECRETS:
        text = str(report.longrepr)
        cleaned = redact(text)
        if cleaned != text:
            report.longrepr = cleaned
    report.sections = [(title, redact(content)) for title, content in report.sections]
    return report
