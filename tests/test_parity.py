"""The parity run (`envoy-events parity`): the mock against a mock that mirrors it agrees;
each broken server differs from its mirror, and the difference names the rule and request.

Runs go in-process through `envoy_events_kit.parity.run` (the command's own function); the
command itself is run for its exit codes, reports and fixtures file.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from broken_servers import MUTANTS
from broken_servers.base import ADMIN, EXPIRED, Broken
from envoy_events_kit.mock_server import MockServer, create_app

from envoy_events_kit.net import free_port
from envoy_events_kit.parity import ParityOptions, run
from envoy_events_kit.parity.report import markdown, summary, write_reports
from tests.conftest import ACME, ADA, GLOBEX, OTHER_ORG, READER, RITA
from tests.served import serve

ENVOY_EVENTS = Path(sys.executable).parent / "envoy-events"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
SECRETS = (ADMIN, READER, EXPIRED, OTHER_ORG)


def destructive(url: str, token: str = ADMIN, **extra: Any) -> ParityOptions:
    extra.setdefault("examples", 3)
    return ParityOptions(base_url=url, token=token, admin_token=ADMIN, expired_token=EXPIRED,
                         allow_destructive=True, **extra)


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Written reports append to $GITHUB_STEP_SUMMARY: not to this CI job's own page."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture
def mock():
    with MockServer({"clock": "real"}) as server:
        yield server


def journal(url: str) -> list[str]:
    return [e["operation_id"] for e in requests.get(f"{url}/__mock__/journal",
                                                    timeout=10).json()["entries"]]


# -- against the mock itself: no difference ---------------------------------------------

def test_read_only_run_against_the_mock_agrees_and_never_provisions(mock) -> None:
    result = run(ParityOptions(base_url=mock.url, token=ADMIN), echo=lambda _: None)
    assert result.exit_code == 0, summary(result, ParityOptions(mock.url, ADMIN))
    assert result.differences == 0 and len(result.outcomes) >= 30
    assert not {"provisionEvents", "deprovisionEvents"} & set(journal(mock.url))
    assert result.assumptions()["getSubscriptionToken ?channel="] == "confirmed"
    assert result.assumptions()["NotProvisioned"] == "not checked"
    generated = [o.probe for o in result.outcomes if o.probe.variant.startswith("generated")]
    assert len(generated) == 50  # 10 per kind, Hypothesis-drawn for this caller


def test_generated_requests_are_the_same_on_every_run(mock) -> None:
    from envoy_events_kit.parity.generated import generated_probes

    result = run(ParityOptions(base_url=mock.url, token=READER, examples=0),
                 echo=lambda _: None)
    assert result.exit_code == 0 and result.mirror is not None
    first = generated_probes(result.mirror, 6)
    assert first == generated_probes(result.mirror, 6) and len(first) == 30
    kinds = {p.rule for p in first}
    assert kinds == {"channel-own-granted", "channel-foreign-user-403",
                     "channel-foreign-org-403", "channel-ungranted-namespace-403",
                     "channel-malformed-400"}
    assert {p.body is None for p in first} == {True, False}  # both forms


def test_destructive_run_against_the_mock_agrees_and_leaves_it_as_found(mock) -> None:
    before = requests.get(f"{mock.url}/__mock__/state", timeout=10).json()
    options = destructive(mock.url, token=READER)
    result = run(options, echo=lambda _: None)
    assert result.exit_code == 0, summary(result, options)
    assert any(o.probe.destructive for o in result.outcomes)
    assert {"provisionEvents", "deprovisionEvents"} <= set(journal(mock.url))
    after = requests.get(f"{mock.url}/__mock__/state", timeout=10).json()
    assert after["organisations"] == before["organisations"]
    verdicts = result.assumptions()
    assert verdicts["NotProvisioned"] == verdicts["MissingAdminScope"] == "confirmed"


def test_an_unprovisioned_organisation_is_compared_as_found_and_left_so(mock) -> None:
    options = ParityOptions(base_url=mock.url, token=OTHER_ORG, admin_token=OTHER_ORG,
                            allow_destructive=True)
    result = run(options, echo=lambda _: None)
    assert result.exit_code == 0, summary(result, options)
    assert result.mirror is not None and result.mirror.provisioned is False
    statuses = [o for o in result.outcomes if o.probe.rule == "channel-own-granted"]
    assert statuses  # compared while unprovisioned: both sides said 409
    state = requests.get(f"{mock.url}/__mock__/state", timeout=10).json()
    assert next(o for o in state["organisations"] if o["id"] == GLOBEX)["provisioned"] is False


def test_read_only_run_refuses_an_unprovisioned_organisation(mock) -> None:
    result = run(ParityOptions(base_url=mock.url, token=OTHER_ORG), echo=lambda _: None)
    assert result.exit_code == 3
    assert "not provisioned (409)" in result.stopped and "--admin-token" in result.stopped


def test_written_fixtures_make_the_mock_answer_as_the_target(mock, tmp_path: Path) -> None:
    path = tmp_path / "mirror.yaml"
    options = ParityOptions(base_url=mock.url, token=READER, write_fixtures=path)
    assert run(options, echo=lambda _: None).exit_code == 0
    text = path.read_text()
    for secret in SECRETS:
        assert secret not in text  # generated tokens only
    fixtures = yaml.safe_load(text)
    caller = fixtures["tokens"]["caller"]
    assert caller["user"] == RITA and fixtures["users"][RITA]["organisation"] == ACME
    assert fixtures["organisations"][ACME]["provisioned"] is True
    # The file serves: the caller's fixture token gets the target's claims.
    mirrored = create_app({"fixtures_path": path}).test_client()
    ours = mirrored.get("/events/connection_token",
                        headers={"Authorization": f"Bearer {caller['token']}"}).get_json()
    theirs = requests.get(f"{mock.url}/events/connection_token", timeout=10,
                          headers={"Authorization": f"Bearer {READER}"}).json()
    claims = [_claims(t["token"]) for t in (ours, theirs)]
    for c in claims:
        c.pop("iat"), c.pop("exp")
    assert claims[0] == claims[1] == {"sub": RITA, "channels": [f"shipments:{ACME}"],
                                      "info": {"org": ACME}}


def _claims(token: str) -> dict[str, Any]:
    import jwt

    return jwt.decode(token, options={"verify_signature": False})


def test_a_conforming_server_that_is_not_the_mock_agrees() -> None:
    """Through a plain forwarding server (the broken servers' base): same, 0 differences."""
    served = serve(Broken(create_app({"clock": "real"})))
    try:
        options = destructive(served.url)
        result = run(options, echo=lambda _: None)
        assert result.exit_code == 0, summary(result, options)
    finally:
        served.stop()


# -- against broken servers: each difference found and named ------------------------------

#: Broken server -> (difference rule, the probe that shows it). Not here: signs-with-another-
#: key (signatures are each side's own), deprovision-keeps-webhooks (not visible through the
#: events API) and provision-without-admin-scope (the mirror learns the caller's right to
#: provision from the target itself).
PARITY_CATCHES = {
    "grants-other-users-channel": ("status", "channel-foreign-user-403"),
    "grants-other-orgs-channel": ("status", "channel-foreign-org-403"),
    "grants-ungranted-namespace": ("status", "channel-ungranted-namespace-403"),
    "skips-auth": ("status", "auth-required-401"),
    "accepts-expired-token": ("status", "expired-token-401"),
    "signs-alg-none": ("token-header", "connection-token-200"),
    "wrong-subscription-sub": ("token-claims", "channel-own-granted"),
    "wrong-channel-claim": ("token-claims", "channel-own-granted"),
    "exp-in-the-past": ("token-times", "connection-token-200"),
    "iat-after-exp": ("token-lifetime", "connection-token-200"),
    "connection-channel-claim": ("token-claims", "connection-token-200"),
    "connection-foreign-channel": ("token-claims", "connection-token-200"),
    "subscription-extra-claim": ("token-claims", "channel-own-granted"),
    "500-on-bad-body": ("status", "subscription-bad-body-400"),
    "non-json-errors": ("content-type", "auth-required-401"),
    "401-instead-of-403": ("status", "channel-foreign-org-403"),
    "ignores-json-body": ("status", "channel-own-granted"),
    "accepts-disagreeing-query": ("status", "subscription-body-query-disagree-400"),
    "tokens-while-unprovisioned": ("status", "not-provisioned-409"),
    "provision-answers-200": ("status", "provision-204"),
    "401-without-www-authenticate": ("www-authenticate", "auth-required-401"),
    "malformed-channel-403": ("status", "channel-malformed-400"),
}


@pytest.fixture(scope="module")
def broken_results() -> dict[str, Any]:
    results = {}
    for name in PARITY_CATCHES:
        served = serve(MUTANTS[name](create_app({"clock": "real"})))
        try:
            options = destructive(served.url)
            results[name] = (run(options, echo=lambda _: None), options)
        finally:
            served.stop()
    return results


@pytest.mark.parametrize("name", sorted(PARITY_CATCHES))
def test_parity_finds_and_names_the_difference(broken_results, name: str) -> None:
    result, options = broken_results[name]
    rule, probe = PARITY_CATCHES[name]
    assert result.exit_code == 1, summary(result, options)
    grouped = result.by_rule()
    assert rule in grouped, f"{name} ({MUTANTS[name].breaks}): {summary(result, options)}"
    assert any(key.startswith(probe) for key, _, _ in grouped[rule]), grouped[rule]


def test_reports_show_requests_but_never_a_token(broken_results, tmp_path: Path) -> None:
    result, options = broken_results["grants-other-orgs-channel"]
    text = summary(result, options) + markdown(result, options)
    for path in write_reports(result, options, tmp_path):
        text += path.read_text()
    assert re.search(r'GET /events/subscription_token body \{"channel": "[a-z]+:org_2PARITY', text)
    assert "Authorization: Bearer [redacted]" in text
    for secret in SECRETS:
        assert secret not in text
    assert not JWT.search(text)
    junit = (tmp_path / "junit.xml").read_text()
    assert '<property name="x-assumed Error" value="held" />' in junit  # a 200, not a shape
    assert re.search(r'name="channel-foreign-org-403 \[org channel\]" time="[0-9.]+"><failure',
                     junit)


def test_each_difference_is_reported_once_with_a_count(broken_results) -> None:
    result, _ = broken_results["skips-auth"]
    entries = result.by_rule()["status"]
    keys = [key for key, _, _ in entries]
    assert len(keys) == len(set(keys))
    assert any(key.startswith("auth-required-401 [none]: target 200, mock 401")
               for key in keys)


# -- the command ------------------------------------------------------------------------

def parity_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ENVOY_EVENTS), "parity", *args], capture_output=True,
                          text=True, timeout=300)


def test_cli_exit_1_with_reports_and_fixtures(tmp_path: Path) -> None:
    served = serve(MUTANTS["grants-other-users-channel"](create_app({"clock": "real"})))
    try:
        done = parity_cli("--base-url", served.url, "--token", ADMIN, "--report",
                          str(tmp_path / "out"), "--write-fixtures", str(tmp_path / "f.yaml"))
    finally:
        served.stop()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "channel-foreign-user-403 [body]: target 200, mock 403" in done.stdout
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "summary.md", "report.json", "junit.xml"}
    assert yaml.safe_load((tmp_path / "f.yaml").read_text())["tokens"]["caller"]["user"] == ADA
    assert ADMIN not in done.stdout + done.stderr


def test_cli_exit_3_when_the_target_cannot_be_checked() -> None:
    done = parity_cli("--base-url", f"http://127.0.0.1:{free_port()}", "--token", ADMIN)
    assert done.returncode == 3 and "is unreachable" in done.stdout
    with MockServer({"clock": "real"}) as server:
        done = parity_cli("--base-url", server.url, "--token", "not-a-real-token-123")
    assert done.returncode == 3 and "was refused (401)" in done.stdout
    assert "not-a-real-token-123" not in done.stdout + done.stderr


def test_cli_destructive_needs_an_admin_token() -> None:
    done = parity_cli("--base-url", "http://127.0.0.1:1", "--token", ADMIN,
                      "--allow-destructive")
    assert done.returncode == 2 and "--allow-destructive needs --admin-token" in done.stderr


def test_the_foreign_ids_of_the_probes_are_valid_ids() -> None:
    """A probe for another user's or organisation's channel must be refused for that reason
    (403), not for a malformed id (400)."""
    from envoy_events_kit.mock_server.spec import Spec, first_error

    from envoy_events_kit import spec_path
    from envoy_events_kit.parity.probes import OTHER_ORG as FOREIGN_ORG
    from envoy_events_kit.parity.probes import OTHER_USER as FOREIGN_USER

    spec = Spec(spec_path())
    assert first_error(spec.component("OrganisationId"), FOREIGN_ORG) is None
    assert first_error(spec.component("UserId"), FOREIGN_USER) is None


def test_claim_arrays_are_compared_without_order() -> None:
    """The order of `channels` is not in the spec; their set is."""
    import jwt

    from envoy_events_kit.parity.compare import Answer, compare

    def answer(channels: list[str]) -> Answer:
        token = jwt.encode({"sub": ADA, "channels": channels, "iat": 1, "exp": 2}, "k" * 32)
        return Answer(200, "application/json", b'{"token": "%s"}' % token.encode(), False, 0)

    a, b = f"orders:{ACME}", f"shipments:{ACME}"
    assert compare("getConnectionToken", answer([a, b]), answer([b, a])) == []
    differences = compare("getConnectionToken", answer([a, b]), answer([a]))
    assert [d.rule for d in differences] == ["token-claims"]
