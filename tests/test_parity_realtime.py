"""`envoy-events parity --realtime-url`: a mock with its Centrifugo agrees with its mirror
on the realtime server too; a broken realtime stand-in (a Centrifugo configured wrongly, or
a proxy in front of a real one, from tests/test_contract_realtime.py) differs, named by the
contract suite's realtime rule; a realtime side that cannot be asked is exit 3, one line.

Real Centrifugo throughout (skipped without it, failed under CI).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from broken_servers import serve
from broken_servers.base import ADMIN, DEV_SECRET, EXPIRED
from broken_servers.realtime_mutants import (
    IgnoresSubscribesWithoutToken,
    OpensOtherUsersChannels,
    TokenOpensAnyChannel,
)
from envoy_events_kit.contract_tests.realtime_rules import RULES
from envoy_events_kit.contract_tests.target import Identity, unverified_claims
from envoy_events_kit.mock_server import MockServer

from envoy_events_kit.net import free_port
from envoy_events_kit.parity import ParityOptions, run
from envoy_events_kit.parity.realtime import RealtimeStep, Side, ask, judge, steps
from envoy_events_kit.parity.result import ParityResult
from tests.conftest import NO_SCOPES
from tests.realtime_parts import centrifugo_or_skip
from tests.test_contract_realtime import (
    ChannelsClaimIgnored,
    broken_centrifugo,
    lets_anyone_in,
    other_secret,
    other_subscription_secret,
    through,
)

ENVOY_EVENTS = Path(sys.executable).parent / "envoy-events"
#: An issued JWT or a piece of one (as in tests/test_contract_realtime.py).
JWT_SHAPED = re.compile(r"eyJ[A-Za-z0-9_-]{6,}|[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{20,}")
#: The rules a parity run asks about on the realtime server (no publication, expiry or
#: deprovision: those need the mock's control API or a destructive run on the target).
ASKED = {"realtime-connect", "realtime-subscriptions", "realtime-own-user-channel",
         "realtime-foreign-user-channel", "realtime-foreign-org-channel",
         "realtime-token-bound-to-channel"}


@pytest.fixture(scope="module")
def realtime_mock() -> Iterator[MockServer]:
    centrifugo_or_skip()
    with MockServer({"realtime": True, "clock": "real"}) as server:
        yield server


@pytest.fixture(scope="module")
def plain_mock() -> Iterator[MockServer]:
    with MockServer({"clock": "real"}) as server:
        yield server


def parity(base_url: str, realtime_url: str | None) -> ParityResult:
    return run(ParityOptions(base_url=base_url, token=ADMIN, realtime_url=realtime_url,
                             examples=0), echo=lambda _: None)


def realtime_outcomes(result: ParityResult) -> list[Any]:
    return [o for o in result.outcomes if isinstance(o.probe, RealtimeStep)]


def realtime_differences(result: ParityResult) -> dict[str, list[str]]:
    """rule -> details of the realtime differences found."""
    found: dict[str, list[str]] = {}
    for outcome in realtime_outcomes(result):
        for diff in outcome.differences:
            found.setdefault(diff.rule, []).append(diff.detail)
    return found


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    done = subprocess.run([str(ENVOY_EVENTS), "parity", "--token", ADMIN, "--examples", "0",
                           *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})
    return done.returncode, done.stdout + done.stderr


# -- against a mock with its Centrifugo: the two agree -------------------------------------------

def test_a_realtime_mock_agrees_with_its_mirror_on_every_realtime_question(realtime_mock):
    url = realtime_mock.state.realtime.websocket_url
    started = time.monotonic()
    without = parity(realtime_mock.url, None)
    middle = time.monotonic()
    result = parity(realtime_mock.url, url)
    added = (time.monotonic() - middle) - (middle - started)
    assert result.exit_code == 0, [(o.probe.name, o.differences, o.unchecked)
                                   for o in result.outcomes if o.differences or o.unchecked]
    asked = realtime_outcomes(result)
    assert {o.probe.rule for o in asked} == ASKED and set(RULES) >= ASKED
    assert len(asked) == 7 and not any(o.differences or o.unchecked for o in asked)
    assert all(o.request.startswith(f"realtime {url}: ") for o in asked)
    # Without --realtime-url: the same HTTP requests, no realtime question.
    assert not realtime_outcomes(without) and without.exit_code == 0
    assert len(result.outcomes) - len(without.outcomes) == 7
    print(f"\nthe realtime part added {added:.2f} s to the run")


def test_the_questions_get_the_documented_answers_from_a_real_centrifugo(realtime_mock):
    """What both sides are compared on: the contract's answers, not two silences."""
    import requests
    from envoy_events_kit.contract_tests.target import Identity, unverified_claims

    from envoy_events_kit.parity.realtime import Side, ask, steps

    def fetch(path: str, body: Any) -> requests.Response:
        return requests.get(realtime_mock.url + path, json=body, timeout=10,
                            headers={"Authorization": f"Bearer {ADMIN}"})

    side = Side("target", realtime_mock.state.realtime.websocket_url, fetch)
    side.fetch_connection_token()
    claims = unverified_claims(side.connection_token)
    org = claims["channels"][0].split(":")[1]
    answers = ask(side, steps(Identity(claims["sub"], org, tuple(claims["channels"]))))
    assert answers == {
        "realtime-connect": "connected",
        "realtime-subscriptions": f"[{', '.join(sorted(claims['channels']))}]",
        "realtime-own-user-channel": "subscribed",
        "realtime-foreign-user-channel": "refused 103",
        "realtime-foreign-org-channel": "refused 103",
        "realtime-foreign-org-channel [limited to the caller]": "refused 103",
        "realtime-token-bound-to-channel": "connection closed 3500"}


def test_without_realtime_url_no_centrifugo_is_started(plain_mock, monkeypatch):
    from envoy_events_kit.mock_server.state.mock_state import MockState

    started: list[bool] = []
    original = MockState.start_realtime

    def spy(self: MockState, *args: Any, **kwargs: Any) -> None:
        started.append(self.settings.realtime)
        original(self, *args, **kwargs)

    monkeypatch.setattr(MockState, "start_realtime", spy)
    result = parity(plain_mock.url, None)
    assert result.exit_code == 0 and not realtime_outcomes(result)
    assert started == [False]  # the mirrored mock started, without its Centrifugo


# -- broken realtime stand-ins: each difference found and named -----------------------------------

def _centrifugo(change: Callable[[dict[str, Any]], None]) -> Callable[[Any, Any], Any]:
    @contextmanager
    def stand_in(plain: MockServer, _: MockServer) -> Iterator[tuple[str, str]]:
        with broken_centrifugo(change) as url:
            yield plain.url, url
    return stand_in


def _proxy(proxy_class: type) -> Callable[[Any, Any], Any]:
    def stand_in(_: MockServer, realtime: MockServer) -> AbstractContextManager[Any]:
        return through(realtime, proxy_class)
    return stand_in


@contextmanager
def _channels_claim_ignored(_: MockServer, realtime: MockServer) -> Iterator[tuple[str, str]]:
    served = serve(ChannelsClaimIgnored(realtime.app))
    try:
        yield served.url, realtime.state.realtime.websocket_url
    finally:
        served.stop()


#: name -> (the stand-in: (base URL, realtime URL), the realtime rules it must differ on and
#: words the difference must hold).
BROKEN: dict[str, tuple[Callable[[Any, Any], Any], dict[str, str]]] = {
    "other-secret": (_centrifugo(other_secret),
                     {"realtime-connect": "target refused with code 3500, mock connected"}),
    "other-subscription-secret": (_centrifugo(other_subscription_secret),
                                  {"realtime-own-user-channel":
                                   "target refused 103, mock subscribed"}),
    "lets-anyone-in": (_centrifugo(lets_anyone_in),
                       {"realtime-foreign-user-channel": "target subscribed, mock refused 103",
                        "realtime-foreign-org-channel": "target subscribed, mock refused 103"}),
    "opens-other-users-channels": (_proxy(OpensOtherUsersChannels),
                                   {"realtime-foreign-user-channel":
                                    "target subscribed, mock refused 103"}),
    "token-opens-any-channel": (_proxy(TokenOpensAnyChannel),
                                {"realtime-token-bound-to-channel":
                                 "target subscribed, mock connection closed 3500"}),
    "ignores-subscribes-without-token": (_proxy(IgnoresSubscribesWithoutToken),
                                         {"realtime-foreign-user-channel":
                                          "target no answer within the step timeout, "
                                          "mock refused 103",
                                          "realtime-foreign-org-channel":
                                          "target no answer within the step timeout"}),
    "channels-claim-ignored": (_channels_claim_ignored,
                               {"realtime-subscriptions": "(only the "
                                                          "mock: ['inventory:org_"}),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_realtime_stand_in_differs_named_by_its_rule(plain_mock, realtime_mock, name):
    stand_in, expected = BROKEN[name]
    with stand_in(plain_mock, realtime_mock) as (base_url, realtime_url):
        result = parity(base_url, realtime_url)
    found = realtime_differences(result)
    assert result.exit_code == 1, found
    assert set(found) == set(expected), found
    for rule, words in expected.items():
        assert any(words in detail for detail in found[rule]), (rule, found[rule])


# -- a realtime side that cannot be asked: exit 3, one line ---------------------------------------

def _one_line(output: str, words: str) -> str:
    [line] = [line for line in output.splitlines() if words in line]
    return line


def test_an_unreachable_realtime_url_is_exit_3_with_one_line_naming_it(plain_mock,
                                                                        tmp_path):
    url = f"ws://127.0.0.1:{free_port()}/connection/websocket"
    started = time.monotonic()
    report = tmp_path / "report"
    code, output = cli("--base-url", plain_mock.url, "--realtime-url", url, "--report",
                       str(report))
    assert code == 3, output
    assert time.monotonic() - started < 60
    line = _one_line(output, url)
    assert line.startswith("  not checked (realtime-connect, realtime-subscriptions, "), line
    assert line.endswith(f"the target's realtime server {url} refused the connection (nothing "
                         "listens there)"), line
    assert "0 differences, 7 not checked" in output
    junit = (report / "junit.xml").read_text()
    assert junit.count("<skipped") == 7 and junit.count(f"realtime server {url} refused") == 7
    assert "parity: a side could not be checked (exit 3)" in output.splitlines(), output
    assert ADMIN not in output and not JWT_SHAPED.findall(output)


def test_the_mocks_centrifugo_not_starting_is_exit_3_and_the_http_side_still_compared(
        realtime_mock, tmp_path):
    missing = tmp_path / "no-centrifugo-here"
    code, output = cli("--base-url", realtime_mock.url, "--realtime-url",
                       realtime_mock.state.realtime.websocket_url,
                       env={"ENVOY_EVENTS_CENTRIFUGO": str(missing)})
    assert code == 3, output
    line = _one_line(output, "did not start")
    assert line.endswith(f"the mirrored mock's realtime server did not start: "
                         f"$ENVOY_EVENTS_CENTRIFUGO={missing}: no executable file there"), line
    assert re.search(r"\b(\d{2,}) requests to each side \(0 destructive\), 0 differences, "
                     r"7 not checked", output), output


def test_a_caller_granted_no_channel_leaves_the_subscribing_questions_not_checked(
        realtime_mock):
    """Connecting is asked (and agrees); subscribing needs an own channel: not checked,
    one line, exit 3 (as the contract suite's realtime rules say "could not check")."""
    code, output = cli("--base-url", realtime_mock.url, "--token", NO_SCOPES, "--realtime-url",
                       realtime_mock.state.realtime.websocket_url)
    assert code == 3, output
    line = _one_line(output, "grants no channel")
    assert line == ("  not checked (realtime-own-user-channel, realtime-foreign-user-channel, "
                    "realtime-foreign-org-channel, realtime-token-bound-to-channel): the "
                    "connection token grants no channel: no own channel to subscribe to"), line
    assert "0 differences, 4 not checked" in output, output


def test_the_env_var_names_the_realtime_url(plain_mock):
    url = f"ws://127.0.0.1:{free_port()}/connection/websocket"
    code, output = cli("--base-url", plain_mock.url, env={"ENVOY_EVENTS_REALTIME_URL": url})
    assert code == 3 and url in output, output


# -- nothing secret in any output -----------------------------------------------------------------

def test_no_token_in_the_output_or_the_reports(realtime_mock, tmp_path):
    """Agreeing and differing runs: neither the output nor a report file holds a bearer
    token, the signing secret, the realtime API key or an issued JWT."""
    outputs = []
    with through(realtime_mock, TokenOpensAnyChannel) as (base_url, url):
        outputs.append(cli("--base-url", base_url, "--realtime-url", url,
                           "--expired-token", EXPIRED, "--report", str(tmp_path / "broken")))
    outputs.append(cli("--base-url", realtime_mock.url, "--realtime-url",
                       realtime_mock.state.realtime.websocket_url,
                       "--report", str(tmp_path / "agrees")))
    assert [code for code, _ in outputs] == [1, 0], outputs
    assert "realtime-token-bound-to-channel" in outputs[0][1]
    written = [output for _, output in outputs]
    written += [path.read_text() for path in sorted(tmp_path.glob("*/*"))]
    assert len(written) == 8
    # The reports name the contract suite's realtime rules: BROKEN where the sides differ.
    broken, agrees = (tmp_path / "broken" / "summary.md").read_text(), \
        (tmp_path / "agrees" / "summary.md").read_text()
    assert "| `realtime-token-bound-to-channel` | **BROKEN** |" in broken, broken
    assert "| `realtime-own-user-channel` | held |  | Both realtime servers alike: a " \
           "subscription token for one's own # channel subscribes. |" in broken, broken
    assert all(f"| `{rule}` | held |" in agrees for rule in ASKED), agrees
    junit = (tmp_path / "broken" / "junit.xml").read_text()
    assert re.search(r'<testcase classname="parity.realtime-token-bound-to-channel" '
                     r'name="realtime-token-bound-to-channel" time="[0-9.]+">\s*<failure '
                     r'message="realtime-token-bound-to-channel: target subscribed, mock '
                     r'connection closed 3500', junit), junit
    for text in written:
        assert not [s for s in (ADMIN, EXPIRED, DEV_SECRET, realtime_mock.state.realtime.api_key)
                    if s in text]
        assert not JWT_SHAPED.findall(text), JWT_SHAPED.findall(text)[:3]


def test_every_websocket_connection_waits_its_turn_under_the_rate_limit(realtime_mock) -> None:
    """The target's rate limit covers the realtime side too: one turn per connection."""
    turns: list[float] = []

    def fetch(path: str, body: Any) -> requests.Response:
        return requests.get(realtime_mock.url + path, json=body, timeout=10,
                            headers={"Authorization": f"Bearer {ADMIN}"})

    side = Side("target", realtime_mock.state.realtime.websocket_url, fetch,
                pace=lambda: turns.append(time.monotonic()))
    side.fetch_connection_token()
    me = Identity.from_claims(unverified_claims(side.connection_token))
    questions = steps(me)
    answers = ask(side, questions)
    connections = 1 + sum(1 for q in questions if q.channel)  # connect, then one per channel
    assert len(turns) == connections == 6
    assert answers["realtime-connect"] == "connected"
    assert answers["realtime-own-user-channel"] == "subscribed"


def test_both_sides_refusing_the_connection_alike_is_not_checked_not_agreement() -> None:
    """Two servers that both refuse the connection agree on nothing worth saying: every
    realtime question is not checked (exit 3), none counts as agreed."""
    me = Identity("usr_" + "M" * 27, "org_" + "L" * 27, (f"shipments:org_{'L' * 27}",))
    refused = {"realtime-connect": "connection closed 3500"}
    outcomes = judge(steps(me), dict(refused), dict(refused), lambda step: step.question)
    assert outcomes and all(o.unchecked and not o.differences for o in outcomes)
    assert outcomes[0].unchecked == "realtime-connect on both sides: connection closed 3500"
    assert ParityResult(None, outcomes).exit_code == 3
