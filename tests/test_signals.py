"""SIGTERM and Ctrl-C (SIGINT) stop `envoy-events mock` cleanly, on either server: in-flight
requests finish, then the process exits 0."""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.cli_mock import spawn_mock
from tests.conftest import ADMIN, bearer

LATENCY_MS = 1500


@contextlib.contextmanager
def mock_process(*args: str) -> Iterator[tuple[subprocess.Popen, str]]:
    process, base = spawn_mock(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _read_by_the_server(server_port: int, client_port: int) -> bool:
    """Has the mock read our request? Its side of the connection (local port = the mock's,
    remote = ours) is established with nothing left in its receive queue (Linux)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, queues = fields[1], fields[2], fields[3], fields[4]
        if (int(local.split(":")[1], 16), int(remote.split(":")[1], 16)) == (server_port,
                                                                             client_port):
            return state == "01" and int(queues.split(":")[1], 16) == 0
    return False


def wait_for(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(0.01)


def hold_a_request(base: str, latency_ms: int) -> tuple[threading.Thread, list[object]]:
    """Arm a latency on connection_token and send one request into it, from a thread;
    returns once the mock has read the request (it is in flight). The list gets its
    outcome: the response (status, body), or the error that cut it short."""
    requests.put(f"{base}/__mock__/faults/getConnectionToken",
                 json={"latency_ms": latency_ms, "times": 1}, timeout=5).raise_for_status()
    port = int(base.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.connect()
    client_port = connection.sock.getsockname()[1]
    outcome: list[object] = []

    def call() -> None:
        try:
            connection.request("GET", "/events/connection_token", headers=bearer(ADMIN))
            answer = connection.getresponse()
            outcome.append((answer.status, answer.read()))
        except (OSError, http.client.HTTPException) as exc:  # cut short by the mock's exit
            outcome.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    wait_for(lambda: _read_by_the_server(port, client_port), "the mock to read the request")
    return thread, outcome


def draining(base: str) -> bool:
    """Past the first signal: the mock closed its listening socket and waits for what is in
    flight (its signal handlers are back to the defaults by then)."""
    port = int(base.rsplit(":", 1)[1])
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


@pytest.mark.parametrize("server", ["granian", "waitress"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_request_lets_it_finish_and_exits_0(signum, server):
    with mock_process("--server", server) as (process, base):
        started = time.monotonic()
        held, outcome = hold_a_request(base, LATENCY_MS)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=20)
        held.join(timeout=20)

    assert process.returncode == 0, stderr
    assert f"on {server}" in stdout  # the banner says which server
    assert "envoy-events mock stopped." in stdout
    assert "Traceback" not in stderr
    [(status, body)] = outcome
    assert status == 200 and json.loads(body)["token"].count(".") == 2
    assert time.monotonic() - started >= LATENCY_MS / 1000  # it really was in flight


def test_a_second_ctrl_c_stops_at_once_without_a_traceback():
    with mock_process() as (process, base):
        held, outcome = hold_a_request(base, 20_000)
        process.send_signal(signal.SIGINT)
        wait_for(lambda: draining(base), "the mock to start draining")
        started = time.monotonic()
        process.send_signal(signal.SIGINT)  # the held request has most of its 20 s to go
        stdout, stderr = process.communicate(timeout=15)
        held.join(timeout=10)
    assert time.monotonic() - started < 10  # not the 20 s the held request would take
    assert len(outcome) == 1 and isinstance(outcome[0], OSError | http.client.HTTPException)
    assert process.returncode == 130, stderr
    assert "cut short" in stdout and "Traceback" not in stderr
