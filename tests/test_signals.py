"""SIGTERM and Ctrl-C (SIGINT) stop `envoy-events mock` cleanly, on either server: in-flight
requests finish, then the process exits 0."""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import pytest
import requests

from tests.cli_mock import spawn_mock
from tests.conftest import ADMIN, bearer

LATENCY_MS = 1500


@pytest.mark.parametrize("server", ["granian", "waitress"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_request_lets_it_finish_and_exits_0(signum, server):
    process, base = spawn_mock("--server", server, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        armed = requests.put(f"{base}/__mock__/faults/getConnectionToken",
                             json={"latency_ms": LATENCY_MS, "times": 1}, timeout=5)
        assert armed.status_code == 204
        answers: list[requests.Response] = []
        slow = threading.Thread(target=lambda: answers.append(requests.get(
            f"{base}/events/connection_token", headers=bearer(ADMIN), timeout=30)))
        started = time.monotonic()
        slow.start()
        time.sleep(0.4)  # the request is now sleeping inside the mock
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=20)
        slow.join(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, stderr
    assert f"on {server}" in stdout  # the banner says which server
    assert "envoy-events mock stopped." in stdout
    assert "Traceback" not in stderr
    assert len(answers) == 1
    assert answers[0].status_code == 200
    assert answers[0].json()["token"].count(".") == 2
    assert time.monotonic() - started >= LATENCY_MS / 1000  # it really was in flight


def test_a_second_ctrl_c_stops_at_once_without_a_traceback():
    process, base = spawn_mock(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        requests.put(f"{base}/__mock__/faults/getConnectionToken",
                     json={"latency_ms": 20_000, "times": 1}, timeout=5).raise_for_status()
        cut_short: list[Exception] = []

        def held_request() -> None:
            try:
                requests.get(f"{base}/events/connection_token", headers=bearer(ADMIN),
                             timeout=30)
            except requests.ConnectionError as exc:  # what the second Ctrl-C does to it
                cut_short.append(exc)

        held = threading.Thread(target=held_request, daemon=True)
        held.start()
        time.sleep(0.4)
        process.send_signal(signal.SIGINT)
        time.sleep(0.8)  # now draining: the held request has 19 s to go
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=10)
        held.join(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert time.monotonic() - started < 5
    assert len(cut_short) == 1
    assert process.returncode == 130, stderr
    assert "cut short" in stdout and "Traceback" not in stderr
