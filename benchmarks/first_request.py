"""The first connection-token request of a fresh app against the second, in one process.

The spec is read once, at start (claims schemas included): the first request should cost
about what the second does, not a YAML parse. Run: `.venv/bin/python benchmarks/first_request.py`.
"""

import time

from envoy_events_kit.mock_server import create_app

ADMIN = {"Authorization": "Bearer dev-admin-acme-5d1f0c2b7a9e4c31"}


def _ms(call) -> tuple[float, int]:
    start = time.perf_counter()
    status = call().status_code
    return 1000 * (time.perf_counter() - start), status


def main() -> None:
    start = time.perf_counter()
    app = create_app({})
    built = 1000 * (time.perf_counter() - start)
    client = app.test_client()
    first, status = _ms(lambda: client.get("/events/connection_token", headers=ADMIN))
    second, _ = _ms(lambda: client.get("/events/connection_token", headers=ADMIN))
    print(f"first request: create_app {built:.1f} ms, first connection_token {first:.1f} ms "
          f"({status}), second {second:.1f} ms")


if __name__ == "__main__":
    main()
