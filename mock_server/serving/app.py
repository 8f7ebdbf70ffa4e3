"""`create_app(settings)`: wires settings, specs, state and blueprints; nothing else."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from flask import Flask, Response, abort, request
from flask.sessions import NullSession, SessionInterface
from flask_cors import CORS

from ..api import errors, strict
from ..api import routes as events_api
from ..api.auth import PRINCIPAL_KEY
from ..config import Settings
from ..control import dashboard
from ..control import routes as control_api
from ..control.journal import Entry, redact
from ..state import mock_state as state_module
from ..state import persistence
from .security import CONTROL_PREFIX, LOCAL_ORIGINS, REFUSED, Guard

__all__ = ["CONTROL_PREFIX", "LOCAL_ORIGINS", "as_settings", "create_app", "guard"]
GUARD_KEY = "envoy_events_guard"


def as_settings(settings: Settings | dict[str, Any] | None) -> Settings:
    """A Settings from a Settings, a dict of its fields, or None (the defaults)."""
    if settings is None:
        return Settings()
    if isinstance(settings, dict):
        return replace(Settings(), **settings)
    return settings


def create_app(settings: Settings | dict[str, Any] | None = None) -> Flask:
    """Build a mock; `settings` may be a Settings or a dict of its fields."""
    settings = as_settings(settings)
    state = state_module.build(settings)
    if settings.state_file is not None:
        state.state_file = persistence.attach(
            state.store, settings.state_file,
            state.control_spec.validator(persistence.SNAPSHOT_STATE))

    app = Flask(__name__)
    app.session_interface = _NoSessions()
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    app.json.sort_keys = False
    state_module.init_app(app, state)
    errors.init_app(app)
    cors = _cors(app, settings.cors_origins)
    checks = app.extensions[GUARD_KEY] = Guard(settings)
    app.register_blueprint(events_api.blueprint(state))
    app.register_blueprint(control_api.blueprint(state), url_prefix="")
    app.register_blueprint(dashboard.blueprint())
    operations, journal, faults = state.spec.operations, state.journal, state.faults

    # One hook before and one after each request (Flask pays per hook, on every request).
    @app.before_request
    def _before() -> Response | None:
        req = request._get_current_object()  # one context lookup, not one per attribute
        environ, limit = req.environ, settings.max_body_bytes
        checks.check(environ, req.path)
        if "CONTENT_LENGTH" in environ:
            if (req.content_length or 0) > limit:
                abort(413, f"The request body is over {limit} bytes.")
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            _buffer_chunked_body(environ, limit)
        return events_api.inject_fault() if faults.armed() else None

    @app.after_request
    def _after(response: Response) -> Response:
        req = request._get_current_object()
        environ = req.environ
        path = req.path
        if not path.startswith(CONTROL_PREFIX):
            operation_id = events_api.operation_id()
            operation = operations.get(operation_id or "")
            if (settings.strict and operation and req.method == operation.method
                    and response.status_code != 413 and REFUSED not in environ
                    and not _is_injected(response)):
                strict.check(operation, response)
            journal.record(Entry(req.method, path, operation_id, response.status_code,
                                 state.clock.now(), redact(environ.get("HTTP_AUTHORIZATION")),
                                 environ.get(PRINCIPAL_KEY)))
        return cors(response) if "HTTP_ORIGIN" in environ else response

    return app


class _NoSessions(SessionInterface):
    """The mock keeps no session: skip Flask's cookie-session work on every request."""

    null_session_class = NullSession
    _shared = NullSession()

    def open_session(self, app: Flask, request: Any) -> NullSession:
        return self._shared

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        return None


def guard(app: Flask) -> Guard:
    """The app's request checks (Host, control token, Origin, content type)."""
    return app.extensions[GUARD_KEY]


def _cors(app: Flask, extra_origins: tuple[str, ...]) -> Callable[[Response], Response]:
    """flask-cors's response hook, for `_after` to call only when the request has an
    `Origin` header: without one it adds nothing, but it costs ~10% of a request. Every
    error is turned into a response by our handlers, so its exception interception adds
    nothing either. Loopback pages are allowed, and the `--cors-origin` ones (compared
    literally, never as patterns)."""
    origins = [LOCAL_ORIGINS, *(re.compile(f"^{re.escape(o.strip().rstrip('/'))}$", re.I)
                                for o in extra_origins)]
    CORS(app, origins=origins, expose_headers=["WWW-Authenticate"],
         allow_headers=["Authorization", "Content-Type"], max_age=600,
         intercept_exceptions=False)
    return app.after_request_funcs[None].pop()


def _buffer_chunked_body(environ: dict[str, Any], limit: int) -> None:
    """Read a chunked body (Granian passes it through; waitress has already buffered it and
    set Content-Length) up to the limit: over it is a 413 whatever the operation, as for an
    announced length; within it, the app reads it like any other body."""
    stream, body = environ["wsgi.input"], b""
    while len(body) <= limit and (piece := stream.read(limit + 1 - len(body))):
        body += piece
    if len(body) > limit:
        abort(413, f"The request body is over {limit} bytes.")
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


def _is_injected(response: Response) -> bool:
    return response.is_json and (response.get_json(silent=True) or {}).get(
        "error", {}).get("code") == "injected_fault"
