"""Proof of power for the realtime rules: the suite passes against the kit's conforming
stand-in (a mock with its Centrifugo) and fails, naming the right rule and no other, against
a stand-in broken for each of the nine rules: a Centrifugo configured wrongly (another
secret, a missing namespace, channels open without a token, another subscription-token
secret), a mock whose tokens carry a claim that makes the server ignore their `channels`, or
a thin WebSocket proxy in front of a real Centrifugo that answers, rewrites or drops frames.

A realtime URL that is no realtime server is not a broken contract: the run stops within
15 s, exit 3, with one sentence naming the URL.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from broken_servers import serve
from broken_servers.base import ADMIN, CONNECTION, DEV_SECRET, Broken, RewriteTokens
from broken_servers.realtime_mutants import PROXIES, REFUSAL_PROXIES
from broken_servers.realtime_proxy import RealtimeProxy, Silent
from envoy_events_kit.mock_server import MockServer
from envoy_events_kit.mock_server.events.realtime.config import build_config, new_api_key
from envoy_events_kit.mock_server.events.realtime.process import Centrifugo
from werkzeug.wrappers import Request, Response

from tests.cli_mock import free_port
from tests.conftest import NO_SCOPES
from tests.realtime_parts import centrifugo_or_skip

NAMESPACES = ["batches", "inventory", "orders", "shipments"]
REALTIME_ROWS = re.compile(r"^(realtime-[a-z-]+)\s+(held|BROKEN|not checked)\b(.*)$",
                           re.MULTILINE)


def contract(base_url: str, realtime_url: str, *pytest_args: str,
             cli: tuple[str, ...] = (), token: str = ADMIN) -> tuple[int, str]:
    """`envoy-events contract` against the stand-in: `cli` options, then pytest's after `--`."""
    done = subprocess.run(
        [sys.executable, "-m", "envoy_events_kit.cli", "contract", "--base-url", base_url,
         "--token", token, "--admin-token", ADMIN, "--jwt-secret", DEV_SECRET,
         "--allow-destructive", "--realtime-url", realtime_url, "--max-examples", "5", *cli,
         "--", "-p", "no:randomly", *pytest_args],
        capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def rows(output: str) -> dict[str, tuple[str, str]]:
    """The realtime rows of the drift table: rule -> (result, the rest of the line)."""
    return {rule: (result, rest) for rule, result, rest in REALTIME_ROWS.findall(output)}


def broken_rows(output: str) -> set[str]:
    return {rule for rule, (result, _) in rows(output).items() if result == "BROKEN"}


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


def other_subscription_secret(config: dict[str, Any]) -> None:
    """Subscription tokens checked with another key: the API's are all refused (103)."""
    config["client"]["subscription_token"] = {
        "enabled": True, "hmac_secret_key": "another-subscription-secret-of-32-bytes-at-least"}


class ChannelsClaimIgnored(RewriteTokens):
    """Connection tokens also carry `subs` naming one channel: Centrifugo then ignores
    `channels`, so the server does not deliver what the claim promises."""

    def rewrite(self, path: str, payload: dict[str, Any], request: Request) -> dict[str, Any]:
        if path == CONNECTION and payload.get("channels"):
            payload["subs"] = {payload["channels"][0]: {}}
        return payload


class SeenThroughProxy(Broken):
    """The mock as its clients see it through a realtime proxy: its state names the proxy's
    URL as its realtime server (so the suite may publish through the mock)."""

    def __init__(self, app: Any, realtime_url: str) -> None:
        super().__init__(app)
        self.realtime_url = realtime_url

    def handle(self, request: Request) -> Response:
        response = self.forward(request)
        if request.path == "/__mock__/state" and response.status_code == 200:
            state = response.get_json()
            if state.get("realtime"):
                state["realtime"]["websocket_url"] = self.realtime_url
                return Response(json.dumps(state), status=200, content_type="application/json")
        return response


@pytest.fixture(scope="module")
def plain_mock() -> Iterator[MockServer]:
    with MockServer({"clock": "real"}) as server:
        yield server


@pytest.fixture(scope="module")
def realtime_mock() -> Iterator[MockServer]:
    centrifugo_or_skip()
    with MockServer({"realtime": True, "clock": "real"}) as server:
        yield server


@contextmanager
def through(mock: MockServer, proxy_class: type[RealtimeProxy]) -> Iterator[tuple[str, str]]:
    """(base URL, realtime URL) of `mock` seen through a `proxy_class` realtime proxy."""
    with proxy_class(mock.state.realtime.websocket_url) as proxy:
        served = serve(SeenThroughProxy(mock.app, proxy.url))
        try:
            yield served.url, proxy.url
        finally:
            served.stop()


def test_the_conforming_stand_in_passes_the_whole_suite(tmp_path):
    centrifugo_or_skip()
    report = tmp_path / "contract.xml"
    with MockServer({"realtime": True, "clock": "real"}) as mock:
        code, output = contract(mock.url, mock.state.realtime.websocket_url,
                                cli=("--junit-xml", str(report)))
    assert code == 0, output
    realtime_rows = rows(output)
    assert len(realtime_rows) == 9 and {r for r, _ in realtime_rows.values()} == {"held"}, \
        output
    assert "realtime server ws://127.0.0.1:" in output  # the host in the closing line
    junit = report.read_text()
    for text in (output, junit):  # no bearer token, secret or issued JWT, printed or reported
        assert ADMIN not in text and DEV_SECRET not in text
        assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.", text)


def test_a_conforming_proxy_changes_nothing(realtime_mock):
    """The proxy itself passes every realtime rule: the broken ones below differ from it by
    their one change alone."""
    with through(realtime_mock, RealtimeProxy) as (base_url, realtime_url):
        code, output = contract(base_url, realtime_url, "-k", "realtime")
    assert code == 0, output
    assert {r for r, _ in rows(output).values()} == {"held"}, output


#: A Centrifugo configured wrongly -> the rules it breaks (lets-anyone-in really breaks
#: two: client-side subscribe opens user-limited channels of others as well).
CENTRIFUGO_MUTANTS = [
    (other_secret, {"realtime-connect"}),
    (missing_namespace, {"realtime-connect"}),
    (lets_anyone_in, {"realtime-foreign-user-channel", "realtime-foreign-org-channel"}),
    (opens_user_limited_channels, {"realtime-foreign-org-channel"}),
    (other_subscription_secret, {"realtime-own-user-channel"}),
]


@pytest.mark.parametrize(("change", "broken"), CENTRIFUGO_MUTANTS,
                         ids=["other-secret", "missing-namespace", "lets-anyone-in",
                              "user-limited-open", "other-subscription-secret"])
def test_a_broken_centrifugo_fails_naming_its_rules_and_no_other(plain_mock, change, broken):
    with broken_centrifugo(change) as url:
        code, output = contract(plain_mock.url, url, "-k", "realtime")
    assert code == 1, output
    assert broken_rows(output) == broken, output
    assert all(f"rule {rule}:" in output for rule in broken)
    assert ADMIN not in output


def test_one_cause_one_red_row(plain_mock):
    """A Centrifugo with another secret refuses every connection: realtime-connect is BROKEN,
    every rule that needs a connection says why it was not checked."""
    with broken_centrifugo(other_secret) as url:
        code, output = contract(plain_mock.url, url, "-k", "realtime")
    assert code == 1, output
    found = rows(output)
    assert found.pop("realtime-connect")[0] == "BROKEN"
    assert {result for result, _ in found.values()} == {"not checked"}, output
    assert all(rest.endswith("[realtime-connect failed]") for _, rest in found.values()), output
    assert "realtime-connect failed: deprovisionEvents x-realtime, realtime-subscriptions, " \
        in output


@pytest.mark.parametrize("name", sorted(PROXIES))
def test_a_broken_realtime_proxy_fails_naming_its_rule_and_no_other(realtime_mock, name):
    proxy = PROXIES[name]
    with through(realtime_mock, proxy) as (base_url, realtime_url):
        code, output = contract(base_url, realtime_url, "-k", "realtime")
    assert code == 1, output
    assert broken_rows(output) == {proxy.breaks}, output
    assert f"rule {proxy.breaks}:" in output
    if proxy.says:
        assert proxy.says in output, output


@pytest.mark.parametrize("name", sorted(REFUSAL_PROXIES))
def test_silence_or_another_code_is_not_the_documented_refusal(realtime_mock, name):
    """A server that ignores a command, or refuses with another code than Centrifugo's
    documented one, breaks the negative rules with a message saying which."""
    proxy = REFUSAL_PROXIES[name]
    with through(realtime_mock, proxy) as (base_url, realtime_url):
        code, output = contract(base_url, realtime_url, "-k", "realtime")
    assert code == 1, output
    assert broken_rows(output) == set(proxy.breaks), output
    for rule in proxy.breaks:
        [line] = [line for line in output.splitlines() if line.startswith(f"rule {rule}:")][:1]
        assert proxy.says in line, line


def test_a_mock_whose_channels_claim_the_server_ignores_fails(realtime_mock):
    served = serve(ChannelsClaimIgnored(realtime_mock.app))
    try:
        code, output = contract(served.url, realtime_mock.state.realtime.websocket_url,
                                "-k", "realtime")
    finally:
        served.stop()
    assert code == 1, output
    assert broken_rows(output) == {"realtime-subscriptions"}, output


def test_every_realtime_rule_has_a_broken_stand_in():
    from envoy_events_kit.contract_tests.realtime_rules import RULES

    proven = {rule for _, rules in CENTRIFUGO_MUTANTS if len(rules) == 1 for rule in rules}
    proven |= {proxy.breaks for proxy in PROXIES.values()}
    assert proven | {"realtime-subscriptions"} == set(RULES)


# -- a realtime URL that is no realtime server -------------------------------------------------
def stops_with_one_sentence(code: int, output: str, seconds: float, url: str) -> str:
    assert code == 3, output
    assert seconds < 15, f"took {seconds:.1f} s"
    [line] = [line for line in output.splitlines() if url in line]
    assert line.startswith(f"envoy-events contract: COULD NOT CHECK (exit 3): realtime "
                           f"server {url} "), line
    assert "BROKEN" not in output and "rule realtime-" not in output
    return line


def test_an_unreachable_realtime_url_stops_the_run_within_15_s(plain_mock):
    url = f"ws://127.0.0.1:{free_port()}/connection/websocket"
    started = time.monotonic()
    code, output = contract(plain_mock.url, url)
    line = stops_with_one_sentence(code, output, time.monotonic() - started, url)
    assert "refused the connection" in line


def test_a_web_page_is_not_a_realtime_server(plain_mock):
    url = f"{plain_mock.url.replace('http', 'ws')}/connection/websocket"
    started = time.monotonic()
    code, output = contract(plain_mock.url, url)
    line = stops_with_one_sentence(code, output, time.monotonic() - started, url)
    assert "answered HTTP 404 instead of a WebSocket handshake" in line


def test_a_websocket_that_does_not_speak_the_protocol_stops_the_run(plain_mock):
    with Silent() as url:
        started = time.monotonic()
        code, output = contract(plain_mock.url, url)
    line = stops_with_one_sentence(code, output, time.monotonic() - started, url)
    assert "did not answer the connect command within 5 s" in line


def test_a_realtime_url_given_makes_any_rule_not_checked_a_failure(realtime_mock):
    """A token whose connection token grants no channel checks no realtime rule: with a
    realtime URL given, that is "could not check" (3), not green."""
    code, output = contract(realtime_mock.url, realtime_mock.state.realtime.websocket_url,
                            "-k", "realtime", token=NO_SCOPES)
    assert code == 3, output
    closing = output.strip().splitlines()[-1]
    assert closing.startswith("envoy-events contract: COULD NOT CHECK (exit 3)"), closing
    assert "the connection token grants no channel: deprovisionEvents x-realtime, " \
           "realtime-connect," in closing, closing


# -- nothing secret in any output ---------------------------------------------------------------
#: An issued JWT, or a piece of one: its header (`eyJ`), or two long base64url runs joined by a
#: dot (a payload's end and the signature, as a shortened repr leaves them).
JWT_SHAPED = re.compile(r"eyJ[A-Za-z0-9_-]{6,}|[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{20,}")


def test_a_failing_realtime_run_writes_no_secret_anywhere(realtime_mock, tmp_path):
    """Realtime rules failing, long tracebacks with locals asked for: neither the output nor
    the JUnit report nor the Markdown report nor the CI step summary holds a bearer token,
    the signing secret, a webhook secret or an issued JWT, whole or shortened."""
    from tests.conftest import EXPIRED, NO_SCOPES, OTHER_ORG, READER

    step_summary = tmp_path / "step-summary.md"
    with through(realtime_mock, PROXIES["token-opens-any-channel"]) as (base_url, url), \
            broken_centrifugo(other_secret) as other:
        env_summary = {"GITHUB_STEP_SUMMARY": str(step_summary)}
        runs = [_contract_with_env(env_summary, base_url, url, "-k", "realtime", "--tb=long",
                                   "-l", "-rA", cli=("--report", str(tmp_path / "a"))),
                _contract_with_env(env_summary, realtime_mock.url, other, "-k", "realtime",
                                   "--tb=long", "-l", "-rA",
                                   cli=("--report", str(tmp_path / "b")))]
    outputs = [output for code, output in runs]
    assert [code for code, _ in runs] == [1, 1], outputs
    assert "rule realtime-token-bound-to-channel:" in outputs[0]
    assert "rule realtime-connect:" in outputs[1]
    written = [*outputs, step_summary.read_text()]
    for report in (tmp_path / "a", tmp_path / "b"):
        written += [(report / "junit.xml").read_text(), (report / "summary.md").read_text()]
    secrets = (ADMIN, EXPIRED, NO_SCOPES, OTHER_ORG, READER, DEV_SECRET,
               realtime_mock.state.realtime.api_key)
    for text in written:
        assert not [s for s in secrets if s in text]
        assert "whsec_" not in text.replace("whsec_[redacted]", "")
        assert not JWT_SHAPED.findall(text), JWT_SHAPED.findall(text)[:3]


def _contract_with_env(env: dict[str, str], *args: str, **kwargs: Any) -> tuple[int, str]:
    import os
    from unittest import mock

    with mock.patch.dict(os.environ, env):
        return contract(*args, **kwargs)
