"""The pytest plugin as a host project meets it: registered by the entry point (never through
`pytest_plugins`), fixtures reset per test, options, one-line errors, nothing left behind."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
import yaml
from envoy_events_kit.mock_server import MockServer

from envoy_events_kit import default_fixtures_path
from tests.conftest import ACME, ADA, ADMIN, GLOBEX

pytest_plugins = ["pytester"]

HOST_TESTS = f"""
import json, os, pytest, requests

ACME, GLOBEX = {ACME!r}, {GLOBEX!r}
URLS = []

def test_fixture_principals_and_tokens(events_mock, events_base_url, events_token):
    assert set(events_mock.tokens) == {{"admin", "shipments-reader", "no-scopes", "other-org",
                                       "expired"}}
    assert events_token == events_mock.tokens["admin"] == {ADMIN!r}
    assert events_mock.principals["other-org"].org_id == GLOBEX
    assert events_base_url == events_mock.url
    assert events_mock.url.startswith("http://127.0.0.1:")

def test_mutate(events_mock):
    events_mock.deprovision(ACME)
    events_mock.provision(GLOBEX)
    events_mock.advance_clock(3600)
    events_mock.inject_fault("getConnectionToken", 500, times=3)
    requests.get(events_mock.url + "/events/connection_token", headers=events_mock.headers())
    URLS.append(events_mock.url)

def test_reset_before_the_next_test(events_mock):
    assert events_mock.organisation(ACME)["provisioned"] is True
    assert events_mock.organisation(GLOBEX)["provisioned"] is False
    assert events_mock.clock()["mode"] == "real"  # the default, back after the advance
    assert events_mock.journal() == []
    r = requests.get(events_mock.url + "/events/connection_token", headers=events_mock.headers())
    assert r.status_code == 200
    URLS.append(events_mock.url)

def test_one_mock_per_session(events_mock):
    assert URLS == [events_mock.url] * 2
    with open(os.environ["EVENTS_REPORT"], "w") as out:
        json.dump({{"url": events_mock.url}}, out)
"""

#: Records what the process holds before and after the session (after fixture teardown).
LEAK_CONFTEST = """
import json, os, socket, threading
from urllib.parse import urlsplit

def _fds():
    return sorted(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else []

def pytest_sessionstart(session):
    session.config._events_before = (_fds(), [t.name for t in threading.enumerate()])

def pytest_sessionfinish(session):
    path = os.environ["EVENTS_REPORT"]
    with open(path) as f:
        report = json.load(f)
    url = urlsplit(report["url"])
    try:
        socket.create_connection((url.hostname, url.port), timeout=1).close()
        report["port_open"] = True
    except OSError:
        report["port_open"] = False
    fds_before, threads_before = session.config._events_before
    report["new_fds"] = sorted(set(_fds()) - set(fds_before))
    report["new_threads"] = [t.name for t in threading.enumerate() if t.name not in threads_before]
    with open(path, "w") as f:
        json.dump(report, f)
"""


def _report(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = pytester.path / "report.json"
    monkeypatch.setenv("EVENTS_REPORT", str(path))
    return path


def _without_kit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BASE_URL", "TOKEN", "FIXTURES", "SECRET", "CLOCK"):
        monkeypatch.delenv(f"ENVOY_EVENTS_{name}", raising=False)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    _without_kit_env(monkeypatch)


def test_fixtures_in_a_host_project_leave_nothing_behind(pytester, monkeypatch):
    report = _report(pytester, monkeypatch)
    pytester.makeconftest(LEAK_CONFTEST)
    pytester.makepyfile(test_host=HOST_TESTS)

    result = pytester.runpytest_subprocess("-p", "no:randomly")

    result.assert_outcomes(passed=4)
    leftovers = json.loads(report.read_text())
    assert leftovers["port_open"] is False
    assert leftovers["new_threads"] == []
    # /proc/self/fd lists the fd of its own listing; nothing else may be new.
    assert len(leftovers["new_fds"]) <= 1


def test_each_xdist_worker_has_its_own_mock(pytester, monkeypatch):
    pytester.makepyfile(test_workers=f"""
        import json, os, pytest

        @pytest.mark.parametrize("n", range(8))
        def test_isolated(events_mock, n):
            assert events_mock.organisation({ACME!r})["provisioned"] is True
            events_mock.deprovision({ACME!r})
            worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
            out = {str(pytester.path)!r} + f"/seen-{{worker}}-{{n}}.json"
            with open(out, "w") as f:
                json.dump([worker, events_mock.url, os.getpid()], f)
    """)

    # schemathesis' own pytest plugin costs each worker seconds of imports; not ours to measure
    result = pytester.runpytest_subprocess("-n", "4", "-p", "no:schemathesis")

    result.assert_outcomes(passed=8)
    seen = [json.loads(p.read_text()) for p in pytester.path.glob("seen-*.json")]
    url_of = {worker: url for worker, url, _ in seen}
    assert len(url_of) >= 2, seen
    assert len({url for _, url, _ in seen}) == len(url_of), "workers shared a mock"
    assert all(worker.startswith("gw") for worker in url_of)


CUSTOM_SECRET = "a-custom-secret-of-at-least-32-bytes-for-hs256"


@pytest.fixture
def custom_fixtures(pytester):
    """Default fixtures plus a principal `robot`, in a subdirectory of the host project."""
    data = yaml.safe_load(default_fixtures_path().read_text())
    data["tokens"]["robot"] = {"token": "robot-token-0001", "user": ADA, "scopes": ["orders:read"]}
    (pytester.path / "fx").mkdir()
    (pytester.path / "fx" / "custom.yaml").write_text(yaml.safe_dump(data))
    return "fx/custom.yaml"


OPTION_TESTS = f"""
import jwt, os, requests

def test_settings(events_mock):
    expected = os.environ["EXPECT"].split("|")
    r = requests.get(events_mock.url + "/events/connection_token",
                     headers=events_mock.headers("robot"))
    claims = jwt.decode(r.json()["token"], expected[1], algorithms=["HS256"],
                        options={{"verify_exp": False, "verify_iat": False}})
    assert claims["channels"] == ["orders:{ACME}"]
    assert events_mock.clock()["mode"] == expected[0]
    if expected[0] == "frozen":
        assert events_mock.clock()["now"] == "2030-05-05T00:00:00Z"
"""


def test_ini_options_set_fixtures_secret_and_clock(pytester, monkeypatch, custom_fixtures):
    pytester.makeini(f"""
        [pytest]
        events_fixtures = {custom_fixtures}
        events_secret = {CUSTOM_SECRET}
        events_clock = 2030-05-05T00:00:00Z
    """)
    pytester.makepyfile(test_options=OPTION_TESTS)
    monkeypatch.setenv("EXPECT", f"frozen|{CUSTOM_SECRET}")
    pytester.runpytest_inprocess().assert_outcomes(passed=1)


def test_command_line_and_environment_override_the_ini(pytester, monkeypatch, custom_fixtures):
    pytester.makeini("""
        [pytest]
        events_fixtures = does/not/exist.yaml
        events_secret = an-ini-secret-that-the-command-line-overrides
        events_clock = 2030-05-05T00:00:00Z
    """)
    pytester.makepyfile(test_options=OPTION_TESTS)
    other = "x" * 40
    monkeypatch.setenv("ENVOY_EVENTS_FIXTURES", str(pytester.path / custom_fixtures))
    monkeypatch.setenv("ENVOY_EVENTS_SECRET", "an-environment-secret-the-option-overrides")
    monkeypatch.setenv("EXPECT", f"real|{other}")
    result = pytester.runpytest_inprocess("--events-clock", "real", "--events-secret", other)
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(("args", "message"), [
    (("--events-fixtures", "nowhere.yaml"),
     "envoy-events mock: nowhere.yaml: cannot read the fixtures file (No such file or directory)"),
    (("--events-clock", "yesterday"),
     "envoy-events mock: --events-clock: 'yesterday' is not an ISO-8601 instant"),
    (("--events-secret", "short"), "envoy-events mock: the signing secret must be at least 32"),
], ids=["fixtures", "clock", "secret"])
def test_bad_mock_settings_fail_in_one_line(pytester, args, message):
    pytester.makepyfile("def test_uses_mock(events_mock): pass")

    result = pytester.runpytest_inprocess(*args)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{message}*"])
    assert "Traceback" not in result.stdout.str()
    assert "mock_server" not in result.stdout.str()  # no frames from the kit


def test_a_deployment_without_token_or_unreachable_fails_in_one_line(pytester):
    with MockServer() as closed:
        url = closed.url  # a port that was free a moment ago and is closed now
    pytester.makepyfile("""
        def test_url(events_base_url): pass
        def test_token(events_token): pass
    """)

    result = pytester.runpytest_inprocess("--events-base-url", url)

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([
        f"*cannot reach --events-base-url {url}: ConnectionError (is it up? is the URL right?)*",
        "*--events-base-url is set but no token: pass --events-token or set ENVOY_EVENTS_TOKEN*",
    ])
    assert "Traceback" not in result.stdout.str()


def test_a_deployment_is_used_through_the_options(pytester):
    with MockServer() as deployment:
        pytester.makepyfile(f"""
            import requests

            def test_deployment(events_base_url, events_token, request):
                assert (events_base_url, events_token) == ({deployment.url!r}, "t0ken-1234")
                assert "events_mock_session" not in request.fixturenames
                requests.get(events_base_url + "/events/connection_token",
                             headers={{"Authorization": "Bearer " + events_token}})
        """)
        result = pytester.runpytest_inprocess("--events-base-url", deployment.url + "/",
                                              "--events-token", "t0ken-1234")
        result.assert_outcomes(passed=1)
        [entry] = [e for e in deployment.state.journal.entries() if e["operation_id"]]
    assert (entry["operation_id"], entry["status"]) == ("getConnectionToken", 401)


def test_help_lists_options_and_ini_keys(pytester):
    result = pytester.runpytest_inprocess("--help")
    result.stdout.fnmatch_lines(["*--events-base-url*", "*--events-fixtures*",
                                 "*--events-clock*", "*events_fixtures (string)*",
                                 "*events_secret (string)*", "*events_clock (string)*"])


def test_importing_the_plugin_loads_nothing_heavy():
    code = ("import sys, envoy_events_kit.pytest_plugin; "
            "print(sorted(m for m in ('envoy_events_kit.mock_server', 'flask', 'schemathesis', "
            "'hypothesis', "
            "'requests', 'jsonschema', 'waitress') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


TOKEN_TEST = """
    import jwt, requests

    def test_token(events_mock):
        r = requests.get(events_mock.url + "/events/connection_token",
                         headers=events_mock.headers())
        token = r.json()["token"]
        print("TOKEN=" + token)
        if events_mock.clock()["mode"] == "real":  # what a consumer's own verifier does
            jwt.decode(token, "envoy-events-kit-development-secret-not-for-production",
                       algorithms=["HS256"])
"""


def test_default_tokens_pass_a_real_clock_verifier(pytester):
    pytester.makepyfile(TOKEN_TEST)
    result = pytester.runpytest_inprocess("-s")
    result.assert_outcomes(passed=1)
    [token] = re.findall(r"TOKEN=(\S+)", result.stdout.str())
    claims = jwt.decode(token, options={"verify_signature": False})
    assert abs(claims["iat"] - time.time()) < 60


def test_a_frozen_clock_gives_byte_identical_tokens(pytester):
    pytester.makepyfile(TOKEN_TEST)
    tokens = set()
    for _ in range(2):
        result = pytester.runpytest_inprocess("-s", "--events-clock", "2026-01-01T00:00:00Z")
        result.assert_outcomes(passed=1)
        tokens |= set(re.findall(r"TOKEN=(\S+)", result.stdout.str()))
    [token] = tokens
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iat"] == 1767225600  # 2026-01-01T00:00:00Z
