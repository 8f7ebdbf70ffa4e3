"""Proof of power for the realtime rules: the suite passes against the kit's conforming
stand-in (a mock with its Centrifugo) and fails, naming the right rule, against stand-ins
built broken from the kit's own parts: a Centrifugo with another secret, one missing a
namespace, one that lets any user into channels without a token, and a mock whose tokens
carry a claim that makes the server ignore their `channels`."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from broken_servers import serve
from broken_servers.base import ADMIN, CONNECTION, DEV_SECRET, RewriteTokens
from envoy_events_kit.mock_server import MockServer
from envoy_events_kit.mock_server.events.realtime.config import build_config, new_api_key
from envoy_events_kit.mock_server.events.realtime.process import Centrifugo
from werkzeug.wrappers import Request

from tests.realtime_parts import centrifugo_or_skip

NAMESPACES = ["batches", "inventory", "orders", "shipments"]


def contract(base_url: str, realtime_url: str, *pytest_args: str,
             cli: tuple[str, ...] = ()) -> tuple[int, str]:
    """`envoy-events contract` against the stand-in: `cli` options, then pytest's after `--`."""
    done = subprocess.run(
        [sys.executable, "-m", "envoy_events_kit.cli", "contract", "--base-url", base_url,
         "--token", ADMIN, "--admin-token", ADMIN, "--jwt-secret", DEV_SECRET,
         "--allow-destructive", "--realtime-url", realtime_url, "--max-examples", "5", *cli,
         "--", "-p", "no:randomly", *pytest_args],
        capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


@contextmanager
def broken_centrifugo(change: Callable[[dict[str, Any]], None]) -> Iterator[str]:
    """A Centrifugo configured as the kit does, then changed; yields its WebSocket URL."""
    binary = centrifugo_or_skip()
    key = new_api_key()

    def config(port: int) -> dict[str, Any]:
        built = build_config(secret=DEV_SECRET, namespaces=NAMESPACES, port=port, api_key=key)
        change(built)
        return built

    process = Centrifugo(binary, config).start()
    try:
        yield process.websocket_url
    finally:
        process.stop()


def other_secret(config: dict[str, Any]) -> None:
    config["client"]["token"]["hmac_secret_key"] = "another-secret-of-at-least-thirty-two-bytes"


def missing_namespace(config: dict[str, Any]) -> None:
    config["channel"]["namespaces"] = [n for n in config["channel"]["namespaces"]
                                       if n["name"] != "shipments"]


def lets_anyone_in(config: dict[str, Any]) -> None:
    for namespace in config["channel"]["namespaces"]:
        namespace.update(allow_subscribe_for_client=True)


def opens_user_limited_channels(config: dict[str, Any]) -> None:
    for namespace in config["channel"]["namespaces"]:
        namespace.update(allow_user_limited_channels=True)


class ChannelsClaimIgnored(RewriteTokens):
    """Connection tokens also carry `subs` naming one channel: Centrifugo then ignores
    `channels`, so the server does not deliver what the claim promises."""

    def rewrite(self, path: str, payload: dict[str, Any], request: Request) -> dict[str, Any]:
        if path == CONNECTION and payload.get("channels"):
            payload["subs"] = {payload["channels"][0]: {}}
        return payload


def failed_rules(output: str) -> set[str]:
    return set(re.findall(r"rule (realtime-[a-z-]+)", output))


@pytest.fixture(scope="module")
def plain_mock() -> Iterator[MockServer]:
    with MockServer({"clock": "real"}) as server:
        yield server


def test_the_conforming_stand_in_passes_the_whole_suite(tmp_path):
    centrifugo_or_skip()
    report = tmp_path / "contract.xml"
    with MockServer({"realtime": True, "clock": "real"}) as mock:
        code, output = contract(mock.url, mock.state.realtime.websocket_url,
                                cli=("--junit-xml", str(report)))
    assert code == 0, output
    realtime_rows = re.findall(r"^(realtime-[a-z-]+)\s+(\S+)", output, re.MULTILINE)
    assert len(realtime_rows) == 9 and {r for _, r in realtime_rows} == {"held"}, output
    assert "realtime server ws://127.0.0.1:" in output  # the host in the closing line
    junit = report.read_text()
    for text in (output, junit):  # no bearer token, secret or issued JWT, printed or reported
        assert ADMIN not in text and DEV_SECRET not in text
        assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.", text)


@pytest.mark.parametrize(("change", "rule"), [
    (other_secret, "realtime-connect"),
    (missing_namespace, "realtime-connect"),
    (lets_anyone_in, "realtime-foreign-org-channel"),
    (opens_user_limited_channels, "realtime-foreign-org-channel"),
], ids=["other-secret", "missing-namespace", "lets-anyone-in", "user-limited-open"])
def test_a_broken_centrifugo_fails_naming_its_rule(plain_mock, change, rule):
    with broken_centrifugo(change) as url:
        code, output = contract(plain_mock.url, url, "-k", "realtime")
    assert code == 1, output
    assert rule in failed_rules(output), output
    assert ADMIN not in output


def test_a_mock_whose_channels_claim_the_server_ignores_fails():
    centrifugo_or_skip()
    with MockServer({"realtime": True, "clock": "real"}) as mock:
        served = serve(ChannelsClaimIgnored(mock.app))
        try:
            code, output = contract(served.url, mock.state.realtime.websocket_url,
                                    "-k", "realtime")
        finally:
            served.stop()
    assert code == 1, output
    assert "realtime-subscriptions" in failed_rules(output), output
