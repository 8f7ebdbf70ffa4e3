"""What an open dashboard (/__mock__/ui) costs the mock, on a mock that has been busy.

The page polls: the journal and the deliveries once a second, the state, faults and scenarios
every 2 s, the principals every 5 s (and, without a realtime client, the event list once a
second). This measures each of those requests in-process (no network, no client: the mock's
own time) on a mock holding a full journal (10,000 entries), 2,000 deliveries and 1,000
events, and adds them up per second of an open page, next to the cost of the hottest API
call (`GET /events/connection_token`). A warm page load (HTML, CSS, modules, first data) is
measured the same way.

Run: `.venv/bin/python benchmarks/dashboard_polling.py`.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

from envoy_events_kit.mock_server import create_app
from envoy_events_kit.mock_server.control import dashboard

ADMIN = {"Authorization": "Bearer dev-admin-acme-5d1f0c2b7a9e4c31"}
ACME = "org_26ZZVNs2QURl4yY6owPARekUbMa"
#: (path, requests per second of an open page)
POLLS = [("/__mock__/journal?limit=100", 1.0), ("/__mock__/deliveries?limit=100", 1.0),
         ("/__mock__/state", 0.5), ("/__mock__/faults", 0.5), ("/__mock__/scenarios", 0.5),
         ("/__mock__/principals", 0.2)]
FALLBACK = ("/__mock__/events?limit=100", 1.0)


def _each_ms(client, path: str, headers: dict | None = None, rounds: int = 200) -> float:
    """Median milliseconds of one request (after a warm-up)."""
    for _ in range(10):
        client.get(path, headers=headers)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(path, headers=headers)
        times.append(1000 * (time.perf_counter() - start))
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(times)


def _busy_app():
    app = create_app({"webhook_retry_schedule": (0.0,), "clock": "real"})
    client = app.test_client()
    client.post(f"/__mock__/orgs/{ACME}/webhook_endpoints", json={"url": "http://127.0.0.1:9/x"})
    for n in range(1000):
        client.post("/__mock__/events", json={
            "type": "shipment.updated", "organisation": ACME,
            "data": {"id": "shp_2iFmwXASMpS3l4IZsauPs8I1eOv", "status": "in_transit",
                     "tracking_number": str(n)}})
    for _ in range(10_000):
        client.get("/events/connection_token", headers=ADMIN)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the refused deliveries settle (port 9: refused)
        pending = client.get("/__mock__/deliveries?status=pending").get_json()["deliveries"]
        if not pending:
            break
        time.sleep(0.2)
    return app, client


def _page_files() -> list[str]:
    static = Path(dashboard.__file__).parent / "static"
    refs = re.findall(r'(?:src|href)="(/__mock__/ui/[^"#]+)"', (static / "index.html").read_text())
    refs += [f"/__mock__/ui/js/{p.name}" for p in sorted((static / "js").glob("*.js"))]
    return ["/__mock__/ui", *dict.fromkeys(refs)]


def main() -> None:
    app, client = _busy_app()
    sizes = {name: len(client.get(f"/__mock__/{name}").get_json()[key]) for name, key in
             (("journal", "entries"), ("deliveries", "deliveries"), ("events", "events"))}
    token_ms = _each_ms(client, "/events/connection_token", ADMIN, rounds=1000)
    print(f"busy mock: {sizes}; one connection_token: {token_ms:.3f} ms")
    per_second = 0.0
    for path, rate in POLLS:
        ms = _each_ms(client, path)
        per_second += ms * rate
        print(f"  {path:<34} {ms:7.3f} ms x {rate}/s")
    fallback_ms = _each_ms(client, FALLBACK[0])
    print(f"  {FALLBACK[0]:<34} {fallback_ms:7.3f} ms x {FALLBACK[1]}/s (only without a "
          "realtime client)")
    print(f"an open page: {per_second:.2f} ms of the mock's time per second "
          f"({per_second / 10:.2f} % of one core; as much as "
          f"{per_second / token_ms:.0f} connection_token requests a second); "
          f"{(per_second + fallback_ms) / 10:.2f} % with the fallback feed")

    files = _page_files()
    load = [_each_ms(client, path, rounds=50) for path in files]
    first_data = [_each_ms(client, path, rounds=50) for path in
                  ("/__mock__/event_types", "/__mock__/state", "/__mock__/principals")]
    print(f"a page load: {len(files)} files {sum(load):.1f} ms + first data "
          f"{sum(first_data):.1f} ms of the mock's time (served one after another)")


if __name__ == "__main__":
    main()
