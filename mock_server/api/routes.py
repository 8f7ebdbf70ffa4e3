"""Blueprint: the four Event Streaming endpoints, routed from the spec's paths.

Each handler follows the contract's check order: 401, 400, 403, 409, then the token.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from ..spec import Operation, first_error
from ..state.mock_state import MockState, current
from ..state.model import Principal
from . import channels
from .auth import authenticate
from .errors import ApiError, error_response, forbidden, invalid_request
from .responses import no_content


def _require_provisioned(state: MockState, principal: Principal) -> None:
    if not state.store.is_provisioned(principal.org_id):
        raise ApiError(409, "not_provisioned",
                       f"Organisation {principal.org_id} is not provisioned for event streaming.")


def _require_admin(state: MockState, principal: Principal) -> None:
    scope = state.fixtures.provisioning_scope
    if scope not in principal.scopes:
        raise forbidden(f"This needs the {scope!r} scope.")


def _token(token: str) -> Response:
    """What `jsonify(token=token)` sends (compact JSON and a newline), without its per-call
    provider lookups: this is the hottest response of the mock."""
    app = current_app._get_current_object()
    if app.debug:  # jsonify indents in debug mode
        return jsonify(token=token)
    # A compact JWT is base64url segments and dots: nothing in it needs JSON escaping.
    return app.response_class('{"token":"' + token + '"}\n', mimetype="application/json")


def get_connection_token() -> Response:
    state = current()
    principal = authenticate(state.store, state.clock)
    _require_provisioned(state, principal)
    granted = channels.connection_channels(principal, state.fixtures.namespaces)
    return _token(state.minter.connection(principal, granted))


def _body_channel(operation: Operation) -> Any:
    """The `channel` of the JSON body, None when there is no body; 400 when it is malformed."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise invalid_request("The request body is not valid JSON.") from exc
    problem = first_error(operation.body_validator, body)
    if problem:
        raise invalid_request(f"Invalid request body: {problem}")
    return body["channel"]


def _query_channel(operation: Operation) -> str | None:
    if operation.query_alternative is None:
        return None
    name, validator = operation.query_alternative
    values = request.args.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise invalid_request(f"Give the query parameter {name!r} once.")
    problem = first_error(validator, values[0])
    if problem:
        raise invalid_request(f"Invalid query parameter {name!r}: {problem}")
    return values[0]


def requested_channel(operation: Operation) -> str:
    """The channel from the JSON body or `?channel=`; they must agree when both are sent."""
    from_body = _body_channel(operation)
    from_query = _query_channel(operation)
    if from_body is not None and from_query is not None and from_body != from_query:
        raise invalid_request("The channel in the body and in the query string differ.")
    channel = from_body if from_body is not None else from_query
    if channel is None:
        raise invalid_request('Send the channel as a JSON body {"channel": "..."} or ?channel=.')
    return channel


def get_subscription_token() -> Response:
    state = current()
    principal = authenticate(state.store, state.clock)
    channel = requested_channel(state.spec.operations["getSubscriptionToken"])
    reason = channels.refusal(principal, channels.parse(channel), state.fixtures.namespaces)
    if reason:
        raise forbidden(f"You may not join channel {channel}: {reason}.")
    _require_provisioned(state, principal)
    return _token(state.minter.subscription(principal, channel))


def provision_events() -> Response:
    state = current()
    principal = authenticate(state.store, state.clock)
    _require_admin(state, principal)
    state.store.set_provisioned(principal.org_id, True)
    return no_content()


def deprovision_events() -> Response:
    state = current()
    principal = authenticate(state.store, state.clock)
    _require_admin(state, principal)
    state.store.set_provisioned(principal.org_id, False)
    return no_content()


HANDLERS = {
    "getConnectionToken": get_connection_token,
    "getSubscriptionToken": get_subscription_token,
    "provisionEvents": provision_events,
    "deprovisionEvents": deprovision_events,
}


def operation_id() -> str | None:
    """The spec's operationId of the current request, if it is a call of one of our
    operations: a browser's CORS preflight (OPTIONS) or a HEAD reaches the route but is not
    a call, so it neither takes an armed fault nor is journaled under the operation."""
    endpoint = request.endpoint or ""
    if not endpoint.startswith("events."):
        return None
    found = endpoint.removeprefix("events.")
    operation = current().spec.operations.get(found)
    return found if operation is not None and operation.method == request.method else None


def inject_fault() -> Response | None:
    """An armed fault for this call (status and/or latency), taken and counted down."""
    faults = current().faults
    if not faults.armed():
        return None
    fault = faults.take(operation_id() or "")
    if fault is None:
        return None
    if fault.latency_ms:
        time.sleep(fault.latency_ms / 1000)
    if fault.status is not None:
        return error_response(fault.status, "injected_fault",
                              f"Fault injected by the mock control API ({fault.status}).")
    return None


def blueprint(state: MockState) -> Blueprint:
    """Route every operation of the spec to its handler, by operationId."""
    bp = Blueprint("events", __name__)
    for op in state.spec.operations.values():
        bp.add_url_rule(op.flask_rule, op.operation_id, HANDLERS[op.operation_id],
                        methods=[op.method])
    return bp
