"""What a web page, a DNS-rebinding page or a LAN neighbour can do to a running mock
(issue 17, findings 1, 3 and 5; docs/security.md), over real HTTP on both servers:

- a cross-site page cannot change the mock (415 for a non-JSON body, 403 for a foreign
  `Origin`, bodyless calls included), and a rebinding page cannot read it (421 for a
  foreign `Host`), on the control API and the events API alike;
- with a control token, every `/__mock__/` call needs it; the clients pass it through;
- off loopback the development secret is refused and a control token is generated;
- a client that stalls its body holds nobody else.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time

import pytest
import requests
from click.testing import CliRunner
from envoy_events_kit.mock_server import MockServer
from envoy_events_kit.mock_server.config import ConfigError
from envoy_events_kit.mock_server.control.client import ControlError, MockControl
from envoy_events_kit.mock_server.serving.engines import ENGINES
from envoy_events_kit.mock_server.serving.handle import EventsMock

from envoy_events_kit.cli import main
from tests.cli_mock import ENVOY_EVENTS, free_port
from tests.conftest import ACME, ADA, ADMIN

pytest_plugins = ["pytester"]

EVIL = "http://evil.example"
LOCAL_PAGE = "http://localhost:5173"
TOKEN = "ctl-0123456789abcdef-never-print-me"
OWN_SECRET = "a-secret-of-my-own-that-is-long-enough-for-hs256"
NEW_PRINCIPAL = {"org_id": ACME, "user_id": ADA, "scopes": ["events:admin"], "name": "evil"}


@pytest.fixture(scope="module", params=ENGINES)
def mock(request):
    with MockServer({"allowed_hosts": ("mock.test",), "cors_origins": ("http://app.test:3000",)},
                    server=request.param) as server:
        yield server


@pytest.fixture
def url(mock):
    mock.reset()
    return mock.url


def created_principals(url: str) -> list:
    return requests.get(f"{url}/__mock__/snapshot", timeout=5).json()["state"]["principals"]


def assert_json_error(response: requests.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    return error


# -- finding 1: a web page cannot drive the control API ------------------------------------

def test_a_cross_site_text_plain_post_creates_no_principal(url):
    """The no-preflight request a page can send: text/plain, from its own origin."""
    response = requests.post(f"{url}/__mock__/principals", data=json.dumps(NEW_PRINCIPAL),
                             headers={"Content-Type": "text/plain", "Origin": EVIL}, timeout=5)
    assert response.status_code in (403, 415)
    assert_json_error(response, response.status_code,
                      {403: "forbidden", 415: "unsupported_media_type"}[response.status_code])
    assert "Access-Control-Allow-Origin" not in response.headers
    assert created_principals(url) == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
def test_a_control_body_must_be_json_even_without_origin(url, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = requests.post(f"{url}/__mock__/principals", data=json.dumps(NEW_PRINCIPAL),
                             headers=headers, timeout=5)
    assert_json_error(response, 415, "unsupported_media_type")
    assert created_principals(url) == []


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/__mock__/reset", None),
    ("POST", "/__mock__/scenarios/shipment-journey", None),
    ("DELETE", "/__mock__/journal", None),
    ("DELETE", "/__mock__/faults", None),
    ("PUT", f"/__mock__/orgs/{ACME}", {"provisioned": False}),
    ("POST", "/__mock__/principals", NEW_PRINCIPAL),
], ids=["reset", "scenario", "journal", "faults", "deprovision", "principal"])
def test_a_state_changing_call_from_a_foreign_origin_is_refused(url, method, path, body):
    """Bodyless ones too: a page may POST with no body and no preflight."""
    requests.put(f"{url}/__mock__/clock", json={"frozen_at": "2030-01-01T00:00:00Z"}, timeout=5)
    before = requests.get(f"{url}/__mock__/snapshot", timeout=5).json()
    response = requests.request(method, url + path, json=body, timeout=5,
                                headers={"Origin": EVIL})
    assert_json_error(response, 403, "forbidden")
    assert requests.get(f"{url}/__mock__/snapshot", timeout=5).json() == before
    assert requests.get(f"{url}/__mock__/scenarios", timeout=5).json()["playing"] == []


@pytest.mark.parametrize("origin", ["null", "http://localhost.evil.example",
                                    "http://127.0.0.1.nip.io:5173", "https://app.test:3000"])
def test_look_alike_origins_are_foreign(url, origin):
    response = requests.post(f"{url}/__mock__/reset", headers={"Origin": origin}, timeout=5)
    assert_json_error(response, 403, "forbidden")


@pytest.mark.parametrize("origin", [LOCAL_PAGE, "http://127.0.0.1:3000", "http://[::1]:8000",
                                    "http://app.test:3000"])
def test_loopback_pages_and_cors_origins_may_drive_it(url, origin):
    response = requests.post(f"{url}/__mock__/principals", json=NEW_PRINCIPAL, timeout=5,
                             headers={"Origin": origin})
    assert response.status_code == 201, response.text
    assert response.headers["Access-Control-Allow-Origin"] == origin


def test_a_foreign_page_gets_no_cors_allowance_on_the_control_api(url):
    for origin, allowed in ((EVIL, False), (LOCAL_PAGE, True), ("http://app.test:3000", True)):
        preflight = requests.options(f"{url}/__mock__/principals", timeout=5, headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert ("Access-Control-Allow-Origin" in preflight.headers) is allowed, origin


@pytest.mark.parametrize("path", ["/__mock__/snapshot", "/__mock__/state",
                                  "/events/connection_token"])
@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "localhost.evil.example",
                                  "127.0.0.1.nip.io"])
def test_a_rebinding_host_reads_nothing(url, path, host):
    response = requests.get(url + path, timeout=5,
                            headers={"Host": host, "Authorization": f"Bearer {ADMIN}"})
    error = assert_json_error(response, 421, "misdirected_request")
    assert "whsec_" not in response.text and "token" not in response.json()
    assert "--allow-host" in error["message"]


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:9", "127.0.0.1", "127.0.0.2:80",
                                  "[::1]:8080", "app.localhost", "mock.test:1234"])
def test_loopback_names_the_bound_host_and_allowed_hosts_pass(url, host):
    response = requests.get(f"{url}/events/connection_token", timeout=5,
                            headers={"Host": host, "Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 200, response.text


def test_curl_and_the_plugin_need_nothing_new(url):
    """The README's curl lines: no Origin, JSON bodies, bodyless POSTs."""
    control = MockControl(url)
    assert control.create_principal(ACME, ADA, ["shipments:read"])["token"]
    assert requests.put(f"{url}/__mock__/faults/getConnectionToken", timeout=5,
                        headers={"Content-Type": "application/json"},
                        data='{"latency_ms": 1}').status_code == 204
    assert requests.post(f"{url}/__mock__/reset", timeout=5).status_code == 204


# -- the control token ----------------------------------------------------------------------

@pytest.fixture(scope="module", params=ENGINES)
def guarded(request):
    with MockServer({"control_token": TOKEN}, server=request.param) as server:
        yield server


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}",
                                           f"Bearer {TOKEN}x", f"Bearer {ADMIN}", TOKEN])
def test_without_the_control_token_the_control_api_is_401(guarded, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in (("GET", "/__mock__/snapshot"), ("POST", "/__mock__/reset")):
        response = requests.request(method, guarded.url + path, headers=headers, timeout=5)
        assert_json_error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in response.text


def test_with_the_control_token_everything_works(guarded):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.get(f"{guarded.url}/__mock__/state", headers=bearer, timeout=5).ok
    assert requests.get(f"{guarded.url}/__mock__/state", timeout=5, headers={
        "Authorization": f"bearer   {TOKEN}"}).ok
    # The events API keeps its own bearer tokens; a browser's preflight carries none.
    assert requests.get(f"{guarded.url}/events/connection_token", timeout=5,
                        headers={"Authorization": f"Bearer {ADMIN}"}).ok
    preflight = requests.options(f"{guarded.url}/__mock__/state", timeout=5, headers={
        "Origin": LOCAL_PAGE, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 200
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()


def test_mock_control_passes_the_token_by_argument_or_environment(guarded, monkeypatch):
    monkeypatch.delenv("ENVOY_EVENTS_CONTROL_TOKEN", raising=False)
    with pytest.raises(ControlError, match="401") as refused:
        MockControl(guarded.url).state()
    assert TOKEN not in str(refused.value)
    assert MockControl(guarded.url, control_token=TOKEN).state()["organisations"]
    monkeypatch.setenv("ENVOY_EVENTS_CONTROL_TOKEN", TOKEN)
    control = MockControl(guarded.url)
    assert control.create_token(ACME, ADA, ["shipments:read"])
    assert TOKEN not in repr(control)


def test_events_mock_uses_its_own_token():
    with EventsMock.start({"control_token": TOKEN}) as mock:
        mock.provision(ACME)
        assert mock.journal() == []
        assert requests.get(f"{mock.url}/__mock__/state", timeout=5).status_code == 401


PLUGIN_TEST = """
import requests

def test_the_fixture_mock_wants_and_passes_the_token(events_mock):
    assert requests.get(events_mock.url + "/__mock__/state", timeout=5).status_code == 401
    assert events_mock.state()["organisations"]
    events_mock.freeze_clock("2030-01-01T00:00:00Z")
"""


def test_the_pytest_plugin_passes_the_control_token(pytester, monkeypatch):
    monkeypatch.delenv("ENVOY_EVENTS_CONTROL_TOKEN", raising=False)
    pytester.makepyfile(PLUGIN_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           f"--events-control-token={TOKEN}")
    result.assert_outcomes(passed=1)
    assert TOKEN not in result.stdout.str() + result.stderr.str()


def test_the_contract_suite_runs_its_mock_only_tests_with_the_token(guarded):
    done = subprocess.run(
        [sys.executable, "-m", "envoy_events_kit.cli", "contract", "--base-url", guarded.url,
         "--token", ADMIN, "--control-token", TOKEN, "--max-examples", "3", "--",
         "-q", "-rs", "-k", "test_mock_only"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout and "does not serve the mock's control API" not in done.stdout
    assert TOKEN not in done.stdout + done.stderr


# -- finding 3: off loopback ------------------------------------------------------------------

def test_off_loopback_the_development_secret_is_refused():
    for realtime in ((), ("--realtime",)):
        result = CliRunner().invoke(main, ["mock", "--host", "0.0.0.0", "--port", "0",
                                           *realtime])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "--secret" in lines[0] and "Traceback" not in result.output
    with pytest.raises(ConfigError, match="--secret"):
        MockServer(host="0.0.0.0")


def _serve_cli(*args: str) -> tuple[subprocess.Popen, str, list[str]]:
    """`envoy-events mock` in a process; returns once its banner is printed."""
    port = free_port()
    process = subprocess.Popen([str(ENVOY_EVENTS), "mock", "--port", str(port), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    banner: list[str] = []
    for line in process.stdout:
        banner.append(line.rstrip("\n"))
        if "Ctrl-C stops" in line:
            break
    return process, f"http://127.0.0.1:{port}", banner


def _stop(process: subprocess.Popen) -> str:
    """Stop it; what it printed after the lines already read (read through the same
    buffered reader: `communicate()` would skip what that reader holds)."""
    process.terminate()
    rest = process.stdout.read()
    process.wait(timeout=30)
    return rest


def test_off_loopback_a_control_token_is_generated_and_printed_with_a_warning():
    process, url, banner = _serve_cli("--host", "0.0.0.0", "--secret", OWN_SECRET)
    try:
        for line in process.stdout:
            banner.append(line.rstrip("\n"))
            if line.startswith("  curl") and "__mock__" in line:
                break
        text = "\n".join(banner)
        assert "WARNING: listening on 0.0.0.0" in text and "control API" in text
        token = re.search(r"Control token \(generated for this run\): (\S+)", text).group(1)
        assert len(token) >= 24
        assert requests.get(f"{url}/__mock__/snapshot", timeout=5).status_code == 401
        assert requests.get(f"{url}/__mock__/snapshot", timeout=5,
                            headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        rest = _stop(process)
    assert token not in rest


def test_a_given_control_token_is_never_printed():
    process, url, banner = _serve_cli("--host", "0.0.0.0", "--secret", OWN_SECRET,
                                      "--control-token", TOKEN)
    try:
        assert requests.get(f"{url}/__mock__/state", timeout=5, headers={
            "Authorization": f"Bearer {TOKEN}"}).status_code == 200
    finally:
        rest = _stop(process)
    output = "\n".join(banner) + rest
    assert "WARNING: listening on 0.0.0.0" in output and "generated" not in output
    assert TOKEN not in output


def test_the_realtime_server_binds_where_the_mock_binds(monkeypatch):
    """Centrifugo's listen address is the mock's host, never a wider one."""
    from envoy_events_kit.mock_server.events.realtime import standin

    seen = {}

    class Recorder(standin.RealtimeStandIn):
        def __init__(self, **kwargs):
            seen.update(kwargs)
            raise RuntimeError("recorded")

    monkeypatch.setattr(standin, "RealtimeStandIn", Recorder)
    monkeypatch.setattr(standin, "check_clock", lambda *_: None)
    for host in ("127.0.0.1", "localhost"):
        server = MockServer({"realtime": True}, host=host)
        with pytest.raises(RuntimeError, match="recorded"):
            server.start()
        assert seen["host"] == host
    config = standin.build_config(secret=OWN_SECRET, namespaces=["shipments"], port=1,
                                  api_key="k", host="127.0.0.1")
    assert config["http_server"]["address"] == "127.0.0.1"


# -- finding 5: a stalled body holds nobody ----------------------------------------------------

def _stall(url: str, body: bytes = b'{"org_id": "org_') -> socket.socket:
    """Headers announcing 100 bytes of JSON, then only the first few."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(b"POST /__mock__/principals HTTP/1.1\r\nHost: localhost\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n" + body)
    return sock


@pytest.mark.parametrize("stalled", [1, 20])
def test_stalled_bodies_do_not_hold_other_clients(mock, stalled):
    mock.reset()
    sockets = [_stall(mock.url) for _ in range(stalled)]
    try:
        with requests.Session() as session:
            for path in ("/__mock__/clock", "/events/connection_token"):
                started = time.monotonic()
                response = session.get(mock.url + path, timeout=10,
                                       headers={"Authorization": f"Bearer {ADMIN}"})
                assert response.status_code == 200
                assert time.monotonic() - started < 1.0
            started = time.monotonic()
            response = session.get(mock.url + "/events/subscription_token", timeout=10,
                                   json={"channel": f"shipments:{ACME}"},
                                   headers={"Authorization": f"Bearer {ADMIN}"})
            assert response.status_code == 200 and time.monotonic() - started < 1.0
    finally:
        for sock in sockets:
            sock.close()
    assert created_principals(mock.url) == []


def test_on_granian_a_stalled_body_is_answered_408_and_changes_nothing():
    from envoy_events_kit.mock_server.serving.granian_engine import BODY_DEADLINE_S

    with MockServer(server="granian") as server:
        started = time.monotonic()
        with _stall(server.url) as sock:
            data = b""
            while chunk := sock.recv(65536):  # until the mock closes the connection
                data += chunk
        waited = time.monotonic() - started
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408")
        assert json.loads(body)["error"]["code"] == "request_timeout"
        assert BODY_DEADLINE_S <= waited < BODY_DEADLINE_S + 2
        assert created_principals(server.url) == []
