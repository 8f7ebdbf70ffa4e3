"""Success responses shared by both blueprints."""

from __future__ import annotations

from flask import Response


def no_content() -> Response:
    """204 with no body and no Content-Type (Flask would otherwise add text/html)."""
    response = Response(status=204)
    response.headers.pop("Content-Type", None)
    return response
