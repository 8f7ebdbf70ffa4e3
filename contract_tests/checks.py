"""The contract's rules on responses, one small function per rule.

Each rule looks at one request/response `Exchange` and raises `RuleBroken` whose message
starts with `rule <name>:`, so a failing run names the rule that broke. `schemathesis_checks`
wraps them as Schemathesis checks, passed with `additional_checks=` (never registered
globally, so nothing leaks into a host project's own Schemathesis tests).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import requests
from envoy_events_kit.contract_tests.strategies import valid
from envoy_events_kit.contract_tests.target import CONNECTION, SUBSCRIPTION, Identity

from envoy_events_kit.claims import CONNECTION as CONNECTION_CLAIMS
from envoy_events_kit.claims import SUBSCRIPTION as SUBSCRIPTION_CLAIMS
from envoy_events_kit.claims import Claims, claims

TOKEN_PATHS = (CONNECTION, SUBSCRIPTION)
#: Seconds of clock difference tolerated between the suite and the server.
CLOCK_SKEW = 5


class RuleBroken(AssertionError):
    """A response broke a rule of the contract; the message names the rule."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"rule {rule}: {detail}")
        self.rule = rule


@dataclass
class Exchange:
    """One request and its response, reduced to what the rules look at."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    authorization: str | None
    status: int
    headers: Mapping[str, str]
    content: bytes
    _json: Any = field(default=None, init=False, repr=False)

    @classmethod
    def from_prepared(cls, request: requests.PreparedRequest, status: int,
                      headers: Mapping[str, Any], content: bytes) -> Exchange:
        url = urlsplit(request.url or "")
        body = request.body or b""
        flat = {k.lower(): (v[0] if isinstance(v, list) and v else v) for k, v in
                headers.items()}
        return cls(method=(request.method or "GET").upper(), path=url.path,
                   query=parse_qs(url.query, keep_blank_values=True),
                   body=body.encode() if isinstance(body, str) else body,
                   authorization=request.headers.get("Authorization"), status=status,
                   headers=flat, content=content or b"")

    @classmethod
    def from_response(cls, response: requests.Response) -> Exchange:
        return cls.from_prepared(response.request, response.status_code,
                                 dict(response.headers), response.content)

    def json(self) -> Any:
        if self._json is None:
            self._json = json.loads(self.content)
        return self._json

    @property
    def bearer(self) -> str | None:
        scheme, _, token = (self.authorization or "").strip().partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None

    @property
    def requested_channel(self) -> str | None:
        """The channel asked for: the JSON body's, else `?channel=`."""
        try:
            body = json.loads(self.body) if self.body.strip() else None
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("channel"), str):
            return body["channel"]
        values = self.query.get("channel")
        return values[0] if values else None

    @property
    def issues_token(self) -> bool:
        return self.method == "GET" and self.path.endswith(TOKEN_PATHS) and self.status == 200


@dataclass
class Context:
    """What the rules need to know besides the exchange: who each token is, the secret."""

    identities: dict[str, Identity] = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    #: The target's own "now" in Unix seconds, where it says (a mock's clock may be frozen
    #: or moved); the real time otherwise.
    now: Callable[[], float] = field(default=lambda: time.time(), repr=False)

    def caller(self, exchange: Exchange) -> Identity | None:
        return self.identities.get(exchange.bearer or "")


Rule = Callable[[Exchange, Context], None]
RULES: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    def register(func: Rule) -> Rule:
        func.rule_name = name  # type: ignore[attr-defined]
        RULES[name] = func
        return func
    return register


def _token(exchange: Exchange) -> str:
    try:
        token = exchange.json()["token"]
    except (ValueError, KeyError, TypeError) as exc:
        raise RuleBroken("token-response-body", 'a 200 must carry {"token": "..."}') from exc
    if not isinstance(token, str):
        raise RuleBroken("token-response-body", "the token must be a string")
    return token


def _segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _claims(exchange: Exchange) -> dict[str, Any]:
    return _segment(_token(exchange), 1)


def _schema(exchange: Exchange) -> Claims:
    """The spec's claims schema for the token this exchange issued."""
    return claims(CONNECTION_CLAIMS if exchange.path.endswith(CONNECTION)
                  else SUBSCRIPTION_CLAIMS)


@rule("jwt-claims-schema")
def jwt_claims_schema(exchange: Exchange, ctx: Context) -> None:
    """The payload conforms to the spec's `ConnectionTokenClaims`/`SubscriptionTokenClaims`."""
    if not exchange.issues_token:
        return
    try:
        payload = _claims(exchange)
    except (ValueError, IndexError, UnicodeDecodeError):
        return  # jwt-well-formed-hs256 reports it
    problems = _schema(exchange).problems(payload)
    if problems:
        raise RuleBroken("jwt-claims-schema",
                         f"{_schema(exchange).name}: " + "; ".join(problems[:3]))


@rule("jwt-well-formed-hs256")
def jwt_well_formed_hs256(exchange: Exchange, ctx: Context) -> None:
    """Every issued token is a JWT with three parts whose header says alg HS256, never none."""
    if not exchange.issues_token:
        return
    token = _token(exchange)
    parts = token.split(".")
    try:
        header, _ = _segment(token, 0), _segment(token, 1)
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise RuleBroken("jwt-well-formed-hs256", "the token is not a JWT") from exc
    if len(parts) != 3 or header.get("alg") != "HS256" or not parts[2]:
        raise RuleBroken("jwt-well-formed-hs256",
                         f"token header alg is {header.get('alg')!r} with "
                         f"{'a' if parts[-1] else 'no'} signature; it must be HS256")


@rule("jwt-signature")
def jwt_signature(exchange: Exchange, ctx: Context) -> None:
    """With the secret known (the mock), the signature verifies."""
    if not exchange.issues_token or not ctx.secret:
        return
    try:
        jwt.decode(_token(exchange), ctx.secret, algorithms=["HS256"],
                   options={"verify_exp": False, "verify_iat": False})
    except jwt.PyJWTError as exc:
        raise RuleBroken("jwt-signature", f"the token does not verify: {exc}") from exc


def _int_claim(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleBroken("jwt-iat-exp", f"claim {name!r} must be an integer, got {value!r}")
    return value


@rule("jwt-iat-exp")
def jwt_iat_exp(exchange: Exchange, ctx: Context) -> None:
    """`iat` and `exp` are integers and `iat <= exp`."""
    if not exchange.issues_token:
        return
    schema, payload = _schema(exchange), _claims(exchange)
    iat = _int_claim(payload, schema.path_of("issued_at")[-1])
    exp = _int_claim(payload, schema.path_of("expires_at")[-1])
    if iat > exp:
        raise RuleBroken("jwt-iat-exp", f"iat {iat} is after exp {exp}")


@rule("jwt-exp-in-future")
def jwt_exp_in_future(exchange: Exchange, ctx: Context) -> None:
    """A token just issued has not expired yet."""
    if not exchange.issues_token:
        return
    exp = _schema(exchange).get(_claims(exchange), "expires_at")
    if isinstance(exp, int | float) and exp <= ctx.now() - CLOCK_SKEW:
        raise RuleBroken("jwt-exp-in-future", f"exp {exp} is already in the past "
                                              "(judged by the target's own clock)")


@rule("subscription-sub-is-caller")
def subscription_sub_is_caller(exchange: Exchange, ctx: Context) -> None:
    caller = ctx.caller(exchange)
    if not exchange.issues_token or not exchange.path.endswith(SUBSCRIPTION) or not caller:
        return
    sub = _schema(exchange).get(_claims(exchange), "user_id")
    if sub != caller.user_id:
        raise RuleBroken("subscription-sub-is-caller",
                         f"sub is {sub!r}, the caller is {caller.user_id!r}")


@rule("subscription-channel-is-requested")
def subscription_channel_is_requested(exchange: Exchange, ctx: Context) -> None:
    """The `channel` claim is the requested channel, byte for byte."""
    if not exchange.issues_token or not exchange.path.endswith(SUBSCRIPTION):
        return
    claim = _schema(exchange).get(_claims(exchange), "requested_channel")
    asked = exchange.requested_channel
    if asked is not None and claim != asked:
        raise RuleBroken("subscription-channel-is-requested",
                         f"channel claim {claim!r} is not the requested {asked!r}")


@rule("connection-sub-is-caller")
def connection_sub_is_caller(exchange: Exchange, ctx: Context) -> None:
    caller = ctx.caller(exchange)
    if not exchange.issues_token or not exchange.path.endswith(CONNECTION):
        return
    sub = _schema(exchange).get(_claims(exchange), "user_id")
    if not isinstance(sub, str) or not sub or (caller and sub != caller.user_id):
        raise RuleBroken("connection-sub-is-caller", f"sub is {sub!r}")


@rule("connection-channels-of-caller-org")
def connection_channels_of_caller_org(exchange: Exchange, ctx: Context) -> None:
    """`channels` is a list of grammar-valid channels of the caller's organisation."""
    if not exchange.issues_token or not exchange.path.endswith(CONNECTION):
        return
    channels = _schema(exchange).get(_claims(exchange), "granted_channels")
    caller = ctx.caller(exchange)
    if not isinstance(channels, list):
        raise RuleBroken("connection-channels-of-caller-org", "channels is not a list")
    for channel in channels:
        if not isinstance(channel, str) or not valid(channel):
            raise RuleBroken("connection-channels-of-caller-org",
                             f"{channel!r} is outside the channel grammar")
        org = channel.split(":", 1)[1].split("#", 1)[0]
        if caller and caller.org_id and org != caller.org_id:
            raise RuleBroken("connection-channels-of-caller-org",
                             f"{channel!r} belongs to another organisation")


@rule("connection-no-channel-claim")
def connection_no_channel_claim(exchange: Exchange, ctx: Context) -> None:
    channel_claim = claims(SUBSCRIPTION_CLAIMS).path_of("requested_channel")[0]
    if exchange.issues_token and exchange.path.endswith(CONNECTION) and (
            channel_claim in _claims(exchange)):
        raise RuleBroken("connection-no-channel-claim",
                         "a connection token must not carry a channel claim")


@rule("error-body-shape")
def error_body_shape(exchange: Exchange, ctx: Context) -> None:
    """Every 4xx is application/json `{"error": {"code": str, "message": str}}`."""
    if not 400 <= exchange.status < 500 or exchange.method == "HEAD":
        return
    kind = exchange.headers.get("content-type", "")
    if not kind.split(";")[0].strip().lower() == "application/json":
        raise RuleBroken("error-body-shape", f"a {exchange.status} came as {kind or 'no type'}")
    try:
        error = exchange.json()["error"]
        ok = isinstance(error["code"], str) and isinstance(error["message"], str) and bool(
            error["message"])
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise RuleBroken("error-body-shape",
                         f'the {exchange.status} body is not {{"error": {{"code", "message"}}}}')


@rule("no-content-has-no-body")
def no_content_has_no_body(exchange: Exchange, ctx: Context) -> None:
    """A 204 carries no body (the spec declares no content for it)."""
    if exchange.status == 204 and exchange.content:
        raise RuleBroken("no-content-has-no-body",
                         f"a 204 came with a {len(exchange.content)}-byte body")


@rule("unauthorized-www-authenticate")
def unauthorized_www_authenticate(exchange: Exchange, ctx: Context) -> None:
    if exchange.status == 401 and not exchange.headers.get(
            "www-authenticate", "").startswith("Bearer"):
        raise RuleBroken("unauthorized-www-authenticate",
                         "a 401 must carry WWW-Authenticate: Bearer ...")


def check_all(exchange: Exchange, ctx: Context) -> None:
    """Apply every rule; the first broken one raises."""
    for func in RULES.values():
        func(exchange, ctx)


def schemathesis_checks(ctx: Context) -> list[Callable[..., None]]:
    """Every rule as a Schemathesis check `(check_ctx, response, case)`, named after it."""

    def make(func: Rule) -> Callable[..., None]:
        def check(_check_ctx: Any, response: Any, case: Any) -> None:
            exchange = Exchange.from_prepared(response.request, response.status_code,
                                              response.headers, response.content)
            func(exchange, ctx)
        check.__name__ = func.rule_name.replace("-", "_")  # type: ignore[attr-defined]
        return check

    return [make(func) for func in RULES.values()]
