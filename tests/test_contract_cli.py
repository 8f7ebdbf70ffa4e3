"""`envoy-events contract`: the default in-process run, and the one-sentence refusal when the
token, the URL or the API is wrong (never green having reached nothing, never the token)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
from broken_servers import serve
from broken_servers.base import EXPIRED, Broken
from conftest import ACME, ADMIN
from werkzeug.wrappers import Response

UNREACHABLE_EXIT = 3  # envoy_events_kit.contract_tests.conftest.UNREACHABLE_EXIT
SECRET_TOKEN = "dev-wrong-0123456789abcdef-do-not-print"


def contract(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "envoy_events_kit.cli", "contract", *args],
                          capture_output=True, text=True, timeout=300)


def sentences(done: subprocess.CompletedProcess) -> list[str]:
    """The one sentence of a run that could not start (its closing line)."""
    return [line for line in (done.stdout + done.stderr).splitlines()
            if line.startswith("envoy-events contract: COULD NOT CHECK (exit 3): ")]


def closing(done: subprocess.CompletedProcess) -> str:
    """The run's last line: the verdict."""
    return done.stdout.strip().splitlines()[-1]


def test_default_run_starts_the_mock_in_process_and_passes() -> None:
    done = contract("--max-examples", "5", "--", "-q")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "target the BUILT-IN MOCK (in-process; not a deployment); 5 examples" in done.stdout
    assert " passed" in done.stdout and "skipped" not in done.stdout
    # The first and the closing line say that only the built-in mock was checked.
    first = done.stdout.splitlines()[0]
    assert first.startswith("envoy-events contract: checking the BUILT-IN MOCK, not a "
                            "deployment"), first
    assert closing(done).startswith("envoy-events contract: KEPT (exit 0); target the "
                                    "built-in mock (no --base-url"), closing(done)


def test_a_typo_in_an_environment_variable_stops_the_run_with_a_suggestion() -> None:
    """ENVOY_EVENTS_BASE_URLL would have tested the built-in mock and ended green."""
    env = {**os.environ, "ENVOY_EVENTS_BASE_URLL": "http://127.0.0.1:9",
           "ENVOY_EVENTS_TOKEN": SECRET_TOKEN}
    done = subprocess.run([sys.executable, "-m", "envoy_events_kit.cli", "contract"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2, done.stdout[-2000:]
    assert "unknown environment variable 'ENVOY_EVENTS_BASE_URLL': did you mean " \
           "'ENVOY_EVENTS_BASE_URL'?" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""
    assert SECRET_TOKEN not in done.stderr and "127.0.0.1:9" not in done.stderr


def test_every_variable_the_kit_reads_is_known() -> None:
    """The known list is the repository's: a variable read anywhere and missing from it would
    stop every run that sets it."""
    from envoy_events_kit import environment

    root = Path(__file__).resolve().parents[1]
    typos_on_purpose = {Path(__file__).resolve(), Path(environment.__file__).resolve()}
    used = set()
    for path in root.rglob("*"):
        if path.suffix in (".py", ".md", ".yaml", ".yml", ".toml") and (
                path not in typos_on_purpose) and not any(
                part.startswith(".") for part in path.relative_to(root).parts):
            used |= set(re.findall(r"ENVOY_EVENTS_[A-Z][A-Z_]*[A-Z]", path.read_text()))
    used.discard("ENVOY_EVENTS_BASE_URLL")  # the README's example of a typo
    assert used <= set(environment.KNOWN), used - set(environment.KNOWN)
    assert environment.unknown({"ENVOY_EVENTS_TOKEN": "x", "ENVOY_EVENTS_TOKN": "y",
                                "PATH": "/bin"}) == ["ENVOY_EVENTS_TOKN"]


@pytest.fixture(scope="module")
def not_the_api():
    """A server that answers everything with an HTML 404, as a wrong base URL would."""
    served = serve(lambda environ, start: Response("<h1>Not Found</h1>", status=404,
                                                   content_type="text/html")(environ, start))
    yield served.url
    served.stop()


@pytest.fixture(scope="module")
def mock_url():
    from envoy_events_kit.mock_server import MockServer

    with MockServer() as server:
        yield server.url


class HideControlApi(Broken):
    """The mock as a deployment looks: no `/__mock__/` control API."""

    def handle(self, request):
        if request.path.startswith("/__mock__"):
            return Response("Not Found", status=404, content_type="text/plain")
        return self.forward(request)


@pytest.fixture(scope="module")
def deployment():
    """The mock as a deployment looks (no control API), on a loopback port."""
    from envoy_events_kit.mock_server import create_app

    served = serve(HideControlApi(create_app()))
    yield served.url
    served.stop()


def test_a_deployment_gets_only_safe_tests(deployment: str) -> None:
    """No control API: mock-only tests skipped; no provisioning without the flag."""
    done = contract("--base-url", deployment, "--token", ADMIN, "--expired-token", EXPIRED,
                    "--max-examples", "5", "--rate-limit", "200/s", "--", "-rs")
    assert done.returncode == 0, done.stdout[-3000:]
    assert done.stdout.splitlines()[0] == (f"envoy-events contract: checking {deployment} "
                                           "against the contract")
    # The closing line names every row not checked, grouped by the real reason.
    last = closing(done)
    assert last.startswith(f"envoy-events contract: KEPT (exit 0); target {deployment} "
                           "(deployment); 7 held, 0 BROKEN, 20 not checked"), last
    assert "not destructive: provisionEvents 204, deprovisionEvents 204, NotProvisioned" in last
    assert "no --realtime-url: deprovisionEvents x-realtime, realtime-connect," in last
    assert ("mock only: deprovisionEvents x-webhooks, shipmentUpdated, orderUpdated, "
            "batchUpdated, inventoryUpdated, EventEnvelope, MissingAdminScope, "
            "realtime-publication") in last
    # What only a mock can show is kept out of a deployment's table.
    table = {line.split()[0] for line in done.stdout.splitlines()
             if line.startswith(("shipmentUpdated ", "EventEnvelope ", "realtime-publication ",
                                 "MissingAdminScope ", "NotProvisioned "))}
    assert table == {"NotProvisioned"}, table
    assert "(deployment) as usr_26ZZVRrmnPTXTcZIuzXLZdnigLW" in done.stdout
    assert "200 requests/s at most; provisioning not allowed" in done.stdout
    assert "mock only: the target does not serve the mock's control API" in done.stdout
    assert "provisioning needs --allow-destructive" in done.stdout  # the CLI's own names
    assert "--events-" not in done.stdout
    summary = dict(line.split(None, 1) for line in done.stdout.splitlines()
                   if line.startswith(("NotProvisioned ", "Unauthorized ")))
    assert summary["NotProvisioned"].startswith("not checked")
    assert summary["NotProvisioned"].endswith("[not destructive]")
    assert summary["Unauthorized"].startswith("held")


def test_required_realtime_not_checked_is_could_not_check(deployment: str) -> None:
    """--require-realtime without a realtime server: green would claim what was not checked."""
    done = contract("--base-url", deployment, "--token", ADMIN, "--require-realtime",
                    "--max-examples", "3", "--rate-limit", "200/s", "--", "-k", "realtime")
    assert done.returncode == UNREACHABLE_EXIT, done.stdout[-3000:]
    last = closing(done)
    assert last.startswith("envoy-events contract: COULD NOT CHECK (exit 3)"), last
    assert "realtime was required (--realtime-url or --require-realtime) and 8 realtime " \
           "rules could not be checked" in last
    assert "no --realtime-url: " in last and "mock only: realtime-publication" in last


def test_a_refused_token_stops_the_run_with_one_sentence(mock_url: str) -> None:
    done = contract("--base-url", mock_url, "--token", SECRET_TOKEN)
    assert done.returncode == UNREACHABLE_EXIT
    assert sentences(done) and "--token was refused (401)" in sentences(done)[0]
    assert "_pytest.outcomes.Exit" not in done.stdout + done.stderr
    assert SECRET_TOKEN not in done.stdout + done.stderr
    assert " passed" not in done.stdout


def test_a_url_that_is_not_the_api_stops_the_run(not_the_api: str) -> None:
    done = contract("--base-url", not_the_api, "--token", ADMIN)
    assert done.returncode == UNREACHABLE_EXIT
    assert "is not the Envoy events API" in sentences(done)[0]
    assert "404 (text/html" in sentences(done)[0]


def test_an_unreachable_url_stops_the_run() -> None:
    done = contract("--base-url", "http://127.0.0.1:9", "--token", ADMIN)
    assert done.returncode == UNREACHABLE_EXIT
    assert "http://127.0.0.1:9 is unreachable" in sentences(done)[0]


def test_base_url_without_token_is_a_usage_error() -> None:
    done = contract("--base-url", "http://127.0.0.1:9")
    assert done.returncode == 2 and "--base-url needs --token" in done.stderr


def test_an_unknown_flag_is_refused_with_a_suggestion() -> None:
    done = contract("--tokn", "x")
    assert done.returncode == 2
    assert "No such option '--tokn'" in done.stderr and "'--token'" in done.stderr
    assert "--base-url needs" not in done.stderr


def test_a_stopped_run_leaves_a_junit_report_that_shows_it(tmp_path) -> None:
    report = tmp_path / "contract.xml"
    done = contract("--base-url", "http://127.0.0.1:9", "--token", ADMIN,
                    "--junit-xml", str(report))
    assert done.returncode == UNREACHABLE_EXIT
    root = ET.parse(report).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite.get("name") == "envoy-events-contract"
    assert (suite.get("tests"), suite.get("errors")) == ("1", "1")
    assert "is unreachable" in suite.find("testcase/error").get("message")


def test_the_junit_report_is_named_and_free_of_hypothesis_noise(tmp_path) -> None:
    report = tmp_path / "contract.xml"
    done = contract("--max-examples", "3", "--junit-xml", str(report), "--", "-q",
                    "-k", "schema or channels")
    assert done.returncode == 0, done.stdout[-3000:]
    root = ET.parse(report).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite.get("name") == "envoy-events-contract"
    names = [f"{c.get('classname')}::{c.get('name')}" for c in suite.iter("testcase")]
    assert len(names) == len(set(names)), names
    assert not [p for p in root.iter("property")
                if p.get("name", "").startswith("hypothesis-statistics")]


def test_a_mock_is_left_as_the_suite_found_it_and_judged_by_its_own_clock() -> None:
    """Pointed at a mock frozen in the past, the suite passes (exp is judged against the
    mock's clock, which it reads) and puts back clock, organisations, endpoints, principals."""
    from tests.cli_mock import spawn_mock

    process, url = spawn_mock("--clock", "2026-01-01T00:00:00Z")
    try:
        before = requests.get(f"{url}/__mock__/snapshot", timeout=10).json()
        done = contract("--base-url", url, "--token", ADMIN, "--allow-destructive",
                        "--max-examples", "5")
        after = requests.get(f"{url}/__mock__/snapshot", timeout=10).json()
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "jwt-exp-in-future" not in done.stdout
    assert after == before
    assert before["clock"] == {"mode": "frozen", "now": "2026-01-01T00:00:00Z"}
    (acme,) = [o for o in after["state"]["organisations"] if o["id"] == ACME]
    assert acme["provisioned"] and acme["webhook_endpoints"]  # the fixture endpoint is back


def test_without_a_centrifugo_binary_the_closing_line_says_so(tmp_path) -> None:
    """No binary: the realtime rules are not checked, and the closing line blames the
    missing binary (not "no --realtime-url"); with --require-realtime that is exit 3."""
    env = {**{k: v for k, v in os.environ.items() if k != "ENVOY_EVENTS_CENTRIFUGO"},
           "ENVOY_EVENTS_CACHE_DIR": str(tmp_path), "PATH": os.path.dirname(sys.executable)
           + ":/usr/bin:/bin"}
    runs = {}
    for flags in ((), ("--require-realtime",)):
        runs[flags] = subprocess.run(
            [sys.executable, "-m", "envoy_events_kit.cli", "contract", *flags,
             "--max-examples", "3", "--", "-k", "realtime"],
            capture_output=True, text=True, timeout=300, env=env)
    plain, required = runs[()], runs[("--require-realtime",)]
    assert plain.returncode == 0, plain.stdout[-3000:]
    assert "no Centrifugo binary: deprovisionEvents x-realtime, realtime-connect, " \
           "realtime-subscriptions" in closing(plain)
    assert "no --realtime-url" not in plain.stdout
    assert "envoy-events realtime install" in plain.stdout  # how to get one, in the table
    assert required.returncode == UNREACHABLE_EXIT, required.stdout[-3000:]
    assert closing(required).startswith("envoy-events contract: COULD NOT CHECK (exit 3)")
    assert "no Centrifugo binary: " in closing(required)


@pytest.mark.parametrize("xdist", [("-n", "2"), ("-n2",), ("--numprocesses=auto",)])
def test_n_is_refused_with_one_line(xdist: tuple[str, ...]) -> None:
    """Under -n the workers shared one target's state and the verdict vanished: refused."""
    done = contract("--", *xdist)
    assert done.returncode == 2, done.stdout[-2000:]
    assert done.stderr.strip().splitlines() == [
        f"envoy-events contract: {xdist[0]} (pytest-xdist) is not supported: the suite runs "
        "in one process against one target, whose state its tests change; run it without -n"]
    assert done.stdout == ""


@pytest.mark.parametrize("suite", [("--pyargs", "envoy_events_kit.contract_tests"),
                                   ("{path}",)], ids=["pyargs", "path"])
def test_n_is_refused_when_pytest_runs_the_suite_itself(suite: tuple[str, ...]) -> None:
    import envoy_events_kit.contract_tests as contract_tests

    path = str(Path(contract_tests.__file__).parent)
    done = subprocess.run([sys.executable, "-m", "pytest",
                           *(arg.format(path=path) for arg in suite), "-p",
                           "no:cacheprovider", "-n", "2"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout[-3000:]
    assert "-n (pytest-xdist) is not supported" in done.stdout + done.stderr
    assert " passed" not in done.stdout


def test_pytest_run_directly_ends_with_the_verdict_and_the_same_junit_properties(
        tmp_path) -> None:
    """The same rows, the same verdict line, whether the CLI or pytest runs the suite."""
    reports = {}
    outputs = {}
    for how in ("cli", "pytest"):
        report = tmp_path / f"{how}.xml"
        if how == "cli":
            done = contract("--max-examples", "3", "--junit-xml", str(report), "--", "-k",
                            "auth")
        else:
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "--pyargs", "envoy_events_kit.contract_tests",
                 "-p", "no:cacheprovider", "--events-max-examples", "3", "-k", "auth",
                 "--junit-xml", str(report)], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:]
        outputs[how] = closing(done)
        reports[how] = {p.get("name"): p.get("value")
                        for p in ET.parse(report).getroot().iter("property")
                        if p.get("name", "").startswith("x-assumed ")}
    assert reports["cli"] == reports["pytest"] and len(reports["cli"]) == 27
    assert reports["cli"]["x-assumed Unauthorized"] == "held"
    assert outputs["cli"] == outputs["pytest"], outputs
    assert outputs["cli"].startswith("envoy-events contract: KEPT (exit 0)")


def test_report_writes_junit_and_a_markdown_summary_for_the_ci_page(deployment: str,
                                                                     tmp_path) -> None:
    report, step = tmp_path / "report", tmp_path / "step-summary.md"
    step.write_text("earlier step\n")
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(step)}
    done = subprocess.run(
        [sys.executable, "-m", "envoy_events_kit.cli", "contract", "--base-url", deployment,
         "--token", ADMIN, "--max-examples", "3", "--rate-limit", "200/s", "--report",
         str(report)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:]
    suite = ET.parse(report / "junit.xml").getroot().find("testsuite")
    assert suite.get("name") == "envoy-events-contract" and int(suite.get("tests")) > 30
    summary = (report / "summary.md").read_text()
    assert summary.startswith("## Envoy events contract: KEPT (exit 0)\n")
    assert f"`{closing(done)}`" in summary  # the verdict, word for word
    rows = dict(re.findall(r"^\| `([^`]+)` \| ([^|]+) \|", summary, re.MULTILINE))
    assert rows["Unauthorized"].strip() == "held"
    assert rows["realtime-connect"].strip() == "not checked"
    assert "| `realtime-connect` | not checked | no --realtime-url: give --realtime-url" \
           in summary
    assert "| `NotProvisioned` | not checked | not destructive: " in summary
    assert "shipmentUpdated" not in rows and "Only the mock can show (left out above): " \
        "deprovisionEvents x-webhooks, shipmentUpdated" in summary
    # Coverage: per operation, the documented statuses seen and never seen.
    coverage = dict(re.findall(r"^\| `(\w+)` \| ([^|]+\| [^|]+) \|$", summary, re.MULTILINE))
    assert set(coverage) == {"getConnectionToken", "getSubscriptionToken", "provisionEvents",
                             "deprovisionEvents"}
    seen, never = (part.strip() for part in coverage["getConnectionToken"].split("|"))
    assert "200 ×" in seen and "401 ×" in seen and "409" in never
    assert coverage["provisionEvents"].split("|")[0].strip() == "none"  # not destructive
    assert step.read_text() == "earlier step\n" + summary  # appended to the CI page
    assert ADMIN not in summary
