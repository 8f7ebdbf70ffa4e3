"""Requests waitress refuses before the app sees them (bad framing, oversize headers or
bodies) answered in the API's one error shape instead of waitress's plain-text page."""

from __future__ import annotations

import json
from typing import Any

from envoy_events_kit.mock_server.errors import _HTTP_CODES
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

#: waitress's own ceiling. Bodies between the API limit (64 KiB) and this are read in full,
#: so the app answers its JSON 413 on a connection still in step with the client; only
#: bodies beyond it are cut short by waitress (answered by `JsonErrorTask`, then closed).
WAITRESS_BODY_CEILING = 1024 * 1024


class JsonErrorTask(ErrorTask):
    """waitress's error response, as `{"error": {"code", "message"}}`."""

    def execute(self) -> None:
        error = self.request.error
        status = int(error.code)
        code = _HTTP_CODES.get(status, "internal_error" if status >= 500 else "invalid_request")
        message = ("The request body is too large." if status == 413
                   else f"{error.reason}: {error.body}.")
        body = json.dumps({"error": {"code": code, "message": message}},
                          separators=(",", ":")).encode()
        self.status = f"{status} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


def install(server: Any) -> None:
    """Make a waitress server built by `create_server` answer its own refusals in JSON."""
    server.channel_class = JsonErrorChannel
