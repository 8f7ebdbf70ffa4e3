"""SIGTERM and Ctrl-C (SIGINT) stop `envoy-events mock` cleanly, on either server: in-flight
requests finish, then the process exits 0."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

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


def hold_a_request(base: str, latency_ms: int) -> tuple[threading.Thread, list[object]]:
    """Arm a latency on connection_token and send one request into it, from a thread;
    returns once the request is sleeping inside the mock. The list gets its outcome."""
    requests.put(f"{base}/__mock__/faults/getConnectionToken",
                 json={"latency_ms": latency_ms, "times": 1}, timeout=5).raise_for_status()
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(requests.get(f"{base}/events/connection_token",
                                        headers=bearer(ADMIN), timeout=30))
        except requests.ConnectionError as exc:  # cut short by the mock's exit
            outcome.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    time.sleep(0.4)
    return thread, outcome


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
    [answer] = outcome
    assert isinstance(answer, requests.Response) and answer.status_code == 200
    assert answer.json()["token"].count(".") == 2
    assert time.monotonic() - started >= LATENCY_MS / 1000  # it really was in flight


def test_a_second_ctrl_c_stops_at_once_without_a_traceback():
    with mock_process() as (process, base):
        held, outcome = hold_a_request(base, 20_000)
        process.send_signal(signal.SIGINT)
        time.sleep(0.8)  # now draining: the held request has 19 s to go
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=10)
        held.join(timeout=10)
    assert time.monotonic() - started < 5
    assert len(outcome) == 1 and isinstance(outcome[0], requests.ConnectionError)
    assert process.returncode == 130, stderr
    assert "cut short" in stdout and "Traceback" not in stderr
