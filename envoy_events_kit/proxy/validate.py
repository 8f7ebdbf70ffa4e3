"""Judge one request/response pair seen by the proxy against `openapi/events.yaml`.

Everything structural is read from the spec through the mock's own compiled validators
(`mock_server.spec.Spec`): which paths and methods exist, what each request may carry (the
JSON body on a GET and its `?channel=` alternative alike), which statuses each operation
answers with which content type, body schema and required headers, and the check order
(`x-check-order`). Issued tokens are decoded (signature checked only when a secret is given)
against the claims schemas of `envoy_events_kit.claims`.

A finding is on the *server* side (the response breaks the contract: a violation) or on the
*client* side (the request is outside the spec; the server should refuse it, and a refusal
in the check order's place is no violation).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from hashlib import sha256
from typing import Any
from urllib.parse import parse_qs

import jwt

from envoy_events_kit import spec_path
from envoy_events_kit.claims import CONNECTION, SUBSCRIPTION, Claims, claims
from envoy_events_kit.mock_server.spec import Operation, Spec, first_error

SERVER, CLIENT = "server", "client"
#: Seconds of clock difference tolerated between the proxy and the server.
CLOCK_SKEW = 5
#: The claims schema of the token each operation issues (the spec names both schemas; which
#: operation issues which is said in prose, so it is the one fact stated here).
TOKEN_CLAIMS = {"getConnectionToken": CONNECTION, "getSubscriptionToken": SUBSCRIPTION}
#: Callers remembered from their connection tokens (keyed by a hash of the bearer token).
MAX_CALLERS = 1024


@dataclass(frozen=True)
class Finding:
    """One thing off in one exchange: the rule, a sentence (never a token), whose fault."""

    rule: str
    detail: str
    side: str = SERVER


@dataclass
class Exchange:
    """What the proxy saw: the request as sent upstream and the answer (body None when the
    answer was streamed through without being inspected)."""

    method: str
    path: str
    query: str
    authorization: str | None
    request_body: bytes
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes | None
    request_content_type: str | None = None

    @property
    def mimetype(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def bearer(self) -> str | None:
        scheme, _, token = (self.authorization or "").strip().partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None

    @cached_property
    def request_json(self) -> Any:
        """The request body parsed as JSON; `_NOT_JSON` when it is not JSON, None if empty."""
        return _parse(self.request_body) if self.request_body.strip() else None

    @cached_property
    def response_json(self) -> Any:
        """The answer's body parsed as JSON; `_NOT_JSON` when it is not (or was not seen)."""
        return _parse(self.body) if self.body is not None else _NOT_JSON


@dataclass(frozen=True)
class Caller:
    """Who a bearer token is, as its connection token said (signature unchecked)."""

    user_id: str
    org_id: str | None
    namespaces: frozenset[str]


@dataclass(frozen=True)
class _Response:
    content_type: str | None
    validator: Any | None
    headers: tuple[tuple[str, bool, Any], ...]  # (lower-case name, required, validator)


@dataclass(frozen=True)
class Route:
    """One operation of the spec, compiled for the proxy."""

    operation: Operation
    pattern: re.Pattern[str]
    needs_bearer: bool
    responses: dict[str, _Response] = field(default_factory=dict)
    #: Body property the query alternative stands for (`channel`), when there is one.
    alternative_of: str | None = None


@dataclass(frozen=True)
class Verdict:
    """The findings of one exchange, and whether the request matched a spec operation."""

    findings: tuple[Finding, ...]
    operation_id: str | None

    @property
    def violations(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.side == SERVER)

    @property
    def request_problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.side == CLIENT)


_NOT_JSON: Any = object()


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _b64json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def split_channel(channel: str) -> tuple[str, str, tuple[str, ...] | None]:
    """`ns:org[#usr,...]` split at the first `:` and the last `#`, as Centrifugo does."""
    namespace, _, rest = channel.partition(":")
    body, hash_, users = rest.rpartition("#")
    if not hash_:
        return namespace, rest, None
    return namespace, body, tuple(users.split(","))


#: Top-level keywords under which each property is judged on its own (no keyword relates
#: two properties), so a payload can be judged claim by claim.
_PER_PROPERTY = {"type", "required", "properties", "additionalProperties", "description",
                 "title", "examples"}


class _ClaimsCheck:
    """A claims schema, with a shortcut for the common case: a payload equal, but for its
    time claims (`iat`, `exp`: new in every token), to one that passed is judged on its
    time claims alone, each against its own property schema from the spec. Exact, because
    the schema judges each property on its own (checked at start; else no shortcut)."""

    def __init__(self, spec: Spec, name: str, layout: Claims) -> None:
        schema = spec.resolve(spec.document["components"]["schemas"][name])
        self.validator = spec.component(name)
        self.time_claims: tuple[str, ...] = ()
        self.time_validators: dict[str, Any] = {}
        keywords = {k for k in schema if not k.startswith("x-")}
        if keywords <= _PER_PROPERTY and schema.get("type") == "object":
            paths = [layout.path_of(v) for v in ("issued_at", "expires_at")
                     if v in {value for _, value in layout.layout}]
            if all(len(path) == 1 for path in paths):
                self.time_claims = tuple(path[0] for path in paths)
                self.time_validators = {c: spec.validator(schema["properties"][c])
                                        for c in self.time_claims}
        self._passed: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def problems(self, payload: Any) -> list[str]:
        key = None
        if (self.time_claims and isinstance(payload, dict)
                and all(c in payload for c in self.time_claims)):
            rest = {k: v for k, v in payload.items() if k not in self.time_claims}
            key = json.dumps(rest, sort_keys=True)
            with self._lock:
                known = key in self._passed
            if known:
                return [f"{claim}: {problem}" for claim in self.time_claims
                        if (problem := first_error(self.time_validators[claim],
                                                   payload[claim]))]
        found = [f"{'/'.join(map(str, e.absolute_path)) or 'payload'}: {e.message}"
                 for e in self.validator.iter_errors(payload)]
        if key is not None and not found:
            with self._lock:
                self._passed[key] = None
                while len(self._passed) > MAX_CALLERS:
                    self._passed.popitem(last=False)
        return found


class Validator:
    """Compiled once from the spec; `judge(exchange)` is safe to call from many threads."""

    def __init__(self, spec: Spec | None = None, secret: str | None = None,
                 now: Any = time.time) -> None:
        self.spec = spec or Spec(spec_path())
        self.secret = secret
        self.now = now
        raw = self.spec.document
        self.check_order: list[int] = list(raw.get("info", {}).get("x-check-order", []))
        self.routes = [self._route(op) for op in self.spec.operations.values()]
        self.claims: dict[str, Claims] = {op: claims(name) for op, name in TOKEN_CLAIMS.items()
                                          if op in self.spec.operations}
        # The same schemas through the spec's inlined validators (~3x faster per token).
        self._claims_checks = {op: _ClaimsCheck(self.spec, name, self.claims[op])
                               for op, name in TOKEN_CLAIMS.items() if op in self.claims}
        self._callers: OrderedDict[str, Caller] = OrderedDict()
        self._lock = threading.Lock()

    # -- compiling the spec --------------------------------------------------------------
    def _route(self, op: Operation) -> Route:
        raw = self.spec.document["paths"][op.path][op.method.lower()]
        security = raw.get("security", self.spec.document.get("security", []))
        schemes = self.spec.document.get("components", {}).get("securitySchemes", {})
        bearer_names = {name for name, s in schemes.items()
                        if s.get("type") == "http" and s.get("scheme", "").lower() == "bearer"}
        # Bearer is needed when every alternative requirement names a bearer scheme.
        needs = bool(security) and all(set(req) & bearer_names for req in security)
        pattern = re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(op.path)) + "$")
        alternative_of = None
        if op.query_alternative is not None and op.body_validator is not None:
            body_schema = self._body_schema(raw)
            if op.query_alternative[0] in body_schema.get("properties", {}):
                alternative_of = op.query_alternative[0]
        responses = {str(status): self._response(answer)
                     for status, answer in raw.get("responses", {}).items()}
        return Route(op, pattern, needs, responses, alternative_of)

    def _body_schema(self, raw: dict[str, Any]) -> dict[str, Any]:
        body = self.spec.resolve(raw.get("requestBody")) or {}
        schema = body.get("content", {}).get("application/json", {}).get("schema", {})
        return self.spec.resolve(schema) or {}

    def _response(self, raw: Any) -> _Response:
        answer = self.spec.resolve(raw)
        content = answer.get("content") or {}
        content_type = next(iter(content), None)
        validator = None
        if content_type is not None:
            validator = self.spec.validator(content[content_type].get("schema", {}))
        headers = []
        for name, header in (answer.get("headers") or {}).items():
            header = self.spec.resolve(header)
            schema = header.get("schema")
            headers.append((name.lower(), bool(header.get("required")),
                            self.spec.validator(schema) if schema else None))
        return _Response(content_type, validator, tuple(headers))

    def route(self, method: str, path: str) -> Route | None:
        for route in self.routes:
            if route.operation.method == method and route.pattern.match(path):
                return route
        return None

    # -- judging -------------------------------------------------------------------------
    def judge(self, exchange: Exchange) -> Verdict:
        """Every finding for one exchange; exchanges outside the spec's operations (other
        paths, CORS preflights, HEAD) are not judged (operation_id None)."""
        route = self.route(exchange.method, exchange.path)
        if route is None:
            return Verdict((), None)
        findings: list[Finding] = []
        refused_for = self._request_problems(route, exchange, findings)
        self._response_checks(route, exchange, refused_for, findings)
        return Verdict(tuple(findings), route.operation.operation_id)

    def _request_problems(self, route: Route, ex: Exchange, out: list[Finding]) -> set[int]:
        """Client-side findings; returns the statuses the server may answer with because of
        them (empty when the request fits the spec)."""
        statuses: set[int] = set()
        if route.needs_bearer and not ex.bearer:
            out.append(Finding("request-no-bearer", "no `Authorization: Bearer <token>` "
                               "header; the operation needs one", CLIENT))
            statuses.add(401)
        problem, rule = self._parameter_problem(route, ex)
        if problem:
            out.append(Finding(rule, problem, CLIENT))
            statuses.add(400)
        if not statuses:
            return statuses
        # The check order decides which refusal comes first; a refusal before the earliest
        # problem's stays possible (a 400-worthy request with an unknown token is a 401).
        first = min(self._order(s) for s in statuses)
        allowed = {s for s in self.check_order if self._order(s) <= first}
        if ex.request_body:
            allowed.add(413)  # a body over the server's limit is refused before it is read
        return allowed

    def _order(self, status: int) -> int:
        return self.check_order.index(status) if status in self.check_order else len(
            self.check_order)

    def _parameter_problem(self, route: Route, ex: Exchange) -> tuple[str | None, str]:
        op = route.operation
        body_value: Any = None
        has_body = bool(ex.request_body.strip())
        if has_body and op.body_validator is not None:
            body = ex.request_json
            if body is _NOT_JSON:
                return "the request body is not valid JSON", "request-body-400"
            problem = first_error(op.body_validator, body)
            if problem:
                return f"the request body breaks the spec: {problem}", "request-body-400"
            if route.alternative_of:
                body_value = body.get(route.alternative_of)
        query_value = None
        if op.query_alternative is not None:
            name, validator = op.query_alternative
            values = parse_qs(ex.query, keep_blank_values=True).get(name, [])
            if len(values) > 1:
                return f"the query parameter {name!r} is given {len(values)} times", (
                    "request-query-400")
            if values:
                problem = first_error(validator, values[0])
                if problem:
                    return f"?{name}= breaks the spec: {problem}", "request-query-400"
                query_value = values[0]
        if route.alternative_of:
            name = route.alternative_of
            if body_value is not None and query_value is not None and body_value != query_value:
                return (f"the body's {name!r} and ?{name}= differ",
                        "request-body-query-disagree-400")
            if body_value is None and query_value is None:
                return (f"no {name!r}: send the JSON body or ?{name}=", "request-missing-400")
        elif op.body_required and not has_body:
            return "the operation needs a request body", "request-missing-400"
        return None, ""

    def _response_checks(self, route: Route, ex: Exchange, refused_for: set[int],
                         out: list[Finding]) -> None:
        op = route.operation
        status = str(ex.status)
        answer = route.responses.get(status)
        documented = answer is not None
        if answer is None:
            answer = route.responses.get(f"{status[0]}XX") or route.responses.get("default")
        name = f"{op.operation_id} {status}"
        if answer is None:
            out.append(Finding("response-status-undocumented",
                               f"{name}: the spec lists {', '.join(route.responses)}"))
            return
        shape = self._shape(answer, ex, name)
        if not documented and shape:
            # Only the catch-all `default` describes this status, and it does not fit.
            listed = ", ".join(s for s in route.responses if s != "default")
            out.append(Finding("response-status-undocumented",
                               f"{name}: not among {listed} and unlike the default "
                               f"response ({shape[0].detail})"))
            return
        out.extend(shape)
        if refused_for and documented and ex.status not in refused_for:
            rules = " ".join(f.rule for f in out if f.side == CLIENT)
            expected = " or ".join(str(s) for s in sorted(refused_for, key=self._order))
            rule = "auth-required-401" if 400 not in refused_for else "invalid-request-400"
            out.append(Finding(rule, f"{name}: a request outside the spec ({rules}) must be "
                                     f"refused with {expected}"))
        if not refused_for and ex.status == 400 and documented:
            out.append(Finding("valid-request-refused-400",
                               f"{name}: the request fits the spec (body, query, credentials) "
                               "yet was refused as invalid"))
        if ex.status == 200 and op.operation_id in self.claims and ex.body is not None:
            self._token_checks(op.operation_id, ex, out)

    def _shape(self, answer: _Response, ex: Exchange, name: str) -> list[Finding]:
        found: list[Finding] = []
        for header, required, validator in answer.headers:
            value = ex.headers.get(header)
            if value is None:
                if required:
                    found.append(Finding("response-header-missing", f"{name}: no {header}"))
            elif validator is not None:
                problem = first_error(validator, value)
                if problem:
                    found.append(Finding("response-header-schema",
                                         f"{name}: {header}: {problem}"))
        if ex.body is None:  # streamed through: only status and headers were seen
            return found
        if answer.content_type is None:
            if ex.body and ex.method != "HEAD":
                found.append(Finding("response-unexpected-body",
                                     f"{name}: the spec has no body, got {len(ex.body)} bytes"))
            return found
        if ex.mimetype != answer.content_type:
            found.append(Finding("response-content-type",
                                 f"{name}: {ex.mimetype or 'no content type'}, the spec says "
                                 f"{answer.content_type}"))
            return found
        body = ex.response_json
        if body is _NOT_JSON:
            found.append(Finding("response-body-json", f"{name}: the body is not JSON"))
            return found
        problem = first_error(answer.validator, body) if answer.validator else None
        if problem:
            found.append(Finding("response-body-schema", f"{name}: {problem}"))
        return found

    # -- tokens --------------------------------------------------------------------------
    def _token_checks(self, operation_id: str, ex: Exchange, out: list[Finding]) -> None:
        try:
            token = ex.response_json["token"]
            header_part, payload_part, signature = token.split(".")
            header, payload = _b64json(header_part), _b64json(payload_part)
        except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
            out.append(Finding("jwt-well-formed-hs256", f"{operation_id}: the token is not a "
                                                        "JWT of three base64url JSON parts"))
            return
        if not isinstance(header, dict) or header.get("alg") != "HS256" or not signature:
            alg = header.get("alg") if isinstance(header, dict) else None
            out.append(Finding("jwt-well-formed-hs256", f"{operation_id}: alg {alg!r} with "
                               f"{'a' if signature else 'no'} signature; it must be HS256"))
        elif self.secret:
            try:
                jwt.decode(token, self.secret, algorithms=["HS256"],
                           options={"verify_exp": False, "verify_iat": False,
                                    "verify_nbf": False, "verify_aud": False})
            except jwt.PyJWTError as exc:
                out.append(Finding("jwt-signature", f"{operation_id}: the signature does not "
                                                    f"verify with the given secret ({exc})"))
        schema = self.claims[operation_id]
        problems = self._claims_checks[operation_id].problems(payload)
        if problems:
            out.append(Finding("jwt-claims-schema",
                               f"{operation_id}: {schema.name}: " + "; ".join(problems[:3])))
        if not isinstance(payload, dict):
            return
        iat, exp = schema.get(payload, "issued_at"), schema.get(payload, "expires_at")
        if isinstance(iat, int) and isinstance(exp, int):
            if iat > exp:
                out.append(Finding("jwt-iat-exp", f"{operation_id}: iat {iat} is after exp "
                                                  f"{exp}"))
            if exp <= self.now() - CLOCK_SKEW:
                out.append(Finding("jwt-exp-in-future", f"{operation_id}: exp {exp} is already "
                                   "in the past (by the proxy's clock)"))
        if operation_id == "getConnectionToken":
            self._connection_checks(schema, payload, ex, out)
        else:
            self._subscription_checks(schema, payload, ex, out)

    def _connection_checks(self, schema: Claims, payload: dict[str, Any], ex: Exchange,
                           out: list[Finding]) -> None:
        sub, org = schema.get(payload, "user_id"), schema.get(payload, "org_id")
        channels = schema.get(payload, "granted_channels")
        channels = [c for c in channels if isinstance(c, str)] if isinstance(
            channels, list) else []
        orgs = {split_channel(c)[1] for c in channels}
        known = self.caller(ex.bearer)
        if known is not None and sub != known.user_id:
            out.append(Finding("connection-sub-is-caller", f"sub {sub!r}, an earlier "
                               f"connection token of the same bearer said {known.user_id!r}"))
        owner = org if isinstance(org, str) else (known.org_id if known else None)
        if owner is None and len(orgs) == 1:
            owner = next(iter(orgs))
        foreign = sorted(c for c in channels if split_channel(c)[1] != owner) if owner else []
        if foreign:
            out.append(Finding("connection-channels-of-caller-org",
                               f"channels of another organisation than {owner}: "
                               + ", ".join(foreign[:3])))
        if isinstance(sub, str) and known is None and ex.bearer:
            namespaces = frozenset(split_channel(c)[0] for c in channels
                                   if split_channel(c)[1] == owner)
            self._remember(ex.bearer, Caller(sub, owner, namespaces))

    def _subscription_checks(self, schema: Claims, payload: dict[str, Any], ex: Exchange,
                             out: list[Finding]) -> None:
        asked = self.requested_channel(ex)
        claim = schema.get(payload, "requested_channel")
        if asked is not None and claim != asked:
            out.append(Finding("subscription-channel-is-requested",
                               f"channel claim {claim!r} is not the requested {asked!r}"))
        caller = self.caller(ex.bearer)
        if caller is None:
            return
        sub = schema.get(payload, "user_id")
        if sub != caller.user_id:
            out.append(Finding("subscription-sub-is-caller",
                               f"sub {sub!r}, the caller is {caller.user_id!r}"))
        if asked is None:
            return
        namespace, org, users = split_channel(asked)
        if caller.org_id and org != caller.org_id:
            out.append(Finding("channel-foreign-org-403",
                               f"granted {asked!r}, a channel of another organisation than "
                               f"the caller's {caller.org_id}"))
        elif namespace not in caller.namespaces:
            out.append(Finding("channel-ungranted-namespace-403",
                               f"granted {asked!r}: the caller's connection token grants "
                               f"only {', '.join(sorted(caller.namespaces)) or 'nothing'}"))
        elif users is not None and caller.user_id not in users:
            out.append(Finding("channel-foreign-user-403",
                               f"granted {asked!r}, limited to users that exclude the caller "
                               f"{caller.user_id}"))

    def requested_channel(self, ex: Exchange) -> str | None:
        """The value asked for: the body's property, else the query alternative."""
        route = self.route(ex.method, ex.path)
        if route is None or route.alternative_of is None:
            return None
        name = route.alternative_of
        body = ex.request_json
        if isinstance(body, dict) and isinstance(body.get(name), str):
            return body[name]
        values = parse_qs(ex.query, keep_blank_values=True).get(name)
        return values[0] if values else None

    # -- callers learned from connection tokens ------------------------------------------
    @staticmethod
    def _key(bearer: str) -> str:
        return sha256(bearer.encode()).hexdigest()

    def caller(self, bearer: str | None) -> Caller | None:
        if not bearer:
            return None
        with self._lock:
            return self._callers.get(self._key(bearer))

    def _remember(self, bearer: str, caller: Caller) -> None:
        with self._lock:
            self._callers[self._key(bearer)] = caller
            while len(self._callers) > MAX_CALLERS:
                self._callers.popitem(last=False)
