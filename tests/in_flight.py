"""A request held inside the mock, known to be there: waits on conditions, not sleeps.

`hold(url, latency_ms)` arms a latency on connection_token and sends one request into it
from a thread, then returns once the mock has read that request (its side of the TCP
connection is established with nothing left to read, per /proc/net/tcp): from then on it is
in flight, whatever the machine's load.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

ADMIN = "dev-admin-acme-5d1f0c2b7a9e4c31"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(0.01)


def read_by_the_server(server_port: int, client_port: int) -> bool:
    """Has the server read what the client on `client_port` sent it (Linux)?"""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, queues = fields[1], fields[2], fields[3], fields[4]
        if (int(local.split(":")[1], 16), int(remote.split(":")[1], 16)) == (server_port,
                                                                             client_port):
            return state == "01" and int(queues.split(":")[1], 16) == 0
    return False


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def fault_taken(url: str) -> bool:
    """Has a request taken the armed connection_token fault (it is inside the app)?"""
    faults = requests.get(f"{url}/__mock__/faults", timeout=5).json()["faults"]
    return not any(f["operation_id"] == "getConnectionToken" for f in faults)


def hold(url: str, latency_ms: int, *, in_app: bool = False
         ) -> tuple[threading.Thread, list[object]]:
    """Arm a latency on connection_token and send one request into it, from a thread;
    returns once the mock has read the request, and with `in_app` once the app is running
    it (it took the fault: asking needs a second app thread, `--threads 2`). The list gets
    its outcome: (status, body), or the error that cut it short."""
    requests.put(f"{url}/__mock__/faults/getConnectionToken",
                 json={"latency_ms": latency_ms, "times": 1}, timeout=5).raise_for_status()
    connection = http.client.HTTPConnection("127.0.0.1", port_of(url), timeout=60)
    connection.connect()
    client_port = connection.sock.getsockname()[1]
    outcome: list[object] = []

    def call() -> None:
        try:
            connection.request("GET", "/events/connection_token",
                               headers={"Authorization": f"Bearer {ADMIN}"})
            answer = connection.getresponse()
            outcome.append((answer.status, answer.read()))
        except (OSError, http.client.HTTPException) as exc:  # cut short by the mock's exit
            outcome.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    wait_for(lambda: read_by_the_server(port_of(url), client_port),
             "the mock to read the request")
    if in_app:
        wait_for(lambda: fault_taken(url), "the app to take the request")
    return thread, outcome
