"""How long the pytest plugin's `events_mock` takes to start and stop, per session.

Each round runs in a fresh interpreter (as a new pytest session would) and times, with
`time.perf_counter`:
  import  - first import of the mock (Flask, jsonschema, waitress...): paid once per process,
            and not at all when the host suite imports these anyway;
  start   - what the session fixture does: build the app from the bundled spec and fixtures,
            bind a free loopback port, serve in a background thread (the budget: <= 50 ms);
  stop    - close the port and join every thread.

    .venv/bin/python benchmarks/plugin_start.py [rounds]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

ROUND = r"""
import json, time
t0 = time.perf_counter()
from mock_server.handle import EventsMock
t1 = time.perf_counter()
mock = EventsMock.start({"clock": "2026-01-01T00:00:00Z"})
t2 = time.perf_counter()
assert mock.clock()["mode"] == "frozen"          # it answers
t3 = time.perf_counter()
mock.stop()
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "start": t2 - t1, "stop": t4 - t3}))
"""


def main(rounds: int = 7) -> None:
    samples = [json.loads(subprocess.run([sys.executable, "-c", ROUND], check=True,
                                         capture_output=True, text=True).stdout)
               for _ in range(rounds)]
    print(f"events_mock fixture, {rounds} fresh interpreters (median / max, ms):")
    for key in ("import", "start", "stop"):
        values = [s[key] * 1000 for s in samples]
        print(f"  {key:<6} {statistics.median(values):7.1f} / {max(values):7.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
