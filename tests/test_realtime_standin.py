"""`envoy-events mock --realtime` as a person runs it: Centrifugo starts and stops with the
mock, never outlives it, and every way of failing is one line with nothing left running."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
from envoy_events_kit.mock_server.events.realtime import RealtimeUnavailable
from envoy_events_kit.mock_server.events.realtime.config import build_config
from envoy_events_kit.mock_server.events.realtime.install import (
    CENTRIFUGO_VERSION,
    install,
)

from tests.cli_mock import ENVOY_EVENTS, spawn_mock
from tests.realtime_parts import cached_centrifugo_or_skip, centrifugo_or_skip


@pytest.fixture(scope="module")
def binary() -> Path:
    return centrifugo_or_skip()


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")  # a zombie is gone


def wait_gone(pid: int, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def start_realtime_cli(*args: str) -> tuple[subprocess.Popen, str, int]:
    process, url = spawn_mock("--realtime", *args, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    (centrifugo,) = children(process.pid)
    return process, url, centrifugo


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ENVOY_EVENTS), *args], capture_output=True, text=True,
                          timeout=60, env=env)


def test_config_comes_from_the_fixtures_and_the_secret():
    config = build_config(secret="s" * 32, namespaces=["orders", "shipments"], port=9,
                          api_key="k")
    assert config["client"]["token"]["hmac_secret_key"] == "s" * 32
    assert [n["name"] for n in config["channel"]["namespaces"]] == ["orders", "shipments"]
    for namespace in config["channel"]["namespaces"]:  # no way in without a token
        assert not namespace.get("allow_user_limited_channels")
        assert not namespace.get("allow_subscribe_for_client")
    assert "http://localhost:*" in config["client"]["allowed_origins"]
    assert config["http_server"] == {"address": "127.0.0.1", "port": 9}


def test_banner_and_state_show_the_websocket_url_but_never_the_api_key(binary, tmp_path):
    # The mock removes the generated config once Centrifugo has read it: a wrapper keeps a
    # copy, to learn the API key the mock must never show.
    kept = tmp_path / "config-copy.json"
    wrapper = tmp_path / "centrifugo"
    wrapper.write_text(f'#!/bin/sh\ncp "$2" "{kept}"\nexec "{binary}" "$@"\n')
    wrapper.chmod(0o700)
    process, url, centrifugo = start_realtime_cli("--centrifugo", str(wrapper))
    try:
        cmdline = Path(f"/proc/{centrifugo}/cmdline").read_bytes().split(b"\0")
        config_path = Path(cmdline[cmdline.index(b"--config") + 1].decode())
        assert not config_path.exists()  # read by Centrifugo, then removed
        api_key = json.loads(kept.read_text())["http_api"]["key"]
        state = requests.get(f"{url}/__mock__/state", timeout=5).text
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    realtime = json.loads(state)["realtime"]
    assert realtime["websocket_url"] in stdout
    assert len(api_key) >= 24 and api_key not in stdout + stderr + state
    assert not config_path.parent.exists()  # its working directory (the log) is removed


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_both_and_exits_0(binary, signum):
    process, _, centrifugo = start_realtime_cli()
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "envoy-events mock stopped." in stdout
    assert wait_gone(centrifugo)


def test_a_killed_mock_leaves_no_centrifugo_behind(binary):
    process, _, centrifugo = start_realtime_cli()
    assert alive(centrifugo)
    process.kill()  # SIGKILL: no handler of ours runs
    process.wait()
    assert wait_gone(centrifugo), "Centrifugo outlived a SIGKILLed mock"


def test_a_dead_centrifugo_stops_the_mock_with_one_line(binary):
    process, url, centrifugo = start_realtime_cli()
    os.kill(centrifugo, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 1
    assert "Centrifugo exited unexpectedly" in stderr and "the mock stopped too" in stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/__mock__/state", timeout=2)


def test_a_busy_realtime_port_is_one_line_and_nothing_runs(binary):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        before = set(_centrifugos())
        result = run_cli("mock", "--realtime", "--port", "0", "--realtime-port", str(port))
    assert result.returncode == 2
    assert result.stderr.startswith("error: --realtime: Centrifugo did not start")
    assert "address already in use" in result.stderr and "Traceback" not in result.stderr
    assert set(_centrifugos()) <= before


def _centrifugos() -> list[int]:
    out = subprocess.run(["pgrep", "-x", "centrifugo"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_a_missing_binary_names_the_install_command(tmp_path):
    env = {**os.environ, "ENVOY_EVENTS_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    env.pop("ENVOY_EVENTS_CENTRIFUGO", None)
    result = run_cli("mock", "--realtime", "--port", "0", env=env)
    assert result.returncode == 2
    assert "envoy-events realtime install" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    wrong = run_cli("mock", "--realtime", "--port", "0", "--centrifugo", str(tmp_path / "nope"))
    assert wrong.returncode == 2 and "no executable file there" in wrong.stderr


def test_install_without_go_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("ENVOY_EVENTS_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RealtimeUnavailable, match="Go is not installed"):
        install(echo=lambda line: None)
    result = run_cli("realtime", "install",
                     env={**os.environ, "ENVOY_EVENTS_CACHE_DIR": str(tmp_path),
                          "PATH": str(tmp_path)})
    assert result.returncode == 1 and "Go is not installed" in result.stderr
    assert "Traceback" not in result.stderr


def test_install_reuses_a_cached_binary():
    cached = cached_centrifugo_or_skip()  # whichever binary the other tests use
    lines: list[str] = []
    assert install(echo=lines.append) == cached
    assert lines == [f"Centrifugo v{CENTRIFUGO_VERSION} is already installed: {cached}"]


def test_a_frozen_clock_in_the_past_is_refused_with_the_way_out(binary):
    result = run_cli("mock", "--realtime", "--port", "0", "--clock", "2020-01-01T00:00:00Z")
    assert result.returncode == 2
    assert "frozen at 2020-01-01T00:00:00Z" in result.stderr
    assert "--clock real" in result.stderr and "109" in result.stderr


def test_the_realtime_path_command_prints_the_binary(binary):
    result = run_cli("realtime", "path")
    assert result.returncode == 0 and result.stdout.strip() == str(binary)
