"""An independent implementation of the events API, written from docs/contract.md alone.

It shares no code with the mock: its own identities (organisation, users, namespaces, one
the spec does not know), its own secret and token lifetime (900 s), its own messages, header
spellings and claim order. It conforms, so the parity run must find no difference with the
mock that mirrors it and the proxy no violation in front of it: what the two commands
compare must be the contract, not the mock's incidental choices.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import jwt
from werkzeug.wrappers import Request, Response

SECRET = "an-independent-secret-of-at-least-32-bytes"
TTL = 900
ORG = "org_" + "1IndependentOrganisation".ljust(27, "q")
OTHER = "org_" + "1IndependentOtherOrg".ljust(27, "q")
CALLER = "usr_" + "1IndependentCaller".ljust(27, "q")
BOSS = "usr_" + "1IndependentBoss".ljust(27, "q")
NAMESPACES = ("fleet", "shipments", "orders")
TOKENS: dict[str, dict[str, Any]] = {
    "indep-caller-7f3a9c": {"user": CALLER, "org": ORG, "grants": ("shipments", "fleet"),
                            "admin": False},
    "indep-boss-2b8d41": {"user": BOSS, "org": ORG, "grants": NAMESPACES, "admin": True},
    "indep-expired-5e0c17": {"user": CALLER, "org": ORG, "grants": ("fleet",),
                             "admin": False, "expired": True},
}
CHANNEL = re.compile(r"[a-z][a-z0-9_-]{1,31}:org_[0-9A-Za-z]{27}"
                     r"(#usr_[0-9A-Za-z]{27}(,usr_[0-9A-Za-z]{27})*)?")


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class IndependentServer:
    """A WSGI app: the four operations, check order 401, 400, 403, 409."""

    def __init__(self) -> None:
        self.provisioned = {ORG: True, OTHER: False}
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self.route(request)
        except Refused as refused:
            response = Response(json.dumps({"error": {"message": refused.message,
                                                      "code": refused.code}}),
                                status=refused.status,
                                content_type="application/json; charset=utf-8")
            if refused.status == 401:
                response.headers["www-authenticate"] = (
                    'Bearer realm="independent", error="invalid_token"'
                    if request.headers.get("Authorization") else 'Bearer realm="independent"')
        return response(environ, start_response)

    def route(self, request: Request) -> Response:
        handlers = {"/events/connection_token": self.connection,
                    "/events/subscription_token": self.subscription,
                    "/events/provision": self.provision, "/events/deprovision": self.deprovision}
        if request.path not in handlers:
            raise Refused(404, "not_found", "Unknown path.")
        if request.method != "GET":
            raise Refused(405, "method_not_allowed", "GET only.")
        return handlers[request.path](request)

    @staticmethod
    def who(request: Request) -> dict[str, Any]:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        principal = TOKENS.get(token.strip()) if scheme == "Bearer" else None
        if principal is None or principal.get("expired"):
            raise Refused(401, "unauthorized", "Who are you?")
        return principal

    def require_on(self, principal: dict[str, Any]) -> None:
        with self.lock:
            if not self.provisioned[principal["org"]]:
                raise Refused(409, "not_provisioned", "Streaming is off for your organisation.")

    @staticmethod
    def token(claims: dict[str, Any]) -> Response:
        now = int(time.time())
        body = {"token": jwt.encode({**claims, "exp": now + TTL, "iat": now}, SECRET,
                                    algorithm="HS256")}
        return Response(json.dumps(body), content_type="application/json")

    def connection(self, request: Request) -> Response:
        me = self.who(request)
        self.require_on(me)
        channels = [f"{ns}:{me['org']}" for ns in me["grants"]]  # in grant order, not sorted
        return self.token({"channels": channels, "sub": me["user"], "info": {"org": me["org"]}})

    @staticmethod
    def asked(request: Request) -> str:
        from_body = None
        raw = request.get_data()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                raise Refused(400, "invalid_request", "Body is not JSON.") from None
            if not isinstance(body, dict) or not isinstance(body.get("channel"), str):
                raise Refused(400, "invalid_request", "Body needs a string channel.")
            from_body = body["channel"]
        values = request.args.getlist("channel")
        if len(values) > 1:
            raise Refused(400, "invalid_request", "One channel, please.")
        from_query = values[0] if values else None
        if from_body is not None and from_query is not None and from_body != from_query:
            raise Refused(400, "invalid_request", "Body and query disagree.")
        channel = from_body if from_body is not None else from_query
        if channel is None or len(channel) > 255 or not CHANNEL.fullmatch(channel):
            raise Refused(400, "invalid_request", "Not a channel.")
        return channel

    def subscription(self, request: Request) -> Response:
        me = self.who(request)
        channel = self.asked(request)
        namespace, _, rest = channel.partition(":")
        org, hash_, users = rest.partition("#")
        if (namespace not in me["grants"] or org != me["org"]
                or (hash_ and me["user"] not in users.split(","))):
            raise Refused(403, "forbidden", "Not yours.")
        self.require_on(me)
        return self.token({"channel": channel, "sub": me["user"]})

    def set_provisioned(self, request: Request, value: bool) -> Response:
        me = self.who(request)
        if not me["admin"]:
            raise Refused(403, "forbidden", "Admins only.")
        with self.lock:
            self.provisioned[me["org"]] = value
        return Response(status=204)

    def provision(self, request: Request) -> Response:
        return self.set_provisioned(request, True)

    def deprovision(self, request: Request) -> Response:
        return self.set_provisioned(request, False)
