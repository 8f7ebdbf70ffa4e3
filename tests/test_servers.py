"""Both HTTP servers behind `MockServer` (Granian, waitress) start, stop and hand over alike:
stop() lets a request in flight finish, then frees the port; a taken port is an OSError."""

from __future__ import annotations

import socket
import time

import pytest
import requests
from envoy_events_kit.mock_server import MockServer
from envoy_events_kit.mock_server.serving.engines import ENGINES

from tests.conftest import ADMIN, bearer
from tests.in_flight import hold


def _port(server: MockServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


@pytest.mark.parametrize("engine", ENGINES)
def test_stop_lets_a_request_in_flight_finish_then_frees_the_port(engine):
    server = MockServer(server=engine).start()
    port = _port(server)
    slow, answers = hold(server.url, 800)  # returns once the request is in the server
    server.stop()
    slow.join(timeout=10)
    assert [status for status, _ in answers] == [200]  # stop() let it finish, not cut short
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass


@pytest.mark.parametrize("engine", ENGINES)
def test_a_taken_port_is_an_oserror_and_leaves_nothing_behind(engine):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = MockServer(port=taken.getsockname()[1], server=engine)
        with pytest.raises(OSError):
            server.start()
        server.stop()  # safe after a failed start


@pytest.mark.parametrize("engine", ENGINES)
def test_the_server_in_use_is_named(engine):
    with MockServer(server=engine) as server:
        assert server.server == engine
        assert requests.get(f"{server.url}/events/connection_token", headers=bearer(ADMIN),
                            timeout=5).status_code == 200


def test_an_unknown_server_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="granian, waitress"):
        MockServer(server="gunicorn")  # type: ignore[arg-type]


def test_the_python_handle_can_run_on_granian_as_the_cli_does():
    from envoy_events_kit.mock_server.serving.handle import EventsMock

    mock = EventsMock.start({"clock": "2026-01-01T00:00:00Z"}, server="granian")
    try:
        assert mock.server.server == "granian"
        answer = requests.get(f"{mock.url}/events/connection_token", headers=mock.headers(),
                              timeout=5)
        assert answer.status_code == 200 and answer.json()["token"].count(".") == 2
    finally:
        mock.stop()


@pytest.mark.parametrize("threads, held", [(1, True), (4, False)])
def test_on_granian_a_held_call_holds_the_others_only_on_one_thread(threads, held):
    """What the README says of `--threads`: a request held by an injected latency holds
    the single default thread; with more, other requests pass meanwhile."""
    with MockServer(server="granian", threads=threads) as server:
        slow, answers = hold(server.url, 2000)  # in the server, ahead of the next request
        started = time.monotonic()
        assert requests.get(f"{server.url}/__mock__/state", timeout=10).status_code == 200
        waited = time.monotonic() - started
        slow.join()
    assert [status for status, _ in answers] == [200]
    assert (waited > 0.5) is held, waited


@pytest.mark.parametrize("engine", ENGINES)
def test_head_answers_headers_only_on_both_servers(engine):
    with MockServer(server=engine) as server:
        answer = requests.head(f"{server.url}/events/connection_token", headers=bearer(ADMIN),
                               timeout=5)
        again = requests.get(f"{server.url}/events/connection_token", headers=bearer(ADMIN),
                             timeout=5)  # the connection is still in step after a HEAD
    assert answer.status_code == 200 and answer.content == b""
    assert answer.headers["Content-Type"] == "application/json"
    assert again.status_code == 200 and again.json()["token"].count(".") == 2
