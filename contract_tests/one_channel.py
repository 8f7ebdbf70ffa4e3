"""Keep Schemathesis' positive cases inside the "one of the two, or both equal" rule.

The spec declares both the `channel` query parameter and the body as optional, because
OpenAPI cannot say "at least one, and equal when both" (the spec says it in an `x-assumed`
sentence). Schemathesis, reading only the schema, generates positive cases with both and
different values, or with neither; the contract answers those with 400. This `map_case`
hook makes such a positive case valid: the query takes the body's channel, and a case with
neither gets the spec's example channel in the query. Negative cases are left alone.
"""

from __future__ import annotations

from typing import Any

from envoy_events_kit.documents import spec_document


def _example_channel() -> str:
    raw = spec_document()
    return raw["components"]["schemas"]["Channel"]["examples"][0]


def _positive(case: Any) -> bool:
    meta = case.meta  # public since Schemathesis 4
    return meta is None or not meta.generation.mode.is_negative


def align_channel(ctx: Any, case: Any) -> Any:
    """Schemathesis `map_case` hook for `getSubscriptionToken` positive cases."""
    if case.operation.definition.raw.get("operationId") != "getSubscriptionToken":
        return case
    if not _positive(case):
        return case
    body = case.body if isinstance(case.body, dict) else None
    from_body = body.get("channel") if body else None
    query = dict(case.query or {})
    if isinstance(from_body, str):
        if "channel" in query:
            query["channel"] = from_body
            case.query = query
    elif "channel" not in query:
        query["channel"] = _example_channel()
        case.query = query
    return case
