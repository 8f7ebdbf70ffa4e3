"""What is under test: base URL, tokens, and who the suite is, learned from the API itself.

The suite reaches its target only over HTTP. With no `--events-base-url` it starts the mock
in-process on a free port (the mock's public entry point) and then treats it as a black box.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from typing import Any

import jwt
import pytest
import requests
from envoy_events_kit.contract_tests.client import (
    DEFAULT_RATE,
    DEFAULT_TIMEOUT,
    ThrottledSession,
    parse_rate,
)

from envoy_events_kit import default_fixtures_path
from envoy_events_kit.claims import CONNECTION as CONNECTION_CLAIMS
from envoy_events_kit.claims import Claims
from envoy_events_kit.claims import claims as claims_schema
from envoy_events_kit.documents import document, spec_document
from envoy_events_kit.instants import parse_instant


def connection_claims() -> Claims:
    """The spec's connection-token claims (read to learn who a token belongs to)."""
    return claims_schema(CONNECTION_CLAIMS)

DEFAULT_MAX_EXAMPLES = 25
CONNECTION = "/events/connection_token"
SUBSCRIPTION = "/events/subscription_token"
PROVISION = "/events/provision"
DEPROVISION = "/events/deprovision"


class TargetError(Exception):
    """The run cannot start: one sentence for a person, never containing a token."""


@dataclass(frozen=True)
class Options:
    """What the person asked for on the command line or in the environment."""

    base_url: str | None = None
    realtime_url: str | None = None
    token: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)
    expired_token: str | None = field(default=None, repr=False)
    jwt_secret: str | None = field(default=None, repr=False)
    control_token: str | None = field(default=None, repr=False)
    allow_destructive: bool = False
    max_examples: int = DEFAULT_MAX_EXAMPLES
    rate_limit: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    #: A realtime rule not checked fails the run (exit 3): --events-require-realtime, or a
    #: realtime URL the person gave.
    realtime_required: bool = False
    #: Why the in-process mock runs without its realtime server (no Centrifugo binary).
    realtime_unavailable: str | None = None


def _value(config: pytest.Config, option: str, env: str) -> str | None:
    dest = option.lstrip("-").replace("-", "_")
    try:
        value = config.getoption(dest)
    except ValueError:  # the option is not defined (an older pytest_plugin.py)
        value = None
    return value or os.environ.get(env) or None


def _truthy(env: str) -> bool:
    return os.environ.get(env, "").lower() in ("1", "true", "yes")


def read_options(config: pytest.Config) -> Options:
    """Options from `--events-*` flags, falling back to their `ENVOY_EVENTS_*` variables."""
    examples = _value(config, "--events-max-examples", "ENVOY_EVENTS_MAX_EXAMPLES")
    timeout = _value(config, "--events-timeout", "ENVOY_EVENTS_TIMEOUT")
    destructive = config.getoption("events_allow_destructive", False) or _truthy(
        "ENVOY_EVENTS_ALLOW_DESTRUCTIVE")
    base_url = _value(config, "--events-base-url", "ENVOY_EVENTS_BASE_URL")
    realtime_url = _value(config, "--events-realtime-url", "ENVOY_EVENTS_REALTIME_URL")
    required = config.getoption("events_require_realtime", False) or _truthy(
        "ENVOY_EVENTS_REQUIRE_REALTIME")
    return Options(
        base_url=base_url.rstrip("/") if base_url else None,
        realtime_url=realtime_url,
        realtime_required=bool(required or realtime_url),
        token=_value(config, "--events-token", "ENVOY_EVENTS_TOKEN"),
        admin_token=_value(config, "--events-admin-token", "ENVOY_EVENTS_ADMIN_TOKEN"),
        expired_token=_value(config, "--events-expired-token", "ENVOY_EVENTS_EXPIRED_TOKEN"),
        jwt_secret=_value(config, "--events-jwt-secret", "ENVOY_EVENTS_JWT_SECRET"),
        control_token=_value(config, "--events-control-token", "ENVOY_EVENTS_CONTROL_TOKEN"),
        allow_destructive=bool(destructive),
        max_examples=int(examples) if examples else DEFAULT_MAX_EXAMPLES,
        rate_limit=_value(config, "--events-rate-limit", "ENVOY_EVENTS_RATE_LIMIT"),
        timeout=float(timeout) if timeout else DEFAULT_TIMEOUT,
    )


@dataclass(frozen=True)
class Identity:
    """Who a bearer token is, read from its connection token's claims (signature unchecked)."""

    user_id: str
    org_id: str | None
    channels: tuple[str, ...]

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Namespaces the connection token subscribes to: the ones the scopes grant."""
        return tuple(sorted({c.split(":", 1)[0] for c in self.channels}))

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Identity:
        schema = connection_claims()
        channels = schema.get(claims, "granted_channels") or []
        channels = tuple(c for c in channels if isinstance(c, str)) if isinstance(
            channels, list) else ()
        org = schema.get(claims, "org_id")
        org = org if isinstance(org, str) else None
        if org is None and channels:
            org = channels[0].split(":", 1)[-1].split("#", 1)[0]
        user = schema.get(claims, "user_id")
        return cls(user_id=str(user or ""), org_id=org, channels=channels)


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT without checking its signature (the suite has no secret)."""
    return jwt.decode(token, options={"verify_signature": False, "verify_exp": False,
                                      "verify_iat": False, "verify_nbf": False})


def provisioning_scope() -> str:
    """The scope the spec's security requirement of provisioning names."""
    raw = spec_document()
    for requirement in raw["paths"][PROVISION]["get"].get("security", []):
        for scopes in requirement.values():
            if scopes:
                return scopes[0]
    return "events:admin"


def bundled_fixture_tokens() -> dict[str, str]:
    """Tokens of the bundled fixtures, by name: the defaults against an in-process mock."""
    raw = document(default_fixtures_path())
    return {name: entry["token"] for name, entry in raw.get("tokens", {}).items()}


@dataclass
class Target:
    """A running API and what the suite knows about it; every request goes through `get`."""

    base_url: str
    token: str = field(repr=False)
    options: Options
    session: ThrottledSession
    in_process: bool = False
    is_mock: bool = False
    admin_token: str | None = field(default=None, repr=False)
    expired_token: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    identity: Identity | None = None
    admin_identity: Identity | None = None
    secrets: set[str] = field(default_factory=set, repr=False)
    #: A mock's state as the suite found it (GET /__mock__/snapshot), put back at the end.
    initial_state: dict[str, Any] | None = field(default=None, repr=False)
    server: Any = None

    @property
    def destructive(self) -> bool:
        """May the suite provision and deprovision? Always on a mock, else only if allowed."""
        return bool(self.admin_token) and (self.is_mock or self.options.allow_destructive)

    @property
    def description(self) -> str:
        kind = "in-process mock" if self.in_process else ("mock" if self.is_mock
                                                           else "deployment")
        return f"{self.base_url} ({kind})"

    def get(self, path: str, token: str | None = None, *, auth: str | None = None,
            **kwargs: Any) -> requests.Response:
        """GET an events endpoint as `token` (or with a raw Authorization value `auth`)."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if auth is not None:
            headers["Authorization"] = auth
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.get(self.base_url + path, headers=headers, **kwargs)

    def now(self) -> float:
        """The target's "now": a mock says what its clock reads (frozen or moved); a
        deployment is judged by the real time."""
        if self.is_mock:
            answer = self.control("GET", "/clock")
            if answer.status_code == 200:
                return parse_instant(answer.json()["now"]).timestamp()
        return time.time()

    def snapshot(self) -> dict[str, Any] | None:
        """A mock's whole state (organisations, endpoints, principals, clock), to put back."""
        if not self.is_mock:
            return None
        answer = self.control("GET", "/snapshot")
        return answer.json() if answer.status_code == 200 else None

    def restore(self, snapshot: dict[str, Any] | None) -> None:
        if snapshot is not None:
            self.control("PUT", "/snapshot", json=snapshot).raise_for_status()

    def control(self, method: str, path: str, json: Any = None) -> requests.Response:
        """Call the mock's control API (only on a mock)."""
        if not self.is_mock:
            raise RuntimeError("the control API exists only on the mock")
        return self.session.request(method, f"{self.base_url}/__mock__{path}", json=json,
                                    headers=bearer(self.options.control_token))

    def remember(self, *tokens: str | None) -> None:
        self.secrets.update(t for t in tokens if t)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


# -- opening a target ---------------------------------------------------------------------

def _sentence_for(base_url: str, response: requests.Response) -> str:
    kind = response.headers.get("Content-Type", "no content type")
    return (f"{base_url} is not the Envoy events API: GET {CONNECTION} answered "
            f"{response.status_code} ({kind}) instead of a JSON token")


def _fetch_identity(target: Target, token: str, flag: str) -> Identity:
    """Take a connection token as `token` and read who it is; TargetError when refused."""
    try:
        response = target.get(CONNECTION, token)
    except requests.Timeout as exc:
        raise TargetError(f"{target.base_url} did not answer within {target.session.timeout} s "
                          "(is it the Envoy events API? see --events-timeout)") from exc
    except requests.RequestException as exc:
        raise TargetError(f"{target.base_url} is unreachable ({type(exc).__name__}): check "
                          "--events-base-url") from exc
    if response.status_code == 401:
        raise TargetError(f"the token given with {flag} was refused (401): it is wrong, "
                          "revoked or expired")
    if response.status_code == 409:
        raise TargetError(f"the organisation of the token given with {flag} is not "
                          "provisioned (409): provision it, or pass --events-admin-token and "
                          "--events-allow-destructive so the suite may")
    try:
        token_value = response.json()["token"]
        claims = unverified_claims(token_value)
    except (ValueError, KeyError, TypeError, jwt.PyJWTError) as exc:
        raise TargetError(_sentence_for(target.base_url, response)) from exc
    if response.status_code != 200:
        raise TargetError(_sentence_for(target.base_url, response))
    return Identity.from_claims(claims)


def _answers_as_mock(session: ThrottledSession, base_url: str,
                     control_token: str | None = None) -> bool:
    """Does the target serve the mock's control API (`GET /__mock__/state`)?"""
    try:
        response = session.get(f"{base_url}/__mock__/state", headers=bearer(control_token))
        body = response.json()
    except (requests.RequestException, ValueError):
        return False
    return (response.status_code == 200 and isinstance(body, dict)
            and isinstance(body.get("organisations"), list) and "clock" in body)


def _create_principal(target: Target, identity: Identity, scopes: list[str],
                      expires_at: str | None = None) -> str:
    body: dict[str, Any] = {"org_id": identity.org_id, "user_id": identity.user_id,
                            "scopes": scopes, "name": "contract-suite"}
    if expires_at:
        body["expires_at"] = expires_at
    response = target.control("POST", "/principals", json=body)
    response.raise_for_status()
    return response.json()["token"]


def _verifies(token: str, secret: str) -> bool:
    try:
        jwt.decode(token, secret, algorithms=["HS256"], options={"verify_exp": False})
    except jwt.PyJWTError:
        return False
    return True


def _learn_secret(target: Target) -> str | None:
    """The signing secret: given, our in-process mock's, or the mock's dev secret if it fits."""
    if target.options.jwt_secret:
        return target.options.jwt_secret
    if not target.is_mock:
        return None
    from envoy_events_kit.mock_server.config import DEV_SECRET

    if target.in_process:
        return DEV_SECRET
    sample = target.get(CONNECTION, target.token).json().get("token", "")
    return DEV_SECRET if _verifies(sample, DEV_SECRET) else None


def _start_in_process(options: Options) -> tuple[Any, str, Options]:
    """The mock, with its realtime stand-in when no --realtime-url names another server and
    the Centrifugo binary can be had: the default run then checks the realtime rules too."""
    from envoy_events_kit.mock_server import MockServer
    from envoy_events_kit.mock_server.events.realtime import RealtimeUnavailable

    missing = None
    settings: dict[str, Any] = {"clock": "real", "control_token": options.control_token}
    if not options.realtime_url:
        try:
            server = MockServer({**settings, "realtime": True}).start()
        except RealtimeUnavailable as exc:
            missing = str(exc)
        else:
            url = server.state.realtime.websocket_url
            return server, server.url, replace(options, realtime_url=url)
    server = MockServer(settings).start()
    return server, server.url, replace(options, realtime_unavailable=missing)


def open_target(options: Options) -> Target:
    """Start (or reach) the target, check the token works, learn identities. Raises TargetError."""
    server = None
    if options.base_url:
        base_url, in_process = options.base_url, False
        if not options.token:
            raise TargetError("--events-base-url needs --events-token (or ENVOY_EVENTS_TOKEN)")
        rate = parse_rate(options.rate_limit or DEFAULT_RATE)
    else:
        server, base_url, options = _start_in_process(options)
        in_process = True
        rate = parse_rate(options.rate_limit) if options.rate_limit else 0.0
    session = ThrottledSession(rate=0.0, timeout=options.timeout)
    fixture_tokens = bundled_fixture_tokens() if in_process else {}
    target = Target(base_url=base_url, token=options.token or fixture_tokens.get("admin", ""),
                    options=options, session=session, in_process=in_process, server=server)
    target.remember(options.token, options.admin_token, options.expired_token,
                    options.jwt_secret, options.control_token, *fixture_tokens.values())
    try:
        target.is_mock = in_process or _answers_as_mock(session, base_url,
                                                        options.control_token)
        # Before the suite changes anything (principals, provisioning): put back at the end.
        target.initial_state = target.snapshot()
        if not target.is_mock or options.rate_limit:  # mocks run unthrottled unless asked
            session.interval = 1.0 / rate if rate > 0 else 0.0
        target.identity = _identity_or_provision(target, options, fixture_tokens)
        _complete_tokens(target, options, fixture_tokens)
        target.secret = _learn_secret(target)
    except BaseException:
        target.stop()
        raise
    return target


def _identity_or_provision(target: Target, options: Options,
                           fixture_tokens: dict[str, str]) -> Identity:
    try:
        return _fetch_identity(target, target.token, "--events-token")
    except TargetError as exc:
        admin = options.admin_token or fixture_tokens.get("admin")
        if "(409)" not in str(exc) or not admin or not (target.is_mock
                                                         or options.allow_destructive):
            raise
        target.get(PROVISION, admin)
        return _fetch_identity(target, target.token, "--events-token")


def _complete_tokens(target: Target, options: Options, fixture_tokens: dict[str, str]) -> None:
    """Admin and expired tokens: given, the bundled ones, or minted by a mock's control API."""
    identity = target.identity
    target.admin_token = options.admin_token or fixture_tokens.get("admin")
    target.expired_token = options.expired_token or fixture_tokens.get("expired")
    if target.is_mock and identity is not None and identity.org_id:
        if not target.admin_token:
            target.admin_token = _create_principal(target, identity, [provisioning_scope()])
        if not target.expired_token:
            target.expired_token = _create_principal(target, identity, [],
                                                     expires_at="2000-01-01T00:00:00Z")
        target.remember(target.admin_token, target.expired_token)
    if target.admin_token:
        target.admin_identity = (identity if target.admin_token == target.token else
                                 _fetch_identity(target, target.admin_token,
                                                 "--events-admin-token"))


# -- what the conftest configured (read by test modules at import, before fixtures exist) ---

#: The options of the current run; `conftest.pytest_configure` sets them.
CONFIGURED = Options()
#: Steps per run of the stateful model.
STATEFUL_STEPS = 12


def stateful_examples(options: Options) -> int:
    """Runs of the stateful model: half the example count, at least 3."""
    return max(3, options.max_examples // 2)


def semantic_examples(options: Options) -> int:
    """Examples per channel-rule property test: a fifth of the example count, at least 3."""
    return max(3, options.max_examples // 5)


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}
