"""Issue 17 finding 9: clean stops. SIGTERM or Ctrl-C at any moment after `envoy-events mock`
started is graceful; webhook deliveries a stop leaves unsent are counted in one line; no
temporary file holding secrets outlives a SIGKILL (state file, Centrifugo's configuration);
a stopped (SIGSTOP) Centrifugo is reported as not answering."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from envoy_events_kit.mock_server import MockServer, create_app
from envoy_events_kit.mock_server.config import DEV_SECRET

from envoy_events_kit.net import free_port
from tests.conftest import ACME
from tests.realtime_parts import centrifugo_or_skip

ENVOY_EVENTS = Path(sys.executable).parent / "envoy-events"
ORDER = {"type": "order.updated", "organisation": ACME,
         "data": {"id": "ord_2iHViqpO8v81j2e1nrpWkRuVfmo", "status": "created", "lines": 2}}


def wait_for(condition, timeout: float = 30, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


def stopped(pid: int) -> bool:
    """Every thread of `pid` in the stopped state. kill(SIGSTOP) returns before a
    multi-threaded process (Go) has stopped: one thread takes the signal and stops the
    others, and until it has run, the rest can still answer."""
    states = [(task / "stat").read_text().rsplit(")", 1)[1].split()[0]
              for task in Path(f"/proc/{pid}/task").iterdir()]
    return all(state in ("T", "t") for state in states)


def spawn(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([str(ENVOY_EVENTS), "mock", "--port", str(port), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    return process, port


def catches_sigterm(pid: int) -> bool:
    """Whether the process has a SIGTERM handler (Linux: SigCgt in /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask, 16) & (1 << (signal.SIGTERM - 1)))


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


def assert_graceful(process: subprocess.Popen) -> None:
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, (process.returncode, stdout[-500:], stderr[-2000:])
    assert "envoy-events mock stopped." in stdout
    assert "Traceback" not in stderr, stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_as_soon_as_the_port_is_bound_is_graceful(signum):
    """The port accepts before the server threads, the banner and (until now) the signal
    handlers: a stop there used to kill the process (SIGTERM) or print a traceback."""
    process, port = spawn()
    try:
        wait_for(lambda: accepts(port) or process.poll() is not None, what="the port")
        process.send_signal(signum)
        assert_graceful(process)
    finally:
        process.kill()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("delay", [0.0, 0.1, 0.25, 0.5])
def test_a_sigterm_at_any_moment_of_start_up_is_graceful(delay):
    """From the moment the mock command catches signals (a few hundredths of a second after
    the interpreter starts), through imports, building the app, binding and starting."""
    process, _ = spawn()
    try:
        wait_for(lambda: catches_sigterm(process.pid) or process.poll() is not None,
                 what="the SIGTERM handler")
        time.sleep(delay)  # the moment under test, not a wait for something
        process.send_signal(signal.SIGTERM)
        assert_graceful(process)
    finally:
        process.kill()


def test_pending_webhook_deliveries_are_counted_in_one_line_on_stop():
    process, port = spawn("--webhook-retry-schedule", "0,600")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{base}/__mock__/state"), what="the mock")
        refused = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens: attempt 1 fails
        endpoint = requests.post(f"{base}/__mock__/orgs/{ACME}/webhook_endpoints",
                                 json={"url": refused}, timeout=10)
        endpoint.raise_for_status()
        for _ in range(3):
            requests.post(f"{base}/__mock__/events", json=ORDER, timeout=10).raise_for_status()

        def all_retrying() -> bool:
            rows = requests.get(f"{base}/__mock__/deliveries", timeout=10,
                                params={"endpoint": endpoint.json()["id"]}).json()["deliveries"]
            return len(rows) == 3 and all(len(r["attempts"]) == 1 and r["status"] == "pending"
                                          for r in rows)

        wait_for(all_retrying, what="three deliveries waiting for their second attempt")
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    lines = [line for line in stdout.splitlines() if "webhook deliver" in line]
    assert lines == ["3 pending webhook deliveries dropped (not sent; a restart does not "
                     "resend them, --state-file or not)."], stdout


KILL_MID_WRITE = """
import os, signal, sys
os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)  # die before the rename
from envoy_events_kit.mock_server import create_app
app = create_app({"state_file": sys.argv[1]})
app.test_client().post("/__mock__/principals", json={
    "org_id": "org_26ZZVNs2QURl4yY6owPARekUbMa", "user_id": "usr_26ZZVRrmnPTXTcZIuzXLZdnigLW"})
"""


def test_a_state_file_temporary_left_by_a_sigkill_is_gone_after_the_restart(tmp_path):
    state_file = tmp_path / "state.json"
    client = create_app({"state_file": state_file}).test_client()
    endpoint = client.post(f"/__mock__/orgs/{ACME}/webhook_endpoints",
                           json={"url": "http://127.0.0.1:9/hook"}).get_json()
    killed = subprocess.run([sys.executable, "-c", KILL_MID_WRITE, str(state_file)],
                            capture_output=True, text=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    [left] = [p for p in tmp_path.iterdir() if p != state_file]  # the write it was killed in
    assert endpoint["secret"] in left.read_text()

    create_app({"state_file": state_file})  # the restart
    assert list(tmp_path.iterdir()) == [state_file]
    assert json.loads(state_file.read_text())["state"]["organisations"]  # the state is kept


def _files_holding(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret in p.read_text(errors="replace")]


def test_a_sigkilled_realtime_mock_leaves_no_secret_and_the_next_start_sweeps(tmp_path):
    centrifugo_or_skip()
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"TMPDIR": str(temp)}
    process, port = spawn("--realtime", env=env)
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/__mock__/state")
                 or process.poll() is not None, what="the mock with --realtime")
        assert process.poll() is None, process.communicate()
        process.kill()
        process.wait()
        assert _files_holding(temp, DEV_SECRET) == []
        assert not list(temp.rglob("config.json"))
        [left] = list(temp.glob("envoy-events-centrifugo-*"))  # its log, swept next time

        again, port = spawn("--realtime", env=env)
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/__mock__/state")
                 or again.poll() is not None, what="the second mock")
        assert not left.exists()
        assert len(list(temp.glob("envoy-events-centrifugo-*"))) == 1  # its own
        again.send_signal(signal.SIGTERM)
        assert_graceful(again)
        assert list(temp.iterdir()) == []
    finally:
        process.kill()


def test_a_stopped_centrifugo_is_reported_as_not_answering():
    centrifugo_or_skip()
    with MockServer({"realtime": True}) as server:
        pid = server.state.realtime.process.pid
        url = f"{server.url}/__mock__/state"

        def running() -> bool:
            return requests.get(url, timeout=10).json()["realtime"]["running"]

        assert running() is True
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_for(lambda: stopped(pid), timeout=10, what="Centrifugo's threads to stop")
            began = time.monotonic()
            assert running() is False
            assert time.monotonic() - began < 2  # a short probe, not a hang
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for(running, what="Centrifugo answering again")
