"""The yardstick: a minimal Flask app returning constant JSON, served by waitress.

Run as `python benchmarks/baseline_app.py PORT THREADS`; the benchmark loads it exactly as it
loads the mock, so the ratio mock / baseline is the cost of the mock's own work.
"""

from __future__ import annotations

import sys

from flask import Flask, jsonify
from waitress import serve

app = Flask(__name__)


@app.get("/<path:anything>")
def constant(anything: str):
    """The same answer for every path: what a mock that does nothing would cost."""
    return jsonify(token="eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.constant")


def main() -> None:
    port, threads = int(sys.argv[1]), int(sys.argv[2])
    serve(app, host="127.0.0.1", port=port, threads=threads, _quiet=True)


if __name__ == "__main__":
    main()
