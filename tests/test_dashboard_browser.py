"""The dashboard (/__mock__/ui) in a real browser: Playwright for Python driving Debian's
Chromium against a mock with a real Centrifugo beside it. Everything is done by clicking and
checked on what the page shows: a principal's decoded connection token, an event published
from the form arriving on the live feed, a webhook endpoint added and its failed delivery
retried, a fault armed and felt, a scenario played, provisioning switched off and the 409 in
the journal. The page must log no console error, pass axe-core, work 390 px wide, load fast
on a warm mock and poll no more than once a second.

`ENVOY_EVENTS_SCREENSHOTS=docs/img` writes the screenshots docs/dashboard.md shows.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from envoy_events_kit.mock_server import MockServer
from envoy_events_kit.mock_server.events.realtime.browser_client import client_file

from tests.conftest import ACME, ADA
from tests.realtime_parts import centrifugo_or_skip, missing

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
AXE = Path(__file__).parent / "dashboard_js" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = os.environ.get("ENVOY_EVENTS_SCREENSHOTS")
TIMEOUT_MS = 15_000
LOAD_BUDGET_MS = 300


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        missing("Chromium is not installed (Debian: apt-get install -y chromium)")
    return found  # type: ignore[return-value]


def shot(target, name: str, tmp_path: Path) -> None:
    """A screenshot of a page or an element in the test's folder, and in
    $ENVOY_EVENTS_SCREENSHOTS when set."""
    path = tmp_path / f"{name}.png"
    target.screenshot(path=str(path))
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SHOTS) / path.name)


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that answers `Receiver.status`."""

    status = 500
    received: list[str] = []

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.received.append(self.headers.get("webhook-id", ""))
        self.send_response(Receiver.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def playwright_browser() -> Iterator:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright is not installed: pip install -c constraints.txt -e '.[test]'")
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def stand_in() -> Iterator[MockServer]:
    centrifugo_or_skip()
    if client_file() is None:
        missing("the centrifuge browser client is not installed: run `envoy-events realtime "
                 "install` (or `make realtime`)")
    settings = {"realtime": True, "clock": "real", "webhook_retry_schedule": (0.0,)}
    with MockServer(settings, threads=8) as mock:
        yield mock


class Watched:
    """A page with everything it logged and every request it made."""

    def __init__(self, page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.requests: list = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("request", lambda r: self.requests.append(r))


@pytest.fixture
def dashboard(playwright_browser, stand_in) -> Iterator[Watched]:
    stand_in.reset()
    context = playwright_browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stand_in.url)
    watched = Watched(context.new_page())
    watched.page.set_default_timeout(TIMEOUT_MS)
    watched.page.goto(f"{stand_in.url}/__mock__/ui")
    watched.page.wait_for_selector("body[data-ready]")
    yield watched
    context.close()


def _receiver() -> ThreadingHTTPServer:
    Receiver.status, Receiver.received = 500, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_frontend_developer_drives_the_stand_in_by_clicking(dashboard, stand_in, tmp_path):
    page = dashboard.page
    admin = page.locator("[data-principal='admin']")
    org_channel, my_channel = f"shipments:{ACME}", f"shipments:{ACME}#{ADA}"

    # Who can do what: admin's token, and a connection token decoded with the mock's clock.
    assert "dev-admin-acme-5d1f0c2b7a9e4c31" in admin.locator(".token").inner_text()
    admin.get_by_role("button", name="Copy the bearer token of admin").click()
    assert page.evaluate("navigator.clipboard.readText()") == "dev-admin-acme-5d1f0c2b7a9e4c31"
    admin.get_by_role("button", name="Issue connection token").click()
    claims = page.get_by_role("article", name="Connection token of admin")
    claims.get_by_text(org_channel, exact=True).wait_for()
    assert ADA in claims.inner_text() and "in 60 min" in claims.inner_text()
    shot(page.locator("#who"), "dashboard-who", tmp_path)

    # Live events: connect as admin (org channels server-side, the #usr channel by token).
    page.select_option("#live-principal", "admin")
    page.click("#live-connect")
    page.wait_for_selector("#live-status[data-state='ok']")
    page.wait_for_selector(f".channel[data-channel='{my_channel}']")

    # The form refuses data that breaks the schema, without sending anything.
    events_before = len(requests.get(f"{stand_in.url}/__mock__/events").json()["events"])
    page.fill("#data-id", "shp_not-a-ksuid")
    page.click("#publish-button")
    page.get_by_text("Not sent: fix the fields marked above.").wait_for()
    assert "Must match ^shp_[0-9A-Za-z]{27}$" in page.inner_text("#data-id-error")
    assert page.get_attribute("#data-id", "aria-invalid") == "true"
    assert len(requests.get(f"{stand_in.url}/__mock__/events").json()["events"]) == events_before

    # Publish from the form (the spec's example, status changed): it arrives on the feed.
    page.fill("#data-id", "shp_2iFmwXASMpS3l4IZsauPs8I1eOv")
    page.select_option("#data-status", "delivered")
    page.click("#publish-button")
    event_id = page.get_attribute("#publish-result [data-event]", "data-event")
    arrived = page.locator(f".channel[data-channel='{org_channel}'] li[data-event='{event_id}']")
    arrived.wait_for()
    assert "shipment.updated" in arrived.inner_text() and "status delivered" in arrived.inner_text()
    arrived.locator("summary").click()
    envelope = json.loads(arrived.locator("pre").inner_text())
    assert envelope["id"] == event_id and envelope["organisation"] == ACME
    assert envelope["data"] == {"id": "shp_2iFmwXASMpS3l4IZsauPs8I1eOv", "status": "delivered",
                                "tracking_number": "1Z999AA10123456784"}
    # ... and on one's own user-limited channel, through the subscription token.
    page.check("input[name='target'][value='channel']")
    page.fill("#publish-channel", my_channel)
    page.click("#publish-button")
    mine = page.get_attribute("#publish-result [data-event]", "data-event")
    page.locator(f".channel[data-channel='{my_channel}'] li[data-event='{mine}']").wait_for()
    shot(page.locator("#publish-card"), "dashboard-publish", tmp_path)
    page.check("input[name='target'][value='organisation']")
    shot(page.locator("#live"), "dashboard-live", tmp_path)

    # Organisations: a webhook endpoint added by hand; its secret hidden until asked for.
    receiver = _receiver()
    try:
        hook = f"http://127.0.0.1:{receiver.server_address[1]}/webhooks"
        acme = page.locator(f"[data-org='{ACME}']")
        acme.get_by_label("Add a webhook endpoint").fill(hook)
        acme.get_by_role("button", name="Add endpoint").click()
        row = acme.locator(".endpoint", has_text=hook)
        row.wait_for()
        assert "whsec_••••" in row.locator(".secret").inner_text()
        row.get_by_role("button", name=f"Show secret of {hook}").click()
        secret = next(e["secret"] for o in requests.get(f"{stand_in.url}/__mock__/state").json()[
            "organisations"] for e in o["webhook_endpoints"] if e["url"] == hook)
        row.locator(".secret", has_text=secret).wait_for()
        shot(page.locator("#orgs"), "dashboard-organisations", tmp_path)

        # What happened: the receiver answers 500, the delivery fails; retried, it is delivered.
        page.click("#publish-button")
        published = page.get_attribute("#publish-result [data-event]", "data-event")
        failed = page.locator("tr[data-delivery][data-status='failed']", has_text=published)
        failed.wait_for()
        assert "500" in failed.locator(".answer").inner_text()
        Receiver.status = 200
        failed.get_by_role("button", name="Retry").click()
        delivered = page.locator("tr[data-delivery][data-status='delivered']", has_text=published)
        delivered.wait_for()
        assert delivered.locator(".attempts").inner_text() == "2"
        assert "200" in delivered.locator(".answer").inner_text()
        assert Receiver.received == [published, published]
        shot(page.locator(".card", has=page.locator("#deliveries")), "dashboard-deliveries",
             tmp_path)
    finally:
        receiver.shutdown()

    # Faults: arm a 503 on the connection token, feel it, see it gone once used.
    page.select_option("#fault-operation", "getConnectionToken")
    page.fill("#fault-status", "503")
    page.fill("#fault-times", "1")
    page.click("#fault-arm")
    page.locator("[data-fault='getConnectionToken']", has_text="answers 503").wait_for()
    admin.get_by_role("button", name="Issue connection token").click()
    refused = page.get_by_role("article", name="Connection token of admin")
    refused.get_by_text("injected_fault").wait_for()
    page.get_by_text("No fault armed.").wait_for()

    # Scenarios: play the bundled one; its first events reach the live feed.
    page.get_by_role("button", name="Play shipment-journey").click()
    page.locator("[data-playing='shipment-journey']").wait_for()
    orders = page.locator(f".channel[data-channel='orders:{ACME}'] li", has_text="order.updated")
    orders.first.wait_for()
    page.click("#scenarios-stop")
    page.get_by_text("Nothing playing.").wait_for()

    # Provisioning off: the realtime connection is closed, token requests answer 409.
    acme = page.locator(f"[data-org='{ACME}']")
    acme.get_by_role("switch", name="Provisioned").click()
    acme.get_by_text("not provisioned", exact=True).wait_for()
    page.locator("#live-status", has_text="4501").wait_for()
    admin.get_by_role("button", name="Issue connection token").click()
    page.get_by_role("article", name="Connection token of admin").get_by_text(
        "not_provisioned").wait_for()
    page.fill("#journal-status", "409")
    conflict = page.locator("#journal tr[data-status='409']", has_text="getConnectionToken")
    conflict.first.wait_for()
    assert "admin" in conflict.first.inner_text()
    shot(page.locator(".card", has=page.locator("#journal")), "dashboard-journal", tmp_path)

    # The clock: freeze it from the page; the header shows it.
    page.fill("#clock-at", "2026-06-01T12:00:00Z")
    page.locator("#clock-freeze").get_by_role("button", name="Freeze").click()
    page.locator("#clock-badge", has_text="2026-06-01T12:00:00Z").wait_for()
    page.get_by_role("button", name="+1 h").click()
    page.locator("#clock-badge", has_text="2026-06-01T13:00:00Z").wait_for()
    page.click("#clock-real")
    page.locator("#clock-badge", has_text="clock real").wait_for()

    # Start again: the fixtures are back (Acme provisioned, the endpoint added here gone).
    page.get_by_role("button", name="Reset the mock").click()
    acme.locator(".provision-state").get_by_text("provisioned", exact=True).wait_for()
    acme.locator(".endpoint", has_text=hook).wait_for(state="detached")
    assert page.locator("#claims").inner_text() == ""  # what was issued before is gone
    admin.get_by_role("button", name="Issue connection token").click()
    claims.get_by_text(org_channel, exact=True).wait_for()

    # Same origin only (and the realtime server's WebSocket), JSON bodies, no secret in a URL.
    mock = urlsplit(stand_in.url).netloc
    for request in dashboard.requests:
        where = urlsplit(request.url)
        assert where.netloc == mock or request.url.startswith("ws://127.0.0.1:"), request.url
        assert "dev-" not in request.url and "whsec_" not in request.url, request.url
        if request.post_data:
            assert request.headers.get("content-type") == "application/json", request.url
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "dashboard", tmp_path)
    # The injected 503 and the 409 of a deprovisioned organisation: nothing else.
    assert _real_errors(dashboard.errors, provoked=(503, 409)) == []


def _real_errors(errors: list[str], provoked: tuple[int, ...] = ()) -> list[str]:
    """Chromium logs each 4xx/5xx answer to a fetch as a console error, whatever the page
    does with it: only those of the statuses the test provoked on purpose (and the page
    shows) are let through. Anything else counts."""
    expected = tuple(f"Failed to load resource: the server responded with a status of {s} "
                     for s in provoked)
    return [e for e in errors if not e.startswith(expected)] if expected else errors


def with_axe(page) -> None:
    """axe-core, injected by the browser (not by the page: its CSP stays on)."""
    if not AXE.is_file():
        missing("axe-core is not installed: run `make dashboard-js`")
    page.add_init_script(path=str(AXE))


def axe_violations(page, context: str = "document") -> list:
    result = page.evaluate(f"axe.run({context}, {{resultTypes: ['violations']}})")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"]]


def test_the_page_passes_axe_and_works_390_px_wide(playwright_browser, stand_in, tmp_path):
    stand_in.reset()
    context = playwright_browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    watched = Watched(page)
    with_axe(page)
    page.goto(f"{stand_in.url}/__mock__/ui")
    page.wait_for_selector("body[data-ready]")
    page.locator("[data-principal='admin']").get_by_role(
        "button", name="Issue connection token").click()
    page.get_by_role("article", name="Connection token of admin").wait_for()
    assert axe_violations(page) == []
    # 390 px: nothing wider than the screen; the main controls fit and can be used.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for selector in ("#live-connect", "#publish-button", "#fault-arm", "#journal-clear",
                     f"[data-org='{ACME}'] [role='switch']"):
        box = page.locator(selector).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
    page.select_option("#live-principal", "admin")
    page.click("#live-connect")
    page.wait_for_selector("#live-status[data-state='ok']")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "dashboard-390", tmp_path)
    page.locator("#live").scroll_into_view_if_needed()
    shot(page, "dashboard-390-live", tmp_path)
    assert _real_errors(watched.errors) == []
    context.close()


def test_the_page_loads_fast_and_polls_at_most_once_a_second(playwright_browser, stand_in):
    stand_in.reset()
    context = playwright_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{stand_in.url}/__mock__/ui")  # warms the mock and the browser's cache
    page.wait_for_selector("body[data-ready]")
    loads = []
    for _ in range(5):
        page.reload()
        page.wait_for_selector("body[data-ready]")
        loads.append(page.evaluate("""() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const ready = performance.getEntriesByName('dashboard-ready')[0];
            return {load: nav.loadEventEnd, ready: ready.startTime}; }"""))
    best = min(loads, key=lambda m: m["ready"])
    print(f"\ndashboard on a warm mock: load event {best['load']:.0f} ms, data shown "
          f"{best['ready']:.0f} ms (best of {len(loads)}: {loads})")
    assert best["load"] < LOAD_BUDGET_MS and best["ready"] < LOAD_BUDGET_MS, loads

    # Polling: count what the open page asks for over a measured window.
    seen: list[tuple[float, str]] = []
    page.on("request", lambda r: seen.append((time.monotonic(), urlsplit(r.url).path)))
    window_s = 3.0
    page.wait_for_timeout(window_s * 1000)
    per_path: dict[str, int] = {}
    for _, path in seen:
        per_path[path] = per_path.get(path, 0) + 1
    assert per_path.get("/__mock__/journal", 0) >= 2, per_path  # it does poll
    assert all(count <= window_s + 1 for count in per_path.values()), per_path
    print(f"requests in {window_s:.0f} s with the page open: {per_path}")
    context.close()


def test_a_control_token_is_asked_once_kept_for_the_tab_and_sent_as_a_header(
        playwright_browser, stand_in):
    """The mock of the safe-by-default issue answers 401 to /__mock__/ calls without its
    token; here the browser stands in for that check, so the page's side is tested alone."""
    stand_in.reset()
    token = "s3cret-control-token"
    context = playwright_browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    seen: list[tuple[str, str | None]] = []

    def gate(route) -> None:
        request = route.request
        path = urlsplit(request.url).path
        if path.startswith("/__mock__/ui"):
            route.continue_()
            return
        given = request.headers.get("authorization")
        seen.append((path, given))
        if given != f"Bearer {token}":
            route.fulfill(status=401, content_type="application/json", body=json.dumps(
                {"error": {"code": "unauthorized", "message": "The control token is required."}}))
        else:
            route.continue_()

    page.route(f"{stand_in.url}/__mock__/**", gate)
    with_axe(page)
    page.goto(f"{stand_in.url}/__mock__/ui")
    dialog = page.locator("#token-dialog[open]")
    dialog.wait_for()
    assert "started with a control token" in dialog.inner_text()
    assert axe_violations(page, "'#token-dialog'") == []
    page.fill("#token-input", token)
    page.get_by_role("button", name="Use this token").click()
    page.wait_for_selector("body[data-ready]")
    assert page.locator("#control-token-button").inner_text() == "Control token: set"
    assert page.evaluate("sessionStorage.getItem('envoy-events-control-token')") == token
    assert token not in page.url
    page.click("#publish-button")  # a state-changing call carries it too
    page.wait_for_selector("#publish-result [data-event]")
    # Entered once: a reload asks nothing and every call carries the header.
    seen.clear()
    page.reload()
    page.wait_for_selector("body[data-ready]")
    assert not page.locator("#token-dialog[open]").count()
    assert seen and all(given == f"Bearer {token}" for _, given in seen), seen
    assert all(token not in path for path, _ in seen)
    context.close()


def test_without_realtime_or_the_client_the_page_says_how_to_get_them(
        playwright_browser, tmp_path, monkeypatch):
    binary = centrifugo_or_skip()
    context = playwright_browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    with_axe(page)
    with MockServer({"clock": "real"}) as mock:
        page.goto(f"{mock.url}/__mock__/ui")
        page.get_by_text("Realtime is off.").wait_for()
        assert axe_violations(page, "'#live'") == []
        assert "envoy-events mock --realtime" in page.inner_text("#live-notice")
        requests.post(f"{mock.url}/__mock__/events", json={
            "type": "shipment.updated", "organisation": ACME,
            "data": {"id": "shp_2iFmwXASMpS3l4IZsauPs8I1eOv", "status": "booked"}})
        page.locator(f".channel[data-channel='shipments:{ACME}'] li",
                     has_text="status booked").wait_for()
    monkeypatch.setenv("ENVOY_EVENTS_CACHE_DIR", str(tmp_path))  # a cache without the client
    monkeypatch.setenv("ENVOY_EVENTS_CENTRIFUGO", str(binary))
    with MockServer({"clock": "real", "realtime": True}) as mock:
        page.goto(f"{mock.url}/__mock__/ui")
        page.get_by_text("browser client is not installed").wait_for()
        assert "envoy-events realtime install" in page.inner_text("#live-notice")
        assert page.locator("#live-form").is_hidden()
    context.close()
