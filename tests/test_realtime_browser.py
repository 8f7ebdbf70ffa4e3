"""The browser snippet of docs/realtime.md, in headless Chromium, from a page on another
localhost port (as a frontend dev server would serve it): CORS to the mock, the origin check
of Centrifugo, server-side subscriptions, a `#` channel through the mock's subscription
token, events arriving."""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

from envoy_events_kit.mock_server import MockServer

from tests.conftest import ACME
from tests.realtime_parts import (
    JS_DIR,
    centrifugo_or_skip,
    chromium_or_skip,
    node_client_or_skip,
)


class Page(BaseHTTPRequestHandler):
    """Serves the page and centrifuge.js; takes the page's report."""

    reports: list[dict] = []
    arrived = threading.Event()

    def do_GET(self) -> None:  # noqa: N802
        files = {"/": ("browser.html", "text/html"),
                 "/centrifuge.js": ("node_modules/centrifuge/dist/centrifuge.js",
                                    "application/javascript")}
        name, kind = files.get(self.path.split("?")[0], (None, None))
        if name is None:
            self.send_error(404)
            return
        body = (JS_DIR / name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Page.reports.append(json.loads(body))
        Page.arrived.set()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_the_browser_snippet_receives_events():
    centrifugo_or_skip()
    node_client_or_skip()
    chromium = chromium_or_skip()
    page = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=page.serve_forever, daemon=True).start()
    Page.reports.clear()
    Page.arrived.clear()
    with MockServer({"realtime": True, "clock": "real"}) as mock, \
            tempfile.TemporaryDirectory() as profile:
        url = (f"http://localhost:{page.server_address[1]}/?mock="
               f"{quote(mock.url.replace('127.0.0.1', 'localhost'))}")
        browser = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--no-first-run", f"--user-data-dir={profile}", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            arrived = Page.arrived.wait(timeout=60)
        finally:
            browser.terminate()
            browser.wait(timeout=20)
            page.shutdown()
    assert arrived, "the page never reported"
    (seen,) = Page.reports
    assert seen["errors"] == []
    events = [(p["channel"], p["data"]["type"]) for p in seen["publications"]]
    assert events == [(f"shipments:{ACME}", "shipment.updated")]
    assert [e["data"]["status"] for e in seen["mine"]] == ["in_transit"]
