"""Blueprint: the dashboard at `/__mock__/ui`, a page the mock serves for people.

Plain HTML, CSS and JavaScript modules from `control/static/` (no build step, nothing from a
CDN) and, under `vendor/`, the npm `centrifuge` browser client fetched by `envoy-events
realtime install` into the kit's cache. The page and its files hold no secret: a browser
navigating to them cannot send the control token, so they are served without it; every piece
of data the page shows comes from the control API (`/__mock__/...`, which needs the token when
one is set) or from the events API with a principal's bearer token.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, send_from_directory

from ..events.realtime import browser_client
from ..state.mock_state import current

UI_PREFIX = "/__mock__/ui"
STATIC_DIR = Path(__file__).parent / "static"
VENDOR_PATH = f"{UI_PREFIX}/vendor/centrifuge.js"


def is_page(path: str, method: str) -> bool:
    """A GET of the page or one of its files: no secret in it, and a browser opening a URL
    cannot send the control token, so the control-token check lets these through."""
    return method in ("GET", "HEAD") and (path == UI_PREFIX or path.startswith(f"{UI_PREFIX}/"))


def browser_client_url() -> str | None:
    """Where the page loads the centrifuge client from, None when it is not installed."""
    return VENDOR_PATH if browser_client.client_file() is not None else None


def _policy() -> str:
    """Same-origin everything; the one other origin is the realtime server's WebSocket."""
    connect = ["'self'"]
    realtime = current().realtime
    if realtime is not None:
        parts = urlsplit(realtime.websocket_url)
        connect.append(f"{parts.scheme}://{parts.netloc}")
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {' '.join(connect)}; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = _policy()
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    # Revalidated on each load (a 304 when unchanged): an upgraded kit never shows a stale page.
    response.headers["Cache-Control"] = "no-cache"
    return response


def index() -> Response:
    return _headers(send_from_directory(STATIC_DIR, "index.html", mimetype="text/html"))


def asset(name: str) -> Response:
    if name == "index.html" or not (STATIC_DIR / name).is_file():
        abort(404)
    return _headers(send_from_directory(STATIC_DIR, name))


def vendor(name: str) -> Response:
    if name not in browser_client.SERVED or browser_client.client_file() is None:
        abort(404)
    kinds = {".js": "text/javascript", ".map": "application/json"}
    mimetype = kinds.get(Path(name).suffix, "text/plain")
    return _headers(send_from_directory(browser_client.client_dir(), name, mimetype=mimetype))


def blueprint() -> Blueprint:
    bp = Blueprint("dashboard", __name__)
    bp.add_url_rule(UI_PREFIX, "index", index, methods=["GET"])
    bp.add_url_rule(f"{UI_PREFIX}/", "index_slash", index, methods=["GET"])
    bp.add_url_rule(f"{UI_PREFIX}/vendor/<name>", "vendor", vendor, methods=["GET"])
    bp.add_url_rule(f"{UI_PREFIX}/<path:name>", "asset", asset, methods=["GET"])
    return bp
