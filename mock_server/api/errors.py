"""The one error shape, `{"error": {"code", "message"}}`, and the handlers that produce it.

Every refusal goes through `ApiError`, and every Werkzeug error (404, 405, 413, ...) or
unexpected exception is turned into the same JSON body, never an HTML page or a traceback.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "not_provisioned",
    413: "payload_too_large",
    415: "unsupported_media_type",
    421: "misdirected_request",
}


class ApiError(Exception):
    """A refusal the contract describes: status, machine code, human sentence."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def invalid_request(message: str) -> ApiError:
    return ApiError(400, "invalid_request", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def init_app(app: Flask) -> None:
    """Register the handlers that keep every error in the one JSON shape."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message, error.headers)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = _HTTP_CODES.get(status, "internal_error" if status >= 500 else "invalid_request")
        message = error.description or error.name
        if status == 405:
            message = "This path does not accept that method."
        elif status == 404:
            message = "No such path on this API."
        response = error_response(status, code, message)
        if status == 405:
            allowed = error.get_response().headers.get("Allow")
            if allowed:
                response.headers["Allow"] = allowed
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if app.testing or app.config.get("PROPAGATE_EXCEPTIONS"):
            raise error
        log.exception("unexpected error in the mock")
        return error_response(500, "internal_error", "The mock failed; see its log.")
