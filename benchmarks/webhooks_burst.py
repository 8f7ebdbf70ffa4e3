"""1,000 events to 3 webhook endpoints in a burst: is every attempt accounted for, is none
sent twice, and does the events API keep its latency while deliveries run?

The mock runs as `envoy-events mock` (its own process, as a person runs it); the three
verifying receivers run in a third process, so that neither they nor the latency probe here
compete for one interpreter. Side by side in one run: the p50/p99 of `GET /events/connection_token`
with the mock idle, then while the burst is being delivered.

    .venv/bin/python benchmarks/webhooks_burst.py [events]
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from envoy_events_kit.net import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from envoy_events_kit.mock_server.control.client import MockControl  # noqa: E402

ENVOY_EVENTS = Path(sys.executable).parent / "envoy-events"
ACME = "org_26ZZVNs2QURl4yY6owPARekUbMa"
ADMIN = {"Authorization": "Bearer dev-admin-acme-5d1f0c2b7a9e4c31"}
ORDER = {"id": "ord_2iFmwXASMpS3l4IZsauPs8I1eOv", "status": "packed"}


def latencies(url: str, count: int, stop: threading.Event | None = None) -> list[float]:
    """Milliseconds of `count` sequential token requests (fewer if `stop` is set first)."""
    out = []
    with requests.Session() as session:
        for _ in range(count):
            if stop is not None and stop.is_set():
                break
            began = time.perf_counter()
            assert session.get(url, headers=ADMIN, timeout=10).status_code == 200
            out.append((time.perf_counter() - began) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


RECEIVERS = r"""
import json, sys, time
from envoy_events_kit.mock_server.events.webhooks.receiver import WebhookReceiver
receivers = [WebhookReceiver().start() for _ in range(3)]
print(json.dumps([r.url for r in receivers]), flush=True)
for r, secret in zip(receivers, json.loads(sys.stdin.readline())):
    r.secret = secret
for line in sys.stdin:                      # "wait N": until each has N verified deliveries
    want = int(line.split()[1])
    for r in receivers:
        r.wait_for(want, timeout=120)
    print(json.dumps([[len(r.received), len({x.webhook_id for x in r.received}),
                       len(r.deliveries())] for r in receivers]), flush=True)
"""


class Receivers:
    """Three verifying receivers in a child process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", RECEIVERS], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.urls = json.loads(self.proc.stdout.readline())

    def set_secrets(self, secrets: list[str]) -> None:
        self.proc.stdin.write(json.dumps(secrets) + "\n")
        self.proc.stdin.flush()

    def wait(self, count: int) -> list[list[int]]:
        """Per receiver: [requests, distinct webhook-ids, verified]."""
        self.proc.stdin.write(f"wait {count}\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=20)


def burst(control: MockControl, token_url: str, events: int,
          receivers: Receivers | None) -> tuple[list[float], float, float, list[list[int]]]:
    """Publish `events` with a latency probe beside; (latencies, publish s, delivered s,
    receiver counts)."""
    stop, probed = threading.Event(), []
    probe = threading.Thread(target=lambda: probed.extend(latencies(token_url, 10**6, stop)))
    began = time.perf_counter()
    probe.start()
    for n in range(events):
        control.publish("order.updated", {**ORDER, "lines": n}, organisation=ACME)
    published_in = time.perf_counter() - began
    counts = receivers.wait(events) if receivers else []
    delivered_in = time.perf_counter() - began
    stop.set()
    probe.join()
    return probed, published_in, delivered_in, counts


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    port = free_port()
    mock = subprocess.Popen([str(ENVOY_EVENTS), "mock", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    control = MockControl(base)
    for _ in range(300):
        try:
            control.state()
            break
        except Exception:
            time.sleep(0.02)
    receivers = Receivers()
    try:
        token_url = f"{base}/events/connection_token"
        latencies(token_url, 100)  # warm up
        idle = latencies(token_url, 1000)
        # Side by side: the same burst of publishes, first with no receiving endpoint, then
        # with three, each time with a latency probe running beside it until the end.
        quiet, _, _, _ = burst(control, token_url, events, None)
        receivers.set_secrets([control.add_webhook_endpoint(ACME, url)["secret"]
                               for url in receivers.urls])
        busy, published_in, delivered_in, counts = burst(control, token_url, events, receivers)

        rows = control.deliveries(status="delivered")
        attempts = sum(len(d["attempts"]) for d in rows)
        received = [c[0] for c in counts]
        unique = [c[1] for c in counts]
        load = os.getloadavg()[0]
        print(f"webhook burst: {events} events x 3 endpoints (load average {load:.2f})")
        print(f"  published in {published_in:.2f} s; all delivered after {delivered_in:.2f} s")
        print(f"  deliveries delivered: {len(rows)} of {3 * events}; attempts {attempts}; "
              f"received per endpoint {received}; distinct webhook-ids {unique}")
        for label, values in (("idle", idle), ("publishing, no endpoint", quiet),
                              ("publishing + delivering", busy)):
            print(f"  connection_token {label:<24} p50 {pct(values, 50):6.2f} ms, "
                  f"p99 {pct(values, 99):6.2f} ms ({len(values)} requests)")
        print(f"  p99 ratio delivering / publishing without endpoints: "
              f"{pct(busy, 99) / pct(quiet, 99):.2f}")
        ok = len(rows) == 3 * events and attempts == 3 * events and unique == [events] * 3
        print("  accounted for: " + ("every attempt, none twice" if ok else "NO"))
    finally:
        receivers.stop()
        mock.send_signal(signal.SIGTERM)
        mock.wait(timeout=20)


if __name__ == "__main__":
    main()
