"""Unit tests of the contract suite's parts: rate limiting, identity, strategies, rules,
drift keys and the runner's command line. (The suite as a whole: test_contract_mutants.)"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import jwt
import pytest
import requests
import yaml
from conftest import ACME, ADA, GLOBEX, RITA
from envoy_events_kit.contract_tests import client, runner, strategies
from envoy_events_kit.contract_tests.checks import RULES, Context, Exchange, RuleBroken, check_all
from envoy_events_kit.contract_tests.drift import DriftRecorder
from envoy_events_kit.contract_tests.target import Identity
from hypothesis import given, settings
from hypothesis import strategies as st

from envoy_events_kit import spec_path

SECRET = "x" * 32
ME = Identity(user_id=ADA, org_id=ACME, channels=(f"orders:{ACME}", f"shipments:{ACME}"))


# -- client ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "rate"), [("10/s", 10), ("600/m", 10), ("5", 5),
                                            ("7200/h", 2), ("0", 0), (" 2.5 / s ", 2.5)])
def test_parse_rate(text: str, rate: float) -> None:
    assert client.parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "fast", "10/d", "-1/s"])
def test_parse_rate_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        client.parse_rate(text)


def test_throttled_session_spaces_requests_and_sets_a_timeout(monkeypatch) -> None:
    clock, sleeps, sent = [100.0], [], []
    monkeypatch.setattr(client.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(client.time, "sleep", lambda s: (sleeps.append(s),
                                                         clock.__setitem__(0, clock[0] + s)))
    monkeypatch.setattr(requests.Session, "request",
                        lambda self, method, url, **kw: sent.append(kw["timeout"]))
    session = client.ThrottledSession(rate=4, timeout=7)
    for _ in range(3):
        session.get("http://127.0.0.1:1/")
    assert sleeps == [0.25, 0.25] and sent == [7, 7, 7]


# -- identity -------------------------------------------------------------------------------
def test_identity_from_connection_claims() -> None:
    me = Identity.from_claims({"sub": ADA, "channels": [f"shipments:{ACME}", f"orders:{ACME}"]})
    assert (me.user_id, me.org_id, me.namespaces) == (ADA, ACME, ("orders", "shipments"))
    assert Identity.from_claims({"sub": ADA, "channels": [], "info": {"org": GLOBEX}}
                                ).org_id == GLOBEX
    assert Identity.from_claims({"sub": ADA}).org_id is None


# -- strategies -----------------------------------------------------------------------------
def test_channel_grammar_is_the_specs() -> None:
    raw = yaml.safe_load(spec_path().read_text())
    assert raw["components"]["schemas"]["Channel"]["pattern"] == strategies.CHANNEL_PATTERN


@given(data=st.data())
@settings(max_examples=50, deadline=None)
def test_channel_strategies_keep_their_promises(data) -> None:
    own = data.draw(strategies.own_channels(ME))
    assert strategies.valid(own) and own.split(":")[0] in ME.namespaces
    assert "#" not in own or ADA in own.split("#")[1].split(",")
    foreign_user = data.draw(strategies.foreign_user_channels(ME))
    assert strategies.valid(foreign_user) and ADA not in foreign_user
    foreign_org = data.draw(strategies.foreign_org_channels(ME))
    assert strategies.valid(foreign_org) and ACME not in foreign_org
    ungranted = data.draw(strategies.ungranted_namespace_channels(ME))
    assert strategies.valid(ungranted) and ungranted.split(":")[0] not in ME.namespaces
    assert not strategies.valid(data.draw(strategies.malformed_channels(ME)))


def test_a_trailing_newline_is_not_a_valid_channel() -> None:
    assert not strategies.valid(f"shipments:{ACME}\n")


# -- rules ----------------------------------------------------------------------------------
def exchange(path: str, body: dict | bytes, status: int = 200, channel: str | None = None,
             token: str = "t", headers: dict | None = None) -> Exchange:
    request = requests.Request("GET", f"http://api{path}", headers={
        "Authorization": f"Bearer {token}"}, json={"channel": channel} if channel else None
    ).prepare()
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Exchange.from_prepared(request, status, headers or {
        "Content-Type": "application/json"}, content)


def token_exchange(claims: dict, path: str = "/events/subscription_token",
                   channel: str | None = None, algorithm: str = "HS256") -> Exchange:
    token = jwt.encode(claims, None if algorithm == "none" else SECRET, algorithm=algorithm)
    return exchange(path, {"token": token}, channel=channel)


CTX = Context(identities={"t": ME}, secret=SECRET)
#: Relative to today: a fixed instant would make the unfrozen checks fail once it passed.
NOW = int(time.time())
#: Long enough for the tests that judge `exp` by the real clock, however slow the run.
TTL = 3600
GOOD_SUB = {"sub": ADA, "channel": f"shipments:{ACME}#{ADA}", "iat": NOW, "exp": NOW + TTL}
GOOD_CONN = {"sub": ADA, "channels": list(ME.channels), "iat": NOW, "exp": NOW + TTL}


def test_good_tokens_keep_every_rule(monkeypatch) -> None:
    monkeypatch.setattr("envoy_events_kit.contract_tests.checks.time.time", lambda: NOW)
    check_all(token_exchange(GOOD_SUB, channel=GOOD_SUB["channel"]), CTX)
    check_all(token_exchange(GOOD_CONN, path="/events/connection_token"), CTX)


@pytest.mark.parametrize(("rule", "claims", "path", "algorithm"), [
    ("jwt-well-formed-hs256", GOOD_SUB, "/events/subscription_token", "none"),
    ("jwt-iat-exp", {**GOOD_SUB, "iat": NOW + TTL + 1}, "/events/subscription_token",
     "HS256"),
    ("jwt-iat-exp", {**GOOD_SUB, "iat": "soon"}, "/events/subscription_token", "HS256"),
    ("jwt-exp-in-future", {**GOOD_SUB, "exp": NOW - 60, "iat": NOW - 120},
     "/events/subscription_token", "HS256"),
    ("subscription-sub-is-caller", {**GOOD_SUB, "sub": RITA}, "/events/subscription_token",
     "HS256"),
    ("subscription-channel-is-requested", {**GOOD_SUB, "channel": f"shipments:{ACME}"},
     "/events/subscription_token", "HS256"),
    ("connection-sub-is-caller", {**GOOD_CONN, "sub": RITA}, "/events/connection_token",
     "HS256"),
    ("connection-channels-of-caller-org", {**GOOD_CONN, "channels": [f"orders:{GLOBEX}"]},
     "/events/connection_token", "HS256"),
    ("connection-channels-of-caller-org", {**GOOD_CONN, "channels": ["Orders"]},
     "/events/connection_token", "HS256"),
    ("connection-no-channel-claim", {**GOOD_CONN, "channel": f"orders:{ACME}"},
     "/events/connection_token", "HS256"),
])
def test_each_token_rule_catches_its_violation(monkeypatch, rule, claims, path,
                                               algorithm) -> None:
    monkeypatch.setattr("envoy_events_kit.contract_tests.checks.time.time", lambda: NOW)
    with pytest.raises(RuleBroken, match=f"^rule {rule}:"):
        RULES[rule](token_exchange(claims, path, GOOD_SUB["channel"], algorithm), CTX)


def test_signature_rule_needs_the_right_key() -> None:
    bad = jwt.encode(GOOD_SUB, "y" * 32, algorithm="HS256")
    with pytest.raises(RuleBroken, match="^rule jwt-signature:"):
        RULES["jwt-signature"](exchange("/events/subscription_token", {"token": bad}), CTX)
    RULES["jwt-signature"](exchange("/events/subscription_token", {"token": bad}),
                           Context(identities={}, secret=None))


def test_header_alg_none_is_refused_even_with_a_signature() -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    token = jwt.encode(GOOD_SUB, SECRET, algorithm="HS256").split(".")
    with pytest.raises(RuleBroken, match="jwt-well-formed-hs256"):
        RULES["jwt-well-formed-hs256"](exchange("/events/connection_token", {
            "token": ".".join([header, *token[1:]])}), CTX)


@pytest.mark.parametrize(("content", "kind"), [
    (b"nope", "text/plain"), (b'{"error": "nope"}', "application/json"),
    (b'{"error": {"code": "x", "message": ""}}', "application/json")])
def test_error_body_rule(content: bytes, kind: str) -> None:
    with pytest.raises(RuleBroken, match="^rule error-body-shape:"):
        RULES["error-body-shape"](exchange("/events/provision", content, 403,
                                           headers={"Content-Type": kind}), CTX)


def test_www_authenticate_rule() -> None:
    body = {"error": {"code": "unauthorized", "message": "no"}}
    with pytest.raises(RuleBroken, match="^rule unauthorized-www-authenticate:"):
        RULES["unauthorized-www-authenticate"](exchange("/events/provision", body, 401), CTX)
    RULES["unauthorized-www-authenticate"](exchange("/events/provision", body, 401, headers={
        "Content-Type": "application/json", "WWW-Authenticate": 'Bearer realm="x"'}), CTX)


# -- drift ----------------------------------------------------------------------------------
def test_every_row_of_the_drift_table_has_a_test() -> None:
    """Every x-assumed behaviour and realtime rule is exercised by a test of the suite (the
    events and their envelope by the mock-only ones), and every marker names a row."""
    keys = set(DriftRecorder().assumptions)
    used = set()
    for module in Path(client.__file__).parent.glob("test_*.py"):
        for args in re.findall(r"mark\.assumption\(([^)]*)\)", module.read_text()):
            used.update(re.findall(r'"([^"]+)"', args))
    assert used == keys


def test_drift_status() -> None:
    recorder = DriftRecorder()
    recorder.tests["Channel"] = {"a", "b"}
    recorder.outcomes = {"a": "passed", "b": "failed"}
    recorder.tests["Error"] = {"c"}
    recorder.outcomes["c"] = "passed"
    assert [recorder.status(k) for k in ("Channel", "Error", "Unauthorized")] == [
        "BROKEN", "held", "not checked"]


def _report(nodeid: str, when: str, outcome: str, longrepr=None, **extra) -> pytest.TestReport:
    return pytest.TestReport(nodeid, ("x.py", 1, nodeid), {}, outcome, longrepr, when, **extra)


def _recorded(*reports: pytest.TestReport, rows: dict[str, set[str]]) -> DriftRecorder:
    recorder = DriftRecorder()
    for key, nodeids in rows.items():
        recorder.tests[key] = nodeids
        recorder.covered.add(key)
    for report in reports:
        recorder.pytest_runtest_logreport(report)
    return recorder


def test_an_error_in_setup_or_teardown_makes_the_row_broken() -> None:
    """A fixture that fails is a failure of the rows its test exercises, not silence."""
    recorder = _recorded(
        _report("setup-error", "setup", "failed", "E fixture broke"),
        _report("teardown-error", "setup", "passed"),
        _report("teardown-error", "call", "passed"),
        _report("teardown-error", "teardown", "failed", "E teardown broke"),
        _report("fine", "setup", "passed"), _report("fine", "call", "passed"),
        _report("fine", "teardown", "passed"),
        rows={"Channel": {"setup-error"}, "Error": {"teardown-error"},
              "Unauthorized": {"fine"}})
    assert [recorder.status(k) for k in ("Channel", "Error", "Unauthorized")] == [
        "BROKEN", "BROKEN", "held"]


def test_a_broken_rule_is_blamed_on_its_row_alone() -> None:
    """A test of two rows that fails on one rule: that row BROKEN, the other not checked,
    saying which rule failed (one cause, one red row)."""
    recorder = _recorded(
        _report("both", "call", "failed", "rule realtime-connect: no",
                blamed_rows=["realtime-connect"]),
        rows={"realtime-connect": {"both"}, "realtime-subscriptions": {"both"}})
    rows = {row.key: row for row in recorder.rows()}
    assert rows["realtime-connect"].status == "BROKEN"
    assert (rows["realtime-subscriptions"].status,
            rows["realtime-subscriptions"].reason) == ("not checked", "realtime-connect failed")


def test_skips_give_the_reason_and_mock_only_rows_leave_a_deployments_table() -> None:
    recorder = _recorded(
        _report("a", "setup", "skipped", ("x.py", 1, "Skipped: not destructive: give the "
                                          "flag")),
        _report("b", "setup", "skipped", ("x.py", 1, "Skipped: mock only: no control API")),
        rows={"NotProvisioned": {"a", "b"}, "EventEnvelope": {"b"}})
    recorder.mock_only = {"EventEnvelope"}
    rows = {row.key: row for row in recorder.rows()}
    # The reason a person can act on comes first.
    assert rows["NotProvisioned"].reason == "not destructive"
    assert rows["NotProvisioned"].detail == "not destructive: give the flag"
    assert rows["EventEnvelope"].mock_only and rows["EventEnvelope"].reason == "mock only"
    assert "EventEnvelope" in {r.key for r in recorder.shown_rows()}
    recorder.deployment = True
    assert "EventEnvelope" not in {r.key for r in recorder.shown_rows()}
    assert "x-assumed EventEnvelope" not in dict(recorder.properties())
    assert rows["Unauthorized"].reason == "no test"


def test_each_spec_row_is_one_promise() -> None:
    """Deprovision's realtime and webhook promises are two rows, each with its own test."""
    keys = DriftRecorder().assumptions
    assert "webhook" not in keys["deprovisionEvents x-realtime"]
    assert "webhook deliveries" in keys["deprovisionEvents x-webhooks"]


# -- runner ---------------------------------------------------------------------------------
def test_runner_keeps_secrets_off_the_command_line() -> None:
    args = runner.pytest_args(base_url="http://x", allow_destructive=True, max_examples=3,
                              rate_limit="5/s", timeout=2.0, junit_xml="r.xml", extra=["-q"])
    assert args[:2] == ["--pyargs", "envoy_events_kit.contract_tests"] and args[-1] == "-q"
    assert {"--events-allow-destructive", "--events-base-url", "--junit-xml"} <= set(args)
    env = runner.secret_env({"token": "T", "admin_token": None, "expired_token": "E",
                             "jwt_secret": "S"})
    assert env == {"ENVOY_EVENTS_TOKEN": "T", "ENVOY_EVENTS_EXPIRED_TOKEN": "E",
                   "ENVOY_EVENTS_JWT_SECRET": "S"}


def test_a_204_with_a_body_breaks_no_content_has_no_body() -> None:
    check_all(exchange("/events/provision", b"", status=204, headers={}), CTX)
    with pytest.raises(RuleBroken, match="rule no-content-has-no-body"):
        check_all(exchange("/events/provision", {"provisioned": True}, status=204), CTX)


def test_a_claim_the_spec_lacks_breaks_jwt_claims_schema() -> None:
    check_all(token_exchange(GOOD_SUB, channel=GOOD_SUB["channel"]), CTX)
    with pytest.raises(RuleBroken, match="rule jwt-claims-schema"):
        check_all(token_exchange({**GOOD_SUB, "scope": "x"}, channel=GOOD_SUB["channel"]), CTX)


# -- redaction ------------------------------------------------------------------------------
def test_redaction_hides_known_secrets_and_whatever_looks_like_one() -> None:
    from envoy_events_kit.redaction import Redactor

    token = jwt.encode(GOOD_CONN, SECRET, algorithm="HS256")
    head, signature = token[:70], token[-60:]
    redact = Redactor(["dev-admin-acme-5d1f0c2b7a9e4c31", None, ""])
    text = redact(
        f"token = '{token}'\n"
        f"token = '{head}...{signature}'\n"  # as pytest's saferepr shortens it
        "Authorization: Bearer dev-admin-acme-5d1f0c2b7a9e4c31, X-API-Key: k3y-0123456789\n"
        "secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw and apikey abcdef123456\n"
        "WWW-Authenticate: Bearer realm=\"envoy-events\"; no bearer token here")
    assert SECRET not in text and "eyJ" not in text and signature[-20:] not in text
    assert "5d1f0c2b7a9e4c31" not in text and "k3y-0123456789" not in text
    assert "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" not in text and "abcdef123456" not in text
    assert text.count("[redacted JWT]") == 2
    # Prose and the scheme's own parameters stay readable.
    assert 'Bearer realm="envoy-events"; no bearer token here' in text
