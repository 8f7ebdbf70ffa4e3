"""Blueprint: the mock's control API under `/__mock__/`, routed from `openapi/mock-control.yaml`."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from envoy_events_kit.instants import InstantError, format_instant, parse_instant
from envoy_events_kit.names import hint

from ..api.errors import ApiError, invalid_request
from ..api.responses import no_content
from ..api.tokens import parse_clock_instant
from ..events.realtime.browser_client import CLIENT_VERSION
from ..events.scenarios import BUNDLED
from ..events.webhooks.delivery import STATUSES
from ..spec import first_error
from ..state.mock_state import MockState, current
from ..state.model import Organisation, Principal, WebhookEndpoint
from .dashboard import browser_client_url


def _operation():
    return current().control_spec.operations[request.endpoint.removeprefix("control.")]


def _checked_body() -> dict[str, Any]:
    """The JSON body, validated against the control spec (400 when it does not fit)."""
    try:
        body = json.loads(request.get_data() or b"null")
    except (ValueError, RecursionError) as exc:
        raise invalid_request("The request body is not valid JSON.") from exc
    problem = first_error(_operation().body_validator, body)
    if problem:
        raise invalid_request(f"Invalid request body: {problem}")
    return body


def _checked_path(**params: str) -> None:
    for name, validator in _operation().path_validators.items():
        problem = first_error(validator, params.get(name))
        if problem:
            raise invalid_request(f"Invalid path parameter {name!r}: {problem}")


def _instant(text: str, field: str) -> datetime:
    """An instant of the body, or a 400 naming the field (naive, out of range, not one)."""
    try:
        return parse_instant(text)
    except InstantError as exc:
        raise invalid_request(f"Invalid {field}: {exc}.") from None


def _endpoint_json(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """With its secret: the control API is the one place that shows it."""
    body = asdict(endpoint)
    body["event_types"] = (list(endpoint.event_types)
                           if endpoint.event_types is not None else None)
    body["failing"] = current().webhooks.failing(endpoint.id)
    return body


def _org_json(org: Organisation) -> dict[str, Any]:
    return {"id": org.id, "provisioned": org.provisioned,
            "webhook_endpoints": [_endpoint_json(e) for e in org.webhook_endpoints]}


def _principal_json(p: Principal) -> dict[str, Any]:
    return {"name": p.name, "token": p.token, "org_id": p.org_id, "user_id": p.user_id,
            "scopes": sorted(p.scopes),
            "expires_at": format_instant(p.expires_at) if p.expires_at else None}


def _not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def _int_arg(name: str, low: int, high: int) -> int | None:
    """An integer query parameter within [low, high], None when absent; 400 otherwise."""
    text = request.args.get(name)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise invalid_request(f"Invalid query parameter {name!r}: {text[:40]!r} is not an "
                              "integer.") from None
    if not low <= value <= high:
        raise invalid_request(f"Invalid query parameter {name!r}: {value} is not within "
                              f"{low}..{high}.")
    return value


def _limit() -> int | None:
    return _int_arg("limit", 1, 100_000)


def _newest(rows: list[Any], limit: int | None) -> list[Any]:
    return rows[-limit:] if limit is not None else rows


def reset_mock() -> Response:
    current().reset()
    return no_content()


def get_mock_state() -> Response:
    state = current()
    realtime = None
    if state.realtime:
        realtime = {**state.realtime.describe(), "browser_client": browser_client_url(),
                    "browser_client_version": CLIENT_VERSION}
    return jsonify(organisations=[_org_json(o) for o in state.store.organisations()],
                   clock=state.clock.describe(), webhooks=state.webhooks.describe(),
                   realtime=realtime)


def put_organisation(org_id: str) -> Response:
    _checked_path(org_id=org_id)
    body = _checked_body()
    return jsonify(_org_json(current().store.set_provisioned(org_id, body["provisioned"])))


def list_webhook_endpoints(org_id: str) -> Response:
    _checked_path(org_id=org_id)
    org = current().store.organisation(org_id)
    if org is None:
        raise _not_found(f"No organisation {org_id}.")
    return jsonify(webhook_endpoints=[_endpoint_json(e) for e in org.webhook_endpoints])


def create_webhook_endpoint(org_id: str) -> Response:
    _checked_path(org_id=org_id)
    body = _checked_body()
    state = current()
    problem = state.webhooks.policy.problem(body["url"])
    if problem:
        raise invalid_request(f"Invalid webhook endpoint URL: {problem}.")
    for event_type in body.get("event_types", []):
        state.events.catalogue.get(event_type)  # 400 with "did you mean" for a typo
    try:
        endpoint = state.store.add_endpoint(org_id, body["url"], body.get("secret"),
                                            body.get("event_types"))
    except ValueError as exc:  # a secret the signing library cannot use
        raise invalid_request(f"Invalid request body: {exc}.") from exc
    if endpoint is None:
        raise _not_found(f"No organisation {org_id}.")
    response = jsonify(_endpoint_json(endpoint))
    response.status_code = 201
    return response


def delete_webhook_endpoint(org_id: str, endpoint_id: str) -> Response:
    _checked_path(org_id=org_id, endpoint_id=endpoint_id)
    if not current().store.delete_endpoint(org_id, endpoint_id):
        raise _not_found(f"No webhook endpoint {endpoint_id} in {org_id}.")
    return no_content()


def list_principals() -> Response:
    return jsonify(principals=[_principal_json(p) for p in current().store.principals()])


def create_principal() -> Response:
    body = _checked_body()
    expires_at = _instant(body["expires_at"], "expires_at") if "expires_at" in body else None
    principal = current().store.add_principal(
        body["org_id"], body["user_id"], body.get("scopes", []), expires_at, body.get("name")
    )
    response = jsonify(_principal_json(principal))
    response.status_code = 201
    return response


def get_clock() -> Response:
    return jsonify(current().clock.describe())


def set_clock() -> Response:
    body = _checked_body()
    clock = current().clock
    try:
        if "frozen_at" in body:
            clock.set(body["frozen_at"])
        elif "advance_seconds" in body:
            clock.advance(body["advance_seconds"])
        else:
            clock.set("real")
    except InstantError as exc:  # the clock did not move
        field = "frozen_at" if "frozen_at" in body else "advance_seconds"
        raise invalid_request(f"Invalid {field}: {exc}.") from None
    return jsonify(clock.describe())


def get_journal() -> Response:
    journal = current().journal
    return jsonify(entries=journal.entries(
        operation_id=request.args.get("operation_id"), status=_int_arg("status", 100, 599),
        principal=request.args.get("principal"), limit=_limit()), dropped=journal.dropped)


def clear_journal() -> Response:
    current().journal.clear()
    return no_content()


def inject_fault(operation_id: str) -> Response:
    _checked_path(operation_id=operation_id)
    body = _checked_body()
    current().faults.arm(operation_id, body.get("status"), body.get("latency_ms", 0),
                         body.get("times", 1))
    return no_content()


def publish_event() -> Response:
    body = _checked_body()
    published = current().events.publish(
        body["type"], body["data"], channel=body.get("channel"),
        organisation=body.get("organisation"), namespace=body.get("namespace"))
    response = jsonify(published.as_json())
    response.status_code = 201
    return response


def list_events() -> Response:
    log = current().events.log
    return jsonify(events=_newest(log.entries(), _limit()), dropped=log.dropped)


def list_event_types() -> Response:
    return jsonify(event_types=current().events.catalogue.describe())


def get_snapshot() -> Response:
    state = current()
    return jsonify(state=state.store.snapshot(), clock=state.clock.describe())


def put_snapshot() -> Response:
    body = _checked_body()
    state = current()
    clock = body["clock"]
    try:  # `now` is an instant whatever the mode (in real mode it is not used)
        now = parse_clock_instant(clock["now"]) if clock["mode"] == "frozen" else \
            parse_instant(clock["now"])
    except InstantError as exc:
        raise invalid_request(f"Invalid snapshot: clock/now: {exc}.") from None
    setting = format_instant(now) if clock["mode"] == "frozen" else "real"
    try:  # checked whole before anything changes: a 400 leaves the mock as it was
        state.store.restore(body["state"])
    except (KeyError, TypeError, ValueError) as exc:
        raise invalid_request(f"Invalid snapshot: {exc}") from None
    state.clock.set(setting)
    return no_content()


def list_scenarios() -> Response:
    player = current().scenarios
    known = {**{name: None for name in BUNDLED}, **player.known}
    rows = []
    for name in known:
        scenario = player.scenario(name)
        rows.append({"name": name, "description": scenario.description,
                     "steps": len(scenario.steps)})
    return jsonify(scenarios=rows, playing=[p.as_json() for p in player.playing.values()])


def stop_scenarios() -> Response:
    current().scenarios.stop_all()
    return no_content()


def play_scenario(name: str) -> Response:
    _checked_path(name=name)
    body = _checked_body() if request.get_data() else {}
    player = current().scenarios
    try:
        playback = player.play(name, loop=body.get("loop", False))
    except KeyError:
        known = sorted({*BUNDLED, *player.known})
        raise _not_found(f"No scenario {name!r}.{hint(name, known)} "
                         f"Known: {', '.join(known)}.") from None
    response = jsonify(playback.as_json())
    response.status_code = 202
    return response


def list_faults() -> Response:
    state = current()
    return jsonify(faults=state.faults.listing(),
                   delivery_faults=state.webhooks.armed_faults())


def clear_faults() -> Response:
    current().faults.clear()
    current().webhooks.clear_faults()
    return no_content()


def list_deliveries() -> Response:
    statuses = set(STATUSES)
    status = request.args.get("status")
    if status is not None and status not in statuses:
        raise invalid_request(f"Unknown delivery status {status!r}: one of "
                              f"{', '.join(sorted(statuses))}.")
    filters = {name: request.args.get(name)
               for name in ("organisation", "endpoint", "event", "event_type", "status")}
    return jsonify(deliveries=current().webhooks.deliveries(limit=_limit(), **filters))


def retry_delivery(delivery_id: str) -> Response:
    _checked_path(delivery_id=delivery_id)
    try:
        delivery = current().webhooks.retry(delivery_id)
    except ValueError as exc:
        raise ApiError(409, "endpoint_gone", f"Cannot retry: {exc}.") from exc
    if delivery is None:
        raise _not_found(f"No delivery {delivery_id}.")
    response = jsonify(delivery)
    response.status_code = 202
    return response


def inject_delivery_fault() -> Response:
    body = _checked_body()
    state = current()
    if "event_type" in body:
        state.events.catalogue.get(body["event_type"])
    state.webhooks.arm(body["kind"], body.get("times", 1), body.get("delay_ms", 0),
                       body.get("event_type"))
    return no_content()


HANDLERS = {
    "resetMock": reset_mock,
    "getMockState": get_mock_state,
    "putOrganisation": put_organisation,
    "listWebhookEndpoints": list_webhook_endpoints,
    "createWebhookEndpoint": create_webhook_endpoint,
    "deleteWebhookEndpoint": delete_webhook_endpoint,
    "listPrincipals": list_principals,
    "createPrincipal": create_principal,
    "getClock": get_clock,
    "setClock": set_clock,
    "getJournal": get_journal,
    "clearJournal": clear_journal,
    "injectFault": inject_fault,
    "listFaults": list_faults,
    "clearFaults": clear_faults,
    "publishEvent": publish_event,
    "listEvents": list_events,
    "listEventTypes": list_event_types,
    "listDeliveries": list_deliveries,
    "retryDelivery": retry_delivery,
    "injectDeliveryFault": inject_delivery_fault,
    "listScenarios": list_scenarios,
    "stopScenarios": stop_scenarios,
    "playScenario": play_scenario,
    "getSnapshot": get_snapshot,
    "putSnapshot": put_snapshot,
}


def _checked_query() -> None:
    """Every query parameter the spec declares for the operation, checked against its
    schema (a 400 naming it), whatever the handler does with it."""
    if request.endpoint is None or not request.args:
        return
    for name, (validator, kind) in _operation().query_validators.items():
        text = request.args.get(name)
        if text is None:
            continue
        value: Any = text
        if kind == "integer":
            try:
                value = int(text)
            except ValueError:
                raise invalid_request(f"Invalid query parameter {name!r}: {text[:40]!r} is "
                                      "not an integer.") from None
        problem = first_error(validator, value)
        if problem:
            raise invalid_request(f"Invalid query parameter {name!r}: {problem}")


def blueprint(state: MockState) -> Blueprint:
    """Route every operation of the control spec to its handler, by operationId."""
    bp = Blueprint("control", __name__)
    bp.before_request(_checked_query)
    for op in state.control_spec.operations.values():
        bp.add_url_rule(op.flask_rule, op.operation_id, HANDLERS[op.operation_id],
                        methods=[op.method])
    return bp
