"""The kit as a newcomer meets it: complete `--help`, one-line errors (never a traceback),
`envoy-events spec` for stock tools, and CORS for a browser app on another localhost port."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from envoy_events_kit.mock_server import MockServer

from envoy_events_kit import control_spec_path, spec_path
from envoy_events_kit.cli import main
from tests.conftest import ACME, ADMIN

BROWSER_APP = "http://localhost:5173"


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_help_names_every_command_and_how_to_start():
    result = run("--help")
    assert result.exit_code == 0
    for text in ("envoy-events mock", "envoy-events spec", "events_mock", "events_base_url",
                 "events_token", "Commands:", "mock ", "spec ", "contract "):
        assert text in result.output


@pytest.mark.parametrize(("command", "texts"), [
    ("mock", ["--port", "--fixtures FILE", "--clock real|INSTANT", "--secret", "--token-ttl",
              "--strict", "ENVOY_EVENTS_SECRET", "dev-admin-acme-5d1f0c2b7a9e4c31", "CORS",
              "/__mock__/"]),
    ("spec", ["--control", 'schemathesis run "$(envoy-events spec)"', "prism mock"]),
])
def test_each_command_explains_itself(command, texts):
    result = run(command, "--help")
    assert result.exit_code == 0
    for text in texts:
        assert text in result.output


def test_spec_prints_the_bundled_contracts():
    assert Path(run("spec").output.strip()) == spec_path()
    assert Path(run("spec", "--control").output.strip()) == control_spec_path()
    assert spec_path().read_text().startswith("openapi: 3.1")


@pytest.fixture
def taken_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _one_line_error(result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert expected in lines[0], lines[0]


def test_port_in_use(taken_port):
    _one_line_error(run("mock", "--port", str(taken_port)),
                    f"error: cannot listen on 127.0.0.1:{taken_port}: the port is in use "
                    "(is another mock running? try --port 0 for any free port)")


@pytest.mark.parametrize(("content", "expected"), [
    (None, "cannot read the fixtures file (No such file or directory)"),
    ("tokens: [", "not valid YAML at line 2, column 1: did not find expected node content"),
    (b"\xff\xfe", "not a UTF-8 text file"),
    ("tokens: {}\n", "'namespaces' is a required property"),
], ids=["missing", "yaml", "binary", "schema"])
def test_unreadable_fixtures(tmp_path, content, expected):
    path = tmp_path / "fixtures.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    _one_line_error(run("mock", "--port", "0", "--fixtures", str(path)),
                    f"error: {path}: {expected}")


@pytest.mark.parametrize(("args", "expected"), [
    (("--clock", "tomorrow"),
     "error: --clock: neither 'real' nor an instant the clock can take: 'tomorrow' is not"),
    (("--secret", "short"), "error: the signing secret must be at least 32 bytes"),
    (("--host", "nohost.invalid"), "cannot listen on nohost.invalid:0: unknown host"),
    (("--host", "not a host"), "cannot listen on not a host:0: unknown host"),
], ids=["clock", "secret", "dns", "garbage-host"])
def test_bad_settings(args, expected):
    _one_line_error(run("mock", "--port", "0", *args), expected)


@pytest.mark.parametrize(("args", "expected"), [
    (("--port", "70000"), "70000 is not in the range 0<=x<=65535"),
    (("--threads", "0"), "0 is not in the range 1<=x<=256"),
    (("--token-ttl", "0"), "0 is not in the range x>=1"),
], ids=["port", "threads", "ttl"])
def test_out_of_range_numbers_are_usage_errors(args, expected):
    result = run("mock", *args)
    assert result.exit_code == 2
    assert expected in result.output


@pytest.fixture(scope="module")
def running_mock():
    with MockServer() as server:
        yield server.url


def _preflight(url: str, origin: str) -> requests.Response:
    return requests.options(f"{url}/events/subscription_token", timeout=5, headers={
        "Origin": origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})


def test_browser_preflight_from_a_localhost_app_succeeds(running_mock):
    response = _preflight(running_mock, BROWSER_APP)
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == BROWSER_APP
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()

    answer = requests.get(f"{running_mock}/events/subscription_token",
                          params={"channel": f"shipments:{ACME}"}, timeout=5,
                          headers={"Origin": BROWSER_APP, "Authorization": f"Bearer {ADMIN}"})
    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == BROWSER_APP


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost.evil.example",
                                    "http://127.0.0.1.nip.io:5173"])
def test_other_origins_get_no_cors_allowance(running_mock, origin):
    response = _preflight(running_mock, origin)
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_cors_preflight_neither_takes_an_armed_fault_nor_counts_as_a_call():
    """A browser's fetch() sends OPTIONS first: the armed 503 must reach the real request."""
    from envoy_events_kit.mock_server.serving.handle import EventsMock

    with EventsMock.start() as mock:
        mock.inject_fault("getSubscriptionToken", 503, times=1)
        origin = {"Origin": "http://localhost:5173"}
        preflight = requests.options(
            f"{mock.url}/events/subscription_token", timeout=5,
            headers={**origin, "Access-Control-Request-Method": "GET",
                     "Access-Control-Request-Headers": "authorization"})
        real = requests.get(f"{mock.url}/events/subscription_token", timeout=5,
                            params={"channel": f"shipments:{ACME}"},
                            headers={**origin, **mock.headers("admin")})
        assert preflight.status_code == 200
        assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
        assert real.status_code == 503 and real.json()["error"]["code"] == "injected_fault"
        assert real.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
        calls = mock.journal("getSubscriptionToken")
        assert [(c["method"], c["status"]) for c in calls] == [("GET", 503)]
        raw = requests.get(f"{mock.url}/__mock__/journal", timeout=5).json()["entries"]
        assert [(e["method"], e["operation_id"]) for e in raw] == [
            ("OPTIONS", None), ("GET", "getSubscriptionToken")]


def test_unknown_names_fail_loudly_with_did_you_mean(tmp_path):
    """A typo in an operation, a principal or a fixture scope must not pass silently."""
    from envoy_events_kit.mock_server.serving.handle import EventsMock
    from envoy_events_kit.mock_server.state.fixtures import FixturesError, load

    from envoy_events_kit.names import UnknownName

    with EventsMock.start() as mock:
        with pytest.raises(UnknownName, match="did you mean 'getSubscriptionToken'"):
            mock.assert_not_called("getSubscriptonToken")
        with pytest.raises(UnknownName, match="did you mean 'getSubscriptionToken'"):
            mock.inject_fault("getSubscriptonToken", 503)
        with pytest.raises(UnknownName, match="did you mean 'admin'"):
            mock.headers("amdin")
        mock.assert_not_called("getSubscriptionToken")  # the real name still works

    import yaml
    from envoy_events_kit.mock_server.spec import Spec

    from envoy_events_kit import default_fixtures_path, spec_path

    data = yaml.safe_load(default_fixtures_path().read_text())
    data["tokens"]["shipments-reader"]["scopes"] = ["shipment:read"]
    bad = tmp_path / "fixtures.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(FixturesError, match=r"tokens/shipments-reader/scopes: unknown scope "
                                            r"'shipment:read': did you mean 'shipments:read'"):
        load(bad, Spec(spec_path()))
