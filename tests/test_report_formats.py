"""`envoy-events parity --report DIR` writes what `envoy-events contract --report DIR` writes:
DIR/junit.xml with pytest's JUnit elements and attributes, DIR/summary.md with the same
sections and tables (also appended to $GITHUB_STEP_SUMMARY), redacted.

The references are real: the contract suite's report from `envoy-events contract --report`
against the built-in mock (run once for the module), and pytest's own JUnit for a tiny run
with a failure, a skip and an error (the contract run against the mock has none of those).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
from broken_servers import MUTANTS
from broken_servers.base import ADMIN, EXPIRED
from envoy_events_kit.mock_server import MockServer, create_app

from envoy_events_kit.net import free_port
from tests.conftest import OTHER_ORG, READER
from tests.served import serve

BIN = Path(sys.executable).parent
JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
SECRETS = (ADMIN, READER, EXPIRED, OTHER_ORG)


def shape(path: Path) -> dict[str, frozenset[str]]:
    """Tag path -> the attribute names its elements carry (every element of that path)."""
    found: dict[str, set[frozenset[str]]] = {}

    def walk(element: ET.Element, prefix: str) -> None:
        here = f"{prefix}/{element.tag}" if prefix else element.tag
        found.setdefault(here, set()).add(frozenset(element.attrib))
        for child in element:
            walk(child, here)

    walk(ET.parse(path).getroot(), "")
    for where, names in found.items():
        assert len(names) == 1, f"{path}: {where} carries different attributes: {names}"
    return {where: next(iter(names)) for where, names in found.items()}


def sections(text: str) -> tuple[list[str], dict[str, str]]:
    """The `###` headings, and the header row of the table under each."""
    headings = re.findall(r"^### (.+)$", text, re.M)
    tables = {}
    for heading in headings:
        after = text.split(f"### {heading}\n", 1)[1]
        header = next((line for line in after.splitlines() if line.startswith("| ")), "")
        if not after.lstrip().startswith("|"):
            header = ""
        tables[heading] = header
    return headings, tables


@pytest.fixture(scope="module")
def contract_report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("contract")
    done = subprocess.run([str(BIN / "envoy-events"), "contract", "--report", str(out),
                           "--max-examples", "3"], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "GITHUB_STEP_SUMMARY": ""})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def pytest_junit(tmp_path_factory) -> Path:
    """pytest's own JUnit for a failure, a skip and an error."""
    where = tmp_path_factory.mktemp("tiny")
    (where / "test_tiny.py").write_text(
        "import pytest\n"
        "@pytest.fixture\n"
        "def broken():\n    raise RuntimeError('setup')\n"
        "def test_fails():\n    assert 1 == 2\n"
        "def test_skips():\n    pytest.skip('why')\n"
        "def test_errors(broken):\n    pass\n"
        "def test_passes():\n    pass\n")
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "--junit-xml", str(where / "junit.xml"), str(where / "test_tiny.py")],
                   capture_output=True, text=True, timeout=120, cwd=where)
    return where / "junit.xml"


def parity(*args: str, step_summary: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(step_summary or "")}
    return subprocess.run([str(BIN / "envoy-events"), "parity", "--examples", "2", *args],
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def broken_report(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path, Path]:
    """A parity run against a server that grants other organisations' channels."""
    out = tmp_path_factory.mktemp("parity-broken")
    page = out.parent / f"{out.name}-step-summary.md"
    page.write_text("earlier step\n", encoding="utf-8")
    served = serve(MUTANTS["grants-other-orgs-channel"](create_app({"clock": "real"})))
    try:
        done = parity("--base-url", served.url, "--token", ADMIN, "--admin-token", ADMIN,
                      "--expired-token", EXPIRED, "--allow-destructive", "--report",
                      str(out / "report"), step_summary=page)
    finally:
        served.stop()
    return done, out / "report", page


# -- the same structure as the contract suite's --------------------------------------------

def test_parity_junit_has_pytests_elements_and_attributes(
        broken_report, contract_report: Path, pytest_junit: Path) -> None:
    reference = {**shape(pytest_junit), **shape(contract_report / "junit.xml")}
    ours = shape(broken_report[1] / "junit.xml")
    for where in ("testsuites", "testsuites/testsuite", "testsuites/testsuite/properties",
                  "testsuites/testsuite/properties/property", "testsuites/testsuite/testcase",
                  "testsuites/testsuite/testcase/failure"):
        assert where in ours, f"{where} missing from the parity junit.xml"
    for where, names in ours.items():
        assert reference.get(where) == names, (where, names, reference.get(where))


def test_skipped_and_stopped_junit_have_pytests_attributes(pytest_junit: Path,
                                                           tmp_path: Path) -> None:
    from envoy_events_kit.contract_tests.junit import Case, write_junit

    from envoy_events_kit.parity.report import SUITE_NAME, write_reports
    from envoy_events_kit.parity.result import ParityOptions, ParityResult

    reference = shape(pytest_junit)
    write_junit(tmp_path / "skip.xml", SUITE_NAME, [Case("c", "n", skipped="why")])
    assert shape(tmp_path / "skip.xml")["testsuites/testsuite/testcase/skipped"] == (
        reference["testsuites/testsuite/testcase/skipped"])
    options = ParityOptions("http://127.0.0.1:9", token=ADMIN)
    write_reports(ParityResult(None, stopped="http://127.0.0.1:9 is unreachable"), options,
                  tmp_path / "stopped")
    stopped = shape(tmp_path / "stopped" / "junit.xml")
    assert stopped["testsuites/testsuite/testcase/error"] == (
        reference["testsuites/testsuite/testcase/error"])
    assert stopped["testsuites/testsuite"] == reference["testsuites/testsuite"]


def test_parity_summary_has_the_contract_suites_sections(broken_report,
                                                         contract_report: Path) -> None:
    theirs = (contract_report / "summary.md").read_text()
    ours = (broken_report[1] / "summary.md").read_text()
    assert re.match(r"## Envoy events contract: KEPT \(exit 0\)\n\n`envoy-events contract: ",
                    theirs)
    assert re.match(r"## Envoy events parity: DIFFER \(exit 1\)\n\n`envoy-events parity: "
                    r"DIFFER \(exit 1\); ", ours)
    their_headings, their_tables = sections(theirs)
    our_headings, our_tables = sections(ours)
    assert their_headings == ["Rules and assumptions", "Documented statuses observed"]
    assert our_headings[:2] == their_headings and "Differences by rule" in our_headings
    for heading in their_headings:
        assert our_tables[heading] == their_tables[heading] != ""


# -- against a broken server, the mock, an unreachable target --------------------------------

def test_a_broken_server_gives_failures_naming_rule_and_request(broken_report) -> None:
    done, out, page = broken_report
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None and int(suite.get("failures", "0")) >= 1
    assert int(suite.get("tests", "0")) >= 30 and suite.get("errors") == "0"
    failures = {case.get("name"): case.find("failure") for case in suite.iter("testcase")
                if case.find("failure") is not None}
    failure = failures["channel-foreign-org-403 [org channel]"]
    assert failure.get("message", "").startswith("status: target 200, mock 403; request GET "
                                                 "/events/subscription_token body")
    assert "(Authorization: Bearer [redacted])" in failure.get("message", "")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["x-assumed Channel"] == "held" and props["x-assumed Error"] == "held"
    assert set(props.values()) <= {"held", "BROKEN", "not checked"}
    summary = (out / "summary.md").read_text()
    assert "| `status` | **BROKEN** |" in summary
    assert re.search(r"\| `GET /events/subscription_token body \{\"channel\": \"[a-z]+:"
                     r"org_2PARITY[^`]*\(Authorization: Bearer \[redacted\]\)` "
                     r"\(channel-foreign-org-403 \[org channel\]\) \| target 200, mock 403 \|",
                     summary)
    assert re.search(r"\| `getSubscriptionToken` \| target: 200 ×\d+.*; mock: 200 ×\d+", summary)
    assert page.read_text() == "earlier step\n" + summary  # appended to the step summary


def test_no_token_in_any_report(broken_report) -> None:
    done, out, page = broken_report
    text = done.stdout + done.stderr + page.read_text()
    text += "".join(p.read_text() for p in out.iterdir())
    for secret in SECRETS:
        assert secret not in text
    assert not JWT.search(text)
    assert not re.search(r"parity-(caller|admin|expired)-[0-9a-f]{24}", text)  # the mirror's


def test_the_mock_against_itself_agrees(tmp_path: Path) -> None:
    with MockServer({"clock": "real"}) as server:
        done = parity("--base-url", server.url, "--token", READER, "--report", str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:]
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("0", "0", "0")
    assert int(suite.get("tests", "0")) >= 30
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## Envoy events parity: AGREE (exit 0)\n")
    assert "**BROKEN**" not in summary and "| `status` | held |" in summary
    assert re.search(r"\| `getConnectionToken` \| both: 200 ×\d+", summary)


def test_an_unreachable_target_gives_the_stopped_junit(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = parity("--base-url", url, "--token", ADMIN, "--report", str(tmp_path))
    assert done.returncode == 3
    root = ET.parse(tmp_path / "junit.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "envoy-events-parity"
    assert (suite.get("tests"), suite.get("errors"), suite.get("failures")) == ("1", "1", "0")
    case = suite.find("testcase")
    assert case is not None and case.get("name") == "reach the target"
    assert "is unreachable" in case.find("error").get("message")
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## Envoy events parity: COULD NOT CHECK (exit 3)\n")
    assert ADMIN not in summary + (tmp_path / "junit.xml").read_text()


def test_a_step_not_checked_is_a_skipped_case(tmp_path: Path) -> None:
    from envoy_events_kit.parity.probes import Probe
    from envoy_events_kit.parity.report import write_reports
    from envoy_events_kit.parity.result import Outcome, ParityOptions, ParityResult

    probe = Probe("connection-token-200", "caller", "/events/connection_token")
    outcome = Outcome(probe, "GET /events/connection_token (Authorization: Bearer [redacted])",
                      unchecked="the mock did not answer (ConnectionError)")
    outcome.answered("target", 200)
    options = ParityOptions("http://127.0.0.1:9", token=ADMIN)
    write_reports(ParityResult(None, outcomes=[outcome]), options, tmp_path)
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and (suite.get("skipped"), suite.get("failures")) == ("1", "0")
    skipped = suite.find("testcase/skipped")
    assert skipped is not None and skipped.get("message") == outcome.unchecked


# -- the proxy's report ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def proxy_report(tmp_path_factory) -> tuple[Path, Path]:
    """The proxy in front of a server whose tokens have iat after exp, after the README's
    kinds of request (a token, a subscription token with a GET body, an unauthenticated
    one), written as `--report DIR` writes it."""
    from envoy_events_kit.proxy import ProxyApp, ProxyServer

    out = tmp_path_factory.mktemp("proxy")
    page = out / "step-summary.md"
    served = serve(MUTANTS["iat-after-exp"](create_app({"clock": "real"})))
    proxy = ProxyServer(ProxyApp(served.url)).start()
    try:
        auth = {"Authorization": f"Bearer {READER}"}
        requests.get(f"{proxy.url}/events/connection_token", headers=auth, timeout=10)
        requests.get(f"{proxy.url}/events/subscription_token", headers=auth, timeout=10,
                     json={"channel": "shipments:" + "org_" + "x" * 27})
        requests.get(f"{proxy.url}/events/connection_token", timeout=10)
        old = os.environ.get("GITHUB_STEP_SUMMARY")
        os.environ["GITHUB_STEP_SUMMARY"] = str(page)
        try:
            proxy.app.report.write(out / "report")
        finally:
            os.environ.pop("GITHUB_STEP_SUMMARY")
            if old is not None:
                os.environ["GITHUB_STEP_SUMMARY"] = old
    finally:
        proxy.stop()
        served.stop()
    return out / "report", page


def test_proxy_junit_has_pytests_elements_and_one_case_per_rule(
        proxy_report, contract_report: Path, pytest_junit: Path) -> None:
    from envoy_events_kit.proxy.ci_report import SERVER_RULES

    reference = {**shape(pytest_junit), **shape(contract_report / "junit.xml")}
    ours = shape(proxy_report[0] / "junit.xml")
    assert "testsuites/testsuite/testcase/failure" in ours
    for where, names in ours.items():
        assert reference.get(where) == names, (where, names, reference.get(where))
    suite = ET.parse(proxy_report[0] / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "envoy-events-proxy"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == set(SERVER_RULES)
    failure = cases["jwt-iat-exp"].find("failure")
    assert failure is not None and failure.get("message", "").startswith("jwt-iat-exp: ")
    assert "GET /events/connection_token (Authorization: Bearer [redacted])" in failure.get(
        "message", "")
    assert suite.get("failures") == "1"
    assert cases["jwt-signature"].find("skipped").get("message") == "no --jwt-secret"
    assert cases["response-body-schema"].find("failure") is None  # checked, held


def test_proxy_summary_has_the_contract_suites_sections(proxy_report,
                                                        contract_report: Path) -> None:
    ours = (proxy_report[0] / "summary.md").read_text()
    assert ours.startswith("## Envoy events proxy: BROKEN (exit 1)\n\n`envoy-events proxy: "
                           "BROKEN (exit 1); upstream http://127.0.0.1:")
    their_headings, their_tables = sections((contract_report / "summary.md").read_text())
    our_headings, our_tables = sections(ours)
    assert our_headings[:2] == their_headings
    for heading in their_headings:
        assert our_tables[heading] == their_tables[heading] != ""
    assert "| `jwt-iat-exp` | **BROKEN** |" in ours
    assert re.search(r"\| `getConnectionToken` \| 200 ×1, 401 ×1 \|", ours)
    assert proxy_report[1].read_text() == ours
    text = ours + "".join(p.read_text() for p in proxy_report[0].iterdir())
    assert READER not in text and not JWT.search(text)


def test_the_proxys_rule_list_names_every_server_rule_it_checks() -> None:
    """A rule validate.py can report but the report does not list would never be a test
    case (nor held/not checked) until it breaks."""
    from envoy_events_kit.proxy import validate
    from envoy_events_kit.proxy.ci_report import SERVER_RULES

    source = Path(validate.__file__).read_text()
    named = set(re.findall(r'Finding\("([a-z0-9-]+)"', source))
    named |= set(re.findall(r'rule = "([a-z0-9-]+)" if .* else "([a-z0-9-]+)"', source)[0])
    server = {rule for rule in named if not rule.startswith("request-")}
    assert server == set(SERVER_RULES)
