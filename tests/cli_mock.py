"""Start `envoy-events mock` as a real process (the CLI a person runs) for tests that need
signals, restarts or a separate process under load."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests

from envoy_events_kit.net import free_port

ENVOY_EVENTS = Path(sys.executable).parent / "envoy-events"


def spawn_mock(*args: str, port: int | None = None, stdout: int = subprocess.DEVNULL,
               stderr: int = subprocess.DEVNULL) -> tuple[subprocess.Popen, str]:
    """`envoy-events mock --port PORT *args`, returned once its control API answers."""
    port = port or free_port()
    process = subprocess.Popen([str(ENVOY_EVENTS), "mock", "--port", str(port), *args],
                               stdout=stdout, stderr=stderr, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/__mock__/state", timeout=1).ok:
                return process, url
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or a busy machine
            time.sleep(0.02)
    process.kill()
    process.communicate()
    raise AssertionError("the mock did not start")
