"""Fixtures of the contract suite: the target, who the suite is, the rules' context.

The options themselves are defined once in `envoy_events_kit/pytest_plugin.py` (the
pytest11 entry point, already loaded: it must not be listed in `pytest_plugins` again).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from envoy_events_kit.contract_tests import realtime_probe
from envoy_events_kit.contract_tests import target as target_module
from envoy_events_kit.contract_tests import verdict as verdict_module
from envoy_events_kit.contract_tests.checks import Context, RuleBroken
from envoy_events_kit.contract_tests.drift import DriftRecorder
from envoy_events_kit.contract_tests.realtime_rules import SPEC_ROWS
from envoy_events_kit.contract_tests.realtime_rules import describe as describe_realtime
from envoy_events_kit.contract_tests.runner import cli_words
from envoy_events_kit.contract_tests.target import (
    CONNECTION,
    PROVISION,
    Options,
    Target,
    TargetError,
    open_target,
)
from envoy_events_kit.contract_tests.verdict import Verdict

from envoy_events_kit import environment
from envoy_events_kit.redaction import Redactor

#: Exit status of a run that could not reach a usable API (not "tests failed").
UNREACHABLE_EXIT = 3
_OPTIONS_KEY = pytest.StashKey[Options]()
_DRIFT_KEY = pytest.StashKey[DriftRecorder]()
#: Every secret the run learns (given, bundled, minted), and secret-shaped strings.
REDACT = Redactor()
#: What the closing line says about the target, once its fixture has been torn down.
_REACHED: list[str] = []
#: The target as opened (for the verdict: requests seen, realtime).
_OPENED: list[Target] = []
#: Exit status of pytest's `-n` refusal (the suite runs one process against one target).
USAGE_EXIT = 2


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "assumption(key): exercises an x-assumed behaviour")
    config.addinivalue_line("markers", "mock_only: needs the mock's control API or secret")
    config.addinivalue_line("markers", "destructive: provisions or deprovisions the org")
    _refuse_what_would_check_less(config)
    options = target_module.read_options(config)
    config.stash[_OPTIONS_KEY] = options
    target_module.CONFIGURED = options
    REDACT.add(options.token, options.admin_token, options.expired_token, options.jwt_secret,
               options.control_token)
    recorder = DriftRecorder()
    recorder.deployment = bool(options.base_url)  # until the target says it is a mock
    config.stash[_DRIFT_KEY] = recorder
    config.pluginmanager.register(recorder, "envoy-events-drift")


def _refuse_what_would_check_less(config: pytest.Config) -> None:
    """An unknown ENVOY_EVENTS_* variable (a typo that would test the mock instead of
    staging), and pytest-xdist's `-n` (workers would share one target's state and lose the
    verdict), stop the run before it starts."""
    if not os.environ.get("ENVOY_EVENTS_FROM_CLI"):  # the CLI has checked already
        problem = environment.problem()
        if problem:
            pytest.exit(f"envoy-events contract suite: {problem}", returncode=USAGE_EXIT)
    workers = getattr(config.option, "numprocesses", None)
    if workers or hasattr(config, "workerinput"):
        pytest.exit("envoy-events contract suite: -n (pytest-xdist) is not supported: the "
                    "suite runs in one process against one target, whose state its tests "
                    "change; run it without -n", returncode=USAGE_EXIT)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Decide the verdict (before the JUnit file is written, which then carries the drift
    rows as properties), write it for the CLI, and drop the base64 statistics Hypothesis'
    plugin adds as report-wide properties for every test (noise in a CI's report)."""
    from _pytest.junitxml import xml_key

    config = session.config
    verdict = _verdict(session, int(exitstatus))
    if int(exitstatus) in (0, 1, 4, 5):  # tests ran (or none did); not a stop or a crash
        session.exitstatus = verdict.decide(int(exitstatus))
    else:
        verdict.exit_status = int(exitstatus)
    config.stash[_VERDICT_KEY] = verdict
    if path := config.getoption("events_summary", None):
        verdict.write(path)
    xml = config.stash.get(xml_key, None)
    if xml is not None:
        xml.global_properties = [(name, value) for name, value in xml.global_properties
                                 if not str(name).startswith("hypothesis-statistics")]
        for name, value in config.stash[_DRIFT_KEY].properties():
            xml.add_global_property(name, value)


_VERDICT_KEY = pytest.StashKey[Verdict]()


def _verdict(session: pytest.Session, exitstatus: int) -> Verdict:
    options = session.config.stash[_OPTIONS_KEY]
    recorder = session.config.stash[_DRIFT_KEY]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    stats = getattr(reporter, "stats", {}) if reporter is not None else {}
    counts = {kind: len([r for r in stats.get(kind, []) if getattr(r, "when", "call")
                         in ("call", "setup", "teardown")])
              for kind in ("passed", "failed", "skipped", "error")}
    opened = _OPENED[-1] if _OPENED else None
    description = (opened.description if opened else
                   options.base_url or "an in-process mock (not reached)")
    return Verdict(target=REDACT(description), built_in_mock=not options.base_url,
                   deployment=recorder.deployment,
                   rows=[_redacted_row(row) for row in recorder.rows()],
                   realtime_required=options.realtime_required, exit_status=exitstatus,
                   tests=counts, coverage=_coverage(opened) if opened else {})


def _redacted_row(row):
    from dataclasses import replace

    return replace(row, detail=REDACT(row.detail), reason=REDACT(row.reason))


def _coverage(target: Target) -> dict[str, dict]:
    """For each operation: the statuses the spec documents, and the ones the run saw."""
    from envoy_events_kit.contract_tests.coverage import coverage

    return coverage(target.session.observed)


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
    where = options.base_url or "the BUILT-IN MOCK (in-process; not a deployment)"
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
        pytest.exit(f"envoy-events contract suite: {REDACT(str(exc))}.",
                    returncode=UNREACHABLE_EXIT)
    REDACT.add(*opened.secrets)
    pytestconfig.stash[_DRIFT_KEY].deployment = not opened.is_mock
    problem = _realtime_problem(opened) if opened.options.realtime_url else None
    if problem:
        _leave(opened)
        pytest.exit(f"envoy-events contract suite: {problem}", returncode=UNREACHABLE_EXIT)
    _OPENED.append(opened)
    try:
        yield opened
    finally:
        _leave(opened)
        _REACHED.append(_describe(opened))


def _leave(target: Target) -> None:
    """A mock exactly as the suite found it; a deployment's organisation provisioned."""
    if target.initial_state is not None:
        target.restore(target.initial_state)
    elif target.destructive:
        target.get(PROVISION, target.admin_token)
    target.stop()


def _realtime_problem(target: Target) -> str | None:
    """Why the realtime URL is no realtime server (it stops the run), or None."""
    url = target.options.realtime_url or ""
    answer = target.get(CONNECTION, target.token)
    token = answer.json().get("token", "") if answer.status_code == 200 else ""
    REDACT.add(token)
    problem = realtime_probe.problem(url, token)
    if problem is None:
        return None
    return (f"realtime server {realtime_probe.shown(url)} {problem} (check "
            "--events-realtime-url)")


def _describe(target: Target) -> str:
    me = target.identity
    who = f"as {me.user_id} of {me.org_id}" if me else "anonymously"
    rate = (f"{1 / target.session.interval:g} requests/s at most" if target.session.interval
            else "no rate limit")
    if target.options.realtime_url:
        realtime = f"realtime server {describe_realtime(target.options.realtime_url)}"
    elif target.options.realtime_unavailable:
        from envoy_events_kit.mock_server.events.realtime.install import INSTALL_HINT

        realtime = (f"realtime not checked (no Centrifugo binary for the built-in mock: run "
                    f"`{INSTALL_HINT}`)")
    else:
        realtime = "realtime not checked (no --realtime-url)"
    return (f"target {target.description} {who}; {target.session.sent} requests sent, "
            f"{rate}; provisioning {'allowed' if target.destructive else 'not allowed'}; "
            f"signatures {'verified' if target.secret else 'not verified (no secret)'}; "
            f"{realtime}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in _REACHED:
        terminalreporter.write_line(f"envoy-events contract suite: {line}")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Run directly by pytest, the verdict is the last word (the CLI prints it itself)."""
    verdict = config.stash.get(_VERDICT_KEY, None)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if verdict is not None and reporter is not None and not os.environ.get(
            "ENVOY_EVENTS_FROM_CLI"):
        reporter.write_line(verdict_module.closing_line(verdict))


@pytest.fixture(autouse=True)
def _applicable(request: pytest.FixtureRequest) -> None:
    """Skip mock-only tests elsewhere, and destructive ones unless they are allowed."""
    node = request.node
    if node.get_closest_marker("mock_only") or node.get_closest_marker("destructive"):
        found: Target = request.getfixturevalue("target")
        if node.get_closest_marker("mock_only") and not found.is_mock:
            pytest.skip("mock only: the target does not serve the mock's control API")
        if node.get_closest_marker("destructive") and not found.destructive:
            pytest.skip("not destructive: provisioning needs --events-allow-destructive and "
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """A broken rule reads as its one sentence (no traceback whose arguments would show
    tokens), its drift row alone is blamed; nothing secret in any report, whatever printed
    it: known tokens, issued JWTs (whole or shortened), credentials in headers."""
    report = yield
    if _OPENED:  # tokens minted since the target was opened
        REDACT.add(*_OPENED[-1].secrets)
    excinfo = call.excinfo
    if report.failed and excinfo is not None and isinstance(excinfo.value, RuleBroken):
        report.longrepr = str(excinfo.value)
        rows = {key for mark in item.iter_markers("assumption") for key in mark.args}
        rule = excinfo.value.rule
        if rule in rows:
            report.blamed_rows = sorted({rule, *SPEC_ROWS.get(rule, ())} & rows)
    if report.skipped and os.environ.get("ENVOY_EVENTS_FROM_CLI") and isinstance(
            report.longrepr, tuple):
        # Run by `envoy-events contract`: name its own options (--token, not --events-token).
        where, line, why = report.longrepr
        report.longrepr = (where, line, cli_words(why))
    if isinstance(report.longrepr, tuple):
        where, line, why = report.longrepr
        report.longrepr = (where, line, REDACT(why))
    elif report.longrepr is not None:
        text = str(report.longrepr)
        cleaned = REDACT(text)
        if cleaned != text:
            report.longrepr = cleaned
    report.sections = [(title, REDACT(content)) for title, content in report.sections]
    return report


def redact(text: str) -> str:
    """`text` with every secret the run knows, and every secret-shaped string, replaced."""
    return REDACT(text)
