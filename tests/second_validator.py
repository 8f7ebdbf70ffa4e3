"""openapi-core as a second, independent judge of the mock beside its own strict mode.

`attach(app)` makes every events-API exchange of a test go through openapi-core: a response
must match the spec wherever openapi-core finds the operation, and a request the mock
answered below 400 must be valid. Paths the spec has no operation for (404, 405, the control
API) have nothing to be validated against and are left to strict mode.
"""

from __future__ import annotations

from functools import lru_cache

import yaml
from flask import Flask, Response, request
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from envoy_events_kit import spec_path


class SecondValidatorError(AssertionError):
    """openapi-core disagrees with the mock about an exchange."""


@lru_cache(maxsize=1)
def openapi() -> OpenAPI:
    """The spec, with its servers replaced by `/` since test clients call `http://localhost`."""
    document = yaml.safe_load(spec_path().read_text())
    document["servers"] = [{"url": "/"}]
    return OpenAPI.from_dict(document)


def verdicts(req, resp) -> tuple[Exception | None, Exception | None]:
    """openapi-core's request and response errors (None when valid); raises when unrouted."""
    spec = openapi()
    oreq, oresp = WerkzeugOpenAPIRequest(req), WerkzeugOpenAPIResponse(resp)
    try:
        req_errors = list(spec.unmarshal_request(oreq).errors)
    except RecursionError as exc:  # openapi-core's JSON parse of a deeply nested body
        req_errors = [exc]
    if req_errors and isinstance(req_errors[0], PathNotFound | OperationNotFound):
        raise req_errors[0]
    resp_result = spec.unmarshal_response(oreq, oresp)
    return ((req_errors or [None])[0], (resp_result.errors or [None])[0])


def attach(app: Flask, seen: list[tuple[str, str, int]] | None = None) -> Flask:
    """Validate every exchange of `app` with openapi-core; `seen` records what was checked."""

    @app.after_request
    def _second_opinion(response: Response) -> Response:
        if not request.path.startswith("/events/"):
            return response
        judged = request
        if response.status_code == 413:  # the body was refused unread; judge the rest
            judged = Request(EnvironBuilder(path=request.path, method=request.method,
                                            query_string=request.query_string).get_environ())
        try:
            request_error, response_error = verdicts(judged, response)
        except (PathNotFound, OperationNotFound):
            return response
        if response_error is not None:
            raise SecondValidatorError(
                f"openapi-core: {request.method} {request.full_path} -> {response.status_code}: "
                f"{response_error!r} {getattr(response_error, '__cause__', '')!r}")
        # Known divergence: the mock reads a JSON body whatever its Content-Type (README);
        # the spec declares application/json only, so openapi-core refuses such requests.
        json_typed = judged.mimetype == "application/json" or not judged.get_data()
        if request_error is not None and response.status_code < 400 and json_typed:
            raise SecondValidatorError(
                f"openapi-core calls {request.method} {request.full_path} invalid although "
                f"the mock answered {response.status_code}: {request_error!r}")
        if seen is not None:
            seen.append((request.method, request.path, response.status_code))
        return response

    return app
