"""`envoy-events parity --realtime-url`: the same realtime questions to both sides.

The tokens exist to be used on the realtime server, so a mock that issues the same tokens
but whose Centrifugo opens other channels is no faithful stand-in. Each side is asked with
its own tokens (the target's from the target's API, the mock's from the mirrored mock),
through the contract suite's own helpers (`contract_tests.realtime_rules`: a real
`centrifuge-python` client, every step with a timeout), and the outcome strings are
compared: "connected", "subscribed", "refused 103", "connection closed 3500", ...

A side whose realtime server cannot be asked (the mock's Centrifugo did not start, the
target's URL is no realtime server) leaves every realtime step not checked, with one reason:
the run then exits 3, never green. Tokens are never shown; URLs through `shown`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from envoy_events_kit.contract_tests import realtime_rules as rt
from envoy_events_kit.contract_tests.realtime_probe import problem, shown
from envoy_events_kit.contract_tests.target import CONNECTION, SUBSCRIPTION, Identity, Target
from envoy_events_kit.proxy.report import redact

from .compare import Difference
from .mirror import CALLER, Mirror
from .probes import OTHER_ORG, OTHER_USER
from .result import Outcome, ParityOptions

CONNECTED = "connected"
#: Why the subscribing questions are not asked of a caller granted no namespace.
NEEDS_CHANNEL = "the connection token grants no channel: no own channel to subscribe to"
#: The questions that subscribe to a channel of the caller's first granted namespace.
SUBSCRIBING = ("realtime-own-user-channel", "realtime-foreign-user-channel",
               "realtime-foreign-org-channel", "realtime-token-bound-to-channel")


@dataclass(frozen=True)
class RealtimeStep:
    """One realtime question, asked of both sides alike (a `result.Step`)."""

    name: str
    rule: str
    #: The question in words (channel names, never a token): the outcome's `request`.
    question: str
    #: The channel to subscribe to, and whether with the own channel's subscription token.
    channel: str = ""
    with_token: bool = False
    assumptions: tuple[str, ...] = ()
    destructive: bool = False
    kind: str = "realtime questions"


def steps(me: Identity) -> list[RealtimeStep]:
    """The questions for this caller: connect, then subscriptions, in the contract suite's
    rule names (`realtime_rules.RULES`)."""
    found = [RealtimeStep("realtime-connect", "realtime-connect",
                          "connect with a connection token from the API"),
             RealtimeStep("realtime-subscriptions", "realtime-subscriptions",
                          "server-side subscriptions after connecting")]
    if not me.namespaces:  # asked of neither side: not checked (NEEDS_CHANNEL)
        return [*found, *(RealtimeStep(rule, rule, f"{rule}: no granted namespace")
                          for rule in SUBSCRIBING)]
    ns, org, user = me.namespaces[0], me.org_id, me.user_id
    own = f"{ns}:{org}#{user}"
    subscribe = "subscribe to {} {}"
    return [*found,
            RealtimeStep("realtime-own-user-channel", "realtime-own-user-channel",
                         subscribe.format(own, "with a subscription token from the API"),
                         own, with_token=True),
            RealtimeStep("realtime-foreign-user-channel", "realtime-foreign-user-channel",
                         subscribe.format(f"{ns}:{org}#{OTHER_USER}", "without a token"),
                         f"{ns}:{org}#{OTHER_USER}"),
            RealtimeStep("realtime-foreign-org-channel", "realtime-foreign-org-channel",
                         subscribe.format(f"{ns}:{OTHER_ORG}", "without a token"),
                         f"{ns}:{OTHER_ORG}"),
            RealtimeStep("realtime-foreign-org-channel [limited to the caller]",
                         "realtime-foreign-org-channel",
                         subscribe.format(f"{ns}:{OTHER_ORG}#{user}", "without a token"),
                         f"{ns}:{OTHER_ORG}#{user}"),
            RealtimeStep("realtime-token-bound-to-channel", "realtime-token-bound-to-channel",
                         subscribe.format(f"{own},{OTHER_USER}",
                                          f"with a subscription token for {own}"),
                         f"{own},{OTHER_USER}", with_token=True)]


#: GET an events endpoint of one side as its caller: (path, JSON body or None) -> answer.
Fetch = Callable[[str, Any], requests.Response]


@dataclass
class Side:
    """One side's realtime server and how to get its caller's tokens."""

    label: str
    url: str
    fetch: Fetch
    #: Why this side's realtime server cannot be asked, else None.
    problem: str | None = None
    connection_token: str = field(default="", repr=False)
    #: Why no connection token (the API's answer), else None.
    no_token: str | None = None
    #: step name -> seconds its question took on this side (the report's test case time).
    seconds: dict[str, float] = field(default_factory=dict)
    #: Called before each WebSocket connection: the target's rate limit covers them too.
    pace: Callable[[], None] = field(default=lambda: None, repr=False)

    def fetch_connection_token(self) -> None:
        try:
            answer = self.fetch(CONNECTION, None)
        except requests.RequestException as exc:
            self.no_token = f"no connection token (the API did not answer: {type(exc).__name__})"
            return
        token = _token_of(answer)
        if token:
            self.connection_token = token
        else:
            self.no_token = f"no connection token (the API answered HTTP {answer.status_code})"

    def subscription_token(self, channel: str) -> tuple[str, str | None]:
        """(token, None), or ("", what the API answered instead)."""
        try:
            answer = self.fetch(SUBSCRIPTION, {"channel": channel})
        except requests.RequestException as exc:
            return "", f"no subscription token (the API did not answer: {type(exc).__name__})"
        token = _token_of(answer)
        if token:
            return token, None
        return "", f"no subscription token (the API answered HTTP {answer.status_code})"


def _token_of(answer: requests.Response) -> str | None:
    try:
        token = answer.json().get("token") if answer.status_code == 200 else None
    except (ValueError, AttributeError):
        return None
    return token if isinstance(token, str) and token else None


def _why(refusal: Any) -> str:
    return refusal if isinstance(refusal, str) else f"refused with code {refusal.code}"


async def _connect_and_list(url: str, token: str) -> tuple[str, str]:
    """(connect outcome, server-side subscriptions in words)."""
    client, watcher, refusal = await rt.connect(url, token)
    if refusal is not None:
        return _why(refusal), ""
    subscribed = sorted(watcher.server_subscriptions)
    await client.disconnect()
    return CONNECTED, f"[{', '.join(subscribed)}]"


async def _subscribe(url: str, token: str, channel: str, sub_token: str) -> str:
    client, watcher, refusal = await rt.connect(url, token)
    if refusal is not None:
        return f"connection {_why(refusal)}"
    try:
        return await rt.subscribe_outcome(client, watcher, channel, sub_token)
    finally:
        await client.disconnect()


def ask(side: Side, questions: list[RealtimeStep]) -> dict[str, str]:
    """step name -> outcome on this side (a fresh connection for each subscription, like the
    contract suite, so one refusal cannot spoil the next question)."""
    if side.no_token:
        return {step.name: side.no_token for step in questions}
    answers: dict[str, str] = {}
    sub_tokens: dict[str, tuple[str, str | None]] = {}
    for step in questions:
        started = time.monotonic()
        try:
            if step.rule == "realtime-connect":
                side.pace()
                answers[step.name], listed = rt.run(_connect_and_list(side.url,
                                                                      side.connection_token))
                answers["realtime-subscriptions"] = listed
            elif step.rule == "realtime-subscriptions" or not step.channel:
                continue  # asked on the connect question's connection; or not at all
            else:
                sub_token, missing = "", None
                if step.with_token:
                    own = next(s.channel for s in questions
                               if s.rule == "realtime-own-user-channel")
                    if own not in sub_tokens:
                        sub_tokens[own] = side.subscription_token(own)
                    sub_token, missing = sub_tokens[own]
                if missing is None:
                    side.pace()
                answers[step.name] = missing or rt.run(
                    _subscribe(side.url, side.connection_token, step.channel, sub_token))
        except TimeoutError:
            answers[step.name] = rt.NO_ANSWER
        except Exception as exc:  # noqa: BLE001 - the client's own failure, in words
            answers[step.name] = f"the client failed ({type(exc).__name__})"
        side.seconds[step.name] = time.monotonic() - started
    return answers


def _detail(step: RealtimeStep, theirs: str, ours: str) -> str:
    if step.rule == "realtime-subscriptions":
        a, b = _channels(theirs), _channels(ours)
        only = [f"only the target: {sorted(a - b)}" if a - b else "",
                f"only the mock: {sorted(b - a)}" if b - a else ""]
        return (f"target subscribed the connection to {theirs}, mock to {ours} ("
                f"{'; '.join(o for o in only if o)})")
    return f"target {theirs}, mock {ours}"


def _channels(listed: str) -> set[str]:
    return {c for c in listed.strip("[]").split(", ") if c}


#: rule -> the question whose answer it needs on both sides, and that answer (the
#: subscription token opens no other channel: asked only if it opens its own).
NEEDS = {"realtime-subscriptions": ("realtime-connect", CONNECTED),
         "realtime-own-user-channel": ("realtime-connect", CONNECTED),
         "realtime-foreign-user-channel": ("realtime-connect", CONNECTED),
         "realtime-foreign-org-channel": ("realtime-connect", CONNECTED),
         "realtime-token-bound-to-channel": ("realtime-own-user-channel", "subscribed")}


def judge(questions: list[RealtimeStep], theirs: dict[str, str], ours: dict[str, str],
          request: Callable[[RealtimeStep], str]) -> list[Outcome]:
    """One outcome per question. A question whose premise (`NEEDS`) did not hold on both
    sides is not checked: one cause, one difference (the premise's)."""
    outcomes: list[Outcome] = []
    for step in questions:
        outcome = Outcome(step, request(step))
        a, b = theirs.get(step.name, ""), ours.get(step.name, "")
        needed = NEEDS.get(step.rule)
        if step.rule in SUBSCRIBING and not step.channel:
            outcome.unchecked = NEEDS_CHANNEL
        elif needed and (theirs.get(needed[0]), ours.get(needed[0])) != (needed[1], needed[1]):
            first = (theirs.get(needed[0], ""), ours.get(needed[0], ""))
            outcome.unchecked = (f"{needed[0]}: target {first[0]}, mock {first[1]}"
                                 if first[0] != first[1] else
                                 f"{needed[0]} on both sides: {first[0]}")
        elif step.rule == "realtime-connect" and a == b and a != CONNECTED:
            outcome.unchecked = f"realtime-connect on both sides: {a}"
        elif a != b:
            outcome.differences = [Difference(step.rule, _detail(step, a, b))]
        outcomes.append(outcome)
    return outcomes


# -- the parity run's hook --------------------------------------------------------------------

def start_mock(settings: dict[str, Any], realtime: bool) -> tuple[Any, str | None]:
    """The mirrored mock, with its Centrifugo when `realtime`; if that cannot start, the mock
    without it and why (the HTTP comparison still runs; the realtime steps are not checked)."""
    from envoy_events_kit.mock_server import MockServer

    why = None
    if realtime:
        try:
            return MockServer({**settings, "realtime": True}).start(), None
        except Exception as exc:  # noqa: BLE001 - one sentence, the steps not checked
            first = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
            why = f"the mirrored mock's realtime server did not start: {first}"
    return MockServer(settings).start(), why


def compare(options: ParityOptions, target: Target, mirror: Mirror, mock: Any,
            mock_problem: str | None, secrets: list[str]) -> list[Outcome]:
    """The realtime outcomes of both sides, one per question (see `steps`)."""
    assert options.realtime_url is not None
    me = mirror.caller.identity
    questions = steps(me)
    url = options.realtime_url
    local = requests.Session()
    bearer = {"Authorization": f"Bearer {mirror.fixture_token(CALLER)}"}
    their_side = Side("target", url, lambda path, body: target.get(
        path, options.token, json=body, timeout=options.timeout), pace=target.session.pace)
    realtime = getattr(mock.state, "realtime", None)
    our_side = Side("mock", realtime.websocket_url if realtime else "",
                    lambda path, body: local.get(mock.url + path, headers=bearer, json=body,
                                                 timeout=options.timeout),
                    problem=mock_problem or (None if realtime else
                                             "the mirrored mock runs no realtime server"))

    def request(step: RealtimeStep) -> str:
        return f"realtime {shown(url)}: {step.question}"

    try:
        their_side.fetch_connection_token()
        our_side.fetch_connection_token()
        secrets = [*secrets, their_side.connection_token, our_side.connection_token]
        found = problem(url, their_side.connection_token)
        if found:
            their_side.problem = f"the target's realtime server {shown(url)} {found}"
        why = "; ".join(p for p in (their_side.problem, our_side.problem) if p)
        if why:
            return [Outcome(step, request(step), unchecked=redact(why, secrets))
                    for step in questions]
        if their_side.no_token and their_side.no_token == our_side.no_token:
            return [Outcome(step, request(step), unchecked=f"neither side: {their_side.no_token}")
                    for step in questions]
        outcomes = judge(questions, ask(their_side, questions), ask(our_side, questions),
                         request)
    finally:
        local.close()
    for outcome in outcomes:  # a server's reason text could quote what it was sent
        name = outcome.probe.name
        outcome.finished = outcome.started + sum(side.seconds.get(name, 0.0)
                                                 for side in (their_side, our_side))
        outcome.unchecked = outcome.unchecked and redact(outcome.unchecked, secrets)
        outcome.differences = [Difference(d.rule, redact(d.detail, secrets))
                               for d in outcome.differences]
    return outcomes
