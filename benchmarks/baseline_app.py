"""The yardstick: a minimal Flask app returning constant JSON, on either of the mock's servers.

Run as `python benchmarks/baseline_app.py PORT THREADS [granian|waitress]`; the benchmark
loads it exactly as it loads the mock, on the same server code (`MockServer`'s engines, same
threads), so mock / baseline is the cost of the mock's own work on that server.
"""

from __future__ import annotations

import signal
import sys
import threading

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/<path:anything>")
def constant(anything: str):
    """The same answer for every path: what a mock that does nothing would cost."""
    return jsonify(token="eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.constant")


def main() -> None:
    from envoy_events_kit.mock_server.serving.engines import engine

    port, threads = int(sys.argv[1]), int(sys.argv[2])
    name = sys.argv[3] if len(sys.argv) > 3 else "granian"
    server = engine(name, app, "127.0.0.1", port, threads, 64 * 1024)
    server.bind()
    server.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    server.stop()


if __name__ == "__main__":
    main()
