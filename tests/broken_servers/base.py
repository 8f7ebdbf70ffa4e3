"""A WSGI wrapper around a conforming app that breaks one rule by rewriting HTTP traffic.

Broken servers only use what any client could: they call the wrapped app with ordinary
requests (the events API and the mock's public control API) and rewrite the answers. They
never touch the mock's internals, so killing them proves the suite, not the mock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import jwt
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

#: The mock's published development secret (README), used to re-sign rewritten tokens.
DEV_SECRET = "envoy-events-kit-development-secret-not-for-production"
ADMIN = "dev-admin-acme-5d1f0c2b7a9e4c31"
EXPIRED = "dev-expired-acme-9f1b3d5e7c2a4b60"
CONNECTION = "/events/connection_token"
SUBSCRIPTION = "/events/subscription_token"
PROVISION = "/events/provision"
DEPROVISION = "/events/deprovision"
OTHER_USER = "usr_2ZZZZZZZZZZZZZZZZZZZZZZZZZZ"
OTHER_ORG = "org_2ZZZZZZZZZZZZZZZZZZZZZZZZZZ"


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def sign(payload: dict[str, Any], algorithm: str = "HS256", key: str = DEV_SECRET) -> str:
    if algorithm == "none":
        return jwt.encode(payload, None, algorithm="none")
    return jwt.encode(payload, key, algorithm=algorithm)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {},
                    content_type="application/json")


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None
          ) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}}, headers)


def token_response(payload: dict[str, Any], **sign_kwargs: Any) -> Response:
    return json_response(200, {"token": sign(payload, **sign_kwargs)})


def now_times(ttl: int = 3600) -> dict[str, int]:
    iat = int(time.time())
    return {"iat": iat, "exp": iat + ttl}


class Broken:
    """WSGI middleware: `handle(request)` answers, by default by forwarding to the app."""

    #: The one rule this server breaks, and what the suite's output must name.
    breaks: str = ""
    expect: tuple[str, ...] = ()

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        request.get_data(cache=True)
        response = self.handle(request)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        return self.forward(request)

    # -- talking to the wrapped (conforming) app ------------------------------------------
    def forward(self, request: Request, *, headers: dict[str, str] | None = None,
                data: bytes | None = None, query: str | None = None) -> Response:
        """Send the request on, optionally with other headers, body or query string."""
        merged = {k: v for k, v in request.headers.items()
                  if k.lower() not in ("content-length", "host")}
        for name, value in (headers or {}).items():
            merged.pop(name, None)
            if value is not None:
                merged[name] = value
        builder = EnvironBuilder(
            path=request.path, method=request.method, headers=merged,
            data=request.get_data() if data is None else data,
            query_string=(request.query_string.decode("latin-1") if query is None else query))
        return self.call(builder.get_environ())

    def call(self, environ: dict) -> Response:
        return Response.from_app(self.app, environ, buffered=True)

    def request(self, method: str, path: str, token: str | None = None,
                body: Any = None) -> Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        extra = {"json": body} if body is not None else {}
        builder = EnvironBuilder(path=path, method=method, headers=headers, **extra)
        return self.call(builder.get_environ())

    def caller(self, request: Request) -> dict[str, Any] | None:
        """Claims of a connection token taken with the request's credentials, if any."""
        auth = request.headers.get("Authorization", "")
        answer = self.call(EnvironBuilder(path=CONNECTION, headers={"Authorization": auth}
                                          ).get_environ())
        if answer.status_code != 200:
            return None
        return claims(answer.get_json()["token"])

    @staticmethod
    def channel_of(request: Request) -> str | None:
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("channel"), str):
            return body["channel"]
        return request.args.get("channel")


class RewriteTokens(Broken):
    """Re-sign every issued token after `rewrite(path, claims, request)` changed its claims."""

    algorithm = "HS256"
    key = DEV_SECRET

    def rewrite(self, path: str, payload: dict[str, Any], request: Request) -> dict[str, Any]:
        return payload

    def handle(self, request: Request) -> Response:
        response = self.forward(request)
        if request.path in (CONNECTION, SUBSCRIPTION) and response.status_code == 200:
            payload = self.rewrite(request.path, claims(response.get_json()["token"]), request)
            return token_response(payload, algorithm=self.algorithm, key=self.key)
        return response
