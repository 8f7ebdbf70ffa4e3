"""How two answers to the same request may differ, one rule per kind of difference.

Compared: the status; then, when the statuses agree, the content type, the error code, the
JSON shape (keys and value types, not the values: messages are free text), the presence of
`WWW-Authenticate`, and for issued tokens the JOSE header, every claim except the ones that
must differ (`iat`, `exp`: each side's clock; the signature: each side's secret) and the
token's lifetime (`exp - iat`).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from envoy_events_kit.claims import CONNECTION, SUBSCRIPTION, claims

#: Claims that must differ between two sides: when a token was made (each side's clock).
TIME_CLAIMS = ("issued_at", "expires_at")
#: Seconds two sides' `iat`/`exp` may differ once each is taken relative to its own clock
#: (the `Date` header has a one-second resolution; the two requests are not simultaneous).
CLOCK_TOLERANCE = 5


@dataclass(frozen=True)
class Answer:
    """What one side answered, reduced to what is compared."""

    status: int
    content_type: str
    body: bytes
    www_authenticate: bool
    #: The side's own "now": its `Date` header, else when the answer arrived.
    clock: float = 0.0

    @classmethod
    def from_response(cls, response: Any) -> Answer:
        kind = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        return cls(response.status_code, kind, response.content,
                   "WWW-Authenticate" in response.headers, _clock(response.headers))

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            return None


@dataclass(frozen=True)
class Difference:
    rule: str
    detail: str


def shape(value: Any) -> Any:
    """Keys and value types of a JSON value (lists: the set of their items' shapes)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        shapes = []
        for item in value:
            if shape(item) not in shapes:
                shapes.append(shape(item))
        return shapes
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    if isinstance(value, int | float):
        return "number"
    return "string"


def _clock(headers: Any) -> float:
    try:
        return parsedate_to_datetime(headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError, IndexError):
        return time.time()


def _segment(token: str, index: int) -> Any:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _token_parts(body: Any) -> tuple[Any, Any] | None:
    try:
        token = body["token"]
        return _segment(token, 0), _segment(token, 1)
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def _unordered(value: Any) -> Any:
    """Arrays compared as multisets: the spec gives the order of no claim's items."""
    if isinstance(value, list):
        return sorted((_unordered(item) for item in value), key=_show)
    if isinstance(value, dict):
        return {key: _unordered(item) for key, item in value.items()}
    return value


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if value is not None else "absent"


def compare(operation: str | None, target: Answer, mock: Answer) -> list[Difference]:
    """Every difference between the target's and the mock's answer to one request."""
    if target.status != mock.status:
        return [Difference("status", f"target {target.status}, mock {mock.status}")]
    found = []
    # A content type means nothing without content (a 204 may carry a default one).
    if target.content_type != mock.content_type and (target.body or mock.body):
        found.append(Difference("content-type", f"target {target.content_type or 'none'}, "
                                                f"mock {mock.content_type or 'none'}"))
    if target.status == 401 and target.www_authenticate != mock.www_authenticate:
        found.append(Difference("www-authenticate", "target "
                                + ("sends" if target.www_authenticate else "omits")
                                + " WWW-Authenticate, the mock "
                                + ("sends" if mock.www_authenticate else "omits") + " it"))
    ours, theirs = mock.json(), target.json()
    if isinstance(ours, dict) and isinstance(theirs, dict) and "error" in ours:
        code = (theirs.get("error") or {}).get("code") if isinstance(
            theirs.get("error"), dict) else None
        if code != ours["error"].get("code"):
            found.append(Difference("error-code", f"target {_show(code)}, mock "
                                                  f"{_show(ours['error'].get('code'))}"))
    if (theirs is None) != (ours is None) or shape(theirs) != shape(ours):
        found.append(Difference("json-shape", f"target {_show(shape(theirs))}, mock "
                                              f"{_show(shape(ours))}"))
        return found
    if target.status == 200 and operation is not None:
        found += _compare_tokens(operation, theirs, ours, (target.clock, mock.clock))
    return found


def _compare_tokens(operation: str, theirs: Any, ours: Any,
                    clocks: tuple[float, float]) -> list[Difference]:
    kind = {"getConnectionToken": CONNECTION, "getSubscriptionToken": SUBSCRIPTION}.get(
        operation)
    target_parts, mock_parts = _token_parts(theirs), _token_parts(ours)
    if kind is None or mock_parts is None:
        return []
    if target_parts is None:
        return [Difference("token-header", "the target's token is not a decodable JWT")]
    found = []
    (t_head, t_claims), (m_head, m_claims) = target_parts, mock_parts
    if t_head != m_head:
        found.append(Difference("token-header", f"target {_show(t_head)}, mock "
                                                f"{_show(m_head)}"))
    schema = claims(kind)
    skip = {schema.path_of(name)[0] for name in TIME_CLAIMS}
    t_claims = t_claims if isinstance(t_claims, dict) else {}
    for name in sorted((set(t_claims) | set(m_claims)) - skip):
        if _unordered(t_claims.get(name)) != _unordered(m_claims.get(name)):
            found.append(Difference("token-claims", f"claim {name}: target "
                                    f"{_show(t_claims.get(name))}, mock "
                                    f"{_show(m_claims.get(name))}"))
    times = [[schema.get(payload, name) for name in TIME_CLAIMS]
             for payload in (t_claims, m_claims)]
    lifetimes = [exp - iat if isinstance(iat, int) and isinstance(exp, int) else None
                 for iat, exp in times]
    if lifetimes[0] != lifetimes[1]:
        found.append(Difference("token-lifetime", f"exp - iat: target {lifetimes[0]} s, "
                                                  f"mock {lifetimes[1]} s"))
    for index, name in enumerate(TIME_CLAIMS):
        offsets = [round(value[index] - clock) if isinstance(value[index], int) else None
                   for value, clock in zip(times, clocks, strict=True)]
        if None in offsets or abs(offsets[0] - offsets[1]) > CLOCK_TOLERANCE:
            claim = schema.path_of(name)[-1]
            found.append(Difference("token-times", f"{claim} minus the side's own clock: "
                                                   f"target {offsets[0]} s, mock {offsets[1]} s"))
    return found
