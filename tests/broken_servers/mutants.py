"""Broken servers, each breaking exactly one rule of the contract.

`expect` lists the rules the suite may name for the kill to count: the output must hold a
`rule <name>:` line of the contract suite for one of them (a generic Schemathesis phrase such
as "Server error" is no evidence of which rule caught it).
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request, Response

from broken_servers.base import (
    ADMIN,
    CONNECTION,
    DEPROVISION,
    EXPIRED,
    OTHER_ORG,
    OTHER_USER,
    PROVISION,
    SUBSCRIPTION,
    Broken,
    RewriteTokens,
    error,
    json_response,
    now_times,
    token_response,
)


class _GrantsRefused(Broken):
    """Answers 200 where the app refused a channel (403) for one kind of reason."""

    def wrongly_granted(self, channel: str, me: dict[str, Any]) -> bool:
        raise NotImplementedError

    def handle(self, request: Request) -> Response:
        response = self.forward(request)
        channel = self.channel_of(request)
        if request.path != SUBSCRIPTION or response.status_code != 403 or not channel:
            return response
        me = self.caller(request)
        if me and self.wrongly_granted(channel, me):
            return token_response({"sub": me["sub"], "channel": channel, **now_times()})
        return response

    @staticmethod
    def parts(channel: str, me: dict[str, Any]) -> tuple[str, str, list[str] | None, set[str]]:
        namespace, _, rest = channel.partition(":")
        org, hash_, users = rest.partition("#")
        granted = {c.split(":", 1)[0] for c in me.get("channels", [])}
        return namespace, org, (users.split(",") if hash_ else None), granted


class GrantsOtherUsersChannel(_GrantsRefused):
    breaks = "grants a user-limited channel that does not list the caller"
    expect = ("channel-foreign-user-403",)

    def wrongly_granted(self, channel: str, me: dict[str, Any]) -> bool:
        namespace, org, users, granted = self.parts(channel, me)
        return (namespace in granted and org == me["info"]["org"] and users is not None
                and me["sub"] not in users)


class GrantsOtherOrgsChannel(_GrantsRefused):
    breaks = "grants a channel of another organisation"
    expect = ("channel-foreign-org-403",)

    def wrongly_granted(self, channel: str, me: dict[str, Any]) -> bool:
        namespace, org, users, granted = self.parts(channel, me)
        return namespace in granted and org != me["info"]["org"] and (
            users is None or me["sub"] in users)


class GrantsUngrantedNamespace(_GrantsRefused):
    breaks = "grants a namespace the caller's scopes do not grant"
    expect = ("channel-ungranted-namespace-403",)

    def wrongly_granted(self, channel: str, me: dict[str, Any]) -> bool:
        namespace, org, users, granted = self.parts(channel, me)
        return namespace not in granted and org == me["info"]["org"] and (
            users is None or me["sub"] in users)


class SkipsAuth(Broken):
    breaks = "serves requests without an Authorization header (as the admin)"
    expect = ("auth-required-401",)

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/events/") and not request.headers.get("Authorization"):
            return self.forward(request, headers={"Authorization": f"Bearer {ADMIN}"})
        return self.forward(request)


class AcceptsExpiredToken(Broken):
    breaks = "accepts an expired bearer token"
    expect = ("expired-token-401",)

    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization", "").strip() == f"Bearer {EXPIRED}":
            return self.forward(request, headers={"Authorization": f"Bearer {ADMIN}"})
        return self.forward(request)


class SignsWithAlgNone(RewriteTokens):
    breaks = "issues unsigned tokens (alg: none)"
    expect = ("jwt-well-formed-hs256",)
    algorithm = "none"


class SignsWithAnotherKey(RewriteTokens):
    breaks = "signs tokens with a key other than the configured secret"
    expect = ("jwt-signature",)
    key = "some-other-secret-that-is-at-least-32-bytes-long"


class WrongSubscriptionSub(RewriteTokens):
    breaks = "subscription token's sub is not the caller"
    expect = ("subscription-sub-is-caller",)

    def rewrite(self, path: str, payload: dict[str, Any], request: Request) -> dict[str, Any]:
        return {**payload, "sub": OTHER_USER} if path == SUBSCRIPTION else payload


class WrongChannelClaim(RewriteTokens):
    breaks = "subscription token's channel claim drops the user limitation"
    expect = ("subscription-channel-is-requested",)

    def rewrite(self, path: str, payload: dict[str, Any], request: Request) -> dict[str, Any]:
        if path == SUBSCRIPTION:
            return {**payload, "channel": payload["channel"].split("#", 1)[0]}
        return payload


class ExpiredTokensIssued(RewriteTokens):
    breaks = "issues tokens whose exp is already in the past"
    expect = ("jwt-exp-in-future",)

    def rewrite(self, path: str, payload: dict[str, Any], request: Request) -> dict[str, Any]:
        return {**payload, "iat": payload["iat"] - 7200, "exp": payload["iat"] - 3600}


class IatAfterExp(RewriteTokens):
    breaks = "issues tokens whose iat is after exp"
    expect = ("jwt-iat-exp",)

    def rewrite(self, path: str, payload: dict[str, Any], request: Request) -> dict[str, Any]:
        return {**payload, "iat": payload["exp"] + 60, "exp": payload["exp"]}


class ConnectionTokenWithChannelClaim(RewriteTokens):
    breaks = "connection token carries a channel claim"
    expect = ("connection-no-channel-claim",)

    def rewrite(self, path: str, payload: dict[str, Any], request: Request) -> dict[str, Any]:
        if path == CONNECTION:
            return {**payload, "channel": (payload.get("channels") or ["x"])[0]}
        return payload


class SubscriptionTokenWithExtraClaim(RewriteTokens):
    breaks = "subscription token carries a claim the spec's SubscriptionTokenClaims lacks"
    expect = ("jwt-claims-schema",)

    def rewrite(self, path: str, payload: dict[str, Any], request: Request) -> dict[str, Any]:
        if path == SUBSCRIPTION:
            return {**payload, "scope": "events:admin"}
        return payload


class ConnectionTokenWithForeignChannel(RewriteTokens):
    breaks = "connection token subscribes to another organisation's channel"
    expect = ("connection-channels-of-caller-org",)

    def rewrite(self, path: str, payload: dict[str, Any], request: Request) -> dict[str, Any]:
        if path == CONNECTION:
            return {**payload, "channels": [*payload["channels"], f"shipments:{OTHER_ORG}"]}
        return payload


class ServerErrorOnBadBody(Broken):
    breaks = "answers 500 to a subscription request whose body is not JSON"
    expect = ("subscription-bad-body-400",)

    def handle(self, request: Request) -> Response:
        response = self.forward(request)
        if request.path == SUBSCRIPTION and response.status_code == 400:
            try:
                json.loads(request.get_data() or b"null")
            except ValueError:
                return error(500, "internal_error", "JSONDecodeError")
        return response


class NonJsonErrors(Broken):
    breaks = "sends 4xx errors as text/plain"
    expect = ("error-body-shape",)

    def handle(self, request: Request) -> Response:
        response = self.forward(request)
        if 400 <= response.status_code < 500 and request.path.startswith("/events/"):
            text = response.get_json()["error"]["message"]
            plain = Response(text, status=response.status_code, content_type="text/plain")
            for name in ("WWW-Authenticate", "Allow"):
                if name in response.headers:
                    plain.headers[name] = response.headers[name]
            return plain
        return response


class UnauthorizedInsteadOfForbidden(Broken):
    breaks = "answers 401 where the caller is known but refused (403)"
    expect = ("channel-foreign-user-403", "channel-foreign-org-403",
              "channel-ungranted-namespace-403", "provisioning-needs-admin-scope-403")

    def handle(self, request: Request) -> Response:
        response = self.forward(request)
        if response.status_code == 403 and request.path.startswith("/events/"):
            return error(401, "unauthorized", response.get_json()["error"]["message"],
                         {"WWW-Authenticate": 'Bearer realm="envoy-events"'})
        return response


class IgnoresJsonBody(Broken):
    breaks = "reads the channel only from ?channel=, ignoring the documented JSON body"
    expect = ("channel-own-granted", "subscription-json-body-form")

    def handle(self, request: Request) -> Response:
        if request.path == SUBSCRIPTION:
            return self.forward(request, data=b"", headers={"Content-Type": None})
        return self.forward(request)


class AcceptsDisagreeingQuery(Broken):
    breaks = "accepts a body and ?channel= that disagree (uses the body)"
    expect = ("subscription-body-query-disagree-400",)

    def handle(self, request: Request) -> Response:
        if request.path == SUBSCRIPTION and request.get_data().strip() and request.args:
            return self.forward(request, query="")
        return self.forward(request)


class TokensWhileUnprovisioned(Broken):
    breaks = "keeps issuing tokens after deprovision"
    expect = ("not-provisioned-409",)

    def handle(self, request: Request) -> Response:
        response = self.forward(request)
        if request.path == DEPROVISION and response.status_code == 204:
            self.forward(Request(dict(request.environ, PATH_INFO=PROVISION)))
        return response


class DeprovisionKeepsWebhooks(Broken):
    breaks = "deprovision keeps the organisation's webhook endpoints"
    expect = ("deprovision-deletes-webhook-endpoints",)

    def handle(self, request: Request) -> Response:
        if request.path != DEPROVISION:
            return self.forward(request)
        me = self.caller(request)
        path = f"/__mock__/orgs/{me['info']['org']}/webhook_endpoints" if me else None
        kept = self.request("GET", path).get_json()["webhook_endpoints"] if path else []
        response = self.forward(request)
        if response.status_code == 204:
            for endpoint in kept:
                self.request("POST", path, body={"url": endpoint["url"]})
        return response


class ProvisionAnswers200(Broken):
    breaks = "provision answers 200 with a body instead of 204"
    expect = ("provision-204",)

    def handle(self, request: Request) -> Response:
        response = self.forward(request)
        if request.path == PROVISION and response.status_code == 204:
            return json_response(200, {"provisioned": True})
        return response


class NoWwwAuthenticate(Broken):
    breaks = "401 without a WWW-Authenticate header"
    expect = ("unauthorized-www-authenticate",)

    def handle(self, request: Request) -> Response:
        response = self.forward(request)
        response.headers.pop("WWW-Authenticate", None)
        return response


class ProvisionWithoutAdminScope(Broken):
    breaks = "lets a principal without the provisioning scope provision and deprovision"
    expect = ("provisioning-needs-admin-scope-403",)

    def handle(self, request: Request) -> Response:
        response = self.forward(request)
        if request.path in (PROVISION, DEPROVISION) and response.status_code == 403:
            return self.forward(request, headers={"Authorization": f"Bearer {ADMIN}"})
        return response


class MalformedChannelForbidden(Broken):
    breaks = "answers 403 instead of 400 to a channel outside the grammar"
    expect = ("channel-malformed-400",)

    def handle(self, request: Request) -> Response:
        response = self.forward(request)
        if request.path == SUBSCRIPTION and response.status_code == 400 and isinstance(
                self.channel_of(request), str):
            return error(403, "forbidden", "You may not join that channel.")
        return response


MUTANTS: dict[str, type[Broken]] = {
    "grants-other-users-channel": GrantsOtherUsersChannel,
    "grants-other-orgs-channel": GrantsOtherOrgsChannel,
    "grants-ungranted-namespace": GrantsUngrantedNamespace,
    "skips-auth": SkipsAuth,
    "accepts-expired-token": AcceptsExpiredToken,
    "signs-alg-none": SignsWithAlgNone,
    "signs-with-another-key": SignsWithAnotherKey,
    "wrong-subscription-sub": WrongSubscriptionSub,
    "wrong-channel-claim": WrongChannelClaim,
    "exp-in-the-past": ExpiredTokensIssued,
    "iat-after-exp": IatAfterExp,
    "connection-channel-claim": ConnectionTokenWithChannelClaim,
    "connection-foreign-channel": ConnectionTokenWithForeignChannel,
    "subscription-extra-claim": SubscriptionTokenWithExtraClaim,
    "500-on-bad-body": ServerErrorOnBadBody,
    "non-json-errors": NonJsonErrors,
    "401-instead-of-403": UnauthorizedInsteadOfForbidden,
    "ignores-json-body": IgnoresJsonBody,
    "accepts-disagreeing-query": AcceptsDisagreeingQuery,
    "tokens-while-unprovisioned": TokensWhileUnprovisioned,
    "deprovision-keeps-webhooks": DeprovisionKeepsWebhooks,
    "provision-answers-200": ProvisionAnswers200,
    "401-without-www-authenticate": NoWwwAuthenticate,
    "provision-without-admin-scope": ProvisionWithoutAdminScope,
    "malformed-channel-403": MalformedChannelForbidden,
}
