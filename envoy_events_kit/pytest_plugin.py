"""The pytest plugin (pytest11 entry point) of envoy-events-kit: a room of its own.

Defines, once, the `--events-*` options shared by the integration-suite fixtures and the
contract suite (`contract_tests/`, which only reads them), and the few short fixtures an
integration suite gets: `events_mock`, `events_realtime`, `events_webhook_receiver`,
`events_base_url`, `events_token`. The logic lives in `mock_server` (EventsMock).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from envoy_events_kit.mock_server.events.webhooks.receiver import WebhookReceiver
    from envoy_events_kit.mock_server.serving.handle import EventsMock, EventsRealtime

#: The events_mock fixture's clock: real, so that its tokens pass a real-clock verifier
#: (`jwt.decode`) on the day the tests run. Freeze it (`--events-clock INSTANT`, the ini's
#: `events_clock`, or `events_mock.freeze_clock(...)`) for byte-identical tokens.
DEFAULT_CLOCK = "real"

#: option name -> (environment variable, help). Options without a variable take none.
OPTIONS: dict[str, tuple[str | None, str]] = {
    "--events-base-url": ("ENVOY_EVENTS_BASE_URL",
                          "Base URL of a deployment to test (default: an in-process mock)."),
    "--events-token": ("ENVOY_EVENTS_TOKEN", "Bearer token for --events-base-url."),
    "--events-admin-token": ("ENVOY_EVENTS_ADMIN_TOKEN",
                             "Bearer token of a principal with the provisioning scope."),
    "--events-expired-token": ("ENVOY_EVENTS_EXPIRED_TOKEN",
                               "An expired bearer token that the deployment must refuse (401)."),
    "--events-realtime-url": ("ENVOY_EVENTS_REALTIME_URL",
                              "The target's realtime server, ws://…/connection/websocket: the "
                              "contract suite then checks that its tokens work there."),
    "--events-jwt-secret": ("ENVOY_EVENTS_JWT_SECRET",
                            "HS256 secret the target signs tokens with, so the contract suite "
                            "verifies signatures (known by itself only for the mock)."),
    "--events-control-token": ("ENVOY_EVENTS_CONTROL_TOKEN",
                               "Bearer token of the mock's control API (/__mock__/), for a "
                               "mock started with --control-token; the events_mock fixture's "
                               "mock requires it too when set."),
    "--events-fixtures": ("ENVOY_EVENTS_FIXTURES",
                          "Fixtures file of the events_mock fixture (default: the bundled one)."),
    "--events-secret": ("ENVOY_EVENTS_SECRET",
                        "Signing secret of the events_mock fixture (default: the dev secret)."),
    "--events-clock": ("ENVOY_EVENTS_CLOCK", "Clock of the events_mock fixture: an ISO-8601 "
                       f"instant to freeze at, or 'real' (default {DEFAULT_CLOCK})."),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("envoy-events", "Envoy Event Streaming API (envoy-events-kit)")
    for name, (env, text) in OPTIONS.items():
        group.addoption(name, default=None, help=f"{text} Env: {env}." if env else text)
    group.addoption("--events-allow-destructive", action="store_true", default=False,
                    help="Permit provision/deprovision against a deployment (deprovision "
                         "deletes webhook endpoints). Always on against the mock.")
    group.addoption("--events-max-examples", type=int, default=None,
                    help="Hypothesis examples per generated test (default 25).")
    group.addoption("--events-rate-limit", default=None,
                    help="Request rate limit against a deployment, e.g. 10/s (default 10/s).")
    group.addoption("--events-timeout", type=float, default=None,
                    help="Per-request timeout in seconds (default 10).")
    group.addoption("--events-require-realtime", action="store_true", default=False,
                    help="Contract suite: a realtime rule not checked (no binary, no URL, "
                         "connect failed) makes the run 'could not check' (exit 3). Implied "
                         "by --events-realtime-url. Env: ENVOY_EVENTS_REQUIRE_REALTIME.")
    group.addoption("--events-summary", default=None, metavar="PATH",
                    help="Contract suite: write the verdict (rows, reasons, coverage) as JSON "
                         "to PATH (what `envoy-events contract --report` reads).")
    parser.addini("events_fixtures", "Fixtures file of the events_mock fixture, relative to "
                  "the ini file (like --events-fixtures).", default="")
    parser.addini("events_secret", "Signing secret of the events_mock fixture "
                  "(like --events-secret).", default="")
    parser.addini("events_clock", f"Clock of the events_mock fixture (default {DEFAULT_CLOCK}; "
                  "like --events-clock).", default="")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """The contract suite under pytest-xdist's `-n`: refused on the controller, before any
    worker starts (the workers would share one target's state and lose the verdict)."""
    if getattr(config.option, "numprocesses", None) and any(map(_is_the_suite, config.args)):
        pytest.exit("envoy-events contract suite: -n (pytest-xdist) is not supported: the "
                    "suite runs in one process against one target, whose state its tests "
                    "change; run it without -n", returncode=2)


def _is_the_suite(arg: str) -> bool:
    """`envoy_events_kit.contract_tests[...]`, or a path inside the suite's folder."""
    if str(arg).startswith("envoy_events_kit.contract_tests"):
        return True
    spec = importlib.util.find_spec("envoy_events_kit.contract_tests")
    if spec is None or not spec.origin:
        return False
    suite = Path(spec.origin).resolve().parent
    path = Path(str(arg).split("::")[0]).resolve()
    return path == suite or suite in path.parents


# -- fixtures for integration suites ---------------------------------------------------------
# Kept short: the logic lives in mock_server (MockServer, MockControl, EventsMock), imported
# lazily so that merely having the kit installed costs other pytest runs nothing.


def _value(config: pytest.Config, option: str, ini: str | None = None) -> str | None:
    """Command line, then environment variable, then ini file."""
    env = OPTIONS[option][0]
    value = config.getoption(option) or (os.environ.get(env) if env else None)
    return value or (config.getini(ini) if ini else None) or None


def _mock_settings(config: pytest.Config) -> dict[str, Any]:
    settings: dict[str, Any] = {"clock": _value(config, "--events-clock", "events_clock")
                                or DEFAULT_CLOCK}
    if secret := _value(config, "--events-secret", "events_secret"):
        settings["secret"] = secret
    if control_token := _value(config, "--events-control-token"):
        settings["control_token"] = control_token
    if fixtures := config.getoption("--events-fixtures") or os.environ.get("ENVOY_EVENTS_FIXTURES"):
        settings["fixtures_path"] = Path(fixtures)
    elif fixtures := config.getini("events_fixtures"):
        base = config.inipath.parent if config.inipath else config.rootpath
        settings["fixtures_path"] = base / fixtures
    return settings


@functools.cache
def _unreachable(url: str) -> str | None:
    """Why `url` cannot be reached (checked once per session), or None."""
    import requests

    try:
        requests.get(url, timeout=10)
    except requests.RequestException as exc:
        return f"cannot reach --events-base-url {url}: {type(exc).__name__} (is it up? is the " \
               "URL right?)"
    return None


@pytest.fixture(scope="session")
def events_mock_session(pytestconfig: pytest.Config) -> Iterator[EventsMock]:
    """One mock per session (per xdist worker); not reset between tests: use `events_mock`."""
    from envoy_events_kit.mock_server.config import ConfigError
    from envoy_events_kit.mock_server.serving.handle import EventsMock
    from envoy_events_kit.mock_server.state.fixtures import FixturesError

    try:
        mock = EventsMock.start(_mock_settings(pytestconfig))
    except (ConfigError, FixturesError) as exc:
        pytest.fail(f"envoy-events mock: {exc}", pytrace=False)
    except ValueError as exc:
        pytest.fail(f"envoy-events mock: --events-clock: {exc}", pytrace=False)
    with mock:
        yield mock


@pytest.fixture
def events_mock(events_mock_session: EventsMock) -> EventsMock:
    """The session's mock, reset to its fixtures before this test."""
    events_mock_session.reset()
    return events_mock_session


@pytest.fixture(scope="session")
def events_realtime_session(pytestconfig: pytest.Config) -> Iterator[EventsRealtime]:
    """A mock with a real Centrifugo beside it, one per session (per xdist worker). Its clock
    is real: Centrifugo judges token expiry by the real time."""
    from envoy_events_kit.mock_server.events.realtime import RealtimeUnavailable, find_binary
    from envoy_events_kit.mock_server.events.realtime.install import (
        NotInstalled,
        not_installed_for_pytest,
    )
    from envoy_events_kit.mock_server.serving.handle import EventsRealtime

    try:
        find_binary()
    except NotInstalled:
        pytest.skip(f"realtime stand-in unavailable: {not_installed_for_pytest()}")
    except RealtimeUnavailable as exc:  # ENVOY_EVENTS_CENTRIFUGO names no executable file
        pytest.skip(f"realtime stand-in unavailable: {exc}")
    settings = {**_mock_settings(pytestconfig), "clock": "real", "realtime": True}
    with EventsRealtime.start(settings) as mock:
        yield mock


@pytest.fixture
def events_realtime(events_realtime_session: EventsRealtime) -> EventsRealtime:
    """The session's realtime stand-in, reset to its fixtures before this test:
    `websocket_url`, `publish(...)`, `await connect("admin")`, `await subscribe(...)`."""
    events_realtime_session.reset()
    return events_realtime_session


@pytest.fixture
def events_webhook_receiver(events_mock: EventsMock) -> Iterator[WebhookReceiver]:
    """A local receiver that verifies each delivery with `standardwebhooks` and records it,
    registered as a webhook endpoint of the `admin` principal's organisation:
    `events_mock.publish(...)`, then `events_webhook_receiver.assert_delivered(type=...)`."""
    receiver = events_mock.webhook_receiver("admin")
    yield receiver
    receiver.stop()


@pytest.fixture
def events_base_url(request: pytest.FixtureRequest) -> str:
    """`--events-base-url` (a deployment), else the URL of a freshly reset `events_mock`."""
    url = _value(request.config, "--events-base-url")
    if not url:
        return request.getfixturevalue("events_mock").url
    if problem := _unreachable(url.rstrip("/")):
        pytest.fail(problem, pytrace=False)
    return url.rstrip("/")


@pytest.fixture
def events_token(request: pytest.FixtureRequest) -> str:
    """`--events-token` for a deployment, else the mock's fixture principal `admin`."""
    token = _value(request.config, "--events-token")
    if token:
        return token
    if _value(request.config, "--events-base-url"):
        pytest.fail("--events-base-url is set but no token: pass --events-token or set "
                    "ENVOY_EVENTS_TOKEN", pytrace=False)
    mock = request.getfixturevalue("events_mock")
    return mock.tokens.get("admin") or next(iter(mock.tokens.values()))
