"""Who is calling: the bearer token in `Authorization`, looked up in the store (401s)."""

from __future__ import annotations

from flask import request

from ..state.model import Principal
from ..state.store import Store
from .errors import ApiError
from .tokens import Clock

REALM = 'Bearer realm="envoy-events"'
#: Where the accepted principal's name is left for the journal (never the token).
PRINCIPAL_KEY = "envoy_events.principal"


def _unauthorized(message: str, token_given: bool) -> ApiError:
    challenge = REALM
    if token_given:
        challenge += f', error="invalid_token", error_description="{message}"'
    return ApiError(401, "unauthorized", message, {"WWW-Authenticate": challenge})


def authenticate(store: Store, clock: Clock) -> Principal:
    """The principal behind the request's bearer token, or a 401 explaining why not."""
    # WSGI servers join repeated headers with ", ", so duplicates arrive as one unknown token.
    environ = request.environ  # one proxy lookup: read the header and leave the name here
    header = environ.get("HTTP_AUTHORIZATION", "").strip()
    if not header:
        raise _unauthorized("An Authorization: Bearer <token> header is required.", False)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise _unauthorized("The Authorization header must use the Bearer scheme.", False)
    principal = store.principal(token.strip())
    if principal is None:
        raise _unauthorized("The bearer token is not known.", True)
    if principal.expired(clock.now()):
        raise _unauthorized("The bearer token has expired.", True)
    environ[PRINCIPAL_KEY] = principal.name or principal.user_id
    return principal
