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
import queue
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from envoy_events_kit.mock_server import MockServer
from envoy_events_kit.mock_server.config import ConfigError
from envoy_events_kit.mock_server.control.client import ControlError, MockControl
from envoy_events_kit.mock_server.serving.engines import ENGINES
from envoy_events_kit.mock_server.serving.handle import EventsMock

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
    """A mock as everyone starts it (default settings), on each server."""
    with MockServer(server=request.param) as server:
        yield server


@pytest.fixture(scope="module", params=ENGINES)
def widened(request):
    """A mock started with `--allow-host mock.test --cors-origin http://app.test:3000`."""
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
                                    "http://127.0.0.1.nip.io:5173", "http://app.test:3000"])
def test_look_alike_origins_are_foreign(url, origin):
    response = requests.post(f"{url}/__mock__/reset", headers={"Origin": origin}, timeout=5)
    assert_json_error(response, 403, "forbidden")


@pytest.mark.parametrize("origin", [LOCAL_PAGE, "http://127.0.0.1:3000", "http://[::1]:8000"])
def test_loopback_pages_may_drive_it(url, origin):
    response = requests.post(f"{url}/__mock__/principals", json=NEW_PRINCIPAL, timeout=5,
                             headers={"Origin": origin})
    assert response.status_code == 201, response.text
    assert response.headers["Access-Control-Allow-Origin"] == origin


def test_a_foreign_page_gets_no_cors_allowance_on_the_control_api(url):
    for origin, allowed in ((EVIL, False), ("http://app.test:3000", False), (LOCAL_PAGE, True)):
        preflight = requests.options(f"{url}/__mock__/principals", timeout=5, headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert ("Access-Control-Allow-Origin" in preflight.headers) is allowed, origin


def test_cors_origin_and_allow_host_widen_the_checks(widened):
    widened.reset()
    app = "http://app.test:3000"
    response = requests.post(f"{widened.url}/__mock__/principals", json=NEW_PRINCIPAL,
                             timeout=5, headers={"Origin": app})
    assert response.status_code == 201 and response.headers["Access-Control-Allow-Origin"] == app
    preflight = requests.options(f"{widened.url}/events/connection_token", timeout=5, headers={
        "Origin": app, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert preflight.headers["Access-Control-Allow-Origin"] == app
    assert requests.post(f"{widened.url}/__mock__/reset", timeout=5, headers={
        "Origin": "https://app.test:3000"}).status_code == 403
    # A page the mock served itself (same origin as the Host it answers) may change it.
    assert requests.post(f"{widened.url}/__mock__/reset", timeout=5, headers={
        "Host": "mock.test:1234", "Origin": "http://mock.test:1234"}).status_code == 204
    assert requests.post(f"{widened.url}/__mock__/reset", timeout=5, headers={
        "Host": "mock.test:1234", "Origin": "http://mock.test:9999"}).status_code == 403
    for host, status in (("mock.test:1234", 200), ("MOCK.TEST", 200), ("other.test", 421)):
        response = requests.get(f"{widened.url}/events/connection_token", timeout=5,
                                headers={"Host": host, "Authorization": f"Bearer {ADMIN}"})
        assert response.status_code == status, host


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
                                  "[::1]:8080", "app.localhost", "localhost."])
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
        # A process, not CliRunner: a mock that wrongly starts must not hang the test.
        done = subprocess.run([str(ENVOY_EVENTS), "mock", "--host", "0.0.0.0", "--port", "0",
                               *realtime], capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and done.stdout == "", done.stdout + done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "--secret" in lines[0] and "Traceback" not in done.stderr
    with pytest.raises(ConfigError, match="--secret"):
        MockServer(host="0.0.0.0")


class _Output:
    """The lines a process prints, read by a thread, so that waiting for one has a deadline
    (a mock that never prints it fails the test instead of hanging it)."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(process.stdout,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, predicate, timeout: float = 30.0) -> str:
        """Lines up to (and with) the first that satisfies `predicate`, as one text."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                raise AssertionError("the process ended:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if predicate(line):
                return "\n".join(self.lines)

    def rest(self, timeout: float = 30.0) -> str:
        """Everything until the process closes its output."""
        deadline = time.monotonic() + timeout
        while (line := self._queue.get(timeout=max(0.0, deadline - time.monotonic()))) \
                is not None:
            self.lines.append(line)
        return "\n".join(self.lines)


def _serve_cli(*args: str) -> tuple[subprocess.Popen, str, _Output]:
    """`envoy-events mock` in a process; returns once its banner is printed."""
    port = free_port()
    process = subprocess.Popen([str(ENVOY_EVENTS), "mock", "--port", str(port), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = _Output(process)
    try:
        output.until(lambda line: "Ctrl-C stops" in line)
    except BaseException:
        process.kill()
        raise
    return process, f"http://127.0.0.1:{port}", output


def _stop(process: subprocess.Popen, output: _Output) -> str:
    """Stop it; everything it printed."""
    process.terminate()
    try:
        return output.rest()
    finally:
        process.wait(timeout=30)


def test_off_loopback_a_control_token_is_generated_and_printed_with_a_warning():
    process, url, output = _serve_cli("--host", "0.0.0.0", "--secret", OWN_SECRET)
    try:
        text = output.until(lambda line: line.startswith("  curl") and "__mock__" in line)
        assert "WARNING: listening on 0.0.0.0" in text and "control API" in text
        token = re.search(r"Control token \(generated for this run\): (\S+)", text).group(1)
        assert len(token) >= 24
        assert requests.get(f"{url}/__mock__/snapshot", timeout=5).status_code == 401
        assert requests.get(f"{url}/__mock__/snapshot", timeout=5,
                            headers={"Authorization": f"Bearer {token}"}).status_code == 200
        printed = len(output.lines)
    finally:
        everything = _stop(process, output)
    assert token not in "\n".join(everything.splitlines()[printed:])  # printed once only


def test_a_given_control_token_is_never_printed():
    process, url, output = _serve_cli("--host", "0.0.0.0", "--secret", OWN_SECRET,
                                      "--control-token", TOKEN)
    try:
        assert requests.get(f"{url}/__mock__/state", timeout=5, headers={
            "Authorization": f"Bearer {TOKEN}"}).status_code == 200
    finally:
        everything = _stop(process, output)
    assert "WARNING: listening on 0.0.0.0" in everything and "generated" not in everything
    assert TOKEN not in everything


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
    server = MockServer({"realtime": True, "cors_origins": ("http://app.test:3000",)})
    with pytest.raises(RuntimeError, match="recorded"):
        server.start()
    assert seen["host"] == "127.0.0.1" and seen["origins"] == ("http://app.test:3000",)
    config = standin.build_config(secret=OWN_SECRET, namespaces=["shipments"], port=1,
                                  api_key="k", host="127.0.0.1", origins=seen["origins"])
    assert config["http_server"]["address"] == "127.0.0.1"
    assert "http://app.test:3000" in config["client"]["allowed_origins"]


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


def _silent(url: str) -> socket.socket:
    """A connection that never sends a byte."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


@pytest.mark.parametrize("opener", [_silent, _stall], ids=["silent", "stalled-body"])
def test_more_silent_connections_than_the_limit_do_not_lock_clients_out(mock, opener):
    """waitress stops accepting at 100 connections and closed idle ones only after 120 s:
    150 sockets locked every client out for two minutes (a ReadTimeout here)."""
    mock.reset()
    with requests.Session() as session:
        assert session.get(mock.url + "/__mock__/clock", timeout=5).status_code == 200
        sockets = [opener(mock.url) for _ in range(150)]
        try:
            for client in (session, requests):  # a kept-alive connection and a new one
                started = time.monotonic()
                response = client.get(mock.url + "/__mock__/clock", timeout=5)
                assert response.status_code == 200
                assert time.monotonic() - started < 2.0
        finally:
            for sock in sockets:
                sock.close()
    assert created_principals(mock.url) == []


def test_on_waitress_the_longest_idle_connections_are_closed_first():
    with MockServer() as server:
        oldest = _silent(server.url)
        time.sleep(0.05)
        rest = [_silent(server.url) for _ in range(120)]
        try:
            assert requests.get(server.url + "/__mock__/clock", timeout=5).status_code == 200
            oldest.settimeout(5)
            assert oldest.recv(1) == b""  # closed by the mock to make room
            rest[-1].sendall(b"GET /__mock__/clock HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert rest[-1].recv(12) == b"HTTP/1.1 200"  # the newest are still served
        finally:
            for sock in (oldest, *rest):
                sock.close()


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


# -- the README's curl lines keep working ---------------------------------------------------

def _documented_control_curls() -> list[list[str]]:
    """Every curl command of the README and docs/ that calls /__mock__/, as its words."""
    root = Path(__file__).resolve().parent.parent
    commands = []
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        lines = re.sub(r"\\\n\s*", " ", doc.read_text()).splitlines()
        for number, line in enumerate(lines):
            if not line.strip().startswith("curl ") or "/__mock__/" not in line:
                continue
            text = line
            while True:  # a quoted JSON body may go on over the next lines
                try:
                    words = shlex.split(text, comments=True)
                    break
                except ValueError:
                    number += 1
                    text += "\n" + lines[number]
            if not any("…" in word for word in words):  # placeholders, not a command
                commands.append(words)
    return commands


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_the_documented_curl_lines_pass_every_check(mock):
    commands = _documented_control_curls()
    assert len(commands) >= 10
    for words in commands:
        mock.reset()
        words = [w.replace("http://127.0.0.1:8080", mock.url).replace("$URL", mock.url)
                 for w in words]
        done = subprocess.run([*words, "-o", "/dev/null", "-w", "%{http_code}"],
                              capture_output=True, text=True, timeout=30)
        status = int(done.stdout[-3:])
        assert status not in (401, 403, 415, 421), (words, status)
        assert status < 500, (words, status)
    mock.reset()
