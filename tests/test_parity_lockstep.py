"""The parity run replays the contract suite's own sequences in lockstep: Schemathesis cases
of every operation (positive and negative) and the organisation model's walks go to both
sides, the same request each time, and a bug that only a generated case or a sequence of
steps shows is found and named.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import requests
from broken_servers.base import (
    ADMIN,
    CONNECTION,
    DEPROVISION,
    EXPIRED,
    PROVISION,
    SUBSCRIPTION,
    Broken,
    error,
)
from envoy_events_kit.contract_tests.client import ThrottledSession
from envoy_events_kit.contract_tests.target import Identity
from envoy_events_kit.mock_server import MockServer, create_app
from werkzeug.wrappers import Request, Response

from envoy_events_kit.parity import ParityOptions, run
from envoy_events_kit.parity.lockstep import Sides, ask_schemathesis, ask_walks
from envoy_events_kit.parity.mirror import ADMIN as ADMIN_ROLE
from envoy_events_kit.parity.mirror import CALLER, Mirror, Principal
from envoy_events_kit.parity.report import markdown, summary
from tests.served import serve

ORG = "org_" + "L" * 27
ME = Identity("usr_" + "M" * 27, ORG, (f"shipments:{ORG}", f"orders:{ORG}"))


class Recorder:
    """A WSGI app that answers 200 `{}` and records what it was asked."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes, str]] = []

    def __call__(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        self.seen.append((request.path, request.query_string.decode(), request.get_data(),
                          request.headers.get("Authorization", "")))
        return Response(json.dumps({}), 200, content_type="application/json")(
            environ, start_response)


class FakeTarget:
    """What `Sides` needs of a target: its URL and its session (the suite's rate-limited
    one, which counts what it sends)."""

    def __init__(self, base_url: str) -> None:
        self.base_url, self.session = base_url, ThrottledSession(rate=1000)


@pytest.fixture
def two_recorders():
    target, mock = Recorder(), Recorder()
    served = [serve(target), serve(mock)]
    sides = Sides(FakeTarget(served[0].url), served[1].url, requests.Session(),
                  {CALLER: "target-caller-token", ADMIN_ROLE: "target-admin-token"},
                  {CALLER: "mock-caller-token", ADMIN_ROLE: "mock-admin-token"}, [], 10.0)
    try:
        yield sides, target, mock
    finally:
        for one in served:
            one.stop()


def without_credentials(seen: list[tuple[str, str, bytes, str]]) -> list[tuple[str, ...]]:
    """What each side was sent, with its own token replaced by the role it stands for."""
    return [(path, query, body.decode("utf-8", "replace"),
             auth.replace("target-", "").replace("mock-", "")) for path, query, body, auth in seen]


def test_schemathesis_cases_reach_both_sides_alike(two_recorders) -> None:
    sides, target, mock = two_recorders
    outcomes = list(ask_schemathesis(sides, examples=5))
    assert outcomes and all(not o.unchecked and not o.differences for o in outcomes)
    assert without_credentials(target.seen) == without_credentials(mock.seen)
    # Every request to the target went through the rate-limited session.
    assert sides.target.session.sent == len(target.seen)
    # Each side got its own token, never the other's.
    assert {auth for *_, auth in target.seen} == {"Bearer target-caller-token"}
    assert {auth for *_, auth in mock.seen} == {"Bearer mock-caller-token"}
    kinds = Counter(o.probe.variant.rsplit(" ", 1)[0] for o in outcomes)
    assert kinds["getSubscriptionToken, positive"] >= 3
    assert kinds["getSubscriptionToken, negative"] >= 3
    assert kinds["getConnectionToken, positive"] >= 1
    # GET bodies go out as the suite generates them (the documented JSON body).
    assert any(path == SUBSCRIPTION and body for path, _, body, _ in target.seen)
    # Read-only: no provisioning operation.
    assert not {PROVISION, DEPROVISION} & {path for path, *_ in target.seen}


def test_provisioning_cases_only_when_destructive_and_each_deprovision_is_undone(
        two_recorders) -> None:
    sides, target, mock = two_recorders
    outcomes = list(ask_schemathesis(sides, examples=3, admin=True))
    paths = [path for path, *_ in target.seen]
    assert set(paths) == {PROVISION, DEPROVISION}
    assert paths[-1] == PROVISION and paths.count(PROVISION) >= paths.count(DEPROVISION)
    assert all(o.probe.destructive for o in outcomes)
    assert {auth for *_, auth in target.seen} == {"Bearer target-admin-token"}
    assert without_credentials(target.seen) == without_credentials(mock.seen)


def test_walks_reach_both_sides_alike_and_end_provisioned(two_recorders) -> None:
    sides, target, mock = two_recorders
    mirror = Mirror("http://target", Principal(CALLER, ME), Principal(ADMIN_ROLE, ME, True))
    outcomes = ask_walks(sides, mirror, walks=10, steps=12)
    assert without_credentials(target.seen) == without_credentials(mock.seen)
    assert sides.target.session.sent == len(target.seen)
    names = [o.probe.name for o in outcomes]
    assert any("scripted walk" in n for n in names)
    paths = Counter(path for path, *_ in target.seen)
    # The walks mix the model's every step, not one rule over and over.
    assert all(paths[p] >= 3 for p in (PROVISION, DEPROVISION, CONNECTION, SUBSCRIPTION)), paths
    assert target.seen[-1][0] == PROVISION


def test_the_same_steps_on_every_run(two_recorders) -> None:
    sides, target, _ = two_recorders
    mirror = Mirror("http://target", Principal(CALLER, ME), Principal(ADMIN_ROLE, ME, True))
    first = [*ask_schemathesis(sides, 4), *ask_walks(sides, mirror, 4, 6)]
    sent_first, target.seen[:] = list(target.seen), []
    second = [*ask_schemathesis(sides, 4), *ask_walks(sides, mirror, 4, 6)]
    assert [o.probe.name for o in first] == [o.probe.name for o in second]
    assert sent_first == target.seen


# -- bugs only the lockstep sequences show ------------------------------------------------

class ExtraKeyCrashes(Broken):
    """A subscription body with any key besides `channel` crashes it: the fixed probes
    never send one; Schemathesis' positive cases do (the schema allows more keys)."""

    breaks = "answers 500 to a subscription body with a key besides channel"

    def handle(self, request: Request) -> Response:
        if request.path == SUBSCRIPTION:
            body = request.get_json(silent=True)
            if isinstance(body, dict) and set(body) - {"channel"}:
                return error(500, "internal", "unexpected key")
        return self.forward(request)


class OneComebackOnly(Broken):
    """Provisioning gives tokens back after the first deprovision only: the fixed probes
    turn the organisation off once; the suite's cases and walks do it again."""

    breaks = "after a second deprovision, provisioning no longer gives tokens back"

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.cycles = 0

    def handle(self, request: Request) -> Response:
        if request.path == DEPROVISION:
            was_on = self.caller(request) is not None  # its connection token: on
            response = self.forward(request)
            self.cycles += bool(was_on and response.status_code == 204)
            return response
        response = self.forward(request)
        if request.path == PROVISION and response.status_code == 204 and self.cycles >= 2:
            self.forward(Request(dict(request.environ, PATH_INFO=DEPROVISION)))
        return response


def parity_against(broken: type[Broken], **extra: Any) -> Any:
    served = serve(broken(create_app({"clock": "real"})))
    try:
        options = ParityOptions(base_url=served.url, token=ADMIN, admin_token=ADMIN,
                                expired_token=EXPIRED, allow_destructive=True, **extra)
        return run(options, echo=lambda _: None), options
    finally:
        served.stop()


@pytest.mark.parametrize("broken, rule, step", [
    (ExtraKeyCrashes, "status", "schemathesis [getSubscriptionToken, positive"),
    (OneComebackOnly, "status", "connection-token-200 ["),
])
def test_a_bug_only_the_suites_sequences_show_is_found(broken, rule: str, step: str) -> None:
    result, options = parity_against(broken, examples=5, walks=10)
    assert result.exit_code == 1, summary(result, options)
    found = result.by_rule().get(rule, [])
    assert any(key.startswith(step) and ("walk" in key or "schemathesis" in key)
               for key, _, _ in found), summary(result, options)
    # Without the suite's generated cases and walks, the fixed probes miss it.
    without, _ = parity_against(broken, examples=0, walks=0)
    assert without.exit_code == 0, summary(without, options)


def test_the_summary_counts_what_was_asked_by_kind() -> None:
    with MockServer({"clock": "real"}) as mock:
        options = ParityOptions(base_url=mock.url, token=ADMIN, admin_token=ADMIN,
                                allow_destructive=True, examples=2, walks=2)
        result = run(options, echo=lambda _: None)
    kinds = Counter(o.probe.kind for o in result.outcomes)
    assert set(kinds) == {"fixed requests", "generated channels", "Schemathesis cases",
                          "stateful walk steps"}
    for text in (summary(result, options), markdown(result, options)):
        assert f"{kinds['Schemathesis cases']} Schemathesis cases" in text
        assert f"{kinds['stateful walk steps']} stateful walk steps" in text


def test_without_the_contract_extra_the_run_says_what_it_did_not_ask_and_is_not_green(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Hypothesis and Schemathesis missing (the kit installed without its contract extra):
    the fixed requests still go out, but the run cannot say the two agree."""
    from envoy_events_kit.parity import runner
    from envoy_events_kit.parity.report import write_reports

    monkeypatch.setattr(runner, "generated_probes", lambda mirror, count: None)
    with MockServer({"clock": "real"}) as mock:
        options = ParityOptions(base_url=mock.url, token=ADMIN)
        result = run(options, echo=lambda _: None)
        asked_for_none = run(ParityOptions(base_url=mock.url, token=ADMIN, examples=0),
                             echo=lambda _: None)
    assert result.outcomes and result.differences == 0
    assert result.exit_code == 3, summary(result, options)
    assert "envoy-events-kit[contract]" in summary(result, options)
    write_reports(result, options, tmp_path)
    text = (tmp_path / "summary.md").read_text()
    assert "COULD NOT CHECK (exit 3)" in text and "Not asked" in text
    assert asked_for_none.exit_code == 0, summary(asked_for_none, options)
