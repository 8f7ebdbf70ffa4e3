"""The validating proxy (`envoy-events proxy`): silent in front of the mock, loud in front of
the kit's broken servers, transparent either way.

In front of the mock it must find nothing over the README's curl walk-through (run with
curl, the GET body included) and the token fetches of the README's and docs/realtime.md's
browser snippets (run with Node). In front of each broken server it must find and name the
broken rule. What goes upstream must be what the client sent.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from broken_servers import MUTANTS
from broken_servers.base import ADMIN, DEV_SECRET, EXPIRED, Broken
from envoy_events_kit.mock_server import MockServer, create_app
from werkzeug.wrappers import Request, Response

from envoy_events_kit.proxy import ProxyApp, ProxyServer, Validator
from tests.conftest import ACME, ADA, READER, RITA
from tests.served import serve

ROOT = Path(__file__).resolve().parent.parent
ENVOY_EVENTS = Path(sys.executable).parent / "envoy-events"
SUBSCRIPTION = "/events/subscription_token"
CONNECTION = "/events/connection_token"
OWN = f"shipments:{ACME}#{ADA}"
JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Written reports append to $GITHUB_STEP_SUMMARY: not to this CI job's own page."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


class Recorder(Broken):
    """A conforming server that remembers what reached it (to prove the proxy forwards
    requests unchanged)."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.seen: list[dict[str, Any]] = []

    def handle(self, request: Request) -> Response:
        self.seen.append({"method": request.method, "path": request.path,
                          "query": request.query_string.decode(), "body": request.get_data(),
                          "authorization": request.headers.get("Authorization"),
                          "host": request.headers.get("Host")})
        return self.forward(request)


def proxied(upstream_url: str, **options: Any) -> ProxyServer:
    return ProxyServer(ProxyApp(upstream_url, **options)).start()


@pytest.fixture(params=[False, True], ids=["proxy", "proxy --compare-mock"])
def recorded(request: pytest.FixtureRequest):
    """The mock (real clock), wrapped by a recorder, behind a proxy (also comparing its
    answers with a mirrored mock's: none may differ)."""
    recorder = Recorder(create_app({"clock": "real"}))
    served = serve(recorder)
    proxy = proxied(served.url, compare_mock=request.param)
    try:
        yield proxy, recorder, served
    finally:
        proxy.stop()
        served.stop()


def report(proxy: ProxyServer) -> dict[str, Any]:
    answer = requests.get(f"{proxy.url}/__proxy__/report", timeout=10)
    assert answer.status_code == 200
    data = answer.json()
    if proxy.app.mirror is not None:
        assert data["difference_count"] == 0, data["differences"]
    return data


def violation_rules(data: dict[str, Any]) -> set[str]:
    return {v["rule"] for v in data["violations"]}


# -- in front of the mock: nothing to report ---------------------------------------------

def _readme_block(after: str, fence: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(fence, text.index(after))
    return text[start + len(fence): text.index("```", start + len(fence))]


def test_readme_curl_walkthrough_through_the_proxy_has_no_violation(recorded) -> None:
    proxy, recorder, _ = recorded
    script = _readme_block("## Walk-through with curl", "```sh\n")
    assert "--request GET" in script and "--data '{\"channel\"" in script  # the GET body
    script = script.replace("URL=http://127.0.0.1:8080", f"URL={proxy.url}")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    calls = sum(1 for line in script.splitlines() if line.strip().startswith("curl "))
    data = report(proxy)
    assert data["requests"] == calls == len(recorder.seen)
    control = sum(1 for seen in recorder.seen if seen["path"].startswith("/__mock__/"))
    assert data["judged"] == calls - control and data["not_in_spec"] == control
    assert data["violation_count"] == 0, data["violations"]
    if proxy.app.mirror is not None:  # the admin's calls, deprovision and provision included
        assert data["compared_with_mock"] >= 8
    # The walk-through's deliberate mistakes are the client's, not the server's.
    assert {p["rule"] for p in data["request_problems"]} == {
        "request-no-bearer", "request-query-400"}
    # The documented form reached the mock as sent: a JSON body on a GET, Authorization as is.
    with_body = [s for s in recorder.seen if s["method"] == "GET" and s["body"]]
    assert len(with_body) == 1
    assert json.loads(with_body[0]["body"]) == {"channel": OWN}
    assert with_body[0]["authorization"] == f"Bearer {ADMIN}"
    assert '{"token":"eyJ' in done.stdout  # and the mock answered it with a token


def _node(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "snippet.mjs"
    path.write_text(script)
    return subprocess.run(["node", str(path)], capture_output=True, text=True, timeout=60)


def test_readme_fetch_snippet_through_the_proxy(recorded, tmp_path: Path) -> None:
    proxy, recorder, _ = recorded
    snippet = _readme_block("The same with `fetch()`", "```js\n")
    snippet = snippet.replace('const MOCK = "http://127.0.0.1:8080";',
                              f'const MOCK = "{proxy.url}";')
    assert proxy.url in snippet
    done = _node(snippet, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "connectionToken" in done.stdout and "subscriptionToken" in done.stdout
    data = report(proxy)
    assert data["judged"] == 2 and data["violation_count"] == 0, data
    assert data["request_problem_count"] == 0
    assert [s["path"] for s in recorder.seen] == [CONNECTION, SUBSCRIPTION]


def test_realtime_doc_snippet_token_fetches_through_the_proxy(recorded, tmp_path: Path) -> None:
    """docs/realtime.md's `api` helper and both `getToken` functions, as the page runs them."""
    proxy, recorder, _ = recorded
    text = (ROOT / "docs" / "realtime.md").read_text()
    block = text[text.index("```js\n", text.index("## In the browser")):]
    block = block[: block.index("```", 6)]
    helper = block[block.index("const MOCK"): block.index("const { realtime }")]
    helper = helper.replace("'http://127.0.0.1:8080'", f"'{proxy.url}'")
    getters = re.findall(r"getToken: (.*?),\n", block)
    mine = re.search(r"const mine = .*?;\n", block).group(0)
    assert len(getters) == 2 and proxy.url in helper
    script = ("class UnauthorizedError extends Error {}\n" + helper + mine
              + f"const getters = [{', '.join(getters)}];\n"
              + "for (const get of getters) console.log(await get({ channel: mine }));\n")
    done = _node(script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(JWT.findall(done.stdout)) == 2
    data = report(proxy)
    assert data["judged"] == 2 and data["violation_count"] == 0, data
    assert recorder.seen[1]["query"] == "channel=" + OWN.replace(":", "%3A").replace("#", "%23")


def test_browser_preflight_and_cors_pass_through(recorded) -> None:
    proxy, _, _ = recorded
    origin = "http://localhost:5173"
    preflight = requests.options(f"{proxy.url}{SUBSCRIPTION}", headers={
        "Origin": origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"}, timeout=10)
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    answer = requests.get(f"{proxy.url}{CONNECTION}", headers={"Origin": origin}, timeout=10)
    assert answer.status_code == 401 and answer.headers["Access-Control-Allow-Origin"] == origin
    # A finding is readable by the page's script: the proxy adds its header to the exposed ones.
    exposed = answer.headers["Access-Control-Expose-Headers"].lower()
    assert "www-authenticate" in exposed and "x-contract-request-problems" in exposed
    assert answer.headers["x-contract-request-problems"] == "1; request-no-bearer"
    assert report(proxy)["not_in_spec"] == 1  # the preflight is forwarded, not judged


def test_requests_go_upstream_unchanged(recorded) -> None:
    proxy, recorder, served = recorded
    body = json.dumps({"channel": OWN}).encode()
    answer = requests.request("GET", f"{proxy.url}{SUBSCRIPTION}?channel={OWN.replace('#', '%23')}",
                              data=body, headers={"Authorization": f"Bearer  {ADMIN}",
                                                  "Content-Type": "application/json"},
                              timeout=10)
    assert answer.status_code == 200 and "x-contract-violations" not in answer.headers
    seen = recorder.seen[-1]
    assert seen["method"] == "GET" and seen["body"] == body
    assert seen["authorization"] == f"Bearer  {ADMIN}"  # byte for byte, inner spaces too
    assert seen["host"] == served.url.removeprefix("http://")  # the upstream's, not ours
    assert seen["query"] == f"channel={OWN.replace('#', '%23')}"


def test_answers_are_streamed_through() -> None:
    """An event stream goes to the client chunk by chunk, before the upstream has finished."""
    release = threading.Event()

    def upstream(environ: dict, start_response: Any):
        start_response("200 OK", [("Content-Type", "text/event-stream")])

        def chunks():
            yield b"data: first\n\n"
            release.wait(10)
            yield b"data: second\n\n"
        return chunks()

    served = serve(upstream)
    proxy = proxied(served.url)
    try:
        with requests.get(f"{proxy.url}/stream", stream=True, timeout=10) as answer:
            parts = answer.iter_content(chunk_size=None)
            assert next(parts) == b"data: first\n\n"  # arrives while the upstream still waits
            release.set()
            assert b"".join(parts) == b"data: second\n\n"
    finally:
        release.set()
        proxy.stop()
        served.stop()


def test_upstream_down_is_a_json_502() -> None:
    from envoy_events_kit.net import free_port

    proxy = proxied(f"http://127.0.0.1:{free_port()}")
    try:
        answer = requests.get(f"{proxy.url}{CONNECTION}", timeout=10)
        assert answer.status_code == 502
        assert answer.json()["error"]["code"] == "upstream_unreachable"
        assert report(proxy)["upstream_errors"] == 1
    finally:
        proxy.stop()


def test_foreign_host_header_is_refused(recorded) -> None:
    """DNS rebinding: a page on evil.example that resolves to 127.0.0.1 gets nothing."""
    proxy, recorder, _ = recorded
    answer = requests.get(f"{proxy.url}/__proxy__/report", headers={"Host": "evil.example"},
                          timeout=10)
    assert answer.status_code == 421 and answer.json()["error"]["code"] == "host_not_allowed"
    assert requests.get(f"{proxy.url}{CONNECTION}", headers={"Host": "localhost:1"},
                        timeout=10).status_code == 401
    assert len(recorder.seen) == 1


# -- in front of broken servers: each violation found and named ---------------------------

def frontend_traffic(url: str) -> None:
    """What a frontend and a curious developer send: the caller's own tokens, channels it
    must be refused, malformed and disagreeing requests, provisioning."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    org_channel = f"shipments:{ACME}"
    calls: list[tuple[str, dict[str, Any]]] = [
        (CONNECTION, {"headers": admin}),
        (SUBSCRIPTION, {"headers": admin, "json": {"channel": OWN}}),
        (SUBSCRIPTION, {"headers": admin, "params": {"channel": org_channel}}),
        (SUBSCRIPTION, {"headers": admin, "params": {"channel": f"shipments:{ACME}#{RITA}"}}),
        (SUBSCRIPTION, {"headers": admin, "json": {"channel": "shipments:org_"
                                                   + "Z" * 27}}),
        (SUBSCRIPTION, {"headers": admin, "json": {"channel": f"zzzz:{ACME}"}}),
        (SUBSCRIPTION, {"headers": admin, "params": {"channel": "nope"}}),
        (SUBSCRIPTION, {"headers": admin, "json": {"channel": OWN},
                        "params": {"channel": org_channel}}),
        (SUBSCRIPTION, {"headers": admin, "data": b"{not json"}),
        (CONNECTION, {}),
        (SUBSCRIPTION, {"params": {"channel": OWN}}),
        ("/events/provision", {"headers": admin}),
        ("/events/provision", {"headers": {"Authorization": f"Bearer {READER}"}}),
        (CONNECTION, {"headers": {"Authorization": f"Bearer {EXPIRED}"}}),
    ]
    for path, kwargs in calls:
        requests.get(url + path, timeout=10, **kwargs)


#: Broken server -> the rule the proxy must name. The others break what a proxy cannot see
#: from traffic alone (a token it cannot know is expired, scopes, webhook endpoints, state).
PROXY_CATCHES = {
    "grants-other-users-channel": "channel-foreign-user-403",
    "grants-other-orgs-channel": "channel-foreign-org-403",
    "grants-ungranted-namespace": "channel-ungranted-namespace-403",
    "skips-auth": "auth-required-401",
    "signs-alg-none": "jwt-well-formed-hs256",
    "signs-with-another-key": "jwt-signature",
    "wrong-subscription-sub": "subscription-sub-is-caller",
    "wrong-channel-claim": "subscription-channel-is-requested",
    "exp-in-the-past": "jwt-exp-in-future",
    "iat-after-exp": "jwt-iat-exp",
    "connection-channel-claim": "jwt-claims-schema",
    "connection-foreign-channel": "connection-channels-of-caller-org",
    "subscription-extra-claim": "jwt-claims-schema",
    "500-on-bad-body": "response-status-undocumented",
    "non-json-errors": "response-content-type",
    "ignores-json-body": "valid-request-refused-400",
    "accepts-disagreeing-query": "invalid-request-400",
    "provision-answers-200": "response-status-undocumented",
    "401-without-www-authenticate": "response-header-missing",
    "malformed-channel-403": "invalid-request-400",
}


def run_behind_proxy(server: Any, **options: Any) -> dict[str, Any]:
    served = serve(server)
    proxy = proxied(served.url, validator=Validator(secret=DEV_SECRET), **options)
    try:
        frontend_traffic(proxy.url)
        return report(proxy)
    finally:
        proxy.stop()
        served.stop()


def test_the_conforming_server_has_no_violation() -> None:
    data = run_behind_proxy(Broken(create_app({"clock": "real"})))
    assert data["judged"] == 14 and data["violation_count"] == 0, data["violations"]


@pytest.mark.parametrize("name", sorted(PROXY_CATCHES))
def test_the_proxy_names_the_broken_rule(name: str) -> None:
    data = run_behind_proxy(MUTANTS[name](create_app({"clock": "real"})))
    assert PROXY_CATCHES[name] in violation_rules(data), (
        f"{name} ({MUTANTS[name].breaks}): {data['violations']}")


def test_violation_header_counts_and_names_rules() -> None:
    served = serve(MUTANTS["subscription-extra-claim"](create_app({"clock": "real"})))
    proxy = proxied(served.url)
    try:
        answer = requests.get(f"{proxy.url}{SUBSCRIPTION}", params={"channel": OWN},
                              headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        assert answer.status_code == 200  # without --errors the answer goes through
        assert answer.headers["x-contract-violations"] == "1; jwt-claims-schema"
        fine = requests.get(f"{proxy.url}{CONNECTION}",
                            headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        assert "x-contract-violations" not in fine.headers
    finally:
        proxy.stop()
        served.stop()


def test_errors_turns_a_violation_into_a_502_naming_the_rule() -> None:
    served = serve(MUTANTS["wrong-channel-claim"](create_app({"clock": "real"})))
    proxy = proxied(served.url, errors=True)
    try:
        answer = requests.get(f"{proxy.url}{SUBSCRIPTION}", params={"channel": OWN},
                              headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        assert answer.status_code == 502
        error = answer.json()["error"]
        assert error["code"] == "contract_violation"
        assert error["rules"] == ["subscription-channel-is-requested"]
        assert "rule subscription-channel-is-requested:" in error["message"]
        assert answer.headers["x-contract-violations"].endswith("subscription-channel-is-requested")
        # A conforming answer (here a 403) goes through untouched.
        refused = requests.get(f"{proxy.url}{SUBSCRIPTION}",
                               params={"channel": f"shipments:{ACME}#{RITA}"},
                               headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    finally:
        proxy.stop()
        served.stop()


def test_report_never_shows_a_token() -> None:
    data = run_behind_proxy(MUTANTS["signs-alg-none"](create_app({"clock": "real"})))
    text = json.dumps(data)
    assert data["violation_count"] > 0 and "[redacted]" in text
    for secret in (ADMIN, READER, EXPIRED):
        assert secret not in text
    assert not JWT.search(text)


# -- the command ------------------------------------------------------------------------

def test_cli_prints_and_writes_the_report_on_stop(tmp_path: Path) -> None:
    served = serve(MUTANTS["iat-after-exp"](create_app({"clock": "real"})))
    process = subprocess.Popen([str(ENVOY_EVENTS), "proxy", "--upstream", served.url,
                                "--port", "0", "--report", str(tmp_path / "out")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        url = re.search(r"serving (http://\S+)", first).group(1)
        answer = requests.get(f"{url}{CONNECTION}", headers={"Authorization": f"Bearer {ADMIN}"},
                              timeout=10)
        assert answer.headers["x-contract-violations"] == "1; jwt-iat-exp"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        served.stop()
    assert process.returncode == 1  # a violation was seen
    assert "contract violations (the server's answers): 1" in out and "jwt-iat-exp" in out
    assert "VIOLATION jwt-iat-exp" in err  # said as it happened, too
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert written == {"report.json", "summary.md", "junit.xml"}
    junit = (tmp_path / "out" / "junit.xml").read_text()
    assert 'name="jwt-iat-exp" time="0.000"><failure message="jwt-iat-exp: ' in junit
    for text in (out, err, *(p.read_text() for p in (tmp_path / "out").iterdir())):
        assert ADMIN not in text and not JWT.search(text)


def test_cli_refuses_a_non_http_upstream() -> None:
    done = subprocess.run([str(ENVOY_EVENTS), "proxy", "--upstream", "ftp://x", "--port", "0"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "is not an http(s) URL" in done.stderr


def test_compare_mock_finds_what_the_spec_alone_cannot(tmp_path: Path) -> None:
    """A 401 where the mock says 403 fits the spec (401 is a documented status), so only the
    mirrored mock shows it; the header says so, the report groups it by rule."""
    served = serve(MUTANTS["401-instead-of-403"](create_app({"clock": "real"})))
    proxy = proxied(served.url, compare_mock=True)
    try:
        frontend_traffic(proxy.url)
        answer = requests.get(f"{proxy.url}{SUBSCRIPTION}", timeout=10,
                              params={"channel": f"shipments:{ACME}#{RITA}"},
                              headers={"Authorization": f"Bearer {ADMIN}"})
        data = requests.get(f"{proxy.url}/__proxy__/report", timeout=10).json()
    finally:
        proxy.stop()
        served.stop()
    assert answer.status_code == 401 and "x-contract-violations" not in answer.headers
    assert answer.headers["x-contract-differences"] == "1; status"
    assert data["violation_count"] == 0
    status = next(d for d in data["differences"] if d["rule"] == "status")
    assert "getSubscriptionToken: target 401, mock 403" in status["details"]
    assert status["request"].endswith("(Authorization: Bearer [redacted])")
    # Bearers the proxy never saw take a connection token are not compared.
    assert data["compared_with_mock"] == 13
    # In the written report: a failed case per comparison rule that differed; no violation.
    proxy.app.report.write(tmp_path)
    junit = (tmp_path / "junit.xml").read_text()
    assert re.search(r'<testcase classname="proxy.mock-differences" name="same as the mock: '
                     r'status" time="[0-9.]+"><failure message="status: getSubscriptionToken: '
                     r'target 401, mock 403; request GET /events/subscription_token', junit)
    assert junit.count("<failure") == 1
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## Envoy events proxy: KEPT (exit 0)\n")
    assert "| `same as the mock: status` | **BROKEN** |" in summary
    assert "| `same as the mock: json-shape` | held |" in summary


def test_mock_server_is_unaffected_by_a_stopped_proxy() -> None:
    """Stopping the proxy closes its upstream pool only; the upstream keeps serving."""
    with MockServer({"clock": "real"}) as mock:
        proxy = proxied(mock.url)
        assert requests.get(f"{proxy.url}{CONNECTION}", timeout=10).status_code == 401
        proxy.stop()
        started = time.monotonic()
        assert requests.get(f"{mock.url}{CONNECTION}", timeout=10).status_code == 401
        assert time.monotonic() - started < 5


def test_claims_shortcut_judges_time_claims_as_the_full_schema_does() -> None:
    """A payload that passed once is judged on its time claims alone afterwards: the same
    verdicts and messages as the full schema gives."""
    import jwt

    from envoy_events_kit.proxy.validate import Exchange

    good = {"sub": ADA, "iat": 1_900_000_000, "exp": 1_900_003_600,
            "channels": [f"shipments:{ACME}"], "info": {"org": ACME}}

    def judge(validator: Validator, payload: dict[str, Any]) -> list[str]:
        body = json.dumps({"token": jwt.encode(payload, "k" * 32)}).encode()
        exchange = Exchange("GET", CONNECTION, "", f"Bearer {ADMIN}", b"", 200,
                            {"content-type": "application/json"}, body)
        return sorted(f.detail for f in validator.judge(exchange).findings
                      if f.rule == "jwt-claims-schema")

    warm, cold = Validator(now=lambda: 1_900_000_000), Validator(now=lambda: 1_900_000_000)
    assert judge(warm, good) == []  # remembered
    for bad in ({**good, "iat": -1}, {**good, "exp": "later"}, {**good, "iat": 1.5},
                {**good, "exp": None}):
        assert judge(warm, bad) == judge(Validator(), bad) != [], bad
        assert judge(cold, bad) == judge(warm, bad)


@pytest.mark.parametrize("server", ["waitress", "granian"])
def test_a_chunked_get_body_goes_upstream_on_either_server(server: str) -> None:
    recorder = Recorder(create_app({"clock": "real"}))
    served = serve(recorder)
    proxy = ProxyServer(ProxyApp(served.url), server=server, threads=2).start()
    body = json.dumps({"channel": OWN}).encode()
    try:
        answer = requests.get(f"{proxy.url}{SUBSCRIPTION}", data=iter([body[:10], body[10:]]),
                              headers={"Authorization": f"Bearer {ADMIN}",
                                       "Content-Type": "application/json"}, timeout=10)
        data = report(proxy)
    finally:
        proxy.stop()
        served.stop()
    assert answer.status_code == 200 and JWT.search(answer.text)
    assert recorder.seen[-1]["body"] == body
    assert data["judged"] == 1 and data["violation_count"] == 0


def test_sentences_quoting_a_token_are_redacted_everywhere(tmp_path: Path) -> None:
    """A token that is not a JWT breaks the TokenResponse pattern; the sentence saying so
    must not quote it (nor the bearer): not in the report, the log, nor the --errors 502."""
    issued = "issued secret with spaces 9f8e7d"

    def upstream(environ: dict, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"token": issued}).encode()]

    served = serve(upstream)
    logged: list[str] = []
    proxy = proxied(served.url, errors=True, log=logged.append)
    try:
        answer = requests.get(f"{proxy.url}{CONNECTION}", timeout=10,
                              headers={"Authorization": f"Bearer {ADMIN}"})
        data = report(proxy)
    finally:
        proxy.stop()
        served.stop()
    assert answer.status_code == 502
    assert "response-body-schema" in answer.json()["error"]["rules"]
    shown = answer.text + json.dumps(data) + "\n".join(logged) + proxy.app.report.markdown()
    assert "response-body-schema" in shown and "[redacted]" in shown
    assert issued not in shown and ADMIN not in shown


def test_cli_port_in_use_is_one_line() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        done = subprocess.run([str(ENVOY_EVENTS), "proxy", "--upstream", "http://127.0.0.1:9",
                               "--port", str(port)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"error: cannot listen on 127.0.0.1:{port}: "
                                   "Address already in use")
